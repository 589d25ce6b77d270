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
// `stop_fd` becomes readable once the run is stopping (SignalWatcher::input_stop_fd):
// a feeder blocked on its input must return then.
using FeedInput = std::function<bool(CrawlEngine&, int stop_fd)>;

struct RunFiles {
  std::string manifest;           // SHA-256 manifest of the files saved; empty: none
  std::string download_root;      // the manifest's names are relative to it
  std::string cookie_jar;         // the workers' cookies, saved at the end; empty: none
  ResultSink* results = nullptr;  // the results file's own sink: the run stops when it cannot write
};

// --status: where to serve the live status (empty: nowhere) and its token
// (empty: $FETCHPOOL_STATUS_TOKEN, if set).
struct RunStatus {
  std::string address;
  std::string token;
};

// Before any output is opened or created: --status parses, and a host beyond
// loopback has a token (the flag or the environment's), so a run refused for
// it leaves no file behind. kConfig naming what is wrong.
Result<void> check_status(const RunStatus& status);

// Checks that the manifest and stats JSON can be created, then starts `engine`
// (whose sink is `records`, which ends in `outcomes`), feeds it, waits for it
// with SIGINT, SIGTERM, SIGHUP or SIGQUIT stopping it and `progress_mode`
// ("auto", "bar", "log", "none") choosing the display, then flushes `records`,
// prints the summary and the failed URLs, writes the manifest, the cookie jar
// and the stats JSON, and maps the outcome to an exit code (exit_codes.hpp).
int run_engine(CrawlEngine& engine, ResultSink& records, const OutcomeLog& outcomes, const Settings& settings,
               const std::string& progress_mode, const std::string& label, const FeedInput& feed,
               const RunFiles& files = {}, const RunStatus& status = {});

}  // namespace fetchpool::cli
