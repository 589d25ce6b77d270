#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

#include "fetchpool/progress.hpp"

using fetchpool::ProgressOptions;
using fetchpool::ProgressReporter;
using fetchpool::ProgressView;
using namespace std::chrono_literals;

namespace {

std::string read_all(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, file)) > 0;) text.append(buffer, n);
  return text;
}

}  // namespace

TEST_CASE("a report shows done/total, queue, in-flight, rate, bytes and ETA", "[progress]") {
  ProgressView v;
  v.done = 50;
  v.total = 200;
  v.queued = 140;
  v.in_flight = 10;
  v.failed = 2;
  v.bytes = std::uint64_t{3} * 1024 * 1024;
  fetchpool::ProgressRates rates{25.0, 1024.0 * 1024.0, 2.0};
  const auto line = fetchpool::format_progress(v, rates, "get");
  CHECK(line.find("get: 50/200 done (25%)") == 0);
  CHECK(line.find("140 queued, 10 in flight, 2 failed") != std::string::npos);
  CHECK(line.find("25.0/s") != std::string::npos);
  CHECK(line.find("3.0 MiB") != std::string::npos);
  CHECK(line.find("ETA 6s") != std::string::npos);  // 150 left at 25/s
}

TEST_CASE("without a known total there is no ETA", "[progress]") {
  ProgressView v;
  v.done = 7;
  const auto line = fetchpool::format_progress(v, {1.0, 0.0, 7.0}, "crawl");
  CHECK(line.find("crawl: 7 done,") == 0);
  CHECK(line.find("ETA") == std::string::npos);
}

TEST_CASE("the reporter wakes on its interval and reads its source", "[progress]") {
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  std::atomic<std::uint64_t> calls{0};
  {
    ProgressReporter reporter(
        [&calls] {
          ProgressView v;
          v.done = ++calls;
          return v;
        },
        ProgressOptions{10ms, false, out, "t"});
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (reporter.reports_printed() < 3 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    CHECK(reporter.reports_printed() >= 3);
  }
  const auto text = read_all(out);
  CHECK(std::count(text.begin(), text.end(), '\n') >= 4);  // periodic reports plus the final one
  CHECK(text.find('\r') == std::string::npos);             // plain log lines when not a TTY
  std::fclose(out);
}

TEST_CASE("stop returns at once even with a long interval, and prints a final report", "[progress]") {
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  ProgressReporter reporter([] { return ProgressView{}; }, ProgressOptions{1h, true, out, "t"});
  const auto started = std::chrono::steady_clock::now();
  reporter.stop();
  reporter.stop();                                           // idempotent
  CHECK(std::chrono::steady_clock::now() - started < 1min);  // did not wait out the 1 h interval, however loaded
  CHECK(reporter.reports_printed() == 1);
  const auto text = read_all(out);
  CHECK(text.rfind("\r[--------------------] t: 0 done", 0) == 0);  // interactive: a bar, rewritten in place
  CHECK(text.back() == '\n');
  std::fclose(out);
}

TEST_CASE("progress_bar fills with the part done, of the total or of what a crawl knows so far", "[progress]") {
  fetchpool::ProgressView v;
  CHECK(fetchpool::progress_bar(v, 10) == "[----------] ");
  v.total = 8;
  v.done = 4;
  CHECK(fetchpool::progress_bar(v, 10) == "[#####-----] ");
  v.done = 8;
  CHECK(fetchpool::progress_bar(v, 10) == "[##########] ");
  fetchpool::ProgressView crawl;
  crawl.done = 1;
  crawl.queued = 2;
  crawl.in_flight = 1;
  CHECK(fetchpool::progress_bar(crawl, 4) == "[#---] ");
}
