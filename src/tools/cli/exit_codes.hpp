// The fetchpool tool's exit codes, and the one-line error report every
// subcommand ends with when it cannot run.
//
// Exit codes (documented in README.md and in --help):
//   0  every URL was fetched successfully
//   1  the run completed but some URLs failed (their records say why)
//   2  usage error: bad flag, bad config file, unreadable input list
//   3  interrupted (SIGINT, SIGTERM, SIGHUP or SIGQUIT); results gathered so
//      far were flushed. A second signal ends the process at once with
//      128 + the signal's number (130 for SIGINT), whole records only.
//   4  internal or environment error (cannot bind); also an output that could
//      not be written (a full disk, stdout closed by `| head`): the run stops
//      early, and the summary, stats, manifest and journal are still written
//   5  a dependency was lost: the shared crawl's Redis stayed unreachable past
//      its grace period; the URLs this process held return to the shared
//      queue when their lease expires
#pragma once

#include <iostream>
#include <string_view>

#include "fetchpool/error.hpp"

namespace fetchpool::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitSomeFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInterrupted = 3;
inline constexpr int kExitInternal = 4;
inline constexpr int kExitDependencyLost = 5;

// kConfig errors (a bad URI, a feature not built in) are the user's to fix;
// anything else is the environment's (an unreachable server, a full disk).
inline int exit_code_for(const Error& error) { return error.code == ErrorCode::kConfig ? kExitUsage : kExitInternal; }

// Prints "fetchpool: MESSAGE" on stderr and returns `exit_code`.
inline int fail(std::string_view message, int exit_code) {
  std::cerr << "fetchpool: " << message << "\n";
  return exit_code;
}

}  // namespace fetchpool::cli
