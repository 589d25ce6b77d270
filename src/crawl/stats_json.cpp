#include "crawl/stats_json.hpp"

#include <chrono>
#include <string>

namespace fetchpool {

nlohmann::ordered_json counts_json(const StatsSnapshot& s) {
  const double seconds = std::chrono::duration<double>(s.elapsed).count();
  nlohmann::ordered_json j;
  j["done"] = s.done;
  j["ok"] = s.ok;
  j["skipped"] = s.skipped;
  j["failed"] = s.failed;
  j["retries"] = s.retries;
  j["bytes"] = s.bytes;
  j["elapsed_s"] = seconds;
  j["pages_per_s"] = seconds > 0 ? static_cast<double>(s.done) / seconds : 0.0;
  nlohmann::ordered_json by_status = nlohmann::ordered_json::object();
  std::uint64_t no_response = 0;
  for (const auto& [status, count] : s.by_status) {
    // A URL never answered (a connect error, robots.txt, a duplicate) has no status to count under.
    if (status == 0) {
      no_response = count;
      continue;
    }
    by_status[status < 0 ? std::string("other") : std::to_string(status)] = count;
  }
  j["by_status"] = by_status;
  j["no_response"] = no_response;
  nlohmann::ordered_json by_error = nlohmann::ordered_json::object();
  for (const auto& [name, count] : s.by_error) by_error[name] = count;
  j["by_error"] = by_error;
  j["latency_ms"] = {{"mean", s.latency_mean_ms}, {"p50", s.latency_p50_ms}, {"p90", s.latency_p90_ms},
                     {"p95", s.latency_p95_ms},   {"p99", s.latency_p99_ms}, {"max", s.latency_max_ms}};
  return j;
}

}  // namespace fetchpool
