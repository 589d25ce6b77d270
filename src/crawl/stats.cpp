#include "fetchpool/stats.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace fetchpool {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

std::chrono::steady_clock::rep now_rep() noexcept {
  return std::chrono::steady_clock::now().time_since_epoch().count();
}

}  // namespace

CrawlStats::CrawlStats() noexcept : start_(now_rep()) {}

std::size_t CrawlStats::bucket_of(std::uint64_t micros) noexcept {
  if (micros < kExact) return static_cast<std::size_t>(micros);
  micros = std::min<std::uint64_t>(micros, (std::uint64_t{1} << kMaxBits) - 1);
  const int top = std::bit_width(micros) - 1;  // the power of two: 2^top <= micros
  const int shift = top - kSubBits;
  const auto sub = static_cast<std::size_t>(micros >> shift) - (std::size_t{1} << kSubBits);
  return kExact + static_cast<std::size_t>(top - kSubBits - 1) * (std::size_t{1} << kSubBits) + sub;
}

std::uint64_t CrawlStats::bucket_midpoint(std::size_t bucket) noexcept {
  if (bucket < kExact) return bucket;
  const std::size_t rest = bucket - kExact;
  const int shift = static_cast<int>(rest >> kSubBits) + 1;  // bucket width is 2^shift
  const std::uint64_t sub = (rest & ((std::size_t{1} << kSubBits) - 1)) + (std::size_t{1} << kSubBits);
  return (sub << shift) + (std::uint64_t{1} << (shift - 1));
}

void CrawlStats::record(const Outcome& outcome) noexcept {
  done_.fetch_add(1, kRelaxed);
  if (outcome.error == ErrorCode::kOk && outcome.status >= 200 && outcome.status < 400) ok_.fetch_add(1, kRelaxed);
  // A URL that policy says not to fetch is neither a success nor a failure:
  // it must not turn a clean crawl's exit code into "some URLs failed".
  if (outcome.error == ErrorCode::kRobotsDisallowed || outcome.error == ErrorCode::kDuplicate ||
      outcome.error == ErrorCode::kOutOfScope)
    skipped_.fetch_add(1, kRelaxed);
  if (outcome.bytes != 0) bytes_.fetch_add(outcome.bytes, kRelaxed);

  std::size_t status_slot = kStatusSlots - 1;
  if (outcome.status == 0) {
    status_slot = 0;
  } else if (outcome.status >= 100 && outcome.status <= 599) {
    status_slot = static_cast<std::size_t>(outcome.status - 99);
  }
  by_status_[status_slot].fetch_add(1, kRelaxed);

  if (outcome.error != ErrorCode::kOk) {
    auto slot = static_cast<std::size_t>(outcome.error);
    // A value outside the enum can only come from a bad cast: count it as a bug.
    if (slot >= kErrorSlots) slot = static_cast<std::size_t>(ErrorCode::kInternal);
    by_error_[slot].fetch_add(1, kRelaxed);
  }

  // URLs never sent (invalid, duplicate, disallowed) have no latency; counting
  // them as 0 ms would drag every percentile down.
  if (outcome.status == 0 && outcome.elapsed.count() <= 0) return;
  const auto micros = static_cast<std::uint64_t>(std::max<std::chrono::microseconds::rep>(outcome.elapsed.count(), 0));
  latency_[bucket_of(micros)].fetch_add(1, kRelaxed);
  latency_sum_us_.fetch_add(micros, kRelaxed);
  std::uint64_t seen_max = latency_max_us_.load(kRelaxed);
  while (micros > seen_max && !latency_max_us_.compare_exchange_weak(seen_max, micros, kRelaxed)) {
  }
}

void CrawlStats::record_retry() noexcept { retries_.fetch_add(1, kRelaxed); }

double CrawlStats::percentile_ms(double q, std::uint64_t total, std::uint64_t max_us) const noexcept {
  if (total == 0) return 0;
  // The rank of the q-quantile (nearest-rank definition), 1-based.
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total))));
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b < kBuckets; ++b) {
    cumulative += latency_[b].load(kRelaxed);
    if (cumulative >= rank) {
      // The midpoint can lie past the largest value seen in its bucket.
      return static_cast<double>(std::min(bucket_midpoint(b), max_us)) / 1000.0;
    }
  }
  return static_cast<double>(max_us) / 1000.0;  // buckets moved on while we read them
}

StatsSnapshot CrawlStats::snapshot() const {
  StatsSnapshot s;
  s.done = done_.load(kRelaxed);
  s.ok = std::min(ok_.load(kRelaxed), s.done);
  s.skipped = std::min(skipped_.load(kRelaxed), s.done - s.ok);
  s.failed = s.done - s.ok - s.skipped;
  s.bytes = bytes_.load(kRelaxed);
  s.retries = retries_.load(kRelaxed);

  if (const auto n = by_status_[0].load(kRelaxed)) s.by_status[0] = n;
  for (std::size_t i = 1; i + 1 < kStatusSlots; ++i) {
    if (const auto n = by_status_[i].load(kRelaxed)) s.by_status[static_cast<long>(i) + 99] = n;
  }
  if (const auto n = by_status_[kStatusSlots - 1].load(kRelaxed)) s.by_status[-1] = n;

  for (std::size_t i = 0; i < kErrorSlots; ++i) {
    if (const auto n = by_error_[i].load(kRelaxed)) s.by_error[std::string(to_string(static_cast<ErrorCode>(i)))] = n;
  }

  std::uint64_t total = 0;
  for (const auto& bucket : latency_) total += bucket.load(kRelaxed);
  const std::uint64_t max_us = latency_max_us_.load(kRelaxed);
  s.latency_p50_ms = percentile_ms(0.50, total, max_us);
  s.latency_p90_ms = percentile_ms(0.90, total, max_us);
  s.latency_p95_ms = percentile_ms(0.95, total, max_us);
  s.latency_p99_ms = percentile_ms(0.99, total, max_us);
  s.latency_max_ms = static_cast<double>(max_us) / 1000.0;
  s.latency_mean_ms =
      total == 0 ? 0.0 : static_cast<double>(latency_sum_us_.load(kRelaxed)) / static_cast<double>(total) / 1000.0;

  s.elapsed = std::chrono::steady_clock::duration(now_rep() - start_.load(kRelaxed));
  return s;
}

LatencyHistogram CrawlStats::latency_histogram(std::vector<double> upper_bounds_s) const {
  LatencyHistogram h;
  h.upper_bounds_s = std::move(upper_bounds_s);
  h.counts.reserve(h.upper_bounds_s.size());
  std::uint64_t running = 0;
  std::size_t next_bucket = 0;
  for (const double bound : h.upper_bounds_s) {
    const auto bound_us = static_cast<std::uint64_t>(std::max(0.0, bound) * 1e6);
    const std::size_t last = bucket_of(bound_us);
    for (; next_bucket <= last && next_bucket < kBuckets; ++next_bucket)
      running += latency_[next_bucket].load(kRelaxed);
    h.counts.push_back(running);
  }
  for (; next_bucket < kBuckets; ++next_bucket) running += latency_[next_bucket].load(kRelaxed);
  h.count = running;
  h.sum_s = static_cast<double>(latency_sum_us_.load(kRelaxed)) / 1e6;
  return h;
}

void CrawlStats::reset() noexcept {
  for (Counter* c : {&done_, &ok_, &skipped_, &bytes_, &retries_, &latency_sum_us_, &latency_max_us_})
    c->store(0, kRelaxed);
  for (auto& c : by_status_) c.store(0, kRelaxed);
  for (auto& c : by_error_) c.store(0, kRelaxed);
  for (auto& c : latency_) c.store(0, kRelaxed);
  start_.store(now_rep(), kRelaxed);
}

}  // namespace fetchpool
