// SIGINT/SIGTERM on the real `fetchpool` binary: the first signal stops the
// run, flushes every record gathered and exits 3; a second exits at once.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>  // NOLINT(modernize-deprecated-headers): kill() is POSIX, <csignal> is only C
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.hpp"
#include "support/sanitized.hpp"
#include "tools/testsite/local_server.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using fetchpool::testing::spawn;
using fetchpool::testing::wait_exit;

namespace {}  // namespace

TEST_CASE("SIGINT stops a crawl, keeps every record gathered, exits 3", "[signals]") {
  fetchpool::ServerOptions options;
  options.site.pages = 20000;
  options.latency = 200ms;
  fetchpool::LocalServer server(options);
  const auto dir = fs::temp_directory_path() / ("fetchpool-signal-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto results = dir / "results.jsonl";
  const pid_t pid = spawn({FETCHPOOL_BINARY, "-q", "crawl", server.base_url() + "/", "-j", "32", "--per-host", "32",
                           "--depth", "1000", "-o", results.string()});
  // Wait until the crawl is under way (slow to start under sanitizers), bounded.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (server.counters().requests < 100 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  REQUIRE(server.counters().requests >= 100);
  kill(pid, SIGINT);
  const int code = wait_exit(pid, 30s);
  CHECK(code == 3);
  std::ifstream in(results);
  std::set<std::string> urls;
  std::size_t lines = 0;
  for (std::string line; std::getline(in, line);) {
    ++lines;
    const auto record = nlohmann::json::parse(line);  // every line complete: nothing torn
    CHECK(urls.insert(record["url"].get<std::string>()).second);
  }
  CHECK(lines > 32);
  CHECK(lines < 20000);
  fs::remove_all(dir);
}

TEST_CASE("a second SIGINT exits at once", "[signals]") {
  fetchpool::ServerOptions options;
  options.latency = 20s;  // every request hangs long enough to need the second signal
  fetchpool::LocalServer server(options);
  const pid_t pid = spawn({FETCHPOOL_BINARY, "-q", "get", server.base_url() + "/s/0/1.html", "--results", "/dev/null"});
  // Signal only once the request is in flight, so the handler is in place.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (server.requests_for("/s/0/1.html") == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  REQUIRE(server.requests_for("/s/0/1.html") == 1);
  kill(pid, SIGINT);
  std::this_thread::sleep_for(50ms);
  kill(pid, SIGINT);
  const auto started = std::chrono::steady_clock::now();
  const int code = wait_exit(pid, 30s);
  CHECK((code == 130 || code == 3));  // 3 when the first stop already finished the run
  // "At once": well before the 20 s request could have finished, however
  // loaded the machine (the exit itself takes milliseconds).
  CHECK(std::chrono::steady_clock::now() - started < 10s);
}

// A `get` of a long list stopped by SIGTERM: every fetch that had finished
// when the signal came has its whole record in the results file (records are
// buffered and written in whole lines, serialised in per-thread buffers), none
// twice.
TEST_CASE("SIGTERM stops a get of a list and keeps the record of every fetch finished", "[signals]") {
  fetchpool::ServerOptions options;
  options.site.pages = 5000;
  options.latency = 20ms;
  fetchpool::LocalServer server(options);
  const auto dir = fs::temp_directory_path() / ("fetchpool-sigterm-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto list = dir / "urls.txt";
  std::set<std::string> asked;
  {
    std::ofstream out(list);
    for (int page = 0; page < 5000; ++page) {
      const std::string url = server.base_url() + "/?page=" + std::to_string(page);
      asked.insert(url);
      out << url << '\n';
    }
  }
  const auto results = dir / "results.jsonl";
  constexpr int kJobs = 8;
  const pid_t pid = spawn({FETCHPOOL_BINARY, "-q", "get", "-i", list.string(), "-j", std::to_string(kJobs),
                           "--per-host", "0", "--results", results.string()});
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (server.counters().requests < 200 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  // Requests the server had received before the signal: all but the ones in
  // flight (at most one per worker) had finished.
  const auto received = server.counters().requests;
  REQUIRE(received >= 200);
  kill(pid, SIGTERM);
  CHECK(wait_exit(pid, 30s) == 3);
  std::ifstream in(results);
  std::set<std::string> recorded;
  std::size_t ok = 0;
  for (std::string line; std::getline(in, line);) {
    const auto record = nlohmann::json::parse(line);  // every line complete: nothing torn
    const auto url = record["url"].get<std::string>();
    CHECK(asked.count(url) == 1);
    CHECK(recorded.insert(url).second);
    if (record["ok"].get<bool>()) {
      ++ok;
      CHECK(record["fetched_at"].is_string());
      CHECK(record["line"].get<std::uint64_t>() >= 1);
    }
  }
  CHECK(ok + kJobs >= received);
  CHECK(recorded.size() < asked.size());
  fs::remove_all(dir);
}
