#include "tools/cli/run_outputs.hpp"

#include <spdlog/spdlog.h>

namespace fetchpool::cli {
namespace {

// --state: the journal stands between the engine and the results sink.
// Returns nullptr without --state.
Result<std::unique_ptr<StateJournal>> open_state(const CommonFlags& f, std::string_view command, ResultSink& results,
                                                 const std::string& results_path) {
  if (f.state_dir.empty()) return std::unique_ptr<StateJournal>();
  StateOptions options;
  options.replay = results_path != "-";
  auto journal = StateJournal::open(f.state_dir, command, results, options);
  if (!journal) return std::move(journal).error();
  const ResumeInfo& info = (*journal)->resume_info();
  if (info.torn_bytes > 0)
    spdlog::info("{}: cut {} bytes of a torn last line", (*journal)->path().string(), info.torn_bytes);
  if (info.resumed)
    spdlog::info("resuming from {}: {} done, {} queued by earlier runs", f.state_dir, info.done, info.queued);
  return journal;
}

}  // namespace

std::vector<std::filesystem::path> own_files(const std::string& results_path, const std::string& format,
                                             const std::string& stats_json, const std::string& manifest,
                                             const std::string& state_dir) {
  std::vector<std::filesystem::path> files;
  if (!results_path.empty() && results_path != "-") {
    files.emplace_back(results_path);
    if (format == "sqlite") {
      for (const char* side : {"-wal", "-shm", "-journal"}) files.emplace_back(results_path + side);
    }
  }
  if (!stats_json.empty()) files.emplace_back(stats_json);
  if (!manifest.empty()) files.emplace_back(manifest);
  if (!state_dir.empty()) files.push_back(std::filesystem::path(state_dir) / "journal");
  return files;
}

Result<std::unique_ptr<RunOutputs>> open_outputs(const CommonFlags& f, std::string_view command,
                                                 const std::string& format, const std::string& results_path,
                                                 ResultsPath kind) {
  auto outputs = std::make_unique<RunOutputs>();
  auto journal = open_state(f, command, outputs->slot, results_path);
  if (!journal) return std::move(journal).error();
  outputs->journal = std::move(*journal);
  auto sink = open_result_sink(format, results_path, kind);
  if (!sink) return std::move(sink).error();
  outputs->sink = std::move(*sink);
  outputs->outcomes = std::make_unique<OutcomeLog>(*outputs->sink);
  outputs->slot.bind(*outputs->outcomes);
  return outputs;
}

}  // namespace fetchpool::cli
