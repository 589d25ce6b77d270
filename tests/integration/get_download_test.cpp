// `fetchpool get -o DIR`: downloads through the real engine, fetcher and
// built-in server: streaming to .part, atomic rename, resume, checksums,
// hostile names.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "fetchpool/download.hpp"
#include "support/cli_runner.hpp"
#include "tools/cli/cli.hpp"
#include "tools/testsite/local_server.hpp"

namespace fs = std::filesystem;
using fetchpool::testing::records_by_url;
using fetchpool::testing::ScratchDir;

namespace {

// The server's /bytes/<n> body: byte k is 'a' + k % 26.
std::string expected_bytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t k = 0; k < n; ++k) s[k] = static_cast<char>('a' + k % 26);
  return s;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool has_part_files(const fs::path& dir) {
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.path().extension() == ".part") return true;
  return false;
}

}  // namespace

TEST_CASE("files stream to disk under their final name only when complete", "[download]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("get-basic");
  const auto& dir = scratch.path();
  const auto base = server.base_url();
  const auto manifest = dir / "MANIFEST";
  CHECK(
      fetchpool::testing::run_fetchpool({"-q", "get", base + "/bytes/3000000", base + "/bytes/10", base + "/s/0/1.html",
                                         "-P", dir.string(), "-j", "3", "--manifest", manifest.string()}) == 0);
  CHECK(read_file(dir / "3000000") == expected_bytes(3000000));
  CHECK(read_file(dir / "10") == expected_bytes(10));
  CHECK(fs::exists(dir / "1.html"));
  CHECK_FALSE(has_part_files(dir));
  auto records = records_by_url(dir / "fetchpool-results.jsonl");
  REQUIRE(records.size() == 3);
  const auto& big = records.at(base + "/bytes/3000000");
  CHECK(big["path"] == "3000000");
  CHECK(big["bytes"] == 3000000);
  CHECK(big["sha256"] == fetchpool::sha256_hex_of_file(dir / "3000000"));
  // The manifest is sha256sum format over everything saved.
  const auto manifest_text = read_file(manifest);
  CHECK(manifest_text.find(big["sha256"].get<std::string>() + "  3000000") != std::string::npos);
}

TEST_CASE("a truncated body is an error and never gets the final name", "[download]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("get-truncated");
  const auto& dir = scratch.path();
  const auto url = server.base_url() + "/fault/truncate?send=1000&claim=5000";
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", url, "-P", dir.string(), "-t", "1"}) ==
        fetchpool::cli::kExitSomeFailed);
  auto records = records_by_url(dir / "fetchpool-results.jsonl");
  CHECK(records.at(url)["error"]["class"] == "truncated");
  CHECK_FALSE(fs::exists(dir / "truncate"));
}

TEST_CASE("resume with -c continues a .part with a Range request", "[download]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("get-resume");
  const auto& dir = scratch.path();
  const std::size_t total = 200000;
  const auto full = expected_bytes(total);
  std::ofstream(dir / "200000.part", std::ios::binary) << full.substr(0, 70000);
  const auto url = server.base_url() + "/bytes/200000";
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", url, "-P", dir.string(), "--continue"}) == 0);
  CHECK(read_file(dir / "200000") == full);
  CHECK_FALSE(fs::exists(dir / "200000.part"));
  CHECK(server.counters().bytes_sent < total);  // only the missing 130000 bytes (plus headers) were sent
}

TEST_CASE("records carry sha256 only with --sha256, and a resumed file's covers all of it", "[download]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("get-sha256");
  const auto& dir = scratch.path();
  const std::size_t total = 300000;
  const auto url = server.base_url() + "/bytes/300000";

  const auto plain = dir / "plain";
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", url, "-P", plain.string()}) == 0);
  const auto unhashed = records_by_url(plain / "fetchpool-results.jsonl").at(url);
  CHECK(unhashed["path"] == "300000");
  CHECK_FALSE(unhashed.contains("sha256"));
  CHECK(read_file(plain / "300000") == expected_bytes(total));

  const auto resumed = dir / "resumed";
  fs::create_directories(resumed);
  std::ofstream(resumed / "300000.part", std::ios::binary) << expected_bytes(total).substr(0, 100000);
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", url, "-P", resumed.string(), "--continue", "--sha256"}) == 0);
  const auto hashed = records_by_url(resumed / "fetchpool-results.jsonl").at(url);
  CHECK(read_file(resumed / "300000") == expected_bytes(total));
  CHECK(hashed["sha256"] == fetchpool::sha256_hex_of_file(plain / "300000"));
  CHECK(server.counters().bytes_sent < 2 * total);  // the second run fetched only the missing 200000 bytes
}

TEST_CASE("a server that ignores Range restarts the file instead of splicing", "[download]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("get-norange");
  const auto& dir = scratch.path();
  std::ofstream(dir / "5000.part", std::ios::binary) << std::string(3000, 'Z');
  const auto url = server.base_url() + "/bytes/5000?norange=1";
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", url, "-P", dir.string(), "--continue"}) == 0);
  CHECK(read_file(dir / "5000") == expected_bytes(5000));
}

TEST_CASE("a checksum mismatch is reported and the file is not kept", "[download]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("get-checksum");
  const auto& dir = scratch.path();
  const auto sums = dir / "SHA256SUMS";
  std::ofstream(sums) << std::string(64, '0') << "  100\n"
                      << fetchpool::sha256_hex_of_file([&] {
                           std::ofstream(dir / "tmp-200", std::ios::binary) << expected_bytes(200);
                           return dir / "tmp-200";
                         }())
                      << "  200\n";
  const auto out = dir / "out";
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", server.base_url() + "/bytes/100",
                                           server.base_url() + "/bytes/200", "-P", out.string(), "--checksums",
                                           sums.string()}) == fetchpool::cli::kExitSomeFailed);
  auto records = records_by_url(out / "fetchpool-results.jsonl");
  CHECK(records.at(server.base_url() + "/bytes/100")["error"]["class"] == "checksum");
  CHECK_FALSE(fs::exists(out / "100"));
  CHECK(records.at(server.base_url() + "/bytes/200")["ok"] == true);
  CHECK(fs::exists(out / "200"));
}

TEST_CASE("hostile names from URLs and Content-Disposition stay inside the directory", "[download]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("get-hostile");
  const auto& dir = scratch.path();
  const auto base = server.base_url();
  CHECK(fetchpool::testing::run_fetchpool(
            {"-q", "get", base + "/filename?name=..%2F..%2Fescape.txt", base + "/filename?name=%2Fetc%2Fpasswd",
             base + "/filename?name=a%01b%7Fc.txt", "-P", dir.string(), "--content-disposition"}) == 0);
  const auto root = fs::canonical(dir);
  std::size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    const auto rel = fs::relative(fs::canonical(entry.path()), root).string();
    CHECK(rel.rfind("..", 0) != 0);
    ++files;
  }
  CHECK(files == 4);  // three downloads and the results file
  CHECK_FALSE(fs::exists(dir.parent_path() / "escape.txt"));
}

TEST_CASE("two URLs with the same file name never overwrite each other", "[download]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("get-clobber");
  const auto& dir = scratch.path();
  const auto base = server.base_url();
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", base + "/bytes/300", base + "/bytes/300?x=1",
                                           base + "/bytes/300?x=2", "-P", dir.string(), "-j", "3"}) == 0);
  std::size_t copies = 0;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().rfind("300", 0) == 0) {
      CHECK(read_file(entry.path()) == expected_bytes(300));
      ++copies;
    }
  CHECK(copies == 3);
}
