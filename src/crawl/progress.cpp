#include "fetchpool/progress.hpp"

#include <algorithm>
#include <cinttypes>
#include <cmath>

namespace fetchpool {
namespace {

std::string human_bytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024.0 && unit < 4) {
    bytes /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return text;
}

std::string human_duration(double seconds) {
  const auto s = static_cast<std::int64_t>(std::llround(std::max(0.0, seconds)));
  char text[32];
  if (s >= 3600) {
    std::snprintf(text, sizeof text, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s / 60) % 60);
  } else if (s >= 60) {
    std::snprintf(text, sizeof text, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
  } else {
    std::snprintf(text, sizeof text, "%" PRId64 "s", s);
  }
  return text;
}

}  // namespace

std::string format_progress(const ProgressView& v, const ProgressRates& rates, const std::string& label) {
  char text[256];
  std::string out = label + ": ";
  if (v.total > 0) {
    const double percent = 100.0 * static_cast<double>(v.done) / static_cast<double>(v.total);
    std::snprintf(text, sizeof text, "%" PRIu64 "/%" PRIu64 " done (%.0f%%)", v.done, v.total, percent);
  } else {
    std::snprintf(text, sizeof text, "%" PRIu64 " done", v.done);
  }
  out += text;
  std::snprintf(text, sizeof text, ", %" PRIu64 " queued, %" PRIu64 " in flight, %" PRIu64 " failed", v.queued,
                v.in_flight, v.failed);
  out += text;
  if (v.retries > 0) out += ", " + std::to_string(v.retries) + " retries";
  std::snprintf(text, sizeof text, " | %.1f/s, %s, %s/s", rates.pages_per_s,
                human_bytes(static_cast<double>(v.bytes)).c_str(), human_bytes(rates.bytes_per_s).c_str());
  out += text;
  out += " | " + human_duration(rates.elapsed_s);
  if (v.total > v.done && rates.pages_per_s > 0.0) {
    out += ", ETA " + human_duration(static_cast<double>(v.total - v.done) / rates.pages_per_s);
  }
  if (!v.largest_transfers.empty()) {
    out += " |";
    for (const auto& [name, bytes] : v.largest_transfers)
      out += " " + name + " " + human_bytes(static_cast<double>(bytes));
  }
  return out;
}

std::string progress_bar(const ProgressView& v, std::size_t width) {
  // A crawl's total grows as links are found: the bar shows the part of
  // what is known so far.
  const std::uint64_t total = v.total > 0 ? v.total : v.done + v.queued + v.in_flight;
  const double fraction = total == 0 ? 0.0 : std::min(1.0, static_cast<double>(v.done) / static_cast<double>(total));
  const auto filled = static_cast<std::size_t>(std::lround(fraction * static_cast<double>(width)));
  std::string bar;
  bar.reserve(width + 3);
  bar.push_back('[');
  bar.append(std::min(filled, width), '#');
  bar.append(width - std::min(filled, width), '-');
  bar.append("] ");
  return bar;
}

ProgressReporter::ProgressReporter(Source source, ProgressOptions options)
    : source_(std::move(source)),
      options_(std::move(options)),
      started_(std::chrono::steady_clock::now()),
      last_time_(started_),
      thread_([this](std::stop_token stop) { run(stop); }) {}

ProgressReporter::~ProgressReporter() { stop(); }

void ProgressReporter::stop() {
  {
    MutexLock lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  thread_.request_stop();  // wakes the wait in run() through its stop_token
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  report(/*final=*/true);
}

std::uint64_t ProgressReporter::reports_printed() const {
  MutexLock lock(mutex_);
  return reports_;
}

void ProgressReporter::run(std::stop_token stop) {
  MutexLock lock(mutex_);
  while (!stop.stop_requested()) {
    // Returns at the interval, or at once when stop is requested.
    wake_.wait_for(lock, stop, options_.interval, [] { return false; });
    if (stop.stop_requested()) break;
    lock.unlock();
    report(/*final=*/false);
    lock.lock();
  }
}

void ProgressReporter::report(bool final) {
  // The source runs without our lock held, so a slow source cannot block stop().
  ProgressView view = source_();
  const auto now = std::chrono::steady_clock::now();
  std::string line;
  {
    MutexLock lock(mutex_);
    const double window = std::chrono::duration<double>(now - last_time_).count();
    ProgressRates rates;
    rates.elapsed_s = std::chrono::duration<double>(now - started_).count();
    const double overall = std::max(rates.elapsed_s, 1e-9);
    if (final || window <= 1e-3) {
      rates.pages_per_s = static_cast<double>(view.done) / overall;
      rates.bytes_per_s = static_cast<double>(view.bytes) / overall;
    } else {
      rates.pages_per_s = static_cast<double>(view.done - std::min(view.done, last_view_.done)) / window;
      rates.bytes_per_s = static_cast<double>(view.bytes - std::min(view.bytes, last_view_.bytes)) / window;
    }
    line = format_progress(view, rates, options_.label);
    if (options_.interactive) line.insert(0, progress_bar(view, kBarWidth));
    last_view_ = view;
    last_time_ = now;
    ++reports_;
  }
  if (options_.interactive) {
    // \33[K clears what a longer previous line left behind.
    std::fprintf(options_.out, "\r%s\33[K%s", line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(options_.out, "%s\n", line.c_str());
  }
  std::fflush(options_.out);
}

}  // namespace fetchpool
