// What the user sees of each URL on stderr: with -v one line per outcome as
// records are written, and after the run the failed URLs (the first few and
// how many in all), so a failure is never only inside the results file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fetchpool/sinks.hpp"
#include "fetchpool/thread_annotations.hpp"

namespace fetchpool::cli {

// Stands in front of the run's sink, noting each outcome on its way;
// thread-safe as every sink.
class OutcomeLog final : public ResultSink {
 public:
  static constexpr std::size_t kFailuresNamed = 10;

  explicit OutcomeLog(ResultSink& inner) : inner_(inner) {}
  void write(const ResultRecord& record) override;
  Result<void> flush() override { return inner_.flush(); }

  // "fetchpool: 3 URLs failed:" and one indented line for each of the first
  // kFailuresNamed, then "... and N more"; empty when none failed.
  std::string failures() const;

 private:
  ResultSink& inner_;
  mutable Mutex mutex_;
  std::uint64_t failed_ FETCHPOOL_GUARDED_BY(mutex_) = 0;
  std::vector<std::string> named_ FETCHPOOL_GUARDED_BY(mutex_);
};

// One line for a record: "200 URL (1234 bytes, 12.3 ms)" or "failed URL: why".
std::string outcome_line(const ResultRecord& record);

}  // namespace fetchpool::cli
