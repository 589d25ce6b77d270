// End-of-run reporting for the CLI: the human summary and the stats JSON.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "fetchpool/error.hpp"
#include "fetchpool/stats.hpp"

namespace fetchpool::cli {

nlohmann::ordered_json stats_to_json(const StatsSnapshot& stats);
std::string format_summary(const StatsSnapshot& stats, bool interrupted);
Result<void> write_json_file(const std::filesystem::path& path, const nlohmann::ordered_json& json);

}  // namespace fetchpool::cli
