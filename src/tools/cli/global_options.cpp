#include "tools/cli/global_options.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <filesystem>

namespace fetchpool::cli {

void add_global_options(CLI::App& app, GlobalOptions& options) {
  // wget and aria2 users type -c for --continue: a missing file says where that went.
  const CLI::Validator config_file(
      [](const std::string& path) -> std::string {
        std::error_code ec;
        if (std::filesystem::is_regular_file(path, ec)) return {};
        return "'" + path + "' is not a config file (-c is --config; downloads resume with --continue)";
      },
      "FILE");
  app.add_option("-c,--config", options.config_path,
                 "TOML config file (see config/default.toml for every key); accepted anywhere on the line")
      ->check(config_file);
  app.add_flag("-v,--verbose", options.verbosity, "One line per URL outcome on stderr (-vv: trace logging)");
  app.add_flag("-q,--quiet", options.quiet, "Only warnings and errors; no progress and no summary");
  app.fallthrough();
}

Result<Settings> load_base_settings(const std::string& config_path) {
  if (config_path.empty()) return Settings{};
  return load_settings(config_path);
}

void configure_logging(const GlobalOptions& options, const std::string& configured_level) {
  // run_cli may run more than once per process (tests), so reuse the logger.
  auto logger = spdlog::get("fetchpool");
  if (!logger) logger = spdlog::stderr_color_mt("fetchpool");
  logger->set_pattern("fetchpool: %^%l%$: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(configured_level));
  if (options.quiet) spdlog::set_level(spdlog::level::warn);
  if (options.verbosity == 1) spdlog::set_level(spdlog::level::debug);
  if (options.verbosity >= 2) spdlog::set_level(spdlog::level::trace);
}

}  // namespace fetchpool::cli
