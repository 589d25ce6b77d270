// The options every subcommand shares (-c/--config, -v, -q), accepted before
// or after the subcommand: registering them, loading the config file they
// name, and setting the log level they ask for.
#pragma once

#include <string>

#include "fetchpool/config.hpp"
#include "fetchpool/error.hpp"

namespace CLI {
class App;
}

namespace fetchpool::cli {

struct GlobalOptions {
  std::string config_path;  // empty: the built-in defaults
  int verbosity = 0;        // -v one line per URL outcome (debug), -vv trace
  bool quiet = false;       // warnings and errors only; no progress, no summary
};

// Registers the options on `app`; subcommands added afterwards pass them up
// (CLI11 fallthrough), so `fetchpool crawl -q URL -c my.toml` works too.
void add_global_options(CLI::App& app, GlobalOptions& options);

// The settings every subcommand starts from: the config file's, or the defaults.
Result<Settings> load_base_settings(const std::string& config_path);

// The "fetchpool" logger on stderr at the configured level, which -q, -v and
// -vv override (in that order). Every line it prints starts "fetchpool: ".
void configure_logging(const GlobalOptions& options, const std::string& configured_level);

}  // namespace fetchpool::cli
