// Runs the fetchpool CLI in-process with an argv, as a user would type it;
// ScratchDir (scratch_dir.hpp) comes along for the CLI tests.
#pragma once

#include <string>
#include <vector>

#include "support/scratch_dir.hpp"
#include "tools/cli/cli.hpp"

namespace fetchpool::testing {

inline int run_fetchpool(std::vector<std::string> args) {
  args.insert(args.begin(), "fetchpool");
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (auto& arg : args) argv.push_back(arg.data());
  return cli::run_cli(static_cast<int>(argv.size()), argv.data());
}

}  // namespace fetchpool::testing
