// The benchmark's four renderers (benchmark.hpp): the readable table, CSV,
// JSON and an SVG chart of speedup against workers. Pure functions.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "base/html_escape.hpp"
#include "tools/bench/bench_common.hpp"
#include "tools/bench/benchmark.hpp"

namespace fetchpool {

namespace {

using bench::strprintf;
using nlohmann::ordered_json;

std::string memory_text(const std::optional<double>& kib) {
  if (!kib) return "n/a";
  if (*kib >= 10 * 1024.0) return strprintf("%.1f MiB", *kib / 1024.0);
  return strprintf("%.0f KiB", *kib);
}

// A "nice" tick step (1, 2 or 5 x 10^k) giving at most about `ticks` ticks up to `top`.
double nice_step(double top, int ticks) {
  const double raw = top / ticks;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) return m * magnitude;
  return 10 * magnitude;
}

}  // namespace

std::string format_table(const BenchReport& report) {
  std::string out = "fetchpool bench: " + report.workload + "\n";
  out += strprintf(
      "U = %llu requests per run, %u repeats, %u cores; L = %.2f ms (mean latency of the sequential runs)\n\n",
      static_cast<unsigned long long>(report.requests), report.repeats, report.context.cores, report.latency_ms);
  out += strprintf("%-10s %4s %9s %-19s %8s %9s %7s %7s %6s %9s %8s %8s %8s %7s %10s %6s\n", "mode", "N", "wall s",
                   "(min..max)", "req/s", "N/L req/s", "speedup", "ideal", "effic", "ideal s", "p50 ms", "p95 ms",
                   "p99 ms", "CPU s", "mem/worker", "failed");
  for (const auto& p : report.points) {
    const std::string range = strprintf("(%.3f..%.3f)", p.wall_s.min, p.wall_s.max);
    out += strprintf("%-10s %4u %9.3f %-19s %8.1f %9.1f %6.2fx %6.2fx %6.2f %9.3f %8.1f %8.1f %8.1f %7.2f %10s %6llu\n",
                     std::string(to_string(p.mode)).c_str(), p.workers, p.wall_s.median, range.c_str(),
                     p.requests_per_s, p.littles_law_rps, p.speedup, p.ideal_speedup, p.efficiency, p.ideal_wall_s,
                     p.latency_p50_ms, p.latency_p95_ms, p.latency_p99_ms, p.cpu_s,
                     memory_text(p.memory_per_worker_kib).c_str(), static_cast<unsigned long long>(p.failed));
  }
  out += "\n";
  for (const auto mode : {BenchMode::kThreads, BenchMode::kProcesses}) {
    std::uint32_t largest = 0;
    for (const auto& p : report.points)
      if (p.mode == mode) largest = std::max(largest, p.workers);
    if (largest == 0) continue;
    const auto knee =
        std::find_if(report.knees.begin(), report.knees.end(), [mode](const Knee& k) { return k.mode == mode; });
    if (knee == report.knees.end()) {
      out += strprintf("knee (%s): none up to N=%u: every point reached 0.8 x its ideal speedup\n",
                       std::string(to_string(mode)).c_str(), largest);
    } else {
      out += strprintf("knee (%s): N=%u, speedup %.2fx < 0.8 x ideal %.2fx; likely limit: %s\n",
                       std::string(to_string(mode)).c_str(), knee->workers, knee->speedup, knee->ideal_speedup,
                       knee->likely_limit.c_str());
    }
  }
  out +=
      "\nspeedup = sequential median wall / median wall; ideal = U / ceil(U/N); effic = speedup / N;\n"
      "N/L = Little's law throughput; ideal s = ceil(U/N) x L; CPU s = process CPU per run (built-in server "
      "included);\n"
      "mem/worker: sequential and threads = peak RSS growth / N, processes = mean child peak RSS (VmHWM);\n"
      "failed = fetches not ending in 2xx/3xx, over all repeats.\n";
  return out;
}

std::string report_csv(const BenchReport& report) {
  std::string out =
      "mode,workers,requests,repeats,ok,failed,wall_median_s,wall_min_s,wall_max_s,requests_per_s,littles_law_rps,"
      "speedup,ideal_speedup,efficiency,ideal_wall_s,latency_mean_ms,latency_p50_ms,latency_p95_ms,latency_p99_ms,"
      "cpu_s,memory_per_worker_kib\n";
  for (const auto& p : report.points) {
    out += strprintf(
        "%s,%u,%llu,%zu,%llu,%llu,%.6f,%.6f,%.6f,%.3f,%.3f,%.4f,%.4f,%.4f,%.6f,%.3f,%.3f,%.3f,%.3f,%.4f,%s\n",
        std::string(to_string(p.mode)).c_str(), p.workers, static_cast<unsigned long long>(p.requests), p.runs.size(),
        static_cast<unsigned long long>(p.ok), static_cast<unsigned long long>(p.failed), p.wall_s.median, p.wall_s.min,
        p.wall_s.max, p.requests_per_s, p.littles_law_rps, p.speedup, p.ideal_speedup, p.efficiency, p.ideal_wall_s,
        p.latency_mean_ms, p.latency_p50_ms, p.latency_p95_ms, p.latency_p99_ms, p.cpu_s,
        p.memory_per_worker_kib ? strprintf("%.1f", *p.memory_per_worker_kib).c_str() : "");
  }
  return out;
}

std::string report_json(const BenchReport& report) {
  auto optional_number = [](const std::optional<double>& v) { return v ? ordered_json(*v) : ordered_json(nullptr); };
  ordered_json root;
  root["workload"] = report.workload;
  root["requests"] = report.requests;
  root["repeats"] = report.repeats;
  root["cores"] = report.context.cores;
  root["per_host"] = report.context.per_host;
  root["sequential_latency_ms"] = report.latency_ms;
  ordered_json points = ordered_json::array();
  for (const auto& p : report.points) {
    ordered_json point;
    point["mode"] = to_string(p.mode);
    point["workers"] = p.workers;
    point["requests"] = p.requests;
    point["ok"] = p.ok;
    point["failed"] = p.failed;
    point["wall_s"] = {{"median", p.wall_s.median}, {"min", p.wall_s.min}, {"max", p.wall_s.max}};
    point["requests_per_s"] = p.requests_per_s;
    point["littles_law_rps"] = p.littles_law_rps;
    point["speedup"] = p.speedup;
    point["ideal_speedup"] = p.ideal_speedup;
    point["efficiency"] = p.efficiency;
    point["ideal_wall_s"] = p.ideal_wall_s;
    point["latency_ms"] = {
        {"mean", p.latency_mean_ms}, {"p50", p.latency_p50_ms}, {"p95", p.latency_p95_ms}, {"p99", p.latency_p99_ms}};
    point["cpu_s"] = p.cpu_s;
    point["memory_per_worker_kib"] = optional_number(p.memory_per_worker_kib);
    ordered_json runs = ordered_json::array();
    for (const auto& r : p.runs) {
      runs.push_back({{"wall_s", r.wall_s},
                      {"cpu_s", r.cpu_s},
                      {"ok", r.ok},
                      {"failed", r.failed},
                      {"memory_per_worker_kib", optional_number(r.memory_per_worker_kib)}});
    }
    point["runs"] = std::move(runs);
    points.push_back(std::move(point));
  }
  root["points"] = std::move(points);
  ordered_json knees = ordered_json::array();
  for (const auto& k : report.knees) {
    knees.push_back({{"mode", to_string(k.mode)},
                     {"workers", k.workers},
                     {"speedup", k.speedup},
                     {"ideal_speedup", k.ideal_speedup},
                     {"likely_limit", k.likely_limit}});
  }
  root["knees"] = std::move(knees);
  return root.dump(2) + "\n";
}

namespace {

constexpr double kWidth = 760, kHeight = 480;
constexpr double kLeft = 70, kRight = 30, kTop = 50, kBottom = 60;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

// The chart's scales: workers on a log2 axis, speedup on a linear one, each
// from 0 (1 worker) to a little past the largest value shown.
struct SvgScale {
  double x_top = 1;   // log2 of the largest worker count, rounded up
  double y_step = 1;  // between two speedup ticks
  double y_top = 1;
  double x_of(double workers) const { return kLeft + std::log2(std::max(workers, 1.0)) / x_top * kPlotW; }
  double y_of(double speedup) const { return kTop + kPlotH - std::clamp(speedup, 0.0, y_top) / y_top * kPlotH; }
};

SvgScale svg_scale(const BenchReport& report) {
  std::uint32_t max_workers = 2;
  double max_speedup = 1;
  for (const auto& p : report.points) {
    max_workers = std::max(max_workers, p.workers);
    if (std::isfinite(p.speedup)) max_speedup = std::max(max_speedup, p.speedup);
    max_speedup = std::max(max_speedup, p.ideal_speedup);
  }
  SvgScale scale;
  scale.x_top = std::ceil(std::log2(static_cast<double>(max_workers)));
  scale.y_step = nice_step(max_speedup, 8);
  scale.y_top = std::ceil(max_speedup / scale.y_step) * scale.y_step;
  return scale;
}

// The document's opening, the title, the grid with its tick labels, and the
// axes with their titles.
std::string svg_frame(const BenchReport& report, const SvgScale& scale) {
  std::string svg = strprintf(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f "
      "%.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n",
      kWidth, kHeight, kWidth, kHeight);
  svg += strprintf("<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", kWidth, kHeight);
  svg += strprintf("<text x=\"%.1f\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">%s</text>\n", kWidth / 2,
                   detail::escape_html(strprintf("Speedup vs workers: %llu requests, L = %.1f ms",
                                                 static_cast<unsigned long long>(report.requests), report.latency_ms))
                       .c_str());
  // Grid, ticks and tick labels.
  for (double y = 0; y <= scale.y_top + scale.y_step / 2; y += scale.y_step) {
    svg += strprintf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", kLeft,
                     scale.y_of(y), kLeft + kPlotW, scale.y_of(y));
    svg += strprintf("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", kLeft - 6, scale.y_of(y) + 4, y);
  }
  for (int e = 0; e <= static_cast<int>(scale.x_top); ++e) {
    const double x = scale.x_of(std::ldexp(1.0, e));
    svg += strprintf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", x, kTop, x,
                     kTop + kPlotH);
    svg += strprintf("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", x, kTop + kPlotH + 18,
                     std::ldexp(1.0, e));
  }
  // Axes and their titles.
  svg += strprintf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", kLeft, kTop + kPlotH,
                   kLeft + kPlotW, kTop + kPlotH);
  svg += strprintf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", kLeft, kTop, kLeft,
                   kTop + kPlotH);
  svg += strprintf("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">workers N (log2 scale)</text>\n",
                   kLeft + kPlotW / 2, kHeight - 18);
  svg += strprintf(
      "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 18 %.1f)\">"
      "speedup vs sequential</text>\n",
      kTop + kPlotH / 2, kTop + kPlotH / 2);
  return svg;
}

struct Series {
  std::string name;
  std::string colour;
  std::string dash;
  std::vector<std::pair<double, double>> points;  // (workers, speedup), by workers
};

// The ideal (dashed), then the measured threads and processes curves; a
// series without points is left out.
std::vector<Series> speedup_series(const BenchReport& report) {
  std::vector<Series> series;
  Series ideal{"ideal: U / ceil(U/N)", "#7f7f7f", "6 4", {}};
  std::set<std::uint32_t> seen;
  for (const auto& p : report.points)
    if (p.mode != BenchMode::kSequential && seen.insert(p.workers).second)
      ideal.points.emplace_back(p.workers, p.ideal_speedup);
  std::sort(ideal.points.begin(), ideal.points.end());
  if (!ideal.points.empty()) series.push_back(std::move(ideal));
  for (const auto& [mode, colour] :
       {std::pair{BenchMode::kThreads, "#1f77b4"}, std::pair{BenchMode::kProcesses, "#ff7f0e"}}) {
    Series s{std::string("measured: ") + std::string(to_string(mode)), colour, "", {}};
    for (const auto& p : report.points)
      if (p.mode == mode && std::isfinite(p.speedup)) s.points.emplace_back(p.workers, p.speedup);
    std::sort(s.points.begin(), s.points.end());
    if (!s.points.empty()) series.push_back(std::move(s));
  }
  return series;
}

std::string dash_attribute(const Series& s) {
  return s.dash.empty() ? "" : strprintf(" stroke-dasharray=\"%s\"", s.dash.c_str());
}

// One polyline with a dot on each point, per series.
std::string svg_curves(const std::vector<Series>& series, const SvgScale& scale) {
  std::string svg;
  for (const auto& s : series) {
    std::string coords;
    for (const auto& [n, speedup] : s.points)
      coords += strprintf("%s%.1f,%.1f", coords.empty() ? "" : " ", scale.x_of(n), scale.y_of(speedup));
    svg += strprintf("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"%s\"/>\n", s.colour.c_str(),
                     dash_attribute(s).c_str(), coords.c_str());
    for (const auto& [n, speedup] : s.points) {
      svg += strprintf("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", scale.x_of(n), scale.y_of(speedup),
                       s.colour.c_str());
    }
  }
  return svg;
}

// Legend, top left inside the plot (the curves rise to the right).
std::string svg_legend(const std::vector<Series>& series) {
  const double legend_x = kLeft + 12, legend_y = kTop + 10;
  std::string svg =
      strprintf("<rect x=\"%.1f\" y=\"%.1f\" width=\"190\" height=\"%.1f\" fill=\"white\" stroke=\"#999999\"/>\n",
                legend_x, legend_y, 10 + 18.0 * static_cast<double>(series.size()));
  for (std::size_t i = 0; i < series.size(); ++i) {
    const double y = legend_y + 18 + 18.0 * static_cast<double>(i);
    svg += strprintf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
                     legend_x + 8, y - 4, legend_x + 36, y - 4, series[i].colour.c_str(),
                     dash_attribute(series[i]).c_str());
    svg += strprintf("<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", legend_x + 44, y,
                     detail::escape_html(series[i].name).c_str());
  }
  return svg;
}

}  // namespace

std::string render_svg(const BenchReport& report) {
  const SvgScale scale = svg_scale(report);
  const std::vector<Series> series = speedup_series(report);
  return svg_frame(report, scale) + svg_curves(series, scale) + svg_legend(series) + "</svg>\n";
}

}  // namespace fetchpool
