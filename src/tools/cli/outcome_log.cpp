#include "tools/cli/outcome_log.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>

namespace fetchpool::cli {
namespace {

// Not fetched by policy (robots.txt, a duplicate, out of scope): not a failure.
bool skipped(const ResultRecord& record) {
  return record.error == ErrorCode::kRobotsDisallowed || record.error == ErrorCode::kDuplicate ||
         record.error == ErrorCode::kOutOfScope;
}

}  // namespace

std::string outcome_line(const ResultRecord& record) {
  if (record.error != ErrorCode::kOk) {
    return std::string(skipped(record) ? "skipped " : "failed ") + record.url + ": " +
           std::string(to_string(record.error)) +
           (record.error_message.empty() ? "" : " (" + record.error_message + ")");
  }
  char figures[96];
  std::snprintf(figures, sizeof figures, " (%llu bytes, %.1f ms)", static_cast<unsigned long long>(record.bytes),
                record.elapsed_ms);
  return std::to_string(record.status) + " " + record.url + figures +
         (record.final_url.empty() || record.final_url == record.url ? "" : " -> " + record.final_url);
}

void OutcomeLog::write(const ResultRecord& record) {
  inner_.write(record);
  // Built only when it is shown: formatting it cost every record about 3,000
  // instructions (callgrind) in runs that never print it.
  if (spdlog::should_log(spdlog::level::debug)) spdlog::debug("{}", outcome_line(record));
  if (record.ok() || skipped(record) || record.error == ErrorCode::kAborted) return;
  MutexLock lock(mutex_);
  ++failed_;
  if (named_.size() < kFailuresNamed)
    named_.push_back(record.error != ErrorCode::kOk
                         ? outcome_line(record)
                         : "failed " + record.url + ": HTTP " + std::to_string(record.status));
}

std::string OutcomeLog::failures() const {
  MutexLock lock(mutex_);
  if (failed_ == 0) return {};
  std::string text = "fetchpool: " + std::to_string(failed_) + (failed_ == 1 ? " URL" : " URLs") + " failed:\n";
  for (const auto& line : named_) text += "  " + line + "\n";
  if (failed_ > named_.size()) text += "  ... and " + std::to_string(failed_ - named_.size()) + " more\n";
  return text;
}

}  // namespace fetchpool::cli
