// The benchmark's model (benchmark.hpp): Little's law, the ideal time and
// speedup, the knee and the likely-limit heuristic. Pure functions.
#include <algorithm>

#include "tools/bench/bench_common.hpp"
#include "tools/bench/benchmark.hpp"

namespace fetchpool {

using bench::strprintf;

std::string_view to_string(BenchMode mode) noexcept {
  switch (mode) {
    case BenchMode::kSequential:
      return "sequential";
    case BenchMode::kThreads:
      return "threads";
    case BenchMode::kProcesses:
      return "processes";
  }
  return "unknown";
}

double ideal_wall_seconds(std::uint64_t requests, std::uint32_t workers, double latency_s) noexcept {
  if (workers == 0) return 0;
  const auto rounds = (requests + workers - 1) / workers;
  return static_cast<double>(rounds) * latency_s;
}

double ideal_speedup(std::uint64_t requests, std::uint32_t workers) noexcept {
  if (requests == 0 || workers == 0) return 1;
  const auto rounds = (requests + workers - 1) / workers;
  return static_cast<double>(requests) / static_cast<double>(rounds);
}

double littles_law_throughput(std::uint32_t workers, double latency_s) noexcept {
  return latency_s > 0 ? workers / latency_s : 0;
}

double parallel_efficiency(double speedup, std::uint32_t workers) noexcept {
  return workers > 0 ? speedup / workers : 0;
}

Spread spread_of(std::vector<double> values) {
  Spread spread;
  if (values.empty()) return spread;
  std::sort(values.begin(), values.end());
  const auto n = values.size();
  spread.min = values.front();
  spread.max = values.back();
  spread.median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return spread;
}

std::string likely_limit(const BenchPoint& point, const LimitContext& context) {
  if (point.mode == BenchMode::kThreads && context.per_host > 0 && point.workers > context.per_host) {
    return strprintf("per-host cap: at most %u requests in flight to one host, %u workers", context.per_host,
                     point.workers);
  }
  const double wall = point.wall_s.median;
  const double cpu_per_wall = wall > 0 ? point.cpu_s / wall : 0;
  if (cpu_per_wall >= 0.75 * context.cores) {
    return strprintf("CPU-bound: process CPU %.2f s per wall second on %u cores", cpu_per_wall, context.cores);
  }
  if (context.sequential_latency_ms > 0 && point.latency_mean_ms >= 1.5 * context.sequential_latency_ms) {
    return strprintf("server capacity: mean latency rose from %.1f ms (sequential) to %.1f ms",
                     context.sequential_latency_ms, point.latency_mean_ms);
  }
  // What the start-up share would be: the time above the ideal, per worker.
  const double excess_s = std::max(wall - point.ideal_wall_s, 0.0);
  return strprintf(
      "connection/loopback limits or per-run start-up costs: %.3f s above the ideal, %.2f ms per worker "
      "(CPU %.2f s per wall second, latency %.1f ms)",
      excess_s, 1000.0 * excess_s / std::max(point.workers, 1u), cpu_per_wall, point.latency_mean_ms);
}

std::optional<Knee> find_knee(const std::vector<BenchPoint>& points, BenchMode mode, const LimitContext& context,
                              double threshold) {
  std::vector<const BenchPoint*> of_mode;
  for (const auto& point : points)
    if (point.mode == mode) of_mode.push_back(&point);
  std::sort(of_mode.begin(), of_mode.end(),
            [](const BenchPoint* a, const BenchPoint* b) { return a->workers < b->workers; });
  for (const auto* point : of_mode) {
    if (point->speedup < threshold * point->ideal_speedup) {
      return Knee{mode, point->workers, point->speedup, point->ideal_speedup, likely_limit(*point, context)};
    }
  }
  return std::nullopt;
}

}  // namespace fetchpool
