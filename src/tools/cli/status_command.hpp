// `fetchpool status`: the state of a shared (--frontier) crawl as Redis holds
// it, readable from any node, or (--clear) the deletion of its keys.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace fetchpool::cli {

struct StatusCommandOptions {
  std::string frontier_uri;  // redis://HOST[:PORT][/PREFIX]
  bool clear = false;
};

// Registers the subcommand and its flags on `app`; the values land in `options`.
CLI::App* add_status_command(CLI::App& app, StatusCommandOptions& options);

// Prints the crawl's counts on stdout (or deletes it). Exit codes as run_cli's.
int run_status(const StatusCommandOptions& options);

}  // namespace fetchpool::cli
