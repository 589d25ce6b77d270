#include "cli/cli.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

namespace fetchpool::cli {

int run_cli(int argc, char** argv) {
  CLI::App app{"fetchpool: concurrent web crawler and parallel fetcher"};
  app.require_subcommand(1);
  app.add_subcommand("version", "Print the version and exit")->callback([] { std::cout << "fetchpool 0.1.0\n"; });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  return kExitOk;
}

}  // namespace fetchpool::cli
