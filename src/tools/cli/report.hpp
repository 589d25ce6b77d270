// End-of-run reporting for the CLI: the human summary and the stats JSON.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fetchpool/error.hpp"
#include "fetchpool/stats.hpp"

namespace fetchpool::cli {

// When a run started and ended, and why it ended, for --stats-json.
struct RunInfo {
  std::chrono::system_clock::time_point start, end;
  std::string finish_reason;  // "completed", "interrupted", "input_error", "output_error"
};

nlohmann::ordered_json stats_to_json(const StatsSnapshot& stats, const RunInfo& run);

std::string format_summary(const StatsSnapshot& stats, bool interrupted);
// Written to a unique temporary beside `path` (created exclusively, never
// through a symbolic link), synced and renamed over it: a full disk or any
// other write error is reported, naming `path`, and leaves no partial file.
Result<void> write_json_file(const std::filesystem::path& path, const nlohmann::ordered_json& json);
// Before the first request: fails (kConfig, naming `flag` and `path`) when no
// file can be created where `path` will be written at the end of the run.
Result<void> check_output_file(const std::filesystem::path& path, std::string_view flag);

}  // namespace fetchpool::cli
