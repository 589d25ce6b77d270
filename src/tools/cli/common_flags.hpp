// The flags `crawl` and `get` share (workers, output format, politeness,
// retries, timeouts, progress, --state), and how they turn the loaded
// settings into the engine's options.
#pragma once

#include <cstdint>
#include <string>

#include "fetchpool/config.hpp"
#include "fetchpool/engine.hpp"
#include "fetchpool/error.hpp"
#include "tools/cli/http_flags.hpp"

namespace CLI {
class App;
class Option;
class Validator;
}  // namespace CLI

namespace fetchpool::cli {

// Values given on the command line; each overrides the config file only when
// the flag was actually given (CLI11's count()).
struct CommonFlags {
  std::uint32_t workers = 0;
  std::string output;
  std::string format;
  std::string stats_json;
  std::string user_agent;
  std::uint32_t per_host = 0;
  double wait_s = 0;
  std::string tries_text;  // -t: a count, 0 or inf
  std::uint32_t retries = 0;
  double timeout_s = 0;
  double connect_timeout_s = 0;
  std::uint64_t max_body = 0;
  std::string progress = "auto";
  std::string state_dir;
  std::string status;        // --status ADDR: serve the status page, JSON and metrics there
  std::string status_token;  // --status-token (or FETCHPOOL_STATUS_TOKEN)
  std::uint32_t max_retry_wait_s = 0;
  std::uint64_t max_file_bytes = 0;
  bool compressed = false;
  std::string warc_file;      // --warc-file NAME
  std::string warc_max_size;  // --warc-max-size SIZE (500M, 1G)
  CLI::Option* workers_opt = nullptr;
  CLI::Option* format_opt = nullptr;
  CLI::Option* stats_opt = nullptr;
  CLI::Option* ua_opt = nullptr;
  CLI::Option* per_host_opt = nullptr;
  CLI::Option* delay_opt = nullptr;
  CLI::Option* tries_opt = nullptr;
  CLI::Option* retry_opt = nullptr;
  CLI::Option* timeout_opt = nullptr;
  CLI::Option* connect_timeout_opt = nullptr;
  CLI::Option* max_body_opt = nullptr;
  CLI::Option* max_retry_wait_opt = nullptr;
  CLI::Option* max_file_opt = nullptr;
  CLI::Option* warc_file_opt = nullptr;
  HttpFlags http;
};

// -t 0 / -t inf: "no limit" in wget, bounded all the same by the retry
// backoff (30 s apart by default) and the run's own end.
inline constexpr std::uint32_t kUnlimitedRetries = 1'000'000;

// -t's text: a count of tries, or 0 / inf for no limit (returned as 0).
Result<std::uint32_t> parse_tries(const std::string& text);

// Registers the shared flags on `cmd` (after its own, so --help lists them last).
// For 64-bit counts: CLI11 converts "-1" to an unsigned option by wrapping
// it to 2^64 - 1, so a minus sign is refused before conversion.
CLI::Validator no_minus_sign();

void add_common_flags(CLI::App& cmd, CommonFlags& f);

// Applies the flags that were given over the loaded settings. `crawl` picks
// the crawl's politeness keys instead of the list fetch's.
void apply_common_flags(const CommonFlags& f, Settings& s, bool crawl);

// The engine's options from the settings: a crawl follows links within its
// scope and obeys robots.txt; a list fetch fetches exactly the list.
EngineOptions engine_options(const Settings& s, bool crawl);

}  // namespace fetchpool::cli
