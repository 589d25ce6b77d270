// The fetchpool command-line tool as a library, so tests can run it with an
// argv and read its exit code (exit_codes.hpp) without spawning a process.
//
// run_cli sets up the command line (global_options.hpp), registers one
// subcommand per file (crawl_command, get_command, serve_command,
// demo, status_command, bench_command) and runs the one given.
#pragma once

#include "tools/cli/exit_codes.hpp"

namespace fetchpool::cli {

int run_cli(int argc, char** argv);

}  // namespace fetchpool::cli
