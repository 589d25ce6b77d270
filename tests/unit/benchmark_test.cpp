// The benchmark's model and renderers: no network, no processes.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "tools/bench/benchmark.hpp"

using fetchpool::BenchMode;
using fetchpool::BenchPoint;
using fetchpool::BenchReport;
using fetchpool::LimitContext;

namespace {

BenchPoint point(BenchMode mode, std::uint32_t workers, double speedup, std::uint64_t requests = 64) {
  BenchPoint p;
  p.mode = mode;
  p.workers = workers;
  p.requests = requests;
  p.speedup = speedup;
  p.ideal_speedup = fetchpool::ideal_speedup(requests, workers);
  p.efficiency = fetchpool::parallel_efficiency(speedup, workers);
  p.wall_s = {6.4 / speedup, 6.3 / speedup, 6.5 / speedup};
  p.cpu_s = 0.1;
  p.latency_mean_ms = 100;
  p.latency_p50_ms = 100;
  p.latency_p95_ms = 101;
  p.latency_p99_ms = 102;
  p.ideal_wall_s = fetchpool::ideal_wall_seconds(requests, workers, 0.1);
  p.littles_law_rps = fetchpool::littles_law_throughput(workers, 0.1);
  p.runs.push_back({p.wall_s.median, p.cpu_s, requests, 0, 512.0});
  p.ok = requests;
  p.memory_per_worker_kib = 512.0;
  return p;
}

BenchReport sample_report() {
  BenchReport r;
  r.workload = "test <site> & more";
  r.requests = 64;
  r.repeats = 1;
  r.latency_ms = 100;
  r.context = LimitContext{2, 0, 100};
  r.points = {point(BenchMode::kSequential, 1, 1.0), point(BenchMode::kThreads, 1, 0.99),
              point(BenchMode::kThreads, 8, 7.8),    point(BenchMode::kThreads, 64, 30.0),
              point(BenchMode::kProcesses, 1, 0.98), point(BenchMode::kProcesses, 8, 7.1),
              point(BenchMode::kProcesses, 64, 20.0)};
  for (const auto mode : {BenchMode::kThreads, BenchMode::kProcesses})
    if (auto knee = fetchpool::find_knee(r.points, mode, r.context)) r.knees.push_back(*knee);
  return r;
}

// A light XML check: every element closes, in order; no text or attribute
// carries a raw '<' or '&' that is not an entity; one root <svg>.
bool tags_balance(const std::string& xml, std::string& why) {
  std::vector<std::string> open;
  int roots = 0;
  for (std::size_t i = 0; i < xml.size(); ++i) {
    if (xml[i] == '&') {
      const auto end = xml.find(';', i);
      const auto entity = xml.substr(i, end == std::string::npos ? 1 : end - i + 1);
      if (entity != "&amp;" && entity != "&lt;" && entity != "&gt;" && entity != "&quot;") {
        why = "bare & at " + std::to_string(i);
        return false;
      }
      continue;
    }
    if (xml[i] != '<') continue;
    const auto close = xml.find('>', i);
    if (close == std::string::npos) {
      why = "unclosed tag at " + std::to_string(i);
      return false;
    }
    const std::string tag = xml.substr(i + 1, close - i - 1);
    if (tag.find('<') != std::string::npos) {
      why = "'<' inside a tag at " + std::to_string(i);
      return false;
    }
    i = close;
    if (tag.empty() || tag[0] == '?' || tag[0] == '!') continue;
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1)) {
        why = "unexpected </" + tag.substr(1) + ">";
        return false;
      }
      open.pop_back();
      continue;
    }
    const std::string name = tag.substr(0, tag.find_first_of(" \t\n/"));
    if (open.empty()) ++roots;
    if (tag.back() != '/') open.push_back(name);
  }
  if (!open.empty()) {
    why = "<" + open.back() + "> never closed";
    return false;
  }
  if (roots != 1) {
    why = std::to_string(roots) + " root elements";
    return false;
  }
  return true;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("ideal time is ceil(U/N) rounds of L and ideal speedup U / ceil(U/N)", "[benchmark]") {
  CHECK(fetchpool::ideal_wall_seconds(400, 1, 0.05) == Approx(20.0));
  CHECK(fetchpool::ideal_wall_seconds(400, 64, 0.05) == Approx(0.35));  // ceil(6.25) = 7 rounds
  CHECK(fetchpool::ideal_wall_seconds(64, 8, 0.1) == Approx(0.8));
  CHECK(fetchpool::ideal_wall_seconds(3, 8, 0.1) == Approx(0.1));  // more workers than work: one round
  CHECK(fetchpool::ideal_speedup(64, 8) == Approx(8.0));
  CHECK(fetchpool::ideal_speedup(400, 64) == Approx(400.0 / 7.0));
  CHECK(fetchpool::ideal_speedup(3, 8) == Approx(3.0));  // capped by the work
  CHECK(fetchpool::ideal_speedup(0, 8) == Approx(1.0));
  CHECK(fetchpool::ideal_wall_seconds(10, 0, 0.1) == 0.0);
}

TEST_CASE("Little's law throughput is N / L and efficiency speedup / N", "[benchmark]") {
  CHECK(fetchpool::littles_law_throughput(8, 0.1) == Approx(80.0));
  CHECK(fetchpool::littles_law_throughput(8, 0.0) == 0.0);
  CHECK(fetchpool::parallel_efficiency(6.0, 8) == Approx(0.75));
  CHECK(fetchpool::parallel_efficiency(6.0, 0) == 0.0);
}

TEST_CASE("spread: median of odd and even counts, min and max", "[benchmark]") {
  const auto odd = fetchpool::spread_of({3.0, 1.0, 2.0});
  CHECK(odd.median == 2.0);
  CHECK(odd.min == 1.0);
  CHECK(odd.max == 3.0);
  const auto even = fetchpool::spread_of({4.0, 1.0, 3.0, 2.0});
  CHECK(even.median == Approx(2.5));
  const auto none = fetchpool::spread_of({});
  CHECK(none.median == 0.0);
}

TEST_CASE("the knee is the first N whose speedup is below 0.8 x ideal", "[benchmark]") {
  const LimitContext context{2, 0, 100};
  const std::vector<BenchPoint> points{point(BenchMode::kThreads, 8, 3.5), point(BenchMode::kThreads, 1, 1.0),
                                       point(BenchMode::kThreads, 2, 1.9), point(BenchMode::kThreads, 4, 3.1),
                                       point(BenchMode::kThreads, 16, 4.0)};
  const auto knee = fetchpool::find_knee(points, BenchMode::kThreads, context);
  REQUIRE(knee);
  CHECK(knee->workers == 4);  // 3.1 < 0.8 x 4 = 3.2; N=8 comes later even though listed first
  CHECK(knee->speedup == 3.1);
  CHECK(knee->ideal_speedup == Approx(4.0));
  CHECK_FALSE(knee->likely_limit.empty());

  // Exactly 0.8 x ideal keeps up; a stricter threshold moves the knee.
  const std::vector<BenchPoint> at_threshold{point(BenchMode::kThreads, 4, 3.2), point(BenchMode::kThreads, 8, 7.9)};
  CHECK_FALSE(fetchpool::find_knee(at_threshold, BenchMode::kThreads, context));
  const auto strict = fetchpool::find_knee(at_threshold, BenchMode::kThreads, context, 0.9);
  REQUIRE(strict);
  CHECK(strict->workers == 4);

  CHECK_FALSE(fetchpool::find_knee(points, BenchMode::kProcesses, context));  // no points of that mode
}

TEST_CASE("likely limit: per-host cap, then CPU, then server latency, then connections", "[benchmark]") {
  LimitContext context{2, 4, 100};
  auto p = point(BenchMode::kThreads, 8, 4.0);
  p.wall_s.median = 1.0;
  p.cpu_s = 1.8;            // 1.8 CPU s per wall s on 2 cores: CPU-bound too, but the cap comes first
  p.latency_mean_ms = 300;  // and latency rose
  CHECK(fetchpool::likely_limit(p, context).rfind("per-host cap", 0) == 0);

  p.mode = BenchMode::kProcesses;  // processes have no frontier: the cap does not apply
  CHECK(fetchpool::likely_limit(p, context).rfind("CPU-bound", 0) == 0);

  p.cpu_s = 1.4;  // below 0.75 x 2 cores
  CHECK(fetchpool::likely_limit(p, context).rfind("server capacity", 0) == 0);

  p.latency_mean_ms = 140;  // below 1.5 x L
  p.ideal_wall_s = 0.8;     // wall 1.0 s: 0.2 s above the ideal, 25 ms for each of 8 workers
  const auto limit = fetchpool::likely_limit(p, context);
  CHECK(limit.rfind("connection/loopback", 0) == 0);
  CHECK(limit.find("0.200 s above the ideal, 25.00 ms per worker") != std::string::npos);

  context.per_host = 16;  // a cap above N does not limit
  p.mode = BenchMode::kThreads;
  CHECK(fetchpool::likely_limit(p, context).rfind("connection/loopback", 0) == 0);
}

TEST_CASE("the SVG is one well-formed svg element with three series, axes and a legend", "[benchmark]") {
  const auto svg = fetchpool::render_svg(sample_report());
  std::string why;
  const bool balanced = tags_balance(svg, why);
  INFO(why);
  REQUIRE(balanced);
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("xmlns=\"http://www.w3.org/2000/svg\"") != std::string::npos);
  CHECK(svg.substr(svg.size() - 7) == "</svg>\n");
  CHECK(count(svg, "<polyline") == 3);
  CHECK(svg.find("measured: threads") != std::string::npos);
  CHECK(svg.find("measured: processes") != std::string::npos);
  CHECK(svg.find("ideal") != std::string::npos);
  CHECK(svg.find("workers N (log2 scale)") != std::string::npos);
  CHECK(svg.find("speedup vs sequential") != std::string::npos);
  // Tick labels at the powers of two of the sweep: 1 .. 64.
  for (const char* tick : {">1<", ">2<", ">4<", ">8<", ">16<", ">32<", ">64<"})
    CHECK(svg.find(tick) != std::string::npos);
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
}

TEST_CASE("the SVG of a report without parallel points is still well formed", "[benchmark]") {
  BenchReport r;
  r.requests = 1;
  r.points = {point(BenchMode::kSequential, 1, 1.0, 1)};
  const auto svg = fetchpool::render_svg(r);
  std::string why;
  const bool balanced = tags_balance(svg, why);
  INFO(why);
  REQUIRE(balanced);
  CHECK(count(svg, "<polyline") == 0);
}

TEST_CASE("table, CSV and JSON carry every point and the knees", "[benchmark]") {
  const auto report = sample_report();
  REQUIRE(report.knees.size() == 2);  // threads at 64 (30 < 0.8 x 64), processes at 64

  const auto table = fetchpool::format_table(report);
  CHECK(table.find("knee (threads): N=64") != std::string::npos);
  CHECK(table.find("knee (processes): N=64") != std::string::npos);
  CHECK(count(table, "\nthreads ") == 3);
  CHECK(count(table, "\nprocesses ") == 3);

  const auto csv = fetchpool::report_csv(report);
  CHECK(count(csv, "\n") == 1 + report.points.size());
  CHECK(csv.rfind("mode,workers,requests,", 0) == 0);
  CHECK(csv.find("\nthreads,8,64,1,64,0,") != std::string::npos);

  const auto json = nlohmann::json::parse(fetchpool::report_json(report));
  CHECK(json["requests"] == 64);
  REQUIRE(json["points"].size() == report.points.size());
  CHECK(json["points"][2]["mode"] == "threads");
  CHECK(json["points"][2]["workers"] == 8);
  CHECK(json["points"][2]["ideal_speedup"].get<double>() == Approx(8.0));
  CHECK(json["knees"][0]["mode"] == "threads");
  CHECK(json["knees"][0]["workers"] == 64);
}
