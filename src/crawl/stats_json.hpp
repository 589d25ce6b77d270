// The run's counts as JSON, written once for both places that show them:
// the CLI's --stats-json file and the status server's status.json (its `node`).
#pragma once

#include <nlohmann/json.hpp>

#include "fetchpool/stats.hpp"

namespace fetchpool {

// done, ok, skipped, failed, retries, bytes, elapsed_s, pages_per_s (over the
// whole elapsed time), by_status (status code -> count, "other" outside
// 100..599), no_response (URLs never answered, counted under no status),
// by_error (class -> count) and latency_ms (mean, p50, p90, p95, p99, max).
nlohmann::ordered_json counts_json(const StatsSnapshot& stats);

}  // namespace fetchpool
