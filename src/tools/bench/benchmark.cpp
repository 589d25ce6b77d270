// The runs: sequential, threads and processes, each timed and measured, and
// run_benchmark(), which sweeps them and fills in the model. The helper
// process is in process_launcher.cpp, the model in model.cpp, the renderers
// in report_renderers.cpp, the /proc probes in proc_probe.cpp.
#include "tools/bench/benchmark.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "fetchpool/engine.hpp"
#include "fetchpool/sinks.hpp"
#include "fetchpool/stats.hpp"
#include "tools/bench/bench_common.hpp"
#include "tools/bench/proc_probe.hpp"

namespace fetchpool {

namespace {

using bench::Clock;
using bench::cpu_seconds;
using bench::is_ok;
using bench::PeakProbe;
using bench::strprintf;
using bench::usable_cores;

// Worker processes report counts and one latency per URL, not statuses. Only
// the latency histogram of a point's CrawlStats is read, so each latency is
// recorded as a plain 200.
Outcome latency_only(std::uint64_t micros) {
  return Outcome{200, ErrorCode::kOk, 0,
                 std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(micros))};
}

// Threads mode's sink: counts and latencies, no copies of records.
class RecordingSink final : public ResultSink {
 public:
  explicit RecordingSink(CrawlStats& stats) : stats_(stats) {}
  void write(const ResultRecord& record) override {
    (record.ok() ? ok_ : failed_).fetch_add(1, std::memory_order_relaxed);
    const auto micros = std::llround(record.elapsed_ms * 1000.0);
    stats_.record(Outcome{record.status, record.error, record.bytes, std::chrono::microseconds(micros)});
  }
  Result<void> flush() override { return {}; }
  std::uint64_t ok() const { return ok_.load(); }
  std::uint64_t failed() const { return failed_.load(); }

 private:
  CrawlStats& stats_;
  std::atomic<std::uint64_t> ok_{0};
  std::atomic<std::uint64_t> failed_{0};
};

RunSample run_sequential(const std::vector<std::string>& urls, const FetchOptions& fetch, CrawlStats& stats) {
  PeakProbe peak;
  const double cpu_before = cpu_seconds(RUSAGE_SELF);
  const auto started = Clock::now();
  RunSample sample;
  {
    Fetcher fetcher(fetch);
    for (const auto& url : urls) {
      FetchRequest request;
      request.url = url;
      const auto begun = Clock::now();
      const auto response = fetcher.fetch(request);
      const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - begun).count();
      const bool ok = is_ok(response);
      (ok ? sample.ok : sample.failed) += 1;
      stats.record(Outcome{response ? response->head.status : 0L, response ? ErrorCode::kOk : response.error().code,
                           response ? response->body_bytes : 0, std::chrono::microseconds(micros)});
    }
  }
  sample.wall_s = std::chrono::duration<double>(Clock::now() - started).count();
  sample.cpu_s = cpu_seconds(RUSAGE_SELF) - cpu_before;
  sample.memory_per_worker_kib = peak.per_worker_kib(1);
  return sample;
}

RunSample run_threads(const BenchOptions& options, std::uint32_t workers, CrawlStats& stats) {
  EngineOptions engine_options;
  engine_options.workers = workers;
  engine_options.fetch = options.fetch;
  engine_options.retry.max_retries = 0;  // the other modes do not retry either
  engine_options.follow_links = false;
  engine_options.parse_html = false;  // as `fetchpool get` without --titles
  engine_options.frontier.max_in_flight_per_host = options.per_host;
  RecordingSink sink(stats);
  PeakProbe peak;
  const double cpu_before = cpu_seconds(RUSAGE_SELF);
  const auto started = Clock::now();
  {
    // Built, fed and joined inside the timed span: starting N threads is part
    // of what a pool costs, as forking is for processes.
    CrawlEngine engine(engine_options, sink);
    engine.start();
    std::uint64_t line = 0;
    for (const auto& url : options.urls) engine.add(url, ++line);
    engine.finish_input();
    engine.wait();
  }
  RunSample sample;
  sample.wall_s = std::chrono::duration<double>(Clock::now() - started).count();
  sample.cpu_s = cpu_seconds(RUSAGE_SELF) - cpu_before;
  sample.ok = sink.ok();
  sample.failed = sink.failed();
  sample.memory_per_worker_kib = peak.per_worker_kib(workers);
  return sample;
}

// Generous but finite: every URL of the largest share may take the whole
// transfer timeout.
std::chrono::seconds process_deadline(const BenchOptions& options, std::uint32_t workers) {
  const auto share = (options.urls.size() + workers - 1) / workers;
  const auto per_request =
      options.fetch.total_timeout.count() > 0
          ? std::chrono::duration_cast<std::chrono::seconds>(options.fetch.total_timeout) + std::chrono::seconds(1)
          : std::chrono::seconds(600);
  return per_request * static_cast<long>(share) + std::chrono::seconds(60);
}

Result<RunSample> run_processes(const BenchOptions& options, std::uint32_t workers, ProcessLauncher& launcher,
                                CrawlStats& stats) {
  const double cpu_before = cpu_seconds(RUSAGE_SELF);
  auto run = launcher.run(options.urls, workers, options.fetch, process_deadline(options, workers));
  if (!run) return std::move(run).error();
  RunSample sample;
  sample.wall_s = run->wall_s;
  sample.cpu_s = run->cpu_s + (cpu_seconds(RUSAGE_SELF) - cpu_before);
  double rss_sum = 0;
  for (const auto& child : run->children) {
    sample.ok += child.ok;
    sample.failed += child.failed;
    rss_sum += static_cast<double>(child.peak_rss_kib);
    for (const auto micros : child.latencies_us) stats.record(latency_only(micros));
  }
  if (!run->children.empty()) sample.memory_per_worker_kib = rss_sum / static_cast<double>(run->children.size());
  return sample;
}

std::optional<double> median_of(const std::vector<std::optional<double>>& values) {
  std::vector<double> known;
  for (const auto& v : values)
    if (v) known.push_back(*v);
  if (known.empty()) return std::nullopt;
  return spread_of(std::move(known)).median;
}

// Runs one point `repeats` times and fills in what it measured; the model
// columns are filled in once L is known (complete_point).
template <typename RunOnce>
Result<BenchPoint> measure_point(BenchMode mode, std::uint32_t workers, const BenchOptions& options, RunOnce run_once) {
  BenchPoint point;
  point.mode = mode;
  point.workers = workers;
  point.requests = options.urls.size();
  CrawlStats stats;
  std::vector<double> walls, cpus;
  std::vector<std::optional<double>> memories;
  for (std::uint32_t repeat = 0; repeat < options.repeats; ++repeat) {
    Result<RunSample> sample = run_once(stats);
    if (!sample) return std::move(sample).error();
    walls.push_back(sample->wall_s);
    cpus.push_back(sample->cpu_s);
    memories.push_back(sample->memory_per_worker_kib);
    point.ok += sample->ok;
    point.failed += sample->failed;
    if (options.on_run) {
      options.on_run(strprintf("%s N=%u run %u/%u: %.3f s, %llu ok, %llu failed", std::string(to_string(mode)).c_str(),
                               workers, repeat + 1, options.repeats, sample->wall_s,
                               static_cast<unsigned long long>(sample->ok),
                               static_cast<unsigned long long>(sample->failed)));
    }
    point.runs.push_back(*sample);
  }
  point.wall_s = spread_of(walls);
  point.cpu_s = spread_of(cpus).median;
  point.memory_per_worker_kib = median_of(memories);
  const auto snapshot = stats.snapshot();
  point.latency_mean_ms = snapshot.latency_mean_ms;
  point.latency_p50_ms = snapshot.latency_p50_ms;
  point.latency_p95_ms = snapshot.latency_p95_ms;
  point.latency_p99_ms = snapshot.latency_p99_ms;
  point.requests_per_s = point.wall_s.median > 0 ? static_cast<double>(point.requests) / point.wall_s.median : 0;
  return point;
}

void complete_point(BenchPoint& point, double sequential_wall_s, double latency_s) {
  point.speedup = point.wall_s.median > 0 ? sequential_wall_s / point.wall_s.median : 0;
  point.efficiency = parallel_efficiency(point.speedup, point.workers);
  point.ideal_speedup = ideal_speedup(point.requests, point.workers);
  point.ideal_wall_s = ideal_wall_seconds(point.requests, point.workers, latency_s);
  point.littles_law_rps = littles_law_throughput(point.workers, latency_s);
}

}  // namespace

Result<BenchReport> run_benchmark(const BenchOptions& options, ProcessLauncher* launcher) {
  if (options.urls.empty()) return Error{ErrorCode::kConfig, "bench: no URLs to fetch"};
  if (options.repeats == 0) return Error{ErrorCode::kConfig, "bench: repeats must be at least 1"};
  if (options.workers.empty()) return Error{ErrorCode::kConfig, "bench: no worker counts to measure"};
  for (const auto n : options.workers)
    if (n == 0) return Error{ErrorCode::kConfig, "bench: worker count 0 in the sweep; counts start at 1"};
  if (options.processes && launcher == nullptr) {
    return Error{ErrorCode::kConfig, "bench: processes mode needs a ProcessLauncher started before any thread"};
  }
  std::vector<std::uint32_t> sweep(options.workers);
  std::sort(sweep.begin(), sweep.end());
  sweep.erase(std::unique(sweep.begin(), sweep.end()), sweep.end());

  BenchReport report;
  report.workload = options.workload;
  report.requests = options.urls.size();
  report.repeats = options.repeats;
  report.context.cores = usable_cores();
  report.context.per_host = options.per_host;

  auto sequential = measure_point(BenchMode::kSequential, 1, options, [&](CrawlStats& stats) -> Result<RunSample> {
    return run_sequential(options.urls, options.fetch, stats);
  });
  if (!sequential) return std::move(sequential).error();
  report.latency_ms = sequential->latency_mean_ms;
  report.context.sequential_latency_ms = report.latency_ms;
  const double baseline_s = sequential->wall_s.median;
  const double latency_s = report.latency_ms / 1000.0;
  report.points.push_back(std::move(*sequential));

  if (options.threads) {
    for (const auto n : sweep) {
      auto point = measure_point(BenchMode::kThreads, n, options, [&](CrawlStats& stats) -> Result<RunSample> {
        return run_threads(options, n, stats);
      });
      if (!point) return std::move(point).error();
      report.points.push_back(std::move(*point));
    }
  }
  if (options.processes) {
    for (const auto n : sweep) {
      auto point = measure_point(BenchMode::kProcesses, n, options,
                                 [&](CrawlStats& stats) { return run_processes(options, n, *launcher, stats); });
      if (!point) return std::move(point).error();
      report.points.push_back(std::move(*point));
    }
  }
  for (auto& point : report.points) complete_point(point, baseline_s, latency_s);
  for (const auto mode : {BenchMode::kThreads, BenchMode::kProcesses}) {
    if (auto knee = find_knee(report.points, mode, report.context)) report.knees.push_back(std::move(*knee));
  }
  return report;
}

}  // namespace fetchpool
