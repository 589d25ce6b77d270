// Running a `crawl` or `get` engine to its end: signals, the progress
// display, the summary and the files written after the run, and the exit code.
#pragma once

#include <functional>
#include <string>

#include "fetchpool/config.hpp"
#include "fetchpool/engine.hpp"
#include "tools/cli/outcome_log.hpp"

namespace fetchpool::cli {

// Queues the run's input while the workers already fetch; returns false when
// the input could not be read to its end (the run then exits as a usage error).
using FeedInput = std::function<bool(CrawlEngine&)>;

struct RunFiles {
  std::string manifest;       // SHA-256 manifest of the files saved; empty: none
  std::string download_root;  // the manifest's names are relative to it
  std::string cookie_jar;     // the workers' cookies, saved at the end; empty: none
};

// Starts `engine` (whose sink is `sink`), feeds it, waits for it with
// SIGINT/SIGTERM stopping it and `progress_mode` ("auto", "bar", "log",
// "none") choosing the display, then flushes `sink`, prints the summary and
// the failed URLs, writes the manifest, the cookie jar and the stats JSON, and
// maps the outcome to an exit code (exit_codes.hpp).
int run_engine(CrawlEngine& engine, OutcomeLog& sink, const Settings& settings, const std::string& progress_mode,
               const std::string& label, const FeedInput& feed, const RunFiles& files = {});

}  // namespace fetchpool::cli
