#include "tools/cli/cli.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "tools/cli/bench_command.hpp"
#include "tools/cli/crawl_command.hpp"
#include "tools/cli/demo.hpp"
#include "tools/cli/exit_codes.hpp"
#include "tools/cli/get_command.hpp"
#include "tools/cli/global_options.hpp"
#include "tools/cli/serve_command.hpp"
#include "tools/cli/status_command.hpp"

namespace fetchpool::cli {
namespace {

// wget's two-letter short options, which CLI11 would read as -n -c.
std::vector<std::string> normalised_arguments(int argc, char** argv) {
  std::vector<std::string> args;
  args.reserve(static_cast<std::size_t>(argc));
  bool options_end = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") options_end = true;
    if (!options_end && arg == "-nc") arg = "--no-clobber";
    args.push_back(std::move(arg));
  }
  return args;
}

// The first word that is not an option (nor -c's file) must name a command;
// CLI11 itself would only say "A subcommand is required".
std::optional<std::string> unknown_command(const CLI::App& app, const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-c" || arg == "--config") {
      ++i;
      continue;
    }
    if (arg.starts_with("-")) continue;
    for (const CLI::App* command : app.get_subcommands({})) {
      if (command->get_name() == arg) return std::nullopt;
    }
    return arg;
  }
  return std::nullopt;
}

std::string command_names(const CLI::App& app) {
  std::string names;
  for (const CLI::App* command : app.get_subcommands({})) names += (names.empty() ? "" : ", ") + command->get_name();
  return names;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{
      "fetchpool: concurrent web crawler and parallel fetcher.\n"
      "A frontier queue feeds a pool of worker threads, each doing blocking HTTP with its own\n"
      "reused libcurl handle. Exit codes: 0 all URLs ok, 1 some URLs failed, 2 usage or config\n"
      "error, 3 interrupted (results so far were written), 4 internal or environment error, or an\n"
      "output that could not be written (full disk, closed stdout), 5 the shared frontier's Redis\n"
      "was lost."};
  app.require_subcommand(1);
  app.set_version_flag("-V,--version", std::string("fetchpool ") + FETCHPOOL_VERSION);
  GlobalOptions global;
  add_global_options(app, global);
  // Registered in the order --help lists them.
  CrawlCommandOptions crawl_options;
  auto* crawl = add_crawl_command(app, crawl_options);
  GetCommandOptions get_options;
  auto* get = add_get_command(app, get_options);
  ServeCommandOptions serve_options;
  auto* serve = add_serve_command(app, serve_options);
  DemoOptions demo_options;
  auto* demo = add_demo_command(app, demo_options);
  StatusCommandOptions status_options;
  auto* status = add_status_command(app, status_options);
  BenchCommandOptions bench_options;
  auto* bench = add_bench_command(app, bench_options);

  // One line, prefixed like every other error; the usage is one --help away.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "fetchpool: " + std::string(e.what()) + " (see fetchpool --help)\n";
  });

  std::vector<std::string> args = normalised_arguments(argc, argv);
  if (const auto word = unknown_command(app, args)) {
    return fail(
        "'" + *word + "' is not a fetchpool command (commands: " + command_names(app) + "; see fetchpool --help)",
        kExitUsage);
  }
  try {
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last first
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  auto settings = load_base_settings(global.config_path);
  if (!settings) return fail(settings.error().message, kExitUsage);
  configure_logging(global, settings->run.log_level);

  try {
    if (*crawl) return run_crawl(crawl_options, *settings, global.quiet);
    if (*get) return run_get(get_options, *settings, global.quiet);
    if (*serve) return run_serve(serve_options, settings->serve);
    if (*demo) return run_demo(demo_options);
    if (*status) return run_status(status_options);
    if (*bench) return run_bench(bench_options, global.quiet);
  } catch (const std::system_error& e) {
    std::cerr << "fetchpool: " << e.what() << "\n";
    return kExitInternal;
  } catch (const std::exception& e) {
    std::cerr << "fetchpool: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
  return kExitUsage;
}

}  // namespace fetchpool::cli
