// `fetchpool serve`: the built-in test site (tools/testsite) on 127.0.0.1
// until SIGINT/SIGTERM, shaped by the [serve] settings and these flags.
#pragma once

#include <cstdint>
#include <string>

#include "fetchpool/config.hpp"
#include "tools/testsite/local_server.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace fetchpool::cli {

struct ServeCommandOptions {
  std::uint16_t port = 0;  // 0 = a free port, printed
  ServeSettings flags;     // only the fields whose flag was given are used
  std::string root;        // --root DIR: serve the files under DIR instead of the site
  CLI::Option* pages_opt = nullptr;
  CLI::Option* links_opt = nullptr;
  CLI::Option* size_opt = nullptr;
  CLI::Option* latency_opt = nullptr;
  CLI::Option* jitter_opt = nullptr;
  CLI::Option* error_opt = nullptr;
  CLI::Option* threads_opt = nullptr;
};

// Registers the subcommand and its flags on `app`; the values land in `options`.
CLI::App* add_serve_command(CLI::App& app, ServeCommandOptions& options);

// Serves the site of `base` (the config file's [serve]) with the given flags
// applied over it until SIGINT/SIGTERM; prints its URL first. Exit codes as
// run_cli's.
int run_serve(const ServeCommandOptions& options, const ServeSettings& base);

// The local server's options for a site described by `settings` (also used by `demo`).
ServerOptions server_options(const ServeSettings& settings, std::uint16_t port);

}  // namespace fetchpool::cli
