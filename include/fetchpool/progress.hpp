// The background progress reporter ("daemon" thread).
//
// A ProgressReporter owns one std::jthread that wakes every interval, or at
// once when stopped, asks its source for a ProgressView and prints it: a
// single self-overwriting line on a terminal, a plain log line otherwise (as
// wget2's bar.c and scrapy's LogStats do). It only reads: the source must be
// cheap and must not block (it reads atomic counters and takes, at most, a
// short internal lock of the frontier), so the reporter can never hold up a
// worker. Stopping it never waits for an interval to elapse, so it never
// holds up shutdown either.
//
// Thread-safety: construct and destroy on one thread; stop() may be called
// from any thread, any number of times.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/thread_annotations.hpp"

namespace fetchpool {

struct ProgressView {
  std::uint64_t done = 0;  // URLs finished (ok or failed)
  std::uint64_t failed = 0;
  std::uint64_t queued = 0;     // waiting in the frontier
  std::uint64_t in_flight = 0;  // being fetched now
  std::uint64_t total = 0;      // known total (list fetch), 0 when unknown (crawl)
  std::uint64_t bytes = 0;      // body bytes received
  std::uint64_t retries = 0;
  // Largest transfers now in flight (name, bytes so far), for downloads.
  std::vector<std::pair<std::string, std::uint64_t>> largest_transfers;
};

struct ProgressOptions {
  std::chrono::milliseconds interval{1000};
  bool interactive = false;  // TTY: one line rewritten in place with '\r'
  std::FILE* out = stderr;
  std::string label = "fetchpool";
};

// Rates are computed by the reporter from consecutive views.
struct ProgressRates {
  double pages_per_s = 0;
  double bytes_per_s = 0;
  double elapsed_s = 0;
};

// The text of one progress report, without newline. Pure; used by the reporter and by tests.
std::string format_progress(const ProgressView& view, const ProgressRates& rates, const std::string& label);

// "[#####---------------] " for the part done (of the total, or for a crawl
// of what is known so far); the interactive display starts with it.
inline constexpr std::size_t kBarWidth = 20;
std::string progress_bar(const ProgressView& view, std::size_t width);

class ProgressReporter {
 public:
  using Source = std::function<ProgressView()>;

  ProgressReporter(Source source, ProgressOptions options);
  ~ProgressReporter();  // stop(), then join
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  // Prints a final report and ends the thread. Returns without waiting for
  // the interval; idempotent.
  void stop();
  std::uint64_t reports_printed() const;

 private:
  void run(std::stop_token stop);
  void report(bool final);

  Source source_;
  ProgressOptions options_;
  std::chrono::steady_clock::time_point started_;
  mutable Mutex mutex_;
  std::condition_variable_any wake_;
  ProgressView last_view_ FETCHPOOL_GUARDED_BY(mutex_);
  std::chrono::steady_clock::time_point last_time_ FETCHPOOL_GUARDED_BY(mutex_);
  std::uint64_t reports_ FETCHPOOL_GUARDED_BY(mutex_) = 0;
  bool stopped_ FETCHPOOL_GUARDED_BY(mutex_) = false;
  std::jthread thread_;  // last: starts after the fields it uses exist
};

}  // namespace fetchpool
