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
