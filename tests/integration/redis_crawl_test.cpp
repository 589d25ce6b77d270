// Several real `fetchpool crawl --frontier redis://...` processes share one
// crawl of the built-in site through a real redis-server; one is killed with
// SIGKILL mid-way. Every reachable page must be fetched, by someone, once,
// except the few the killed process held when it died.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): kill() is POSIX, <csignal> is only C
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.hpp"
#include "support/redis_server.hpp"
#include "tools/testsite/local_server.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using fetchpool::testing::spawn;
using fetchpool::testing::wait_exit;

namespace {

constexpr int kWorkersPerProcess = 2;

std::size_t complete_lines(const fs::path& file) {
  std::ifstream in(file);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

std::string slurp(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A scratch directory removed at the end of the test.
struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("fetchpool-redis-crawl-" + std::to_string(::getpid()));
  ScratchDir() { fs::create_directories(path); }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("three processes share one crawl and only a killed process's leases are fetched twice", "[redis_crawl]") {
  fetchpool::testing::RedisServer redis;
  fetchpool::ServerOptions options;
  options.site.pages = 400;
  options.latency = 25ms;
  fetchpool::LocalServer server(options);
  ScratchDir dir;
  // A short lease, so the killed process's URLs come back soon; long enough
  // that a live process's renewals (every lease/3) are never late.
  const std::string uri = redis.uri("crawl") + "?lease=3";

  std::vector<fs::path> results;
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; ++i) {
    results.push_back(dir.path / ("res" + std::to_string(i) + ".jsonl"));
    pids.push_back(
        spawn({FETCHPOOL_BINARY, "-q", "crawl", server.base_url() + "/", "--frontier", uri, "--depth", "100000", "-j",
               std::to_string(kWorkersPerProcess), "--per-host", "6", "-o", results.back().string()}));
  }

  // Kill the third once it has written some records (bounded: slow to start under sanitizers).
  const pid_t victim = pids[2];
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (complete_lines(results[2]) < 10 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  REQUIRE(complete_lines(results[2]) >= 10);
  kill(victim, SIGKILL);
  CHECK(wait_exit(victim, 10s) == 128 + SIGKILL);
  for (int i = 0; i < 2; ++i) {
    const int code = wait_exit(pids[static_cast<std::size_t>(i)], 120s);
    INFO("process " << i);
    CHECK((code == 0 || code == 1));  // not interrupted, not hung
  }

  // Every page fetched (status 200) has exactly one record in all the files.
  std::map<std::string, int> fetched;
  std::map<std::string, int> records_per_url;  // any status: the seed queued by one node is no record of the others
  std::set<std::string> victim_urls;
  std::size_t victim_records = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    std::ifstream in(results[i]);
    for (std::string line; std::getline(in, line);) {
      const auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      REQUIRE_FALSE(record.is_discarded());  // records are flushed whole, even by the killed process
      ++records_per_url[record["url"].get<std::string>()];
      if (i == 2) victim_urls.insert(record["url"].get<std::string>());
      if (record["status"] != 200) continue;  // null when never answered
      ++fetched[record["url"].get<std::string>()];
      if (i == 2) ++victim_records;
    }
  }
  std::set<std::string> expected;
  for (const auto& path : fetchpool::site_page_paths(options.site)) expected.insert(server.base_url() + path);
  std::set<std::string> got;
  for (const auto& [url, n] : fetched) got.insert(url);
  // One record per URL (of any status: a seed another node queued is no
  // record here), except a URL the killed process recorded and was killed
  // before Redis heard it was done: its lease expired and another node
  // fetched it again. At most one per worker of the killed process.
  std::size_t recorded_twice = 0;
  for (const auto& [url, n] : records_per_url) {
    INFO(url);
    if (n == 1) continue;
    CHECK(n == 2);
    CHECK(victim_urls.count(url) == 1);
    ++recorded_twice;
  }
  CHECK(recorded_twice <= static_cast<std::size_t>(kWorkersPerProcess));
  CHECK(got == expected);
  CHECK(victim_records < expected.size());  // it really died mid-way

  // The server saw each page once, except those the killed process was fetching.
  std::size_t twice = 0;
  for (const auto& path : fetchpool::site_page_paths(options.site)) {
    const auto n = server.requests_for(path);
    INFO(path);
    CHECK(n >= 1);
    CHECK(n <= 2);
    if (n == 2) ++twice;
  }
  CHECK(twice <= static_cast<std::size_t>(kWorkersPerProcess));

  // Any node can read the crawl's global state.
  const auto status_out = dir.path / "status.txt";
  const pid_t status = spawn({FETCHPOOL_BINARY, "status", "--frontier", uri}, status_out.string());
  CHECK(wait_exit(status, 30s) == 0);
  const std::string text = slurp(status_out);
  CHECK_THAT(text, Catch::Contains(": finished"));
  CHECK_THAT(text, Catch::Contains("queued:          0"));
  CHECK_THAT(text, Catch::Contains("in flight:       0"));

  // A finished crawl is not joined by mistake; --clear frees its prefix.
  const pid_t late = spawn({FETCHPOOL_BINARY, "-q", "crawl", server.base_url() + "/", "--frontier", uri, "-o",
                            (dir.path / "late.jsonl").string()});
  CHECK(wait_exit(late, 30s) == 2);
  const pid_t clear = spawn({FETCHPOOL_BINARY, "status", "--frontier", uri, "--clear"}, status_out.string());
  CHECK(wait_exit(clear, 30s) == 0);
  CHECK_THAT(slurp(status_out), Catch::Contains("deleted"));
  const pid_t again = spawn({FETCHPOOL_BINARY, "status", "--frontier", uri}, status_out.string());
  CHECK(wait_exit(again, 30s) == 0);
  CHECK_THAT(slurp(status_out), Catch::Contains(": empty"));
}

TEST_CASE("a node stopped with SIGINT exits 3 and gives its URLs back: another node finishes, each URL once",
          "[redis_crawl]") {
  fetchpool::testing::RedisServer redis;
  fetchpool::ServerOptions options;
  options.site.pages = 200;
  options.latency = 25ms;
  fetchpool::LocalServer server(options);
  ScratchDir dir;
  const std::string uri = redis.uri("sigint") + "?lease=120";  // long: only a clean give-back lets the crawl end soon
  const auto first = dir.path / "first.jsonl";
  const auto second = dir.path / "second.jsonl";
  const pid_t node = spawn(
      {FETCHPOOL_BINARY, "-q", "crawl", server.base_url() + "/", "--frontier", uri, "-j", "4", "-o", first.string()});
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (complete_lines(first) < 10 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  REQUIRE(complete_lines(first) >= 10);
  kill(node, SIGINT);
  CHECK(wait_exit(node, 30s) == 3);  // a clean stop, not death by the signal (130)
  const auto started = std::chrono::steady_clock::now();
  CHECK(wait_exit(spawn({FETCHPOOL_BINARY, "-q", "crawl", server.base_url() + "/", "--frontier", uri, "-j", "4", "-o",
                         second.string()}),
                  240s) == 0);
  // About 2 s when the URLs were given back; the 120 s lease if they were not.
  CHECK(std::chrono::steady_clock::now() - started < 60s);

  std::map<std::string, int> records;
  for (const auto& file : {first, second}) {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      const auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      REQUIRE_FALSE(record.is_discarded());
      CHECK((record["error"].is_null() || record["error"]["class"] != "aborted"));
      ++records[record["url"].get<std::string>()];
    }
  }
  for (const auto& path : fetchpool::site_page_paths(options.site)) {
    INFO(path);
    CHECK(records[server.base_url() + path] == 1);
  }
  for (const auto& [url, n] : records) {
    INFO(url);
    CHECK(n == 1);
  }
}

TEST_CASE("crawl --frontier: a bad address or --state is a usage error, an unreachable server an environment error",
          "[redis_crawl]") {
  const pid_t with_state =
      spawn({FETCHPOOL_BINARY, "-q", "crawl", "http://127.0.0.1:1/", "--frontier", "redis://127.0.0.1:1/x", "--state",
             (fs::temp_directory_path() / "fetchpool-redis-never-created").string()});
  CHECK(wait_exit(with_state, 30s) == 2);
  CHECK_FALSE(fs::exists(fs::temp_directory_path() / "fetchpool-redis-never-created"));
  const pid_t bad =
      spawn({FETCHPOOL_BINARY, "-q", "crawl", "http://127.0.0.1:1/", "--frontier", "redis://127.0.0.1:99999/x"});
  CHECK(wait_exit(bad, 30s) == 2);
  const pid_t down =
      spawn({FETCHPOOL_BINARY, "-q", "crawl", "http://127.0.0.1:1/", "--frontier", "redis://127.0.0.1:1/x"});
  CHECK(wait_exit(down, 30s) == 4);
}

TEST_CASE("a node that loses Redis exits 5 with one line, and the URLs it held are fetched once Redis is back",
          "[redis_crawl]") {
  ScratchDir dir;
  const auto data = dir.path / "redis-data";
  fs::create_directories(data);
  auto redis = std::make_unique<fetchpool::testing::RedisServer>(0, data.string());
  const std::uint16_t port = redis->port();
  fetchpool::ServerOptions options;
  options.site.pages = 200;
  options.latency = 25ms;
  fetchpool::LocalServer server(options);
  // A short grace so the loss is declared in 2 s, and a short lease so the
  // URLs the lost node held come back soon after Redis does.
  const std::string uri = redis->uri("lost") + "?lease=2&grace=2";
  const auto first = dir.path / "first.jsonl";
  const auto first_err = dir.path / "first.err";
  const pid_t node = fetchpool::testing::spawn_with_fds(
      {FETCHPOOL_BINARY, "-q", "crawl", server.base_url() + "/", "--frontier", uri, "-j", "4", "-o", first.string()},
      -1, -1, first_err.string());
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (complete_lines(first) < 20 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  REQUIRE(complete_lines(first) >= 20);
  redis->kill_now();
  CHECK(wait_exit(node, 60s) == 5);  // not 0 ("Done"), not hung
  const std::string err = slurp(first_err);
  INFO(err);
  const std::string line = "fetchpool: redis 127.0.0.1:" + std::to_string(port) + ": unreachable for 2 s";
  const auto at = err.find(line);
  CHECK(at != std::string::npos);
  CHECK(err.find(line, at + 1) == std::string::npos);  // said once

  // Redis is back with its data (an append-only file synced on every
  // write): another node finishes the crawl, the lost node's URLs included.
  redis = std::make_unique<fetchpool::testing::RedisServer>(port, data.string());
  const auto second = dir.path / "second.jsonl";
  const int code = wait_exit(spawn({FETCHPOOL_BINARY, "-q", "crawl", server.base_url() + "/", "--frontier", uri, "-j",
                                    "4", "-o", second.string()}),
                             240s);
  CHECK((code == 0 || code == 1));
  std::set<std::string> fetched;
  for (const auto& file : {first, second}) {
    std::ifstream in(file);
    for (std::string text; std::getline(in, text);) {
      const auto record = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
      REQUIRE_FALSE(record.is_discarded());
      if (record["status"] == 200) fetched.insert(record["url"].get<std::string>());  // null: never answered
    }
  }
  std::set<std::string> expected;
  for (const auto& path : fetchpool::site_page_paths(options.site)) expected.insert(server.base_url() + path);
  CHECK(fetched == expected);
}
