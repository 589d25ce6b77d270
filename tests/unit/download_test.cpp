// Tests for the download component against real files in a private temporary
// directory. sha256sum (GNU coreutils) is the reference for digests and manifests.
#include <signal.h>  // NOLINT(modernize-deprecated-headers): kill() is POSIX, <csignal> is only C
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <latch>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/download.hpp"

namespace fs = std::filesystem;
using fetchpool::ClobberPolicy;
using fetchpool::DownloadResult;
using fetchpool::ErrorCode;
using fetchpool::FileWriter;
using fetchpool::NamingOptions;
using fetchpool::OutputDirectory;
using fetchpool::ResponseHead;

namespace {

constexpr const char* kSha256Abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kSha256Empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kSha256HelloWorld = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    path_ = fs::temp_directory_path() / ("fetchpool-download-test-" + std::to_string(::getpid()) + "-" +
                                         std::to_string(counter++) + "-" + std::to_string(stamp));
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

struct Command {
  std::string output;
  int status = -1;
};

Command run(const std::string& command) {
  Command result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Appended piece by piece: `"'" + path.string()` trips GCC 12's -Wrestrict false positive.
std::string quoted(const fs::path& path) {
  std::string text = "'";
  text += path.string();
  text += '\'';
  return text;
}

// The digest coreutils computes for a file: the independent reference.
std::string sha256sum_of(const fs::path& path) { return run("sha256sum " + quoted(path)).output.substr(0, 64); }

ResponseHead head(long status, std::optional<std::uint64_t> content_length, std::string etag = {},
                  std::optional<std::uint64_t> range_start = std::nullopt, std::string last_modified = {}) {
  ResponseHead h;
  h.status = status;
  h.content_length = content_length;
  h.etag = std::move(etag);
  h.range_start = range_start;
  // A 206's Content-Range: the range the Content-Length covers, total unknown ("*").
  if (range_start && content_length && *content_length > 0) h.range_end = *range_start + *content_length - 1;
  h.last_modified = std::move(last_modified);
  return h;
}

fs::path part_of(const fs::path& final_path) { return fs::path(final_path.string() + ".part"); }
fs::path meta_of(const fs::path& final_path) { return fs::path(final_path.string() + ".part.meta"); }

// Writes `body` in one transfer and commits it.
fetchpool::Result<DownloadResult> download(const fs::path& final_path, std::string_view body) {
  FileWriter writer(final_path, false);
  if (auto begun = writer.begin(head(200, body.size())); !begun) return begun.error();
  if (auto written = writer.write(body); !written) return written.error();
  return writer.commit();
}

// Leaves "<final>.part" holding `body` and a meta with the given validators, as an
// interrupted earlier run would.
void interrupted_download(const fs::path& final_path, std::string_view body, std::uint64_t full_length,
                          std::string etag, std::string last_modified = {}) {
  FileWriter writer(final_path, false);
  const ResponseHead response = head(200, full_length, std::move(etag), std::nullopt, std::move(last_modified));
  REQUIRE(writer.begin(response));
  REQUIRE(writer.write(body));
  writer.abandon();
}

bool is_safe_relative(const fs::path& path) {
  if (path.empty() || path.has_root_path()) return false;
  for (const auto& component : path) {
    std::string name = component.string();
    if (name.empty() || name == "." || name == "..") return false;
    for (unsigned char c : name) {
      if (c < 0x20 || c == 0x7F || c == '\\') return false;
    }
  }
  return true;
}

}  // namespace

// ---- naming -----------------------------------------------------------------------

TEST_CASE("URL paths map to safe names inside the output directory", "[download]") {
  const NamingOptions flat{};
  const NamingOptions tree{.use_directories = true};
  const NamingOptions short_names{.max_name_bytes = 20};
  const std::string long_a(300, 'a');
  std::string long_japanese;
  for (int i = 0; i < 100; ++i) long_japanese += "\xE6\x97\xA5";  // U+65E5, 3 bytes

  struct Case {
    std::string_view host;
    std::string path;
    NamingOptions options;
    std::string expected;
  };
  const std::vector<Case> cases = {
      // Traversal and absolute paths never leave the directory.
      {"h", "../../etc/passwd", flat, "passwd"},
      {"h", "/../../etc/passwd", tree, "h/etc/passwd"},
      {"h", "/abs/path", flat, "path"},
      {"h", "/abs/path", tree, "h/abs/path"},
      {"h", "/%2E%2E/%2e%2e/x", tree, "h/x"},
      {"h", "/a/./b/../c", tree, "h/a/b/c"},
      {"h", "//double//slash", tree, "h/double/slash"},
      // %2F is data inside a segment (RFC 3986), so it cannot build a "../" either.
      {"h", "/a%2F..%2Fb", flat, "a_.._b"},
      {"h", "/a%2F..%2Fb", tree, "h/a_.._b"},
      {"h", "/a%5C..%5Cb", flat, "a_.._b"},
      {"h", "/a\\b", flat, "a_b"},
      // NUL, C0 controls, DEL and C1 controls become '_'.
      {"h", "/%00", flat, "_"},
      {"h", "/x%00y", flat, "x_y"},
      {"h", "/a%0Ab%09c%7Fd%1B", flat, "a_b_c_d_"},
      {"h", "/%C2%85next", flat, "_next"},
      // Windows device names are ordinary names on POSIX.
      {"h", "/dir/CON", flat, "CON"},
      {"h", "/aux.txt", flat, "aux.txt"},
      // Directory-like paths get the default name.
      {"h", "", flat, "index.html"},
      {"h", "/", flat, "index.html"},
      {"h", "/", tree, "h/index.html"},
      {"h", "/dir/", flat, "index.html"},
      {"h", "/dir/", tree, "h/dir/index.html"},
      {"h", "/dir/.", tree, "h/dir/index.html"},
      {"h", "/dir/..", tree, "h/dir/index.html"},
      {"", "/x", tree, "x"},
      {"..", "/x", tree, "x"},
      {"evil/host", "/x", tree, "evil_host/x"},
      {"example.com:8080", "/x", tree, "example.com:8080/x"},
      // Query and fragment are not part of the name; spaces and unicode decode.
      {"h", "/file.txt?q=1/../../x#frag", flat, "file.txt"},
      {"h", "/dir/a%20b.txt", flat, "a b.txt"},
      {"h", "/%E6%97%A5%E6%9C%AC%E8%AA%9E.txt", flat, "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E.txt"},
      {"h", "/caf\xC3\xA9", flat, "caf\xC3\xA9"},
      // Invalid UTF-8 (stray bytes, overlong "..", surrogates) is replaced byte by byte.
      {"h", "/%FF%FE.bin", flat, "__.bin"},
      {"h", "/%C0%AE%C0%AE", flat, "____"},
      {"h", "/%ED%A0%80", flat, "___"},
      // Malformed escapes stay literal.
      {"h", "/100%", flat, "100%"},
      {"h", "/%zz%4", flat, "%zz%4"},
      // Long names are cut to max_name_bytes, keeping the extension and whole characters.
      {"h", "/" + long_a + ".txt", short_names, std::string(16, 'a') + ".txt"},
      {"h", "/" + long_a + ".verylongextension123", short_names, std::string(20, 'a')},
      {"h", "/" + long_japanese, short_names, long_japanese.substr(0, 18)},
      {"h", "/" + long_japanese + ".txt", short_names, long_japanese.substr(0, 15) + ".txt"},
      {"h", "/" + long_a + "/x", NamingOptions{.use_directories = true, .max_name_bytes = 20},
       "h/" + std::string(20, 'a') + "/x"},
      {"h", "/" + long_a + ".tar.gz", flat, std::string(197, 'a') + ".gz"},
  };
  for (const auto& c : cases) {
    INFO("host '" << c.host << "' path '" << c.path << "' directories " << c.options.use_directories);
    fs::path got = fetchpool::safe_relative_path(c.host, c.path, "", c.options);
    CHECK(got.string() == c.expected);
    CHECK(is_safe_relative(got));
    for (const auto& component : got) CHECK(component.string().size() <= c.options.max_name_bytes);
  }
}

TEST_CASE("no combination of hostile segments escapes or yields an unsafe name", "[download]") {
  const std::vector<std::string> segments = {
      "..", ".", "", "%2e%2e", "%2E.", "a", "%00", "%2F", "\\..", "%C0%AE%C0%AE", "%5C%2E%2E", "~", "%0A"};
  int checked = 0;
  for (bool use_directories : {false, true}) {
    NamingOptions options{.use_directories = use_directories, .max_name_bytes = 8};
    for (const auto& a : segments) {
      for (const auto& b : segments) {
        for (const auto& c : segments) {
          for (const std::string& path : {a + "/" + b + "/" + c, "/" + a + "/" + b + "/" + c + "/"}) {
            fs::path got = fetchpool::safe_relative_path("..", path, "", options);
            INFO("path '" << path << "' -> '" << got.string() << "'");
            REQUIRE(is_safe_relative(got));
            REQUIRE(fs::path("/out" / got).lexically_normal().string().rfind("/out/", 0) == 0);
            ++checked;
          }
        }
      }
    }
  }
  REQUIRE(checked == 2 * 13 * 13 * 13 * 2);
}

TEST_CASE("Content-Disposition filenames follow RFC 6266 and lose their directories", "[download]") {
  struct Case {
    std::string header;
    std::optional<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"attachment; filename=\"report 2024.pdf\"", "report 2024.pdf"},
      {"attachment; filename=plain.txt", "plain.txt"},
      {"attachment;filename=plain.txt;size=3", "plain.txt"},
      {"attachment; FILENAME=\"upper.txt\"", "upper.txt"},
      {"attachment; filename=\"quo\\\"te.txt\"", "quo\"te.txt"},
      {"attachment; filename*=UTF-8''%E2%82%AC%20rates.txt", "\xE2\x82\xAC rates.txt"},
      {"attachment; filename*=utf-8'en'na%C3%AFve.txt", "na\xC3\xAFve.txt"},
      {"attachment; filename*=iso-8859-1'en'%A3%20rates", "\xC2\xA3 rates"},
      // filename* wins whichever comes first; filename is the fallback.
      {"attachment; filename=\"fallback.txt\"; filename*=UTF-8''real.txt", "real.txt"},
      {"attachment; filename*=UTF-8''real.txt; filename=\"fallback.txt\"", "real.txt"},
      {"attachment; filename*=koi8-r''x.txt; filename=\"fallback.txt\"", "fallback.txt"},
      {"attachment; filename*=no-quotes.txt; filename=\"fallback.txt\"", "fallback.txt"},
      // Only the last path component survives.
      {"attachment; filename=\"../../etc/passwd\"", "passwd"},
      {"attachment; filename=\"/etc/shadow\"", "shadow"},
      {"attachment; filename=C:\\Windows\\evil.exe", "evil.exe"},
      {"attachment; filename*=UTF-8''..%2F..%2Fevil.sh", "evil.sh"},
      // A parameter value that looks like filename= is not a filename parameter.
      {"attachment; note=\"filename=evil.txt\"; filename=good.txt", "good.txt"},
      // Lenient with sloppy servers.
      {"attachment; filename=name with spaces.txt", "name with spaces.txt"},
      {"attachment; filename=\"unterminated.txt", "unterminated.txt"},
      {"inline; filename=\"shown.txt\"", "shown.txt"},
      // No usable name.
      {"attachment", std::nullopt},
      {"", std::nullopt},
      {"attachment; filename=\"\"", std::nullopt},
      {"attachment; filename=\"dir/\"", std::nullopt},
      {"attachment; filename=..", std::nullopt},
      {"attachment; filename", std::nullopt},
  };
  for (const auto& c : cases) {
    INFO("header: " << c.header);
    CHECK(fetchpool::filename_from_content_disposition(c.header) == c.expected);
  }
}

TEST_CASE("safe_relative_path uses the Content-Disposition name only when asked", "[download]") {
  const NamingOptions cd{.content_disposition = true};
  const NamingOptions cd_tree{.use_directories = true, .content_disposition = true};
  const std::string header = "attachment; filename=\"report.pdf\"";
  CHECK(fetchpool::safe_relative_path("h", "/get.php", header, cd) == fs::path("report.pdf"));
  CHECK(fetchpool::safe_relative_path("h", "/files/get.php", header, cd_tree) == fs::path("h/files/report.pdf"));
  CHECK(fetchpool::safe_relative_path("h", "/get.php", header, NamingOptions{}) == fs::path("get.php"));
  CHECK(fetchpool::safe_relative_path("h", "/get.php", "attachment; filename=\"../../x\"", cd) == fs::path("x"));
  CHECK(fetchpool::safe_relative_path("h", "/get.php", "attachment; filename=\"a\x01\x7F.txt\"", cd) ==
        fs::path("a__.txt"));
  CHECK(fetchpool::safe_relative_path("h", "/get.php", "attachment", cd) == fs::path("get.php"));
  CHECK(fetchpool::safe_relative_path("h", "/get.php", "attachment; filename=\"..\"", cd) == fs::path("get.php"));
}

// ---- OutputDirectory --------------------------------------------------------------

TEST_CASE("OutputDirectory creates its root and names it in errors", "[download]") {
  TempDir tmp;
  auto nested = OutputDirectory::open(tmp.path() / "a" / "b" / "out");
  REQUIRE(nested.ok());
  CHECK(fs::is_directory(tmp.path() / "a" / "b" / "out"));
  CHECK(nested->root() == fs::canonical(tmp.path() / "a" / "b" / "out"));

  write_file(tmp.path() / "file", "x");
  auto on_file = OutputDirectory::open(tmp.path() / "file");
  REQUIRE_FALSE(on_file.ok());
  CHECK(on_file.error().code == ErrorCode::kIo);
  CHECK(on_file.error().message.find((tmp.path() / "file").string()) != std::string::npos);

  auto below_file = OutputDirectory::open(tmp.path() / "file" / "sub");
  REQUIRE_FALSE(below_file.ok());
  CHECK(below_file.error().message.find((tmp.path() / "file" / "sub").string()) != std::string::npos);
}

TEST_CASE("8 threads reserving one name get 8 distinct files and none overwrites another", "[download]") {
  TempDir tmp;
  auto dir = OutputDirectory::open(tmp.path() / "out");
  REQUIRE(dir.ok());
  constexpr int kThreads = 8;
  std::vector<fs::path> paths(kThreads);
  std::vector<std::string> errors(kThreads);
  std::latch start(kThreads);
  {
    std::vector<std::jthread> threads;
    threads.reserve(kThreads);
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();  // all threads race for the name at once
        auto reserved = dir->reserve("same.bin");
        if (!reserved) {
          errors[i] = reserved.error().message;
          return;
        }
        paths[i] = *reserved;
        auto done = download(paths[i], "content of thread " + std::to_string(i));
        if (!done) errors[i] = done.error().message;
      });
    }
  }
  std::set<fs::path> distinct;
  for (int i = 0; i < kThreads; ++i) {
    INFO("thread " << i);
    CHECK(errors[i].empty());
    CHECK(read_file(paths[i]) == "content of thread " + std::to_string(i));
    distinct.insert(paths[i]);
  }
  CHECK(distinct.size() == kThreads);
  std::set<fs::path> expected = {dir->root() / "same.bin"};
  for (int n = 1; n < kThreads; ++n) expected.insert(dir->root() / ("same.bin." + std::to_string(n)));
  CHECK(distinct == expected);
  std::set<fs::path> on_disk;
  for (const auto& entry : fs::directory_iterator(dir->root())) on_disk.insert(entry.path());
  CHECK(on_disk == expected);  // no .part or .meta left behind
}

TEST_CASE("clobber policies: keep, replace, or skip a file from an earlier run", "[download]") {
  TempDir tmp;
  auto dir = OutputDirectory::open(tmp.path());
  REQUIRE(dir.ok());
  const fs::path root = dir->root();
  write_file(root / "a.txt", "old");

  SECTION("kNoClobber picks a.txt.1 and leaves the old file alone") {
    auto reserved = dir->reserve("a.txt", ClobberPolicy::kNoClobber);
    REQUIRE(reserved.ok());
    CHECK(*reserved == root / "a.txt.1");
    REQUIRE(download(*reserved, "new").ok());
    CHECK(read_file(root / "a.txt") == "old");
    CHECK(read_file(root / "a.txt.1") == "new");
  }
  SECTION("kOverwrite replaces it, but never shares a name within the run") {
    auto reserved = dir->reserve("a.txt", ClobberPolicy::kOverwrite);
    REQUIRE(reserved.ok());
    CHECK(*reserved == root / "a.txt");
    REQUIRE(download(*reserved, "new").ok());
    CHECK(read_file(root / "a.txt") == "new");
    auto second = dir->reserve("a.txt", ClobberPolicy::kOverwrite);
    REQUIRE(second.ok());
    CHECK(*second == root / "a.txt.1");
  }
  SECTION("kSkipExisting reports the complete file as a duplicate") {
    auto reserved = dir->reserve("a.txt", ClobberPolicy::kSkipExisting);
    REQUIRE_FALSE(reserved.ok());
    CHECK(reserved.error().code == ErrorCode::kDuplicate);
    CHECK(reserved.error().message.find("a.txt") != std::string::npos);
    CHECK(read_file(root / "a.txt") == "old");
  }
  SECTION("a .part from an earlier run is resumable under kSkipExisting, kept under kNoClobber") {
    write_file(root / "b.bin.part", "partial");
    auto resumable = dir->reserve("b.bin", ClobberPolicy::kSkipExisting);
    REQUIRE(resumable.ok());
    CHECK(*resumable == root / "b.bin");
    write_file(root / "c.bin.part", "partial");
    auto fresh = dir->reserve("c.bin", ClobberPolicy::kNoClobber);
    REQUIRE(fresh.ok());
    CHECK(*fresh == root / "c.bin.1");
    CHECK(read_file(root / "c.bin.part") == "partial");
  }
  SECTION("an existing directory is never the target") {
    fs::create_directory(root / "d");
    for (auto policy : {ClobberPolicy::kNoClobber, ClobberPolicy::kOverwrite, ClobberPolicy::kSkipExisting}) {
      auto reserved = dir->reserve("d", policy);
      REQUIRE(reserved.ok());
      CHECK(fs::path(*reserved).parent_path() == root);
      CHECK(*reserved != root / "d");
    }
  }
}

TEST_CASE("a reservation also claims its .part and .part.meta names", "[download]") {
  TempDir tmp;
  auto dir = OutputDirectory::open(tmp.path());
  REQUIRE(dir.ok());
  auto x = dir->reserve("x");
  auto x_part = dir->reserve("x.part");
  REQUIRE(x.ok());
  REQUIRE(x_part.ok());
  CHECK(*x == dir->root() / "x");
  CHECK(*x_part == dir->root() / "x.part.1");

  auto y_part = dir->reserve("y.part");
  auto y = dir->reserve("y");
  auto y_meta = dir->reserve("y.1.part.meta");
  REQUIRE(y_part.ok());
  REQUIRE(y.ok());
  REQUIRE(y_meta.ok());
  CHECK(*y_part == dir->root() / "y.part");
  CHECK(*y == dir->root() / "y.1");
  CHECK(*y_meta == dir->root() / "y.1.part.meta.1");
}

TEST_CASE("reserve creates subdirectories and refuses paths that leave the root", "[download]") {
  TempDir tmp;
  fs::create_directories(tmp.path() / "outside");
  auto dir = OutputDirectory::open(tmp.path() / "out");
  REQUIRE(dir.ok());
  const fs::path root = dir->root();

  auto nested = dir->reserve("host/a/b/file.txt");
  REQUIRE(nested.ok());
  CHECK(*nested == root / "host/a/b/file.txt");
  CHECK(fs::is_directory(root / "host/a/b"));
  CHECK_FALSE(fs::exists(*nested));  // nothing is created under the final name

  for (const fs::path& bad : {fs::path("../evil"), fs::path("a/../../evil"), fs::path("/etc/passwd"), fs::path(""),
                              fs::path("dir/"), fs::path("..")}) {
    INFO("relative: " << bad);
    auto reserved = dir->reserve(bad);
    REQUIRE_FALSE(reserved.ok());
    CHECK(reserved.error().code == ErrorCode::kIo);
  }

  fs::create_directory_symlink(tmp.path() / "outside", root / "link");
  auto through_link = dir->reserve("link/sub/file");
  REQUIRE_FALSE(through_link.ok());
  CHECK(through_link.error().message.find("escapes") != std::string::npos);
  CHECK_FALSE(fs::exists(tmp.path() / "outside" / "sub"));

  write_file(tmp.path() / "outside" / "target", "secret");
  fs::create_symlink(tmp.path() / "outside" / "target", root / "final-link");
  auto overwrite_link = dir->reserve("final-link", ClobberPolicy::kOverwrite);
  REQUIRE_FALSE(overwrite_link.ok());
  CHECK(overwrite_link.error().code == ErrorCode::kIo);
  auto beside_link = dir->reserve("final-link", ClobberPolicy::kNoClobber);
  REQUIRE(beside_link.ok());
  CHECK(*beside_link == root / "final-link.1");
  REQUIRE(download(*beside_link, "new").ok());
  CHECK(read_file(tmp.path() / "outside" / "target") == "secret");

  // A link inside root that points back inside root passes any check by
  // resolved path; the directories are made without following any link.
  fs::create_directories(root / "real");
  fs::create_directory_symlink("real", root / "inner-link");
  auto through_inner_link = dir->reserve("inner-link/sub/file");
  REQUIRE_FALSE(through_inner_link.ok());
  CHECK(through_inner_link.error().code == ErrorCode::kIo);
  CHECK(through_inner_link.error().message.find("symbolic link") != std::string::npos);
  CHECK_FALSE(fs::exists(root / "real" / "sub"));

  write_file(root / "plain", "x");
  auto below_file = dir->reserve("plain/x");
  REQUIRE_FALSE(below_file.ok());
  CHECK(below_file.error().code == ErrorCode::kIo);
  CHECK(below_file.error().message.find((root / "plain").string()) != std::string::npos);
}

// ---- FileWriter -------------------------------------------------------------------

TEST_CASE("a body is streamed to .part, hashed, and renamed on commit", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "abc.txt";
  FileWriter writer(final_path, false);
  CHECK(writer.existing_size() == 0);
  REQUIRE(writer.begin(head(200, 3, "\"v1\"")));
  REQUIRE(writer.write("a"));
  REQUIRE(writer.write(""));
  REQUIRE(writer.write("bc"));
  CHECK_FALSE(fs::exists(final_path));
  auto result = writer.commit();
  REQUIRE(result.ok());
  CHECK(result->path == final_path);
  CHECK(result->bytes == 3);
  CHECK(result->sha256_hex == kSha256Abc);
  CHECK_FALSE(result->resumed);
  CHECK(read_file(final_path) == "abc");
  CHECK(fetchpool::sha256_hex_of_file(final_path) == kSha256Abc);
  CHECK(sha256sum_of(final_path) == kSha256Abc);
  CHECK_FALSE(fs::exists(part_of(final_path)));
  CHECK_FALSE(fs::exists(meta_of(final_path)));

  auto empty = download(tmp.path() / "empty", "");
  REQUIRE(empty.ok());
  CHECK(empty->sha256_hex == kSha256Empty);
  CHECK(fs::file_size(tmp.path() / "empty") == 0);
}

TEST_CASE("bodies larger than the buffer are written intact in any chunking", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "big.bin";
  std::string body(3 * 1024 * 1024 + 17, '\0');
  std::uint32_t state = 12345;
  for (auto& c : body) {
    state = state * 1103515245u + 12345u;
    c = static_cast<char>(state >> 24);
  }
  FileWriter writer(final_path, false);
  REQUIRE(writer.begin(head(200, body.size())));
  const std::size_t sizes[] = {1, 7, 16384, 262143, 262144, 262145, 1000000, 3};
  std::size_t offset = 0;
  for (int i = 0; offset < body.size(); ++i) {
    std::size_t n = std::min(sizes[i % std::size(sizes)], body.size() - offset);
    REQUIRE(writer.write(std::string_view(body).substr(offset, n)));
    offset += n;
  }
  auto result = writer.commit();
  REQUIRE(result.ok());
  CHECK(result->bytes == body.size());
  CHECK(read_file(final_path) == body);
  CHECK(result->sha256_hex == sha256sum_of(final_path));
}

TEST_CASE("commit with too few bytes is kTruncated, keeps the part, and creates no file", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "short.bin";
  FileWriter writer(final_path, false);
  REQUIRE(writer.begin(head(200, 10, "\"v1\"")));
  REQUIRE(writer.write("12345"));
  auto result = writer.commit();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kTruncated);
  CHECK(result.error().message.find("5 of 10") != std::string::npos);
  CHECK_FALSE(fs::exists(final_path));
  CHECK(read_file(part_of(final_path)) == "12345");
  CHECK(FileWriter(final_path, true).existing_size() == 5);  // a later run can resume it
  CHECK_FALSE(writer.write("more").ok());                    // the writer stays failed
}

TEST_CASE("commit with more bytes than Content-Length is kTruncated and deletes the part", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "long.bin";
  FileWriter writer(final_path, false);
  REQUIRE(writer.begin(head(200, 3)));
  REQUIRE(writer.write("12345"));
  auto result = writer.commit();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kTruncated);
  CHECK_FALSE(fs::exists(final_path));
  CHECK_FALSE(fs::exists(part_of(final_path)));
}

TEST_CASE("Content-Length is not compared with decoded bytes of an encoded body", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "page.html";
  FileWriter writer(final_path, false);
  ResponseHead gzip = head(200, 3);
  gzip.content_encoding = "gzip";
  REQUIRE(writer.begin(gzip));
  REQUIRE(writer.write("ten bytes!"));
  auto result = writer.commit();
  REQUIRE(result.ok());
  CHECK(result->bytes == 10);
}

TEST_CASE("a checksum mismatch is kChecksum and leaves neither the file nor the part", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "abc.txt";

  SECTION("mismatch") {
    FileWriter writer(final_path, false);
    REQUIRE(writer.begin(head(200, 3, "\"v1\"")));
    REQUIRE(writer.write("abd"));
    auto result = writer.commit(std::string(kSha256Abc));
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::kChecksum);
    CHECK(result.error().message.find(kSha256Abc) != std::string::npos);
    CHECK(result.error().message.find("deleted") != std::string::npos);
    CHECK_FALSE(fs::exists(final_path));
    CHECK_FALSE(fs::exists(part_of(final_path)));
    CHECK_FALSE(fs::exists(meta_of(final_path)));
  }
  SECTION("match, in upper case") {
    FileWriter writer(final_path, false);
    REQUIRE(writer.begin(head(200, 3)));
    REQUIRE(writer.write("abc"));
    std::string upper = kSha256Abc;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    auto result = writer.commit(upper);
    REQUIRE(result.ok());
    CHECK(read_file(final_path) == "abc");
  }
  SECTION("a malformed expected digest is a config error and keeps the part") {
    FileWriter writer(final_path, false);
    REQUIRE(writer.begin(head(200, 3)));
    REQUIRE(writer.write("abc"));
    auto result = writer.commit(std::string("abc123"));
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::kConfig);
    CHECK_FALSE(fs::exists(final_path));
    CHECK(read_file(part_of(final_path)) == "abc");
  }
}

TEST_CASE("commit replaces a file already under the final name atomically", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "f";
  write_file(final_path, "previous version");
  REQUIRE(download(final_path, "abc").ok());
  CHECK(read_file(final_path) == "abc");
}

TEST_CASE("resume: a 206 from the saved offset appends and the hash covers the whole file", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "hello.txt";
  interrupted_download(final_path, "hello ", 11, "\"v1\"");

  FileWriter writer(final_path, true);
  CHECK(writer.existing_size() == 6);
  CHECK(writer.if_range_validator() == "\"v1\"");
  REQUIRE(writer.begin(head(206, 5, "\"v1\"", 6)));
  REQUIRE(writer.write("wor"));
  REQUIRE(writer.write("ld"));
  auto result = writer.commit(std::string(kSha256HelloWorld));
  REQUIRE(result.ok());
  CHECK(result->resumed);
  CHECK(result->bytes == 11);
  CHECK(result->sha256_hex == kSha256HelloWorld);
  CHECK(read_file(final_path) == "hello world");
  CHECK(sha256sum_of(final_path) == kSha256HelloWorld);
  CHECK_FALSE(fs::exists(part_of(final_path)));
  CHECK_FALSE(fs::exists(meta_of(final_path)));
}

TEST_CASE("resume: a 206 starting before the part's end is written at its offset", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "hello.txt";
  interrupted_download(final_path, "hello ", 11, "\"v1\"");
  SECTION("from byte 3") {
    FileWriter writer(final_path, true);
    ResponseHead h = head(206, 8, "\"v1\"", 3);
    h.range_total = 11;
    REQUIRE(writer.begin(h));
    REQUIRE(writer.write("lo world"));
    auto result = writer.commit(std::string(kSha256HelloWorld));
    REQUIRE(result.ok());
    CHECK(read_file(final_path) == "hello world");
  }
  SECTION("from byte 0: the part starts over") {
    FileWriter writer(final_path, true);
    REQUIRE(writer.begin(head(206, 11, "\"v1\"", 0)));
    REQUIRE(writer.write("hello world"));
    REQUIRE(writer.commit(std::string(kSha256HelloWorld)).ok());
    CHECK(read_file(final_path) == "hello world");
  }
}

TEST_CASE("resume: a 206 that ends before the total leaves a part, never a complete file", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "hello.txt";
  interrupted_download(final_path, "hello ", 11, "\"v1\"");
  FileWriter writer(final_path, true);
  ResponseHead h = head(206, 2, "\"v1\"", 6);  // bytes 6-7/11
  h.range_total = 11;
  REQUIRE(writer.begin(h));
  REQUIRE(writer.write("wo"));
  auto result = writer.commit();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kTruncated);
  CHECK_FALSE(fs::exists(final_path));
  CHECK(read_file(part_of(final_path)) == "hello wo");
}

TEST_CASE("resume: a part larger than the buffer is re-hashed in full", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "big.bin";
  const std::string first(std::size_t{700} * 1024, 'x');
  const std::string rest(std::size_t{300} * 1024, 'y');
  interrupted_download(final_path, first, first.size() + rest.size(), "\"v1\"");
  FileWriter writer(final_path, true);
  REQUIRE(writer.existing_size() == first.size());
  REQUIRE(writer.begin(head(206, rest.size(), "\"v1\"", first.size())));
  REQUIRE(writer.write(rest));
  auto result = writer.commit();
  REQUIRE(result.ok());
  CHECK(result->sha256_hex == sha256sum_of(final_path));
  CHECK(read_file(final_path) == first + rest);
}

TEST_CASE("bodies of many sizes and chunkings are saved intact, hashed only when asked", "[download]") {
  TempDir tmp;
  const bool hash = GENERATE(true, false);
  // Around libcurl's 16 KiB pieces, the 64 KiB gathering buffer and a 256 KiB receive buffer.
  const std::size_t size =
      GENERATE(as<std::size_t>{}, 0, 1, 16383, 16384, 65535, 65536, 65537, 131077, 262144, 1000003);
  const std::size_t piece = GENERATE(as<std::size_t>{}, 1000, 16384, 65536, 300000);
  std::string body(size, '\0');
  std::uint32_t state = static_cast<std::uint32_t>(size * 31 + piece);
  for (auto& c : body) {
    state = state * 1103515245u + 12345u;
    c = static_cast<char>(state >> 24);
  }
  const fs::path final_path = tmp.path() / "body.bin";
  FileWriter writer(final_path, false, hash);
  REQUIRE(writer.begin(head(200, size)));
  // Every third chunk is 7 bytes, so gathered bytes sit in front of big chunks.
  std::size_t offset = 0;
  for (int i = 0; offset < body.size(); ++i) {
    const std::size_t n = std::min(i % 3 == 2 ? std::size_t{7} : piece, body.size() - offset);
    REQUIRE(writer.write(std::string_view(body).substr(offset, n)));
    offset += n;
  }
  auto result = writer.commit();
  REQUIRE(result.ok());
  CHECK(result->bytes == size);
  CHECK(read_file(final_path) == body);
  if (hash) {
    CHECK(result->sha256_hex == sha256sum_of(final_path));
  } else {
    CHECK(result->sha256_hex.empty());
  }
}

TEST_CASE("without hashing, an expected sha256 is still checked, by reading the part back", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "f.bin";
  SECTION("a match is kept and reported") {
    // Longer than the read-back chunk.
    const std::string body(std::size_t{300} * 1024 + 3, 'q');
    write_file(tmp.path() / "reference", body);
    const std::string expected = sha256sum_of(tmp.path() / "reference");
    FileWriter writer(final_path, false, false);
    REQUIRE(writer.begin(head(200, body.size())));
    REQUIRE(writer.write(body));
    auto result = writer.commit(expected);
    REQUIRE(result.ok());
    CHECK(result->sha256_hex == expected);
    CHECK(read_file(final_path) == body);
  }
  SECTION("a mismatch deletes the part") {
    FileWriter writer(final_path, false, false);
    REQUIRE(writer.begin(head(200, 3)));
    REQUIRE(writer.write("abd"));
    auto result = writer.commit(std::string(kSha256Abc));
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::kChecksum);
    CHECK_FALSE(fs::exists(final_path));
    CHECK_FALSE(fs::exists(part_of(final_path)));
  }
}

TEST_CASE("resume without hashing appends to the kept prefix, and a checked sha256 covers the whole file",
          "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "hello.txt";
  interrupted_download(final_path, "hello ", 11, "\"v1\"");
  SECTION("no sha256 asked for") {
    FileWriter writer(final_path, true, false);
    REQUIRE(writer.existing_size() == 6);
    REQUIRE(writer.begin(head(206, 5, "\"v1\"", 6)));
    REQUIRE(writer.write("world"));
    auto result = writer.commit();
    REQUIRE(result.ok());
    CHECK(result->resumed);
    CHECK(result->bytes == 11);
    CHECK(result->sha256_hex.empty());
    CHECK(read_file(final_path) == "hello world");
  }
  SECTION("an expected sha256 is checked over prefix and range") {
    FileWriter writer(final_path, true, false);
    REQUIRE(writer.begin(head(206, 5, "\"v1\"", 6)));
    REQUIRE(writer.write("world"));
    auto result = writer.commit(std::string(kSha256HelloWorld));
    REQUIRE(result.ok());
    CHECK(result->sha256_hex == kSha256HelloWorld);
  }
  SECTION("a part that shrank since it was measured is kIo, not a file with a hole") {
    FileWriter writer(final_path, true, false);
    REQUIRE(writer.existing_size() == 6);
    fs::resize_file(part_of(final_path), 2);
    auto begun = writer.begin(head(206, 5, "\"v1\"", 6));
    REQUIRE_FALSE(begun.ok());
    CHECK(begun.error().code == ErrorCode::kIo);
    CHECK(begun.error().message.find("shrank") != std::string::npos);
    CHECK_FALSE(fs::exists(final_path));
  }
}

TEST_CASE("resume: a 200 (Range ignored or If-Range failed) restarts without splicing", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "hello.txt";
  interrupted_download(final_path, "hello ", 11, "\"v1\"");

  FileWriter writer(final_path, true);
  REQUIRE(writer.existing_size() == 6);
  REQUIRE(writer.begin(head(200, 11, "\"v2\"")));
  REQUIRE(writer.write("HELLO WORLD"));
  auto result = writer.commit();
  REQUIRE(result.ok());
  CHECK_FALSE(result->resumed);
  CHECK(read_file(final_path) == "HELLO WORLD");
  CHECK(result->sha256_hex == sha256sum_of(final_path));
}

TEST_CASE("resume: unusable answers fail and say what happened to the part", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "hello.txt";
  interrupted_download(final_path, "hello ", 11, "\"v1\"");

  SECTION("206 starting after the part's end leaves the part untouched") {
    FileWriter writer(final_path, true);
    auto begun = writer.begin(head(206, 3, "\"v1\"", 8));
    REQUIRE_FALSE(begun.ok());
    CHECK(begun.error().code == ErrorCode::kProtocol);
    CHECK(read_file(part_of(final_path)) == "hello ");
  }
  SECTION("206 whose Content-Length is not its range's length") {
    FileWriter writer(final_path, true);
    ResponseHead h = head(206, 5, "\"v1\"", 6);
    h.range_end = 20;
    auto begun = writer.begin(h);
    REQUIRE_FALSE(begun.ok());
    CHECK(begun.error().code == ErrorCode::kProtocol);
    CHECK(read_file(part_of(final_path)) == "hello ");
  }
  SECTION("206 of a different version deletes the stale part") {
    FileWriter writer(final_path, true);
    auto begun = writer.begin(head(206, 5, "\"v2\"", 6));
    REQUIRE_FALSE(begun.ok());
    CHECK(begun.error().code == ErrorCode::kNetwork);
    CHECK(begun.error().message.find("deleted") != std::string::npos);
    CHECK_FALSE(fs::exists(part_of(final_path)));
    CHECK_FALSE(fs::exists(meta_of(final_path)));
  }
  SECTION("206 without Content-Range") {
    FileWriter writer(final_path, true);
    auto begun = writer.begin(head(206, 5, "\"v1\""));
    REQUIRE_FALSE(begun.ok());
    CHECK(begun.error().code == ErrorCode::kProtocol);
    CHECK(read_file(part_of(final_path)) == "hello ");
  }
  SECTION("206 when no Range was asked for (no part to resume)") {
    FileWriter writer(tmp.path() / "fresh.txt", false);
    auto begun = writer.begin(head(206, 5, "\"v1\"", 0));
    REQUIRE_FALSE(begun.ok());
    CHECK(begun.error().code == ErrorCode::kProtocol);
    CHECK_FALSE(fs::exists(part_of(tmp.path() / "fresh.txt")));
  }
  SECTION("an error status leaves the part untouched") {
    for (long status : {404L, 416L, 503L, 304L}) {
      FileWriter writer(final_path, true);
      auto begun = writer.begin(head(status, 0));
      REQUIRE_FALSE(begun.ok());
      CHECK(begun.error().code == ErrorCode::kHttpStatus);
      CHECK(begun.error().message.find(std::to_string(status)) != std::string::npos);
      CHECK(read_file(part_of(final_path)) == "hello ");
      CHECK_FALSE(fs::exists(final_path));
      CHECK(FileWriter(final_path, true).if_range_validator() == "\"v1\"");
    }
  }
}

TEST_CASE("the saved validator round-trips through the meta file", "[download]") {
  TempDir tmp;
  const std::string date = "Wed, 21 Oct 2015 07:28:00 GMT";

  SECTION("a strong ETag is preferred") {
    interrupted_download(tmp.path() / "a", "x", 2, "\"strong\"", date);
    CHECK(FileWriter(tmp.path() / "a", true).if_range_validator() == "\"strong\"");
  }
  SECTION("a weak ETag is never offered for If-Range; Last-Modified is") {
    interrupted_download(tmp.path() / "a", "x", 2, "W/\"weak\"", date);
    CHECK(FileWriter(tmp.path() / "a", true).if_range_validator() == date);
  }
  SECTION("Last-Modified alone") {
    interrupted_download(tmp.path() / "a", "x", 2, "", date);
    FileWriter writer(tmp.path() / "a", true);
    CHECK(writer.if_range_validator() == date);
    // A 206 whose Last-Modified differs is a different version.
    auto begun = writer.begin(head(206, 1, "", 1, "Thu, 22 Oct 2015 07:28:00 GMT"));
    REQUIRE_FALSE(begun.ok());
    CHECK(begun.error().code == ErrorCode::kNetwork);
  }
  SECTION("no validators: no meta file, no If-Range") {
    interrupted_download(tmp.path() / "a", "x", 2, "");
    CHECK_FALSE(fs::exists(meta_of(tmp.path() / "a")));
    FileWriter writer(tmp.path() / "a", true);
    CHECK(writer.existing_size() == 1);
    CHECK(writer.if_range_validator().empty());
  }
  SECTION("line breaks in a header cannot corrupt the meta") {
    interrupted_download(tmp.path() / "a", "x", 2, "\"a\r\nlast-modified=evil\"", date);
    FileWriter writer(tmp.path() / "a", true);
    CHECK(writer.if_range_validator() == "\"alast-modified=evil\"");
  }
  SECTION("resume=false ignores the part and the meta") {
    interrupted_download(tmp.path() / "a", "x", 2, "\"strong\"");
    FileWriter writer(tmp.path() / "a", false);
    CHECK(writer.existing_size() == 0);
    CHECK(writer.if_range_validator().empty());
  }
}

TEST_CASE("abandon and the destructor keep what was received for --continue", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "f";
  {
    FileWriter writer(final_path, false);
    REQUIRE(writer.begin(head(200, 100, "\"v1\"")));
    REQUIRE(writer.write(std::string(50, 'z')));  // still in the user-space buffer
  }                                               // destroyed without commit, as when a worker unwinds
  CHECK(read_file(part_of(final_path)) == std::string(50, 'z'));
  CHECK_FALSE(fs::exists(final_path));
  FileWriter again(final_path, true);
  CHECK(again.existing_size() == 50);
  CHECK(again.if_range_validator() == "\"v1\"");
  again.abandon();
  again.abandon();
  CHECK(read_file(part_of(final_path)) == std::string(50, 'z'));
}

TEST_CASE("misuse of the writer is an internal error, not a crash", "[download]") {
  TempDir tmp;
  FileWriter writer(tmp.path() / "f", false);
  CHECK(writer.write("x").error().code == ErrorCode::kInternal);
  CHECK(writer.commit().error().code == ErrorCode::kInternal);
  REQUIRE(writer.begin(head(200, 1)));
  CHECK(writer.begin(head(200, 1)).error().code == ErrorCode::kInternal);
}

TEST_CASE("a removed output directory is a clean kIo naming the part file", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "gone" / "f";
  FileWriter writer(final_path, false);
  auto begun = writer.begin(head(200, 1));
  REQUIRE_FALSE(begun.ok());
  CHECK(begun.error().code == ErrorCode::kIo);
  CHECK(begun.error().message.find(part_of(final_path).string()) != std::string::npos);
  CHECK(writer.write("x").error().code == ErrorCode::kIo);
  CHECK(writer.commit().error().code == ErrorCode::kIo);
}

TEST_CASE("a write the disk refuses (EFBIG past RLIMIT_FSIZE) is kIo and leaves no final file", "[download]") {
  TempDir tmp;
  const fs::path final_path = tmp.path() / "capped.bin";
  // RLIMIT_FSIZE makes write(2) fail with EFBIG, like a full disk fails with ENOSPC,
  // without needing a small file system. SIGXFSZ would kill the process; ignore it.
  struct rlimit old_limit {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit capped = old_limit;
  capped.rlim_cur = rlim_t{64} * 1024;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &capped) == 0);

  fetchpool::Error error{ErrorCode::kOk, {}};
  {
    FileWriter writer(final_path, false);
    const std::string chunk(4096, 'q');
    if (auto begun = writer.begin(head(200, 256 * chunk.size())); !begun) error = begun.error();
    for (int i = 0; i < 256 && error.code == ErrorCode::kOk; ++i) {
      if (auto written = writer.write(chunk); !written) error = written.error();
    }
    if (error.code == ErrorCode::kOk) {
      if (auto committed = writer.commit(); !committed) error = committed.error();
    }
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);

  CHECK(error.code == ErrorCode::kIo);
  CHECK(error.message.find(part_of(final_path).string()) != std::string::npos);
  CHECK_FALSE(fs::exists(final_path));
}

// ---- checksum lists and manifests ---------------------------------------------------

TEST_CASE("checksum lists in sha256sum formats load keyed by name or URL", "[download]") {
  TempDir tmp;
  const fs::path list = tmp.path() / "SHA256SUMS";
  const std::string upper_abc = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
  write_file(list, std::string("# comment\n") + kSha256Abc + "  abc.txt\n" + kSha256Empty + " *empty.bin\r\n" + "\n" +
                       "SHA256 (tagged name.iso) = " + kSha256HelloWorld + "\n" + "\\" + kSha256Abc +
                       "  back\\\\slash\\nnewline\n" + upper_abc + "  https://example.com/dl/abc.txt\n" + kSha256Abc +
                       "  abc.txt\n" + kSha256Abc + "  dir/name with  spaces \n");
  auto loaded = fetchpool::load_checksum_list(list);
  REQUIRE(loaded.ok());
  const std::map<std::string, std::string> expected = {
      {"abc.txt", kSha256Abc},
      {"empty.bin", kSha256Empty},
      {"tagged name.iso", kSha256HelloWorld},
      {"back\\slash\nnewline", kSha256Abc},
      {"https://example.com/dl/abc.txt", kSha256Abc},
      {"dir/name with  spaces ", kSha256Abc},
  };
  CHECK(*loaded == expected);
}

TEST_CASE("bad checksum lines are errors naming file:line", "[download]") {
  TempDir tmp;
  const fs::path list = tmp.path() / "sums.txt";
  const std::string good = std::string(kSha256Abc) + "  good.txt\n";
  const std::vector<std::string> bad_lines = {
      "not a checksum line",
      std::string(kSha256Abc).substr(0, 63) + "  short.txt",
      std::string(kSha256Abc).substr(0, 63) + "g  nonhex.txt",
      std::string(kSha256Abc) + " onespace.txt",
      std::string(kSha256Abc) + "  ",
      std::string(kSha256Abc) + "\tname",
      "\\" + std::string(kSha256Abc) + "  bad\\escape",
      "SHA256 (unclosed = " + std::string(kSha256Abc),
      "SHA256 (x) = 1234",
  };
  for (const auto& bad : bad_lines) {
    INFO("line: " << bad);
    write_file(list, "# header\n" + good + bad + "\n" + good);
    auto loaded = fetchpool::load_checksum_list(list);
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().code == ErrorCode::kConfig);
    CHECK(loaded.error().message.find(list.string() + ":3:") == 0);
  }

  write_file(list, good + std::string(kSha256Empty) + "  other\n" + std::string(kSha256Empty) + "  good.txt\n");
  auto conflict = fetchpool::load_checksum_list(list);
  REQUIRE_FALSE(conflict.ok());
  CHECK(conflict.error().message.find(list.string() + ":3:") == 0);
  CHECK(conflict.error().message.find("line 1") != std::string::npos);

  auto missing = fetchpool::load_checksum_list(tmp.path() / "missing");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::kIo);
  CHECK(missing.error().message.find((tmp.path() / "missing").string()) != std::string::npos);

  auto directory = fetchpool::load_checksum_list(tmp.path());
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.error().code == ErrorCode::kIo);
}

TEST_CASE("the manifest is byte-identical to sha256sum output and loads back", "[download]") {
  TempDir tmp;
  auto dir = OutputDirectory::open(tmp.path() / "out");
  REQUIRE(dir.ok());
  const std::vector<std::pair<std::string, std::string>> files = {
      {"abc.txt", "abc"}, {"sub/b c.txt", "hello world"}, {"back\\slash", ""}, {"h/\xE6\x97\xA5.bin", "x"}};
  std::vector<DownloadResult> results;
  std::string names;
  for (const auto& [name, body] : files) {
    auto reserved = dir->reserve(name);
    REQUIRE(reserved.ok());
    auto done = download(*reserved, body);
    REQUIRE(done.ok());
    results.push_back(*done);
    names += " '" + name + "'";
  }
  const fs::path manifest = dir->root() / "SHA256SUMS";
  REQUIRE(fetchpool::write_sha256_manifest(manifest, results, tmp.path() / "out"));

  Command reference = run("cd " + quoted(dir->root()) + " && sha256sum" + names);
  REQUIRE(reference.status == 0);
  CHECK(read_file(manifest) == reference.output);
  CHECK(run("cd " + quoted(dir->root()) + " && sha256sum --quiet -c SHA256SUMS").status == 0);

  auto loaded = fetchpool::load_checksum_list(manifest);
  REQUIRE(loaded.ok());
  CHECK(loaded->size() == files.size());
  CHECK(loaded->at("back\\slash") == kSha256Empty);
  CHECK(loaded->at("sub/b c.txt") == kSha256HelloWorld);

  std::set<std::string> leftovers;
  for (const auto& entry : fs::directory_iterator(dir->root())) {
    if (entry.path().filename().string().find("SHA256SUMS.tmp") == 0) leftovers.insert(entry.path().string());
  }
  CHECK(leftovers.empty());

  auto unwritable = fetchpool::write_sha256_manifest(tmp.path() / "no" / "such" / "dir" / "SUMS", results, dir->root());
  REQUIRE_FALSE(unwritable.ok());
  CHECK(unwritable.error().code == ErrorCode::kIo);
  CHECK(unwritable.error().message.find("SUMS") != std::string::npos);
}

TEST_CASE("sha256_hex_of_file matches coreutils and is empty for unreadable files", "[download]") {
  TempDir tmp;
  write_file(tmp.path() / "abc", "abc");
  CHECK(fetchpool::sha256_hex_of_file(tmp.path() / "abc") == kSha256Abc);
  CHECK(fetchpool::sha256_hex_of_file(tmp.path() / "missing").empty());
}
