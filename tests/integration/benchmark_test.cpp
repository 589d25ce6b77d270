// The benchmark against the built-in server on 127.0.0.1: real fetches, real
// threads, real worker processes.
//
// Each test starts its ProcessLauncher before the LocalServer, as the CLI
// does: the launcher forks its helper only while this process has one thread.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <latch>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/sanitized.hpp"
#include "tools/bench/benchmark.hpp"
#include "tools/cli/cli.hpp"
#include "tools/testsite/local_server.hpp"

namespace fs = std::filesystem;
using fetchpool::BenchMode;

namespace {

std::unique_ptr<fetchpool::ProcessLauncher> start_launcher() {
  auto launcher = fetchpool::ProcessLauncher::start();
  INFO((launcher ? std::string() : launcher.error().message));
  REQUIRE(launcher);
  return std::move(*launcher);
}

std::vector<std::string> site_urls(const fetchpool::LocalServer& server, const fetchpool::SiteOptions& site) {
  std::vector<std::string> urls;
  for (const auto& path : fetchpool::site_page_paths(site)) urls.push_back(server.base_url() + path);
  return urls;
}

const fetchpool::BenchPoint& find_point(const fetchpool::BenchReport& report, BenchMode mode, std::uint32_t workers) {
  for (const auto& p : report.points)
    if (p.mode == mode && p.workers == workers) return p;
  FAIL("no point " << fetchpool::to_string(mode) << " N=" << workers);
  throw std::logic_error("unreachable");
}

int run_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "fetchpool");
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (auto& a : args) argv.push_back(a.data());
  return fetchpool::cli::run_cli(static_cast<int>(argv.size()), argv.data());
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("8 threads fetch 64 pages of 100 ms about 8 times faster, processes handle every URL", "[benchmark]") {
  auto launcher = start_launcher();
  fetchpool::ServerOptions server_options;
  server_options.site.pages = 64;
  server_options.latency = std::chrono::milliseconds(100);
  fetchpool::LocalServer server(server_options);

  fetchpool::BenchOptions options;
  options.urls = site_urls(server, server_options.site);
  REQUIRE(options.urls.size() == 64);
  options.workers = {8};
  options.repeats = 1;
  options.fetch.total_timeout = std::chrono::seconds(20);
  const auto report = fetchpool::run_benchmark(options, launcher.get());
  INFO((report ? std::string() : report.error().message));
  REQUIRE(report);
  INFO(fetchpool::format_table(*report));

  REQUIRE(report->points.size() == 3);
  const auto& sequential = find_point(*report, BenchMode::kSequential, 1);
  const auto& threads = find_point(*report, BenchMode::kThreads, 8);
  const auto& processes = find_point(*report, BenchMode::kProcesses, 8);

  // The sequential run cannot beat the server's delays. Upper bounds on time
  // (a lower bound on speedup is one) are checked only without sanitizers
  // (tests/support/sanitized.hpp), and only against the broken cases, with
  // room for a loaded machine: a wait of its own per request (64 x 0.5 s), or
  // workers that run one at a time (speedup 1).
  using fetchpool::testing::kSanitized;
  CHECK(sequential.wall_s.median >= 64 * 0.1 * 0.98);
  if (!kSanitized) CHECK(sequential.wall_s.median < 64 * (0.1 + 0.5));
  CHECK(report->latency_ms >= 98);
  CHECK(sequential.ok == 64);

  if (!kSanitized) CHECK(threads.speedup >= 3.0);
  CHECK(threads.speedup <= 8.5);  // 8 rounds of 100 ms cannot take less than 0.8 s
  CHECK(threads.ideal_speedup == Approx(8.0));
  CHECK(threads.ideal_wall_s == Approx(0.8 * report->latency_ms / 100.0));
  CHECK(threads.ok == 64);
  CHECK(threads.failed == 0);
  CHECK(threads.latency_p50_ms >= 98);

  REQUIRE(processes.runs.size() == 1);
  CHECK(processes.runs[0].ok + processes.runs[0].failed == 64);
  CHECK(processes.ok == 64);
  if (!kSanitized) CHECK(processes.speedup > 2.0);  // processes pay fork and exit; only a sanity bound here
  CHECK(processes.speedup <= 8.5);
  REQUIRE(processes.memory_per_worker_kib);
  CHECK(*processes.memory_per_worker_kib > 0);
  CHECK(processes.cpu_s > 0);

  // Every request reached the server exactly once per mode.
  CHECK(server.counters().requests == std::uint64_t{3} * 64);
}

TEST_CASE("the launcher refuses to fork while another thread runs", "[benchmark]") {
  std::latch release(1);
  std::jthread other([&release] { release.wait(); });
  auto launcher = fetchpool::ProcessLauncher::start();
  release.count_down();
  REQUIRE_FALSE(launcher);
  CHECK(launcher.error().code == fetchpool::ErrorCode::kInternal);
  CHECK(launcher.error().message.find("before any thread") != std::string::npos);
}

TEST_CASE("a processes run past its deadline is killed and reported, and the launcher stays usable", "[benchmark]") {
  auto launcher = start_launcher();
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  fetchpool::FetchOptions fetch;
  fetch.total_timeout = std::chrono::seconds(90);

  // Without the kill the run would last the 60 s delay and succeed; the bound
  // sits halfway, 29 s above the 1 s deadline.
  const auto started = std::chrono::steady_clock::now();
  const auto slow =
      launcher->run({server.base_url() + "/delay/60000", server.base_url() + "/"}, 2, fetch, std::chrono::seconds(1));
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(slow);
  CHECK(slow.error().code == fetchpool::ErrorCode::kTimeout);
  CHECK(took < std::chrono::seconds(30));

  const auto fine =
      launcher->run({server.base_url() + "/", server.base_url() + "/status/404", server.base_url() + "/s/0/1.html"}, 2,
                    fetch, std::chrono::seconds(30));
  INFO((fine ? std::string() : fine.error().message));
  REQUIRE(fine);
  REQUIRE(fine->children.size() == 2);
  // Child k took URLs k, k+2, ...: child 0 the first and third, child 1 the 404.
  CHECK(fine->children[0].ok == 2);
  CHECK(fine->children[0].latencies_us.size() == 2);
  CHECK(fine->children[1].ok == 0);
  CHECK(fine->children[1].failed == 1);
  CHECK(fine->children[1].peak_rss_kib > 0);
}

TEST_CASE("bench options are checked before anything runs", "[benchmark]") {
  fetchpool::BenchOptions options;
  CHECK(fetchpool::run_benchmark(options, nullptr).error().code == fetchpool::ErrorCode::kConfig);  // no URLs
  options.urls = {"http://127.0.0.1:1/"};
  options.workers = {0};
  CHECK(fetchpool::run_benchmark(options, nullptr).error().code == fetchpool::ErrorCode::kConfig);
  options.workers = {2};
  options.processes = true;  // without a launcher
  CHECK(fetchpool::run_benchmark(options, nullptr).error().message.find("ProcessLauncher") != std::string::npos);
}

TEST_CASE("fetchpool bench writes the table, CSV, JSON and SVG", "[benchmark]") {
  const auto dir = fs::temp_directory_path() / ("fetchpool-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto csv = dir / "bench.csv";
  const auto json = dir / "bench.json";
  const auto svg = dir / "bench.svg";
  REQUIRE(run_cli({"-q", "bench", "--requests", "16", "--latency", "10", "--workers", "1,4", "--repeats", "1", "--csv",
                   csv.string(), "--json", json.string(), "--svg", svg.string()}) == 0);

  const auto csv_text = slurp(csv);
  CHECK(std::count(csv_text.begin(), csv_text.end(), '\n') ==
        1 + 1 + 2 + 2);  // header, sequential, 2 threads, 2 processes
  const auto report = nlohmann::json::parse(slurp(json));
  CHECK(report["requests"] == 16);
  REQUIRE(report["points"].size() == 5);
  for (const auto& point : report["points"]) CHECK(point["ok"] == 16);
  const auto svg_text = slurp(svg);
  CHECK(svg_text.find("<svg") != std::string::npos);
  CHECK(svg_text.find("</svg>") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("fetchpool bench: a missing or empty URL list is a usage error", "[benchmark]") {
  CHECK(run_cli({"-q", "bench", "-i", "/no/such/list.txt"}) == fetchpool::cli::kExitUsage);
  const auto list = fs::temp_directory_path() / ("fetchpool-bench-empty-" + std::to_string(::getpid()) + ".txt");
  {
    std::ofstream out(list);
    out << "# only a comment\n\n";
  }
  CHECK(run_cli({"-q", "bench", "-i", list.string(), "--modes", "threads"}) == fetchpool::cli::kExitUsage);
  fs::remove(list);
}
