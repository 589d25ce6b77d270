#include "tools/cli/demo.hpp"

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fetchpool/engine.hpp"
#include "fetchpool/sinks.hpp"
#include "tools/cli/exit_codes.hpp"
#include "tools/cli/serve_command.hpp"
#include "tools/testsite/local_server.hpp"

namespace fetchpool::cli {
namespace {

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

CLI::App* add_demo_command(CLI::App& app, DemoOptions& options) {
  auto* demo = app.add_subcommand(
      "demo", "Offline demo: crawl the built-in site sequentially and with a thread pool, show the speedup");
  demo->add_option("--pages", options.pages, "Pages to crawl [default 200]")->check(CLI::Range(1u, 100000u));
  demo->add_option("--latency", options.latency_ms, "Server latency per page in ms [default 25]")
      ->check(CLI::Range(0u, 10000u));
  demo->add_option("-j,--jobs", options.workers, "Workers in the threaded run [default 32]")
      ->check(CLI::Range(1u, 10000u));
  return demo;
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
