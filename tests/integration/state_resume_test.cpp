// --state DIR on the real `fetchpool` binary: a crawl or list fetch killed at
// random points (SIGKILL, SIGTERM, SIGINT) and rerun with the same command
// ends with every URL recorded exactly once, and only the URLs in flight at
// each kill fetched twice.
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
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/sinks.hpp"
#include "fetchpool/state_journal.hpp"
#include "support/child_process.hpp"
#include "support/scratch_dir.hpp"
#include "tools/testsite/local_server.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using fetchpool::testing::exit_code;
using fetchpool::testing::spawn;
using fetchpool::testing::wait_exit;

namespace {

constexpr std::uint32_t kWorkers = 8;

// Runs `args` until the server has answered `requests` requests in all, then
// sends `signal`. Returns the exit code, and whether the signal was sent
// (false: the run finished first).
std::pair<int, bool> run_until(const std::vector<std::string>& args, const fetchpool::LocalServer& server,
                               std::uint64_t requests, int signal) {
  const pid_t pid = spawn(args);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  int status = 0;
  while (server.counters().requests < requests && std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) return {exit_code(status), false};
    std::this_thread::sleep_for(1ms);
  }
  kill(pid, signal);
  return {wait_exit(pid, 60s), true};
}

struct Results {
  std::map<std::string, int> by_url;          // url -> records
  std::map<std::uint64_t, int> by_line;       // input line -> records
  std::map<std::string, std::string> errors;  // url -> error class ("" when ok)
  std::size_t lines = 0;
};

Results read_results(const fs::path& path) {
  Results r;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    ++r.lines;
    const auto record = nlohmann::json::parse(line);  // throws on a torn line
    const auto url = record["url"].get<std::string>();
    ++r.by_url[url];
    if (record.contains("line")) ++r.by_line[record["line"].get<std::uint64_t>()];
    r.errors[url] = record["error"].is_null() ? "" : record["error"]["class"].get<std::string>();
  }
  return r;
}

// Every manifest page fetched, every private page recorded as disallowed,
// each exactly once, and nothing else.
void check_crawl(const Results& results, const fetchpool::SiteOptions& site, const std::string& base) {
  const auto pages = fetchpool::site_page_paths(site);
  const auto privates = fetchpool::site_private_paths(site);
  CHECK(results.lines == pages.size() + privates.size());
  CHECK(results.by_url.size() == pages.size() + privates.size());
  for (const auto& path : pages) {
    INFO(path);
    CHECK(results.by_url.count(base + path) == 1);
    if (results.by_url.count(base + path)) {
      CHECK(results.by_url.at(base + path) == 1);
      CHECK(results.errors.at(base + path).empty());
    }
  }
  for (const auto& path : privates) {
    INFO(path);
    CHECK(results.by_url.count(base + path) == 1);
    if (results.by_url.count(base + path)) CHECK(results.errors.at(base + path) == "robots_disallowed");
  }
}

// Pages requested more than once: at most those in flight at each kill.
std::uint64_t refetches(const fetchpool::LocalServer& server, const fetchpool::SiteOptions& site) {
  std::uint64_t extra = 0;
  for (const auto& path : fetchpool::site_page_paths(site)) {
    const auto n = server.requests_for(path);
    if (n > 1) extra += n - 1;
  }
  return extra;
}

std::vector<std::string> crawl_args(const fetchpool::LocalServer& server, const fs::path& results,
                                    const fs::path& state) {
  return {FETCHPOOL_BINARY, "-q",   "crawl", server.base_url() + "/", "-j",      std::to_string(kWorkers),
          "--depth",        "1000", "-o",    results.string(),        "--state", state.string()};
}

std::vector<std::string> get_args(const fs::path& list, const fs::path& results, const fs::path& state) {
  return {FETCHPOOL_BINARY, "-q",      "get",         "-i", list.string(), "-j", std::to_string(kWorkers), "--results",
          results.string(), "--state", state.string()};
}

}  // namespace

TEST_CASE("a crawl SIGKILLed at random points resumes to exactly the site's pages, each once", "[state]") {
  fetchpool::ServerOptions options;
  options.site.pages = 300;
  options.latency = 10ms;
  options.threads = 2;
  fetchpool::LocalServer server(options);
  fetchpool::testing::ScratchDir dir("state-sigkill");
  const auto results = dir.path() / "results.jsonl";
  const auto args = crawl_args(server, results, dir.path() / "state");

  const auto seed = std::random_device{}();
  INFO("random seed " << seed);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::uint64_t> step(5, 60);
  int kills = 0;
  for (int round = 0; round < 4; ++round) {
    const auto [code, killed] = run_until(args, server, server.counters().requests + step(rng), SIGKILL);
    if (!killed) {
      CHECK(code == 0);
      break;
    }
    CHECK(code == 128 + SIGKILL);
    ++kills;
  }
  CHECK(kills >= 1);
  CHECK(wait_exit(spawn(args), 120s) == 0);
  check_crawl(read_results(results), options.site, server.base_url());
  const auto extra = refetches(server, options.site);
  INFO("kills " << kills << ", pages fetched again " << extra);
  CHECK(extra <= static_cast<std::uint64_t>(kills) * kWorkers);

  // Everything done: a rerun fetches nothing and leaves the same results.
  const auto before = server.counters().requests;
  CHECK(wait_exit(spawn(args), 60s) == 0);
  CHECK(refetches(server, options.site) == extra);
  CHECK(server.counters().requests - before <= 1);  // robots.txt at most
  check_crawl(read_results(results), options.site, server.base_url());
}

TEST_CASE("a crawl stopped by SIGTERM or SIGINT resumes with no aborted records left", "[state]") {
  const int signal = GENERATE(SIGTERM, SIGINT);
  fetchpool::ServerOptions options;
  options.site.pages = 200;
  options.latency = 20ms;
  fetchpool::LocalServer server(options);
  fetchpool::testing::ScratchDir dir("state-sigterm");
  const auto results = dir.path() / "results.jsonl";
  const auto args = crawl_args(server, results, dir.path() / "state");
  const auto [code, signalled] = run_until(args, server, 60, signal);
  REQUIRE(signalled);
  CHECK(code == 3);
  // The interrupted run's file is whole and holds no "aborted" records.
  for (const auto& [url, error] : read_results(results).errors) CHECK(error != "aborted");
  CHECK(wait_exit(spawn(args), 120s) == 0);
  check_crawl(read_results(results), options.site, server.base_url());
  CHECK(refetches(server, options.site) <= kWorkers);
}

TEST_CASE("a list fetch SIGKILLed twice gives every input line exactly one record", "[state]") {
  fetchpool::ServerOptions options;
  options.site.pages = 400;
  options.latency = 10ms;
  fetchpool::LocalServer server(options);
  fetchpool::testing::ScratchDir dir("state-get");
  const auto pages = fetchpool::site_page_paths(options.site);
  const auto list = dir.path() / "list.txt";
  std::vector<std::uint64_t> expected_lines;
  {
    std::ofstream out(list);
    std::uint64_t line = 0;
    for (std::size_t i = 0; i < pages.size(); ++i) {
      out << server.base_url() << pages[i] << "\n";
      expected_lines.push_back(++line);
      if (i % 50 == 7) {  // duplicates, bad lines and comments along the way
        out << server.base_url() << pages[i / 2] << "\n";
        expected_lines.push_back(++line);
        out << "not a url " << i << "\n";
        expected_lines.push_back(++line);
        out << "# comment\n";
        ++line;
      }
    }
  }
  const auto results = dir.path() / "results.jsonl";
  const auto args = get_args(list, results, dir.path() / "state");
  int kills = 0;
  for (const std::uint64_t at : {100u, 250u}) {
    const auto [code, killed] = run_until(args, server, at, SIGKILL);
    if (!killed) break;
    CHECK(code == 128 + SIGKILL);
    ++kills;
  }
  CHECK(kills >= 1);
  const int code = wait_exit(spawn(args), 120s);
  CHECK((code == 0 || code == 1));  // 1 only when this run itself recorded a bad line
  const auto r = read_results(results);
  CHECK(r.errors.at("not a url 7") == "invalid_url");
  CHECK(r.lines == expected_lines.size());
  for (const auto line : expected_lines) {
    INFO("line " << line);
    CHECK(r.by_line.count(line) == 1);
    if (r.by_line.count(line)) CHECK(r.by_line.at(line) == 1);
  }
  CHECK(refetches(server, options.site) <= static_cast<std::uint64_t>(kills) * kWorkers);
}

TEST_CASE("state directory errors exit 2", "[state]") {
  fetchpool::testing::ScratchDir dir("state-errors");
  const auto state = (dir.path() / "state").string();
  const auto out = (dir.path() / "out.jsonl").string();
  // A `get` state cannot resume a `crawl`. No server needed: nothing is fetched
  // because the error comes first.
  CHECK(wait_exit(spawn({FETCHPOOL_BINARY, "-q", "get", "http://127.0.0.1:1/", "--results", out, "--state", state}),
                  60s) != 2);
  CHECK(wait_exit(spawn({FETCHPOOL_BINARY, "-q", "crawl", "http://127.0.0.1:1/", "-o", out, "--state", state}), 60s) ==
        2);
  std::ofstream(dir.path() / "file") << "x";
  CHECK(wait_exit(spawn({FETCHPOOL_BINARY, "-q", "crawl", "http://127.0.0.1:1/", "-o", out, "--state",
                         (dir.path() / "file" / "sub").string()}),
                  60s) == 2);
}

TEST_CASE("a run refused because its state directory is in use leaves the results file alone", "[state]") {
  fetchpool::testing::ScratchDir dir("state-busy");
  const auto state = dir.path() / "state";
  const auto out = dir.path() / "out.jsonl";
  const std::string earlier = "{\"url\":\"http://127.0.0.1:1/\",\"note\":\"written by the run that holds the lock\"}\n";
  std::ofstream(out) << earlier;
  // This process holds the journal, as a running crawl would.
  fetchpool::MemorySink sink;
  auto holder = fetchpool::StateJournal::open(state, "crawl", sink);
  REQUIRE(holder);
  CHECK(wait_exit(spawn({FETCHPOOL_BINARY, "-q", "crawl", "http://127.0.0.1:1/", "-o", out.string(), "--state",
                         state.string()}),
                  60s) == 2);
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == earlier);  // not truncated by the refused run
}

TEST_CASE("CSV results are rebuilt with one header and stdout gets only new records", "[state]") {
  fetchpool::ServerOptions options;
  options.site.pages = 100;
  options.latency = 5ms;
  fetchpool::LocalServer server(options);
  fetchpool::testing::ScratchDir dir("state-csv");
  const auto pages = fetchpool::site_page_paths(options.site);
  const auto privates = fetchpool::site_private_paths(options.site);

  const auto csv = dir.path() / "results.csv";
  auto args = crawl_args(server, csv, dir.path() / "csv-state");
  args.insert(args.end(), {"--format", "csv"});
  const auto [code, killed] = run_until(args, server, 40, SIGKILL);
  CHECK((killed ? code == 128 + SIGKILL : code == 0));
  CHECK(wait_exit(spawn(args), 120s) == 0);
  std::ifstream in(csv);
  std::string header;
  std::getline(in, header);
  CHECK(header.rfind("url,line,depth,", 0) == 0);
  std::map<std::string, int> urls;
  for (std::string line; std::getline(in, line);) ++urls[line.substr(0, line.find(','))];
  CHECK(urls.size() == pages.size() + privates.size());
  for (const auto& path : pages) CHECK(urls[server.base_url() + path] == 1);

  const auto state = (dir.path() / "stdout-state").string();
  const std::vector<std::string> to_stdout = {
      FETCHPOOL_BINARY, "-q", "crawl", server.base_url() + "/", "--depth", "1000", "-o", "-", "--state", state};
  CHECK(wait_exit(spawn(to_stdout, (dir.path() / "first.jsonl").string()), 120s) == 0);
  CHECK(read_results(dir.path() / "first.jsonl").lines == pages.size() + privates.size());
  CHECK(wait_exit(spawn(to_stdout, (dir.path() / "second.jsonl").string()), 60s) == 0);
  CHECK(fs::file_size(dir.path() / "second.jsonl") == 0);
}

TEST_CASE("a resumed run's rewritten records keep the fetched_at of their first run", "[state]") {
  fetchpool::ServerOptions options;
  options.site.pages = 20;
  fetchpool::LocalServer server(options);
  fetchpool::testing::ScratchDir dir("state-fetched-at");
  const auto pages = fetchpool::site_page_paths(options.site);
  const auto list = dir.path() / "list.txt";
  {
    std::ofstream out(list);
    for (const auto& path : pages) out << server.base_url() << path << "\n";
  }
  const auto results = dir.path() / "results.jsonl";
  const auto args = get_args(list, results, dir.path() / "state");
  auto fetched_at = [&results] {
    std::map<std::string, nlohmann::json> by_url;
    std::ifstream in(results);
    for (std::string line; std::getline(in, line);) {
      const auto record = nlohmann::json::parse(line);
      by_url[record["url"].get<std::string>()] = record["fetched_at"];
    }
    return by_url;
  };
  REQUIRE(wait_exit(spawn(args), 120s) == 0);
  const auto first = fetched_at();
  REQUIRE(first.size() == pages.size());
  for (const auto& [url, at] : first) {
    INFO(url);
    CHECK(at.is_string());
  }
  // The rerun fetches nothing and rebuilds the results file from the journal.
  const auto requests = server.counters().requests;
  REQUIRE(wait_exit(spawn(args), 120s) == 0);
  CHECK(server.counters().requests == requests);
  CHECK(fetched_at() == first);
}
