#include "tools/cli/demo.hpp"

#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fetchpool/engine.hpp"
#include "fetchpool/sinks.hpp"
#include "tools/cli/cli.hpp"
#include "tools/cli/signals.hpp"
#include "tools/testsite/local_server.hpp"

namespace fetchpool::cli {
namespace {

ServerOptions server_options(const ServeSettings& s, std::uint16_t port) {
  ServerOptions o;
  o.port = port;
  o.site.pages = s.pages;
  o.site.links_per_page = s.links_per_page;
  o.site.page_bytes = s.page_bytes;
  o.site.seed = s.seed;
  o.latency = std::chrono::milliseconds(s.latency_ms);
  o.jitter = std::chrono::milliseconds(s.jitter_ms);
  o.error_rate = s.error_rate;
  o.threads = s.threads;
  return o;
}

struct DemoRun {
  std::uint32_t workers = 0;
  std::size_t pages_ok = 0;
  std::size_t records = 0;
  double seconds = 0;
  std::set<std::string> urls;
  std::map<std::uint32_t, std::uint64_t> pages_by_depth;
};

// A crawl cannot fetch a page before the page linking to it, so its ideal
// time is level by level: robots.txt, then ceil(pages at depth d / N) rounds
// of one latency each (Little's law per level).
double ideal_seconds(const std::map<std::uint32_t, std::uint64_t>& pages_by_depth, std::uint32_t workers,
                     double latency_s) {
  double rounds = 1.0;  // robots.txt first
  for (const auto& [depth, pages] : pages_by_depth) rounds += std::ceil(static_cast<double>(pages) / workers);
  return rounds * latency_s;
}

DemoRun crawl_once(const std::string& base_url, std::uint32_t workers) {
  EngineOptions o;
  o.workers = workers;
  o.follow_links = true;
  o.robots = true;
  o.frontier.robots_first = true;
  o.frontier.max_depth = 1'000'000;
  o.retry.max_retries = 0;
  // Our own server: no per-host cap, so the pool size alone sets concurrency.
  o.frontier.max_in_flight_per_host = 0;
  o.scope = ScopeOptions{};
  MemorySink sink;
  CrawlEngine engine(o, sink);
  if (auto seeded = engine.set_seeds({base_url + "/"}); !seeded) throw std::runtime_error(seeded.error().message);
  const auto started = std::chrono::steady_clock::now();
  engine.start();
  engine.add(base_url + "/", 0);
  engine.finish_input();
  engine.wait();
  DemoRun run;
  run.workers = workers;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (const auto& record : sink.records()) {
    ++run.records;
    if (record.ok()) {
      ++run.pages_ok;
      run.urls.insert(record.url);
      ++run.pages_by_depth[record.depth];
    }
  }
  return run;
}

}  // namespace

int run_serve(const ServeSettings& settings, std::uint16_t port) {
  // Thousands of concurrent clients need thousands of descriptors: take the
  // hard limit, which the soft default (often 1024) sits far below.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  block_termination_signals();  // before the server's threads exist, so they inherit it
  LocalServer server(server_options(settings, port));
  std::printf(
      "fetchpool serve: %s/ (%u pages, %u links/page, latency %u ms + jitter %u ms, error rate %.2f); Ctrl-C stops\n",
      server.base_url().c_str(), settings.pages, settings.links_per_page, settings.latency_ms, settings.jitter_ms,
      settings.error_rate);
  std::fflush(stdout);
  wait_for_termination_signal();
  server.stop();
  const auto counters = server.counters();
  std::printf("fetchpool serve: stopped after %llu requests\n", static_cast<unsigned long long>(counters.requests));
  return kExitOk;
}

int run_demo(const DemoOptions& options) {
  ServeSettings site;
  site.pages = options.pages;
  site.latency_ms = options.latency_ms;
  LocalServer server(server_options(site, 0));
  const std::string base = server.base_url();
  const auto expected = site_page_paths(server_options(site, 0).site).size();

  std::printf("fetchpool demo: crawling the built-in site %s/ offline\n", base.c_str());
  std::printf(
      "  %u pages, every response delayed %u ms by the server: the work is I/O-bound waiting,\n"
      "  so threads that wait in parallel should divide the time by about the worker count.\n\n",
      options.pages, options.latency_ms);
  std::printf("  %-12s %8s %8s %9s %9s %9s %9s\n", "mode", "workers", "pages", "wall s", "pages/s", "speedup", "ideal");

  std::vector<std::uint32_t> worker_counts{1, 4, options.workers};
  if (options.workers <= 4) worker_counts = {1, options.workers};
  std::vector<DemoRun> runs;
  bool consistent = true;
  for (const auto workers : worker_counts) {
    DemoRun run = crawl_once(base, workers);
    const double baseline = runs.empty() ? run.seconds : runs.front().seconds;
    const double speedup = baseline / std::max(run.seconds, 1e-9);
    const double latency_s = options.latency_ms / 1000.0;
    const double ideal = ideal_seconds(run.pages_by_depth, 1, latency_s) /
                         std::max(ideal_seconds(run.pages_by_depth, workers, latency_s), 1e-9);
    std::printf("  %-12s %8u %8zu %9.2f %9.1f %8.1fx %8.1fx\n", workers == 1 ? "sequential" : "thread pool", workers,
                run.pages_ok, run.seconds, static_cast<double>(run.pages_ok) / std::max(run.seconds, 1e-9), speedup,
                ideal);
    if (run.pages_ok != expected || (!runs.empty() && run.urls != runs.front().urls)) consistent = false;
    runs.push_back(std::move(run));
  }
  std::printf("\n  Every run found the same %zu pages (site manifest: %zu): %s\n", runs.front().pages_ok, expected,
              consistent ? "yes" : "NO");
  std::printf(
      "  'ideal' is the best possible speedup for this crawl: a page cannot be fetched before the\n"
      "  page that links to it, so each link level costs ceil(pages at that level / workers) latencies.\n");
  return consistent ? kExitOk : kExitSomeFailed;
}

}  // namespace fetchpool::cli
