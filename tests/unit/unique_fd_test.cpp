#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>

#include "base/unique_fd.hpp"

using fetchpool::detail::fsync_directory;
using fetchpool::detail::UniqueFd;
using fetchpool::detail::write_all;
namespace fs = std::filesystem;

namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("fetchpool-unique-fd-test-" + std::to_string(::getpid()))) {
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

TEST_CASE("UniqueFd closes its descriptor once, and moves ownership", "[unique_fd]") {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  {
    UniqueFd read_end(fds[0]);
    UniqueFd write_end(fds[1]);
    CHECK(read_end.get() == fds[0]);
    UniqueFd moved(std::move(read_end));
    CHECK(read_end.get() == -1);  // NOLINT(bugprone-use-after-move): the moved-from state is under test
    CHECK(moved.get() == fds[0]);
    CHECK(is_open(fds[0]));
    write_end.reset();
    CHECK(write_end.get() == -1);
    CHECK_FALSE(is_open(fds[1]));
    CHECK(is_open(fds[0]));
  }
  CHECK_FALSE(is_open(fds[0]));
  CHECK(UniqueFd().get() == -1);
}

TEST_CASE("UniqueFd move-assignment closes what the target held", "[unique_fd]") {
  int first[2];
  int second[2];
  REQUIRE(::pipe2(first, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(second, O_CLOEXEC) == 0);
  UniqueFd a(first[0]);
  UniqueFd b(second[0]);
  UniqueFd first_write(first[1]);
  UniqueFd second_write(second[1]);
  a = std::move(b);
  CHECK(a.get() == second[0]);
  CHECK(b.get() == -1);  // NOLINT(bugprone-use-after-move): the moved-from state is under test
  CHECK_FALSE(is_open(first[0]));
  CHECK(is_open(second[0]));
}

TEST_CASE("write_all writes everything or says why not", "[unique_fd]") {
  TempDir dir;
  const fs::path file = dir.path() / "data";
  std::string data(3 * 1024 * 1024 + 7, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  {
    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    REQUIRE(fd.get() >= 0);
    CHECK(write_all(fd.get(), data) == 0);
    CHECK(write_all(fd.get(), "") == 0);
  }
  std::ifstream in(file, std::ios::binary);
  CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == data);
  UniqueFd read_only(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  CHECK(write_all(read_only.get(), "x") == EBADF);
}

TEST_CASE("fsync_directory syncs a directory and reports what is not one", "[unique_fd]") {
  TempDir dir;
  CHECK(fsync_directory(dir.path()) == 0);
  CHECK(fsync_directory("") == 0);  // the current directory
  CHECK(fsync_directory(dir.path() / "missing") == ENOENT);
  std::ofstream(dir.path() / "file") << "x";
  CHECK(fsync_directory(dir.path() / "file") == ENOTDIR);
}
