// Where a `crawl` or `get` run's records go: the results sink, behind the
// --state journal when one is given, opened in the one order that is safe.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fetchpool/error.hpp"
#include "fetchpool/sinks.hpp"
#include "fetchpool/state_journal.hpp"
#include "tools/cli/common_flags.hpp"
#include "tools/cli/outcome_log.hpp"

namespace fetchpool::cli {

// --state: the journal must be opened (and locked) before the results file,
// since opening that truncates it: a second run on the same state directory,
// or a journal that fails to load, must leave the first run's results alone.
// The journal is given this slot, and the sink is bound to it once open,
// before any record can flow (records start with the engine).
class ResultsAfterJournal final : public ResultSink {
 public:
  void bind(ResultSink& target) { target_.store(&target, std::memory_order_release); }
  void write(const ResultRecord& record) override { target_.load(std::memory_order_acquire)->write(record); }
  Result<void> flush() override {
    ResultSink* target = target_.load(std::memory_order_acquire);
    return target != nullptr ? target->flush() : Result<void>{};
  }

 private:
  std::atomic<ResultSink*> target_{nullptr};
};

// Where a run's records go: the results sink, behind the outcome log (-v
// lines, failed URLs), behind the journal with --state. Members are destroyed
// journal first (it hands its last records over), then the slot it writes
// through, then the outcome log, then the sink.
struct RunOutputs {
  std::unique_ptr<ResultSink> sink;
  std::unique_ptr<OutcomeLog> outcomes;
  ResultsAfterJournal slot;
  std::unique_ptr<StateJournal> journal;  // null without --state
  // What the engine writes to: every record passes the journal (if any), then the outcome log.
  ResultSink& records() { return journal ? static_cast<ResultSink&>(*journal) : *outcomes; }
};

// The files a run writes itself, for DownloadOptions::reserved: the results
// file (with SQLite's -wal, -shm and -journal beside a database), the stats
// JSON, the manifest and the journal. Empty paths and "-" are left out.
std::vector<std::filesystem::path> own_files(const std::string& results_path, const std::string& format,
                                             const std::string& stats_json, const std::string& manifest,
                                             const std::string& state_dir);

// Opens the journal (and so takes its lock) before the results file, which
// opening truncates. Heap-allocated: the journal keeps the slot's address.
// `command` ("crawl", "get") is recorded in the journal; `results_path` "-"
// is stdout; `kind` says whether the user named it (see ResultsPath).
Result<std::unique_ptr<RunOutputs>> open_outputs(const CommonFlags& f, std::string_view command,
                                                 const std::string& format, const std::string& results_path,
                                                 ResultsPath kind = ResultsPath::kAsGiven);

}  // namespace fetchpool::cli
