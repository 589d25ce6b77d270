// Speedup benchmark: how much faster do N concurrent workers fetch the same
// URL list than one, and why does the gain stop where it stops?
//
// Three ways to do the same work (U distinct URLs, each fetched once per run):
//   sequential  one Fetcher in a plain loop on the calling thread: no pool,
//               no threads. The baseline; its mean latency is L.
//   threads     CrawlEngine in list mode with N workers: the product's pool,
//               set up as `fetchpool get` is by default (no HTML parsing).
//   processes   N worker processes, each with its own Fetcher on every N-th
//               URL (a share of ceil(U/N) at most), forked by a helper.
// Every point is run `repeats` times; wall time is the median, with min..max.
//
// The model beside the measurements. Fetching is waiting: a worker that
// waits L per request completes 1/L requests per second, so N workers
// complete N/L (Little's law: concurrency = throughput x latency) and need
// ceil(U/N) rounds of L: ideal time ceil(U/N) x L, ideal speedup
// U / ceil(U/N). The knee is the first N whose measured speedup falls below
// 0.8 x ideal; likely_limit() names a probable cause by a documented
// heuristic, not a proof.
//
// Why a helper process forks the workers (ProcessLauncher). fork() copies
// only the calling thread: a mutex that another thread held at that instant
// (malloc's, stdio's, libcurl's or OpenSSL's) stays locked forever in the
// child, which may then deadlock on its first allocation. POSIX allows only
// async-signal-safe calls in such a child. So the launcher forks one helper
// while the program still has a single thread (it checks), before the
// built-in server or any pool starts; later the helper, itself
// single-threaded, forks the N workers for each run. Their memory is a copy
// of a single-threaded process, so they may use malloc, libcurl and
// OpenSSL freely. Each child writes its results (counts, latencies, its own
// peak RSS from /proc/self/status VmHWM) to a socket, then _exit()s (no
// atexit handlers, no stdio flush of copied buffers). The helper reads all
// children at once (poll), kills them at the deadline, and waitpid()s every
// one, so a run is bounded in time.
//
// Measures. CPU is getrusage() of this process (which includes the built-in
// server's event loops when the server runs in-process) plus, for processes,
// the helper and its reaped children. Memory per worker: sequential and
// threads, the growth of this process's peak RSS over its RSS at the start
// of the run (peak reset through /proc/self/clear_refs), divided by N;
// processes, the mean of the children's VmHWM, which counts pages shared
// with the helper too (so their sum overstates the total).
//
// Thread-safety: the pure functions are safe anywhere. run_benchmark() runs
// on the calling thread and owns every thread and process it starts; a
// ProcessLauncher is used by one thread at a time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fetchpool/error.hpp"
#include "fetchpool/fetcher.hpp"

namespace fetchpool {

enum class BenchMode { kSequential, kThreads, kProcesses };

std::string_view to_string(BenchMode mode) noexcept;  // "sequential", "threads", "processes"

// ---- The model (pure) ------------------------------------------------------

// ceil(requests / workers) rounds of one latency each.
double ideal_wall_seconds(std::uint64_t requests, std::uint32_t workers, double latency_s) noexcept;
// Sequential ideal over parallel ideal: requests / ceil(requests / workers).
double ideal_speedup(std::uint64_t requests, std::uint32_t workers) noexcept;
// Little's law: N requests in flight, each taking latency_s -> N / latency_s per second.
double littles_law_throughput(std::uint32_t workers, double latency_s) noexcept;
// speedup / workers: 1.0 means every worker was fully used.
double parallel_efficiency(double speedup, std::uint32_t workers) noexcept;

struct Spread {
  double median = 0;  // of an even count: the mean of the middle two
  double min = 0;
  double max = 0;
};
Spread spread_of(std::vector<double> values);

// ---- Results ---------------------------------------------------------------

// One timed run of one mode at one worker count.
struct RunSample {
  double wall_s = 0;
  double cpu_s = 0;                             // user + system, see the header comment
  std::uint64_t ok = 0;                         // 2xx/3xx answers
  std::uint64_t failed = 0;                     // everything else; ok + failed = URLs handled
  std::optional<double> memory_per_worker_kib;  // unset when /proc does not tell
};

struct BenchPoint {
  BenchMode mode = BenchMode::kSequential;
  std::uint32_t workers = 1;
  std::uint64_t requests = 0;  // U: URLs per run
  std::vector<RunSample> runs;
  Spread wall_s;
  double requests_per_s = 0;   // U / median wall
  double speedup = 0;          // sequential median wall / this median wall
  double efficiency = 0;       // speedup / workers
  double ideal_speedup = 0;    // U / ceil(U/N)
  double ideal_wall_s = 0;     // ceil(U/N) x L
  double littles_law_rps = 0;  // N / L
  double latency_mean_ms = 0;  // over every request of every run of this point
  double latency_p50_ms = 0;
  double latency_p95_ms = 0;
  double latency_p99_ms = 0;
  double cpu_s = 0;                             // median over runs
  std::optional<double> memory_per_worker_kib;  // median over runs
  std::uint64_t ok = 0;                         // summed over runs
  std::uint64_t failed = 0;                     // summed over runs
};

// What likely_limit() looks at besides the point itself.
struct LimitContext {
  unsigned cores = 1;                // CPUs this process may run on
  std::uint32_t per_host = 0;        // threads mode's per-host cap, 0 = none
  double sequential_latency_ms = 0;  // L
};

struct Knee {
  BenchMode mode = BenchMode::kThreads;
  std::uint32_t workers = 0;  // first N with speedup < threshold x ideal
  double speedup = 0;
  double ideal_speedup = 0;
  std::string likely_limit;
};

// The heuristic, first match wins:
//   1. threads mode, per-host cap set and N > cap: "per-host cap".
//   2. process CPU >= 0.75 x cores x wall: "CPU-bound".
//   3. mean latency >= 1.5 x L: "server capacity" (requests queue at the
//      server or on the loopback path instead of being served in L).
//   4. otherwise "connection/loopback limits or per-run start-up costs"
//      (thread or process start, one new connection per worker, scheduling),
//      with the wall time above the ideal, in total and per worker.
std::string likely_limit(const BenchPoint& point, const LimitContext& context);

// The first point of `mode`, by increasing workers, whose speedup is below
// threshold x its ideal speedup; nullopt when every point keeps up.
std::optional<Knee> find_knee(const std::vector<BenchPoint>& points, BenchMode mode, const LimitContext& context,
                              double threshold = 0.8);

struct BenchReport {
  std::string workload;        // one line: what was fetched
  std::uint64_t requests = 0;  // U
  std::uint32_t repeats = 0;
  double latency_ms = 0;  // L: mean latency of the sequential runs
  LimitContext context;
  std::vector<BenchPoint> points;  // sequential first, then threads, then processes, each by workers
  std::vector<Knee> knees;         // one per parallel mode that has one
};

// Renderers. All pure.
std::string format_table(const BenchReport& report);  // the readable table, with the knee lines
std::string report_csv(const BenchReport& report);    // one header row, one row per point
std::string report_json(const BenchReport& report);   // the whole report, runs included
// Speedup vs workers (log2 x axis): threads, processes and the ideal, with
// axes, tick labels, axis titles and a legend. Standalone SVG 1.1.
std::string render_svg(const BenchReport& report);

// ---- Running ---------------------------------------------------------------

struct ChildResult {
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::vector<std::uint64_t> latencies_us;  // one per URL of the child's share
  std::uint64_t peak_rss_kib = 0;           // the child's VmHWM
};

struct ProcessRun {
  double wall_s = 0;                  // from the first fork to the last waitpid
  double cpu_s = 0;                   // the helper plus its reaped children
  std::vector<ChildResult> children;  // child k fetched URLs k, k+N, k+2N, ...
};

// The helper process that forks the worker processes (see the header comment).
class ProcessLauncher {
 public:
  // Forks the helper. Fails with kInternal when this process already runs
  // another thread (ThreadSanitizer's own background thread excepted) or when
  // fork fails. The helper gets SIGKILL if the thread that started it ends.
  static Result<std::unique_ptr<ProcessLauncher>> start();
  ~ProcessLauncher();  // closes the channel: the idle helper exits; reaps it
  ProcessLauncher(const ProcessLauncher&) = delete;
  ProcessLauncher& operator=(const ProcessLauncher&) = delete;

  // Fetches `urls` with `workers` child processes and waits for all of them.
  // Children still running at `deadline` are killed and the run fails
  // (kTimeout); a child that dies or reports nothing fails it too.
  Result<ProcessRun> run(const std::vector<std::string>& urls, std::uint32_t workers, const FetchOptions& fetch,
                         std::chrono::seconds deadline);

 private:
  ProcessLauncher(pid_t pid, int channel) : pid_(pid), channel_(channel) {}
  void kill_helper() noexcept;

  pid_t pid_;
  int channel_;  // socket to the helper; -1 once the helper is gone
};

struct BenchOptions {
  std::vector<std::string> urls;  // U distinct URLs
  std::vector<std::uint32_t> workers{1, 2, 4, 8, 16, 32, 64};
  std::uint32_t repeats = 3;
  bool threads = true;         // sequential always runs: it is the baseline
  bool processes = true;       // needs a ProcessLauncher
  std::uint32_t per_host = 0;  // threads mode's frontier cap, 0 = none
  FetchOptions fetch;
  std::string workload;  // copied into the report
  // Called on the calling thread after every run, e.g. "threads N=8 run 2/3: 0.81 s".
  std::function<void(const std::string&)> on_run;
};

// Runs sequential x repeats, then for each N threads x repeats and processes
// x repeats, and fills in the model, the knees and the limits. Fails on bad
// options (kConfig) or when a processes run fails; failed fetches are not a
// failure of the benchmark (they are counted in the points).
Result<BenchReport> run_benchmark(const BenchOptions& options, ProcessLauncher* launcher);

}  // namespace fetchpool
