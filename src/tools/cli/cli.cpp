#include "tools/cli/cli.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
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

// The first word that is not an option (nor -c's file): the command, or a
// word that should have been one. Its index, or args.size() if none.
std::size_t command_word(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-c" || arg == "--config") {
      ++i;
      continue;
    }
    if (!arg.starts_with("-")) return i;
  }
  return args.size();
}

constexpr std::array<std::string_view, 6> kCommands = {"crawl", "get", "serve", "demo", "status", "bench"};

// Which commands to register. Building a command's options costs about a
// sixth of the start-up instructions of `fetchpool get` when all are built, so
// a run registers only the command it names. All are registered when none is
// named (--version, --help: the overview lists them), when the word is no
// command (the error lists them) and when --help comes before the command.
std::string_view command_to_register(const std::vector<std::string>& args) {
  const std::size_t at = command_word(args);
  if (at == args.size()) return {};
  const auto command = std::find(kCommands.begin(), kCommands.end(), args[at]);
  if (command == kCommands.end()) return {};
  const auto help = [](const std::string& arg) { return arg == "-h" || arg == "--help"; };
  if (std::any_of(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(at), help)) return {};
  return *command;
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
      "was lost.",
      "fetchpool"};  // named here: the usage lines of --help show it (arguments are parsed as a vector)
  app.require_subcommand(1);
  app.set_version_flag("-V,--version", std::string("fetchpool ") + FETCHPOOL_VERSION);
  GlobalOptions global;
  add_global_options(app, global);
  std::vector<std::string> args = normalised_arguments(argc, argv);
  const std::string_view only = command_to_register(args);
  const auto wanted = [only](std::string_view name) { return only.empty() || only == name; };
  // Registered in the order --help lists them.
  CrawlCommandOptions crawl_options;
  CLI::App* crawl = wanted("crawl") ? add_crawl_command(app, crawl_options) : nullptr;
  GetCommandOptions get_options;
  CLI::App* get = wanted("get") ? add_get_command(app, get_options) : nullptr;
  ServeCommandOptions serve_options;
  CLI::App* serve = wanted("serve") ? add_serve_command(app, serve_options) : nullptr;
  DemoOptions demo_options;
  CLI::App* demo = wanted("demo") ? add_demo_command(app, demo_options) : nullptr;
  StatusCommandOptions status_options;
  CLI::App* status = wanted("status") ? add_status_command(app, status_options) : nullptr;
  BenchCommandOptions bench_options;
  CLI::App* bench = wanted("bench") ? add_bench_command(app, bench_options) : nullptr;
  const auto chosen = [](const CLI::App* command) { return command != nullptr && command->parsed(); };

  // One line, prefixed like every other error; the usage is one --help away.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "fetchpool: " + std::string(e.what()) + " (see fetchpool --help)\n";
  });

  const std::size_t word = command_word(args);
  if (word < args.size() && std::find(kCommands.begin(), kCommands.end(), args[word]) == kCommands.end()) {
    return fail(
        "'" + args[word] + "' is not a fetchpool command (commands: " + command_names(app) + "; see fetchpool --help)",
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
    if (chosen(crawl)) return run_crawl(crawl_options, *settings, global.quiet);
    if (chosen(get)) return run_get(get_options, *settings, global.quiet);
    if (chosen(serve)) return run_serve(serve_options, settings->serve);
    if (chosen(demo)) return run_demo(demo_options);
    if (chosen(status)) return run_status(status_options);
    if (chosen(bench)) return run_bench(bench_options, global.quiet);
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
