// Politeness is shared by all workers: per-host caps, Crawl-delay and
// Retry-After backoff hold however many threads there are. Each timing check
// has a negative control with the feature off, so the test can fail.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "fetchpool/engine.hpp"
#include "fetchpool/sinks.hpp"
#include "support/sanitized.hpp"
#include "tools/testsite/local_server.hpp"

using namespace fetchpool;
using namespace std::chrono_literals;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double list_fetch_seconds(LocalServer& server, std::size_t pages, const EngineOptions& o, MemorySink& sink) {
  CrawlEngine engine(o, sink);
  const auto started = std::chrono::steady_clock::now();
  engine.start();
  std::uint64_t line = 0;
  for (const auto& path : site_page_paths(ServerOptions{}.site)) {
    if (line == pages) break;
    engine.add(server.base_url() + path, ++line);
  }
  engine.finish_input();
  engine.wait();
  return seconds_since(started);
}

}  // namespace

TEST_CASE("a per-host cap holds across all workers", "[politeness]") {
  ServerOptions options;
  options.latency = 100ms;
  LocalServer server(options);
  EngineOptions o;
  o.workers = 16;
  o.frontier.max_in_flight_per_host = 2;
  MemorySink capped_sink;
  const double capped = list_fetch_seconds(server, 20, o, capped_sink);  // 10 rounds of 100 ms
  o.frontier.max_in_flight_per_host = 0;
  MemorySink free_sink;
  const double free = list_fetch_seconds(server, 20, o, free_sink);  // 2 rounds
  INFO("cap 2: " << capped << " s, no cap: " << free << " s");
  CHECK(capped >= 0.95);
  // The negative control: both runs make the same 20 requests, so load on the
  // machine slows both alike and cancels in the difference (ideal 0.8 s);
  // half of it is the bound.
  CHECK(capped - free > 0.4);
  CHECK(capped_sink.size() == 20);
}

TEST_CASE("robots.txt Crawl-delay spaces the requests of all workers to a host", "[politeness]") {
  auto crawl_seconds = [](const std::string& robots) {
    ServerOptions options;
    options.site.pages = 6;
    options.robots_txt = robots;
    LocalServer server(options);
    EngineOptions o;
    o.workers = 8;
    o.follow_links = true;
    o.robots = true;
    o.frontier.robots_first = true;
    o.scope = ScopeOptions{};
    MemorySink sink;
    CrawlEngine engine(o, sink);
    REQUIRE(engine.set_seeds({server.base_url() + "/"}).ok());
    const auto started = std::chrono::steady_clock::now();
    engine.start();
    engine.add(server.base_url() + "/", 0);
    engine.finish_input();
    engine.wait();
    std::size_t ok = 0;
    for (const auto& r : sink.records()) ok += r.ok() ? 1 : 0;
    CHECK(ok == 6);
    return seconds_since(started);
  };
  const double delayed =
      crawl_seconds("User-agent: *\nDisallow: /private/\nCrawl-delay: 0.25\n");  // 6 page starts 0.25 s apart
  const double control = crawl_seconds("User-agent: *\nDisallow: /private/\n");
  INFO("crawl-delay: " << delayed << " s, none: " << control << " s");
  CHECK(delayed >= 5 * 0.25 - 0.05);
  // The same crawl without the delay is faster by about 1.25 s; load slows
  // both runs alike, so the difference, not the control's own time, is
  // checked, against half its ideal value.
  CHECK(delayed - control > 0.6);
}

TEST_CASE("429 with Retry-After backs off the host before the retry", "[politeness]") {
  auto run_seconds = [](std::uint32_t retries, MemorySink& sink) {
    LocalServer server(ServerOptions{});
    EngineOptions o;
    o.workers = 4;
    o.retry.max_retries = retries;
    o.retry.base_delay = 10ms;
    CrawlEngine engine(o, sink);
    const auto started = std::chrono::steady_clock::now();
    engine.start();
    engine.add(server.base_url() + "/retry-after/1", 1);
    engine.finish_input();
    engine.wait();
    return seconds_since(started);
  };
  MemorySink retried;
  const double with_retry = run_seconds(1, retried);
  MemorySink control;
  const double without = run_seconds(0, control);
  INFO("with retry: " << with_retry << " s, without: " << without << " s");
  CHECK(with_retry >= 0.95);          // waited the server's 1 s, not the 10 ms backoff
  CHECK(with_retry - without > 0.5);  // the wait, not slowness of the machine, made the difference (ideal 1 s)
  REQUIRE(retried.size() == 1);
  const auto record = retried.records().front();
  CHECK(record.status == 429);
  CHECK(record.attempts == 2);
  CHECK(record.error_message.find("after 2 attempts") != std::string::npos);
}
