// The engine end to end: real libcurl workers against the built-in server.
#include <catch2/catch.hpp>

#include <dirent.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "base/rfc3339.hpp"
#include "fetchpool/engine.hpp"
#include "fetchpool/sinks.hpp"
#include "support/engine_fixture.hpp"
#include "support/sanitized.hpp"
#include "tools/testsite/local_server.hpp"

using namespace fetchpool;
using namespace std::chrono_literals;
using fetchpool::testing::crawl;
using fetchpool::testing::crawl_options;
using fetchpool::testing::run_list;
using fetchpool::testing::urls_of;

namespace {

std::size_t thread_count() {
  std::size_t n = 0;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (dirent* entry = readdir(dir))
      if (entry->d_name[0] != '.') ++n;
    closedir(dir);
  }
  return n;
}

}  // namespace

TEST_CASE("a crawl finds exactly the reachable pages, each fetched once", "[engine]") {
  ServerOptions server_options;
  server_options.site.pages = 400;
  LocalServer server(server_options);
  const auto records = crawl(server.base_url() + "/", crawl_options(16));

  std::set<std::string> ok_urls;
  std::map<std::string, int> record_count;
  for (const auto& r : records) {
    ++record_count[r.url];
    if (r.ok()) ok_urls.insert(r.url);
  }
  std::set<std::string> expected;
  for (const auto& path : site_page_paths(server_options.site)) expected.insert(server.base_url() + path);
  CHECK(ok_urls == expected);
  for (const auto& [url, count] : record_count) {
    INFO(url);
    CHECK(count == 1);  // one record per URL
  }
  for (const auto& path : site_page_paths(server_options.site)) {
    INFO(path);
    CHECK(server.requests_for(path) == 1);  // dedup holds across 16 workers
  }
  CHECK(server.requests_for("/robots.txt") == 1);  // once per host, before its pages
  // /private/ is linked from the site but disallowed by the default robots.txt.
  std::size_t disallowed = 0;
  for (const auto& r : records) {
    if (r.url.find("/private/") == std::string::npos) continue;
    CHECK(r.error == ErrorCode::kRobotsDisallowed);
    ++disallowed;
  }
  CHECK(disallowed > 0);
  for (const auto& path : site_private_paths(server_options.site)) CHECK(server.requests_for(path) == 0);
}

TEST_CASE("a list fetch with many workers takes about the ideal time", "[engine]") {
  // Little's law: U URLs at latency L with N workers need about ceil(U/N) * L.
  ServerOptions server_options;
  server_options.site.pages = 800;
  server_options.latency = 100ms;
  LocalServer server(server_options);
  const auto paths = site_page_paths(server_options.site);

  const auto urls = urls_of(server.base_url(), paths);
  auto timed_run = [&](std::uint32_t workers) {
    EngineOptions o;
    o.workers = workers;
    const auto started = std::chrono::steady_clock::now();
    const auto run = run_list(o, urls);
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::size_t ok = 0;
    for (const auto& r : run.records) ok += r.ok() ? 1 : 0;
    CHECK(ok == paths.size());
    return seconds;
  };
  const double wide = timed_run(200);   // ideal 4 x 100 ms
  const double narrow = timed_run(40);  // ideal 20 x 100 ms: the negative control
  INFO("200 workers: " << wide << " s, 40 workers: " << narrow << " s");
  CHECK(wide >= 0.4);
  // Both runs make the same requests; narrow is bound by the 20 rounds of
  // latency, wide by CPU too once the machine is loaded (200 threads), so
  // the gap (ideal 1.6 s, 1.0-1.6 s measured with 4 CPU hogs on 2 cores)
  // shrinks under load. A quarter of the ideal still separates overlapping
  // threads from a pool stuck at 40 (gap 0) or serialised (wide 80 s).
  CHECK(narrow - wide > 0.4);
}

TEST_CASE("every list line gets exactly one record, with its line number", "[engine]") {
  LocalServer server(ServerOptions{});
  const std::string base = server.base_url();
  const std::vector<std::string> lines{
      base + "/", "not a url", base + "/status/404", "ftp://example.org/file", base + "/", base + "/s/0/1.html",
  };
  EngineOptions o;
  o.workers = 4;
  auto by_line = run_list(o, lines).by_line();
  REQUIRE(by_line.size() == lines.size());
  CHECK(by_line[1].ok());
  CHECK(by_line[2].error == ErrorCode::kInvalidUrl);
  CHECK(by_line[2].error_message.find("line 2") != std::string::npos);
  CHECK(by_line[3].status == 404);
  CHECK(by_line[3].error == ErrorCode::kHttpStatus);
  CHECK(by_line[4].error == ErrorCode::kUnsupportedScheme);
  CHECK(by_line[5].error == ErrorCode::kDuplicate);
  CHECK(by_line[6].ok());
  CHECK(by_line[6].title == "Page 1");
  CHECK(server.requests_for("/") == 1);
}

TEST_CASE("the engine stamps fetched_at on every fetched record, before any sink sees it", "[engine]") {
  LocalServer server(ServerOptions{});
  const std::string base = server.base_url();
  const std::vector<std::string> lines{base + "/", base + "/status/404", "not a url", base + "/"};
  EngineOptions o;
  o.workers = 2;
  const std::string before = detail::rfc3339(std::chrono::system_clock::now());
  auto by_line = run_list(o, lines).by_line();
  const std::string after = detail::rfc3339(std::chrono::system_clock::now());
  REQUIRE(by_line.size() == lines.size());
  const std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  for (const std::uint64_t fetched : {1, 2}) {
    INFO("line " << fetched);
    const auto& at = by_line[fetched].fetched_at;
    CHECK(std::regex_match(at, rfc3339));
    // Same fixed-width layout, so text order is time order.
    CHECK(at >= before);
    CHECK(at <= after);
  }
  // Never fetched: an invalid line and a duplicate have no fetch time.
  CHECK(by_line[3].fetched_at.empty());
  CHECK(by_line[4].error == ErrorCode::kDuplicate);
  CHECK(by_line[4].fetched_at.empty());
}

// Each worker reuses the date part of its previous stamp within one second
// and writes only the milliseconds anew: every stamp of a longer run must
// still be whole and lie between the run's start and end.
TEST_CASE("every record of a run of many URLs has a whole fetch time within the run", "[engine]") {
  LocalServer server(ServerOptions{});
  std::vector<std::string> lines;
  lines.reserve(400);
  for (int i = 0; i < 400; ++i) lines.push_back(server.base_url() + "/?n=" + std::to_string(i));
  EngineOptions o;
  o.workers = 3;
  const std::string before = detail::rfc3339(std::chrono::system_clock::now());
  auto by_line = run_list(o, lines).by_line();
  const std::string after = detail::rfc3339(std::chrono::system_clock::now());
  REQUIRE(by_line.size() == lines.size());
  const std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  for (const auto& [line, record] : by_line) {
    INFO("line " << line << ": " << record.fetched_at);
    CHECK(record.ok());
    CHECK(std::regex_match(record.fetched_at, rfc3339));
    CHECK(record.fetched_at >= before);
    CHECK(record.fetched_at <= after);
  }
}

TEST_CASE("transient failures are retried, and the record says how many tries", "[engine]") {
  LocalServer server(ServerOptions{});
  EngineOptions o;
  o.workers = 2;
  o.retry.max_retries = 2;
  o.retry.base_delay = 10ms;
  const auto run = run_list(o, {server.base_url() + "/flaky/a?fail=2",    // 503, 503, 200
                                server.base_url() + "/flaky/b?fail=9"});  // never recovers within 3 tries
  const auto& summary = run.summary;
  auto by_line = run.by_line();
  CHECK(by_line[1].ok());
  CHECK(by_line[1].attempts == 3);
  CHECK_FALSE(by_line[2].ok());
  CHECK(by_line[2].attempts == 3);
  CHECK(by_line[2].status == 503);
  CHECK(by_line[2].error_message.find("after 3 attempts") != std::string::npos);
  CHECK(summary.stats.retries == 4);
}

TEST_CASE("a list's last retries still run after the idle workers have left", "[engine]") {
  // Workers without a lease leave once the input is read and nothing is
  // queued or delayed; a URL retried after that goes back through the worker
  // that held it, so every retry still runs and every line gets its record.
  LocalServer server(ServerOptions{});
  EngineOptions o;
  o.workers = 16;
  o.retry.max_retries = 3;
  o.retry.base_delay = 20ms;
  std::vector<std::string> urls;
  urls.reserve(28);
  for (int i = 0; i < 24; ++i) urls.push_back(server.base_url() + "/status/200?n=" + std::to_string(i));
  for (int i = 0; i < 4; ++i) urls.push_back(server.base_url() + "/flaky/last" + std::to_string(i) + "?fail=3");
  const auto run = run_list(o, urls);
  const auto& summary = run.summary;
  auto by_line = run.by_line();
  REQUIRE(by_line.size() == 28);
  for (std::uint64_t l = 1; l <= 24; ++l) CHECK(by_line[l].ok());
  for (std::uint64_t l = 25; l <= 28; ++l) {
    INFO("line " << l);
    CHECK(by_line[l].ok());
    CHECK(by_line[l].attempts == 4);
  }
  CHECK(summary.stats.retries == 12);
  CHECK(summary.records == 28);
}

TEST_CASE("stopping mid-crawl aborts promptly and joins every thread", "[engine]") {
  ServerOptions server_options;
  server_options.site.pages = 5000;
  server_options.latency = 200ms;
  LocalServer server(server_options);
  const auto threads_before = thread_count();
  MemorySink sink;
  {
    CrawlEngine engine(crawl_options(64), sink);
    REQUIRE(engine.set_seeds({server.base_url() + "/"}).ok());
    engine.start();
    engine.add(server.base_url() + "/", 0);
    engine.finish_input();
    std::jthread stopper([&engine] {
      std::this_thread::sleep_for(700ms);  // let the crawl widen first
      engine.request_stop();
    });
    const auto started = std::chrono::steady_clock::now();
    const auto summary = engine.wait();
    CHECK(summary.interrupted);
    // Finishing the 5,000 pages at 200 ms on 64 workers would take over 15 s;
    // a prompt stop takes milliseconds, so 10 s separates the two even on a
    // loaded machine, and the record count below is the event-based check.
    CHECK(std::chrono::steady_clock::now() - started < 10s);
  }
  CHECK(thread_count() == threads_before);
  const auto records = sink.records();
  CHECK_FALSE(records.empty());
  CHECK(records.size() < 5000);
  std::set<std::string> urls;
  for (const auto& r : records) CHECK(urls.insert(r.url).second);  // no duplicates even when stopping
}

TEST_CASE("a missing robots.txt (404) allows everything (RFC 9309 2.3.1.3)", "[engine]") {
  ServerOptions server_options;
  server_options.site.pages = 60;
  server_options.robots_txt = "";  // the server answers 404
  LocalServer server(server_options);
  const auto records = crawl(server.base_url() + "/", crawl_options(8));
  std::size_t private_ok = 0;
  for (const auto& r : records) {
    CHECK(r.error != ErrorCode::kRobotsDisallowed);
    if (r.url.find("/private/") != std::string::npos && r.ok()) ++private_ok;
  }
  CHECK(private_ok > 0);  // the negative control of the crawl test above: /private/ is fetched now
  CHECK(server.requests_for("/robots.txt") == 1);
}

TEST_CASE("a robots.txt that keeps failing with 5xx is retried, then the host is disallowed (RFC 9309 2.3.1.4)",
          "[engine]") {
  ServerOptions server_options;
  server_options.site.pages = 20;
  server_options.robots_status = 503;
  LocalServer server(server_options);
  auto options = crawl_options(4);
  options.retry.max_retries = 1;
  options.retry.base_delay = 10ms;
  const auto records = crawl(server.base_url() + "/", options);
  REQUIRE(records.size() == 1);  // the seed, never fetched: no links were found
  CHECK(records[0].error == ErrorCode::kRobotsDisallowed);
  CHECK(server.requests_for("/robots.txt") == 2);  // first try + one retry
  CHECK(server.requests_for("/") == 0);
}

TEST_CASE("with no retries allowed, one robots.txt 5xx disallows the host", "[engine]") {
  ServerOptions server_options;
  server_options.site.pages = 20;
  server_options.robots_status = 500;
  LocalServer server(server_options);
  auto options = crawl_options(4);
  options.retry.max_retries = 0;  // the retry count drives the requests above, not a fixed number
  const auto records = crawl(server.base_url() + "/", options);
  REQUIRE(records.size() == 1);
  CHECK(records[0].error == ErrorCode::kRobotsDisallowed);
  CHECK(server.requests_for("/robots.txt") == 1);
}

TEST_CASE("a list longer than the input queue limit streams through, one record per line", "[engine]") {
  ServerOptions server_options;
  server_options.site.pages = 300;
  LocalServer server(server_options);
  const auto paths = site_page_paths(server_options.site);
  EngineOptions o;
  o.workers = 3;
  o.max_queued_input = 4;  // the feeder blocks almost at once, and workers must free it
  o.parse_html = false;
  const auto urls = urls_of(server.base_url(), paths);
  const auto run = run_list(o, urls);
  CHECK_FALSE(run.summary.interrupted);
  const auto by_line = run.by_line();
  for (const auto& [line, r] : by_line) CHECK(r.ok());
  CHECK(by_line.size() == paths.size());
}

TEST_CASE("stopping while the feeder waits for room records the line as aborted", "[engine]") {
  ServerOptions server_options;
  server_options.latency = 300ms;
  LocalServer server(server_options);
  const auto paths = site_page_paths(server_options.site);
  EngineOptions o;
  o.workers = 1;
  o.max_queued_input = 1;
  MemorySink sink;
  CrawlEngine engine(o, sink);
  engine.start();
  std::jthread stopper([&engine] {
    std::this_thread::sleep_for(200ms);  // the feeder is blocked by then: 1 worker, 300 ms per page
    engine.request_stop();
  });
  std::uint64_t line = 0;
  bool refused = false;
  // Bounded: the feeder is blocked until the stop, after which add() refuses at once.
  while (!refused && line < 50) {
    ++line;
    refused = !engine.add(server.base_url() + paths.at(line), line);
  }
  engine.finish_input();
  const auto summary = engine.wait();
  CHECK(summary.interrupted);
  CHECK(refused);
  CHECK(line < 10);
  std::set<std::uint64_t> lines;
  for (const auto& r : sink.records()) CHECK(lines.insert(r.line).second);
  CHECK(lines.count(line) == 1);  // the refused line still has its record
}

TEST_CASE("the input window is at least twice the workers: the feeder keeps every worker supplied", "[engine]") {
  ServerOptions server_options;
  server_options.latency = 500ms;
  LocalServer server(server_options);
  const auto paths = site_page_paths(server_options.site);
  EngineOptions o;
  o.workers = 2;
  o.max_queued_input = 1;  // raised to 2 x 2: two URLs in flight, four waiting
  o.parse_html = false;
  MemorySink sink;
  CrawlEngine engine(o, sink);
  engine.start();
  // A window of one would hold the fourth line until a worker is free, 500 ms
  // after it started its first page: a record would exist by then.
  for (std::uint64_t line = 1; line <= 6; ++line) REQUIRE(engine.add(server.base_url() + paths.at(line), line));
  const std::size_t records_when_fed = sink.size();
  engine.finish_input();
  const auto summary = engine.wait();
  CHECK(records_when_fed == 0);
  CHECK_FALSE(summary.interrupted);
  const auto records = sink.records();
  CHECK(records.size() == 6);
  for (const auto& r : records) CHECK(r.ok());
}

TEST_CASE("thread creation failing part-way costs only the workers not made", "[engine][workers]") {
  ServerOptions server_options;
  server_options.site.pages = 300;
  server_options.latency = 5ms;
  LocalServer server(server_options);
  const auto paths = site_page_paths(server_options.site);
  // After `made` workers the seam fails as pthread_create does when the
  // process is out of threads; made == 0: not one worker thread.
  const std::uint32_t made = GENERATE(3u, 0u);
  EngineOptions o;
  o.workers = 50;
  o.spawn_hook = [made](std::uint32_t index) {
    if (index >= made) throw std::system_error(EAGAIN, std::generic_category(), "pthread_create (test seam)");
  };
  const auto urls = urls_of(server.base_url(), paths);
  const auto run = run_list(o, urls);
  const auto& summary = run.summary;
  INFO("made " << made << ", started " << summary.stats.workers_started);
  CHECK_FALSE(summary.interrupted);
  for (const auto& [line, r] : run.by_line()) CHECK(r.ok());
  CHECK(run.records.size() == paths.size());
  CHECK(summary.stats.workers_requested == 50);
  // With no worker thread, the spawner thread does the work itself.
  CHECK(summary.stats.workers_started == std::max(made, 1u));
  CHECK(summary.stats.workers_limited_by.find("thread creation failed after " + std::to_string(made) + " workers") !=
        std::string::npos);
}

TEST_CASE("a short list starts about as many workers as it has URLs", "[engine][workers]") {
  LocalServer server(ServerOptions{});
  EngineOptions o;
  o.workers = 200;
  const auto run = run_list(
      o, {server.base_url() + "/s/0/1.html", server.base_url() + "/s/0/2.html", server.base_url() + "/s/0/3.html"});
  const auto& summary = run.summary;
  CHECK(run.records.size() == 3);
  CHECK(summary.stats.workers_started >= 1);
  // Workers start when queued work finds none idle: 3 URLs, 3 workers, one
  // more at most in the instant between a start and its first pop.
  CHECK(summary.stats.workers_started <= 4);
  CHECK(summary.stats.workers_limited_by.empty());
}

TEST_CASE("a list fetch that nobody parses counts the body as it streams instead of keeping it", "[engine]") {
  LocalServer server(ServerOptions{});
  const std::string url = server.base_url() + "/bytes/100000";
  for (const bool parse : {false, true}) {
    EngineOptions o;
    o.workers = 1;
    o.retry.max_retries = 0;
    o.parse_html = parse;
    o.fetch.max_body_bytes = 1000;  // bounds bodies kept in memory only
    const auto run = run_list(o, {url});
    REQUIRE(run.records.size() == 1);
    const ResultRecord& record = run.records.front();
    INFO("parse_html " << parse << ": " << record.error_message);
    if (parse) {
      CHECK(record.error == ErrorCode::kTooLarge);  // a body that is read must fit in memory
    } else {
      CHECK(record.ok());
      CHECK(record.bytes == 100000);
    }
  }
}
