// Runs the fetchpool CLI in-process with an argv, as a user would type it;
// ScratchDir (scratch_dir.hpp) comes along for the CLI tests.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
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

// What a run printed on stderr (std::cerr and the spdlog logger both write
// to descriptor 2, which is pointed at a file for the run).
struct CliRun {
  int exit_code = 0;
  std::string err;
};

inline CliRun run_fetchpool_capturing(std::vector<std::string> args, const std::filesystem::path& scratch) {
  const auto file = scratch / "stderr.txt";
  std::fflush(stderr);
  std::cerr.flush();
  const int saved = ::dup(2);
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ::dup2(fd, 2);
  ::close(fd);
  CliRun run;
  run.exit_code = run_fetchpool(std::move(args));
  std::fflush(stderr);
  std::cerr.flush();
  ::dup2(saved, 2);
  ::close(saved);
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  run.err = text.str();
  return run;
}

}  // namespace fetchpool::testing
