#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "crawl/stats_json.hpp"
#include "fetchpool/stats.hpp"

using fetchpool::CrawlStats;
using fetchpool::ErrorCode;
using fetchpool::Outcome;
using std::chrono::microseconds;
using std::chrono::milliseconds;

namespace {

Outcome ok_after(microseconds elapsed) { return Outcome{200, ErrorCode::kOk, 0, elapsed}; }

}  // namespace

TEST_CASE("ok means no error and a status from 200 to 399, anything else failed", "[stats]") {
  CrawlStats stats;
  stats.record({200, ErrorCode::kOk, 10, {}});
  stats.record({301, ErrorCode::kOk, 0, {}});
  stats.record({399, ErrorCode::kOk, 0, {}});
  stats.record({400, ErrorCode::kOk, 0, {}});  // status alone makes it a failure
  stats.record({404, ErrorCode::kHttpStatus, 5, {}});
  stats.record({200, ErrorCode::kTruncated, 7, {}});  // a 200 cut short is a failure
  stats.record({0, ErrorCode::kTimeout, 0, {}});
  stats.record({199, ErrorCode::kOk, 0, {}});
  stats.record_retry();
  stats.record_retry();

  const auto s = stats.snapshot();
  REQUIRE(s.done == 8);
  REQUIRE(s.ok == 3);
  REQUIRE(s.failed == 5);
  REQUIRE(s.bytes == 22);
  REQUIRE(s.retries == 2);
  REQUIRE(s.by_error.size() == 3);
  REQUIRE(s.by_error.at("http_status") == 1);
  REQUIRE(s.by_error.at("truncated") == 1);
  REQUIRE(s.by_error.at("timeout") == 1);
  REQUIRE(s.by_error.count("ok") == 0);
}

TEST_CASE("by_status counts 100..599 exactly, 0 as no response, anything else as -1", "[stats]") {
  CrawlStats stats;
  for (long status : {100L, 200L, 200L, 404L, 599L, 0L, 0L, 0L, 600L, 42L, -7L}) {
    stats.record({status, ErrorCode::kOk, 0, {}});
  }
  const auto s = stats.snapshot();
  const std::map<long, std::uint64_t> expected{{-1, 3}, {0, 3}, {100, 1}, {200, 2}, {404, 1}, {599, 1}};
  REQUIRE(s.by_status == expected);
}

TEST_CASE("an error code outside the enum is counted as internal", "[stats]") {
  CrawlStats stats;
  stats.record({0, static_cast<ErrorCode>(9999), 0, {}});
  REQUIRE(stats.snapshot().by_error.at("internal") == 1);
}

TEST_CASE("percentiles of 1..1000 ms uniform are within 3% of the exact values", "[stats]") {
  CrawlStats stats;
  for (int ms = 1; ms <= 1000; ++ms) stats.record(ok_after(milliseconds(ms)));
  const auto s = stats.snapshot();
  // Nearest rank: p50 of 1..1000 is 500, p90 is 900, and so on.
  REQUIRE(s.latency_p50_ms == Approx(500).epsilon(0.03));
  REQUIRE(s.latency_p90_ms == Approx(900).epsilon(0.03));
  REQUIRE(s.latency_p95_ms == Approx(950).epsilon(0.03));
  REQUIRE(s.latency_p99_ms == Approx(990).epsilon(0.03));
  REQUIRE(s.latency_max_ms == 1000.0);          // exact, not bucketed
  REQUIRE(s.latency_mean_ms == Approx(500.5));  // exact sum / count
  REQUIRE(s.latency_p50_ms < s.latency_p90_ms);
  REQUIRE(s.latency_p99_ms <= s.latency_max_ms);
}

TEST_CASE("the histogram keeps about 2% relative precision from microseconds to minutes", "[stats]") {
  // One value at a time, over the whole range, with awkward offsets.
  for (std::uint64_t us : {1ULL, 37ULL, 63ULL, 64ULL, 65ULL, 127ULL, 1'000ULL, 4'095ULL, 12'345ULL, 999'999ULL,
                           60'000'000ULL, 599'999'999ULL}) {
    CrawlStats stats;
    stats.record(ok_after(microseconds(us)));
    const auto s = stats.snapshot();
    const double exact_ms = static_cast<double>(us) / 1000.0;
    INFO("latency " << us << " us");
    REQUIRE(s.latency_max_ms == exact_ms);
    REQUIRE(s.latency_p50_ms == Approx(exact_ms).epsilon(0.02));
    if (us < 64) REQUIRE(s.latency_p50_ms == exact_ms);  // small values are counted exactly
  }
}

TEST_CASE("a latency beyond the histogram range keeps an exact max and caps percentiles at it", "[stats]") {
  CrawlStats stats;
  const auto hour = std::chrono::duration_cast<microseconds>(std::chrono::hours(1));
  stats.record(ok_after(hour));
  stats.record(ok_after(microseconds(-5)));  // clock trouble: counted as 0
  const auto s = stats.snapshot();
  REQUIRE(s.latency_max_ms == 3'600'000.0);
  REQUIRE(s.latency_p99_ms <= s.latency_max_ms);
  REQUIRE(s.latency_p99_ms > 1'000'000.0);  // in the last bucket (~17.9 min), not lost
  REQUIRE(s.latency_p50_ms == 0.0);
}

TEST_CASE("an empty snapshot is all zero", "[stats]") {
  CrawlStats stats;
  const auto s = stats.snapshot();
  REQUIRE(s.done == 0);
  REQUIRE(s.by_status.empty());
  REQUIRE(s.by_error.empty());
  REQUIRE(s.latency_p50_ms == 0.0);
  REQUIRE(s.latency_mean_ms == 0.0);
  REQUIRE(s.latency_max_ms == 0.0);
}

TEST_CASE("reset zeroes every counter and restarts the elapsed clock", "[stats]") {
  CrawlStats stats;
  stats.record({500, ErrorCode::kHttpStatus, 3, milliseconds(20)});
  stats.record_retry();
  // The clock that is restarted must read less than the time from just before
  // reset() to just after the snapshot, however loaded the machine; a clock
  // not restarted reads at least the 100 ms slept since construction.
  std::this_thread::sleep_for(milliseconds(100));
  const auto before_reset = std::chrono::steady_clock::now();
  stats.reset();
  const auto s = stats.snapshot();
  const auto since_reset = std::chrono::steady_clock::now() - before_reset;
  REQUIRE(s.done == 0);
  REQUIRE(s.retries == 0);
  REQUIRE(s.bytes == 0);
  REQUIRE(s.by_status.empty());
  REQUIRE(s.by_error.empty());
  REQUIRE(s.latency_max_ms == 0.0);
  REQUIRE(s.elapsed <= since_reset);
}

TEST_CASE("8 threads x 100k records give exact totals once joined", "[stats]") {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100'000;
  CrawlStats stats;
  {
    std::vector<std::jthread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&stats, t] {
        for (int i = 0; i < kPerThread; ++i) {
          // Every 4th request fails with a 503; latency cycles 1..1000 us.
          const bool fail = i % 4 == 3;
          stats.record(Outcome{fail ? 503L : 200L, fail ? ErrorCode::kHttpStatus : ErrorCode::kOk,
                               static_cast<std::uint64_t>(t + 1), microseconds(i % 1000 + 1)});
          if (fail) stats.record_retry();
        }
      });
    }
  }
  const auto s = stats.snapshot();
  constexpr std::uint64_t kTotal = std::uint64_t{kThreads} * kPerThread;
  REQUIRE(s.done == kTotal);
  REQUIRE(s.failed == kTotal / 4);
  REQUIRE(s.ok == kTotal - kTotal / 4);
  REQUIRE(s.retries == kTotal / 4);
  REQUIRE(s.bytes == std::uint64_t{kPerThread} * (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8));
  REQUIRE(s.by_status.at(200) == kTotal - kTotal / 4);
  REQUIRE(s.by_status.at(503) == kTotal / 4);
  REQUIRE(s.by_error.at("http_status") == kTotal / 4);
  REQUIRE(s.latency_max_ms == 1.0);
  REQUIRE(s.latency_mean_ms == Approx(0.5005));
  REQUIRE(s.latency_p50_ms == Approx(0.5).epsilon(0.03));
}

// Cost, measured on demand: ./stats_test "[.bench]" -s
TEST_CASE("record cost, one thread and two", "[stats][.bench]") {
  constexpr int kRecords = 2'000'000;
  for (int threads : {1, 2}) {
    CrawlStats stats;
    const auto start = std::chrono::steady_clock::now();
    {
      std::vector<std::jthread> workers;
      workers.reserve(threads);
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&stats] {
          for (int i = 0; i < kRecords; ++i) stats.record({200, ErrorCode::kOk, 1000, microseconds(i % 100'000)});
        });
      }
    }
    const auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    WARN(threads << " thread(s): " << ns / kRecords << " ns per record per thread");
    REQUIRE(stats.snapshot().done == std::uint64_t{kRecords} * static_cast<std::uint64_t>(threads));
  }
  CrawlStats stats;
  for (int i = 0; i < 100'000; ++i) stats.record(ok_after(microseconds(i)));
  const auto start = std::chrono::steady_clock::now();
  constexpr int kSnapshots = 1000;
  for (int i = 0; i < kSnapshots; ++i) REQUIRE(stats.snapshot().done == 100'000);
  const std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
  WARN("snapshot: " << took.count() / kSnapshots << " us");
}

TEST_CASE("URLs skipped by policy are neither ok nor failed, and have no latency", "[stats]") {
  fetchpool::CrawlStats stats;
  stats.record({200, fetchpool::ErrorCode::kOk, 10, std::chrono::milliseconds(10)});
  stats.record({0, fetchpool::ErrorCode::kRobotsDisallowed, 0, {}});
  stats.record({0, fetchpool::ErrorCode::kDuplicate, 0, {}});
  stats.record({0, fetchpool::ErrorCode::kTimeout, 0, std::chrono::milliseconds(30)});
  const auto s = stats.snapshot();
  CHECK(s.done == 4);
  CHECK(s.ok == 1);
  CHECK(s.skipped == 2);
  CHECK(s.failed == 1);
  CHECK(s.latency_max_ms == Approx(30.0));
  CHECK(s.latency_p50_ms >= 9.0);  // the two skipped URLs did not count as 0 ms
}

TEST_CASE("counts_json: the counts --stats-json and status.json share, no response apart from the statuses",
          "[stats]") {
  CrawlStats stats;
  stats.record({200, ErrorCode::kOk, 100, milliseconds(10)});
  stats.record({404, ErrorCode::kHttpStatus, 5, milliseconds(30)});
  stats.record({0, ErrorCode::kConnect, 0, {}});
  stats.record({0, ErrorCode::kRobotsDisallowed, 0, {}});
  stats.record({999, ErrorCode::kOk, 0, {}});
  stats.record_retry();
  const auto s = stats.snapshot();
  const auto j = fetchpool::counts_json(s);
  CHECK(j["done"] == 5);
  CHECK(j["ok"] == s.ok);
  CHECK(j["failed"] == s.failed);
  CHECK(j["skipped"] == s.skipped);
  CHECK(j["skipped"] == 1);
  CHECK(j["retries"] == 1);
  CHECK(j["bytes"] == 105);
  CHECK(nlohmann::json(j["by_status"]) == nlohmann::json{{"200", 1}, {"404", 1}, {"other", 1}});
  CHECK(j["no_response"] == 2);
  CHECK(j["by_error"]["connect"] == 1);
  CHECK(j["by_error"]["robots_disallowed"] == 1);
  CHECK(j["by_error"]["http_status"] == 1);
  CHECK(j["latency_ms"]["max"].get<double>() == s.latency_max_ms);
  CHECK(j["latency_ms"]["p50"].get<double>() == s.latency_p50_ms);
  CHECK(j["elapsed_s"].get<double>() >= 0.0);
  // The order --stats-json has always written.
  std::vector<std::string> keys;
  for (const auto& item : j.items()) keys.push_back(item.key());
  CHECK(keys == std::vector<std::string>{"done", "ok", "skipped", "failed", "retries", "bytes", "elapsed_s",
                                         "pages_per_s", "by_status", "no_response", "by_error", "latency_ms"});
}
