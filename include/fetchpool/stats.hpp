// Crawl statistics: counters and a latency histogram that every worker
// updates once per request.
//
// record() touches only relaxed atomics (no lock, no allocation), so it costs
// a few dozen nanoseconds even with all workers recording at once. Latency
// percentiles come from a log-linear histogram in the style of HdrHistogram
// (Gil Tene): values below 64 us are counted exactly, and every power of two
// above is split into 32 equal buckets, so a reported percentile is the
// midpoint of a bucket at most 1/32 of its value wide (within 1.6%). The range
// is 1 us .. 2^30 us (~17.9 min); longer latencies fall in the last bucket,
// while the maximum and the mean stay exact. No samples are stored: the
// histogram is ~7 KiB whatever the number of requests.
//
// Thread-safety: record(), record_retry() and snapshot() may be called
// concurrently from any thread. A snapshot taken while workers record is not
// one instant (done may be ahead of by_status by the requests in progress),
// which is fine for progress display; it is exact once the workers are
// joined. reset() is for between runs, when no thread records.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fetchpool/error.hpp"

namespace fetchpool {

// What one request ended with.
struct Outcome {
  long status = 0;  // HTTP status of the final response, 0 if none
  ErrorCode error = ErrorCode::kOk;
  std::uint64_t bytes = 0;  // body bytes received
  std::chrono::microseconds elapsed{0};
};

// --sitemaps: what the sitemap files gave (CrawlEngine fills it in).
struct SitemapCounts {
  bool enabled = false;            // the run reads sitemaps
  std::uint64_t files = 0;         // sitemap files read (index, XML, text)
  std::uint64_t listed = 0;        // entries they listed
  std::uint64_t queued = 0;        // listed page URLs queued (new to the crawl)
  std::uint64_t out_of_scope = 0;  // entries dropped: outside the crawl scope or the sitemap's location
  std::uint64_t over_limit = 0;    // files read only up to 50,000 entries or 50 MiB
  std::uint64_t invalid = 0;       // files refused or malformed (DOCTYPE, bad XML, cut gzip), bad sitemap URLs
  std::uint64_t refused = 0;       // sitemaps not read: nested too deep or over the file count
};

struct StatsSnapshot {
  std::uint64_t done = 0;     // outcomes recorded
  std::uint64_t ok = 0;       // error == kOk and status in [200, 400)
  std::uint64_t skipped = 0;  // not fetched by policy: robots_disallowed, duplicate, out_of_scope
  std::uint64_t failed = 0;   // done - ok - skipped
  std::uint64_t bytes = 0;
  std::uint64_t retries = 0;
  std::map<long, std::uint64_t> by_status;        // status -> count; 0 = no response, -1 = outside 100..599
  std::map<std::string, std::uint64_t> by_error;  // to_string(ErrorCode) -> count, errors only
  double latency_p50_ms = 0;
  double latency_p90_ms = 0;
  double latency_p95_ms = 0;
  double latency_p99_ms = 0;
  double latency_max_ms = 0;
  double latency_mean_ms = 0;
  std::chrono::steady_clock::duration elapsed{};  // since construction or reset()
  // Filled by CrawlEngine::wait(): the workers asked for (-j), those that
  // started, and why fewer did (empty when all of them did).
  std::uint32_t workers_requested = 0;
  std::uint32_t workers_started = 0;
  std::string workers_limited_by;
  SitemapCounts sitemaps;  // all zero without --sitemaps
};

// Cumulative latency counts at chosen upper bounds, for a Prometheus
// histogram: counts[i] is the number of requests that took at most
// upper_bounds_s[i] (to the histogram's 1/32 bucket resolution).
struct LatencyHistogram {
  std::vector<double> upper_bounds_s;
  std::vector<std::uint64_t> counts;
  std::uint64_t count = 0;  // every request (the +Inf bucket)
  double sum_s = 0;
};

class CrawlStats {
 public:
  CrawlStats() noexcept;
  CrawlStats(const CrawlStats&) = delete;
  CrawlStats& operator=(const CrawlStats&) = delete;

  void record(const Outcome& outcome) noexcept;
  void record_retry() noexcept;
  StatsSnapshot snapshot() const;
  // `upper_bounds_s` ascending. Safe while workers record (not one instant).
  LatencyHistogram latency_histogram(std::vector<double> upper_bounds_s) const;

  // Zeroes everything and restarts the elapsed clock. Not atomic as a whole:
  // call it only while no thread records.
  void reset() noexcept;

 private:
  // Histogram geometry: kSubBits = 5 gives 32 buckets per power of two.
  static constexpr int kSubBits = 5;
  static constexpr int kMaxBits = 30;                                // values < 2^30 us
  static constexpr std::size_t kExact = std::size_t{2} << kSubBits;  // 0..63 us: one bucket each
  static constexpr std::size_t kBuckets =
      kExact + static_cast<std::size_t>(kMaxBits - kSubBits - 1) * (std::size_t{1} << kSubBits);

  // Status slots: [0] no response, [1 + s - 100] for s in 100..599, last = anything else.
  static constexpr std::size_t kStatusSlots = 1 + 500 + 1;
  static constexpr std::size_t kErrorSlots = static_cast<std::size_t>(ErrorCode::kInternal) + 1;

  static std::size_t bucket_of(std::uint64_t micros) noexcept;
  static std::uint64_t bucket_midpoint(std::size_t bucket) noexcept;
  double percentile_ms(double q, std::uint64_t total, std::uint64_t max_us) const noexcept;

  using Counter = std::atomic<std::uint64_t>;
  static_assert(Counter::is_always_lock_free, "record() must not take a lock");

  Counter done_{0};
  Counter ok_{0};
  Counter skipped_{0};
  Counter bytes_{0};
  Counter retries_{0};
  Counter latency_sum_us_{0};
  Counter latency_max_us_{0};
  std::atomic<std::chrono::steady_clock::rep> start_;
  std::array<Counter, kStatusSlots> by_status_{};
  std::array<Counter, kErrorSlots> by_error_{};
  std::array<Counter, kBuckets> latency_{};
};

}  // namespace fetchpool
