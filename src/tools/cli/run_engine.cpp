#include "tools/cli/run_engine.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include "fetchpool/download.hpp"
#include "fetchpool/progress.hpp"
#include "fetchpool/status_server.hpp"
#include "tools/cli/exit_codes.hpp"
#include "tools/cli/report.hpp"
#include "tools/cli/signals.hpp"

namespace fetchpool::cli {
namespace {

namespace fs = std::filesystem;

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

// Null when the display is off: "none", or a log level above info.
std::unique_ptr<ProgressReporter> start_progress(CrawlEngine& engine, const Settings& settings,
                                                 const std::string& progress_mode, const std::string& label) {
  if (progress_mode == "none" || spdlog::get_level() > spdlog::level::info) return nullptr;
  const bool tty = stderr_is_terminal();
  ProgressOptions p;
  p.interval = std::chrono::milliseconds(settings.run.progress_interval_ms);
  p.interactive = progress_mode == "bar" || (progress_mode == "auto" && tty);
  p.label = label;
  return std::make_unique<ProgressReporter>([&engine] { return engine.progress_view(); }, p);
}

// Flushes the results and writes the summary and the requested files; every
// failure is logged, and any one makes the run an internal error.
int finish_outputs(const CrawlEngine& engine, ResultSink& records, const OutcomeLog& outcomes,
                   const RunSummary& summary, const Settings& settings, const RunFiles& files, RunInfo& run) {
  int rc = kExitOk;
  if (auto flushed = records.flush(); !flushed) {
    spdlog::error("{}", flushed.error().message);
    rc = kExitInternal;
  }
  if (spdlog::get_level() <= spdlog::level::info) {
    std::cerr << format_summary(summary.stats, summary.interrupted) << outcomes.failures();
  }
  if (!files.cookie_jar.empty()) {
    if (auto saved = engine.save_cookies(files.cookie_jar); !saved) {
      spdlog::error("{}", saved.error().message);
      rc = kExitInternal;
    }
  }
  if (!files.manifest.empty()) {
    std::error_code ec;
    const auto root = fs::canonical(files.download_root, ec);
    if (auto written =
            write_sha256_manifest(files.manifest, summary.downloads, ec ? fs::path(files.download_root) : root);
        !written) {
      spdlog::error("{}", written.error().message);
      rc = kExitInternal;
    }
  }
  if (rc != kExitOk) run.finish_reason = "output_error";
  if (!settings.output.stats_json.empty()) {
    if (auto written = write_json_file(settings.output.stats_json, stats_to_json(summary.stats, run)); !written) {
      spdlog::error("{}", written.error().message);
      rc = kExitInternal;
    }
  }
  return rc;
}

// The flag's token, else $FETCHPOOL_STATUS_TOKEN.
std::string status_token(const RunStatus& status) {
  if (!status.token.empty()) return status.token;
  const char* env = std::getenv("FETCHPOOL_STATUS_TOKEN");
  return env != nullptr ? env : "";
}

// --status: null when not asked for; an error when it cannot serve.
Result<std::unique_ptr<StatusServer>> start_status(const CrawlEngine& engine, const RunStatus& status,
                                                   const std::string& label) {
  if (status.address.empty()) return std::unique_ptr<StatusServer>();
  auto address = parse_status_address(status.address);
  if (!address) return std::move(address).error();
  StatusOptions options;
  options.address = *address;
  options.label = label;
  options.token = status_token(status);
  auto server = StatusServer::start(engine, std::move(options));
  if (!server) return std::move(server).error();
  std::cerr << "fetchpool: status at " << (*server)->url() << std::endl;
  return server;
}

}  // namespace

Result<void> check_status(const RunStatus& status) {
  if (status.address.empty()) return {};
  auto address = parse_status_address(status.address);
  if (!address) return std::move(address).error();
  if (!is_loopback_host(address->host) && status_token(status).empty())
    return Error{ErrorCode::kConfig, "--status " + address->host +
                                         ": serving beyond loopback needs an access token (--status-token or "
                                         "FETCHPOOL_STATUS_TOKEN)"};
  return {};
}

int run_engine(CrawlEngine& engine, ResultSink& records, const OutcomeLog& outcomes, const Settings& settings,
               const std::string& progress_mode, const std::string& label, const FeedInput& feed, const RunFiles& files,
               const RunStatus& status) {
  // Found now rather than after hours of fetching.
  if (!files.manifest.empty()) {
    if (auto ok = check_output_file(files.manifest, "--manifest"); !ok) return fail(ok.error().message, kExitUsage);
  }
  if (!settings.output.stats_json.empty()) {
    if (auto ok = check_output_file(settings.output.stats_json, "--stats-json"); !ok)
      return fail(ok.error().message, kExitUsage);
  }
  auto status_server = start_status(engine, status, label);
  if (!status_server) {
    std::cerr << "fetchpool " << label << ": " << status_server.error().message << "\n";
    return exit_code_for(status_server.error()) == kExitUsage ? kExitUsage : kExitInternal;
  }
  auto* results_file = dynamic_cast<LockedFileSink*>(files.results);
  SignalWatcher signals([&engine] { engine.request_stop(); },
                        [results_file] {
                          if (results_file != nullptr) results_file->flush_before_exit();
                        });
  // A results file that cannot be written (a full disk, stdout closed by
  // `| head`) stops the run: the records fetched from then on would be lost.
  if (results_file != nullptr) {
    results_file->on_failure([&engine, &signals] {
      spdlog::error("cannot write results; stopping");
      signals.stop_input();
      engine.request_stop();
    });
  }
  std::unique_ptr<ProgressReporter> reporter = start_progress(engine, settings, progress_mode, label);
  RunInfo run;
  run.start = std::chrono::system_clock::now();
  engine.start();
  const bool fed = feed(engine, signals.input_stop_fd());
  engine.finish_input();
  const RunSummary summary = engine.wait();
  if (reporter) reporter->stop();
  run.end = std::chrono::system_clock::now();
  run.finish_reason = summary.interrupted || signals.signals_seen() > 0 ? "interrupted"
                      : !fed                                            ? "input_error"
                                                                        : "completed";

  if (summary.lost_dependency) run.finish_reason = "dependency_lost";
  const int rc = finish_outputs(engine, records, outcomes, summary, settings, files, run);
  // The journal may still hand records to the results file after this
  // returns; the handler refers to this frame.
  if (results_file != nullptr) results_file->on_failure(nullptr);
  if (rc != kExitOk) return rc;
  if (summary.lost_dependency) return fail(summary.lost_dependency->message, kExitDependencyLost);
  if (summary.interrupted || signals.signals_seen() > 0) return kExitInterrupted;
  if (!fed) return kExitUsage;
  return summary.stats.failed > 0 ? kExitSomeFailed : kExitOk;
}

}  // namespace fetchpool::cli
