// The fetchpool command-line tool as a library, so tests can run it with an
// argv and read its exit code without spawning a process.
//
// Exit codes (documented in README.md and in --help):
//   0  every URL was fetched successfully
//   1  the run completed but some URLs failed (their records say why)
//   2  usage error: bad flag, bad config file, unreadable input list
//   3  interrupted (SIGINT/SIGTERM); results gathered so far were flushed
//   4  internal or environment error (cannot bind, cannot write output)
#pragma once

namespace fetchpool::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitSomeFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInterrupted = 3;
inline constexpr int kExitInternal = 4;

int run_cli(int argc, char** argv);

}  // namespace fetchpool::cli
