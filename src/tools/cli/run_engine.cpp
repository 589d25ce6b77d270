#include "tools/cli/run_engine.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>

#include "fetchpool/download.hpp"
#include "fetchpool/progress.hpp"
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
int finish_outputs(const CrawlEngine& engine, OutcomeLog& sink, const RunSummary& summary, const Settings& settings,
                   const RunFiles& files, RunInfo& run) {
  int rc = kExitOk;
  if (auto flushed = sink.flush(); !flushed) {
    spdlog::error("{}", flushed.error().message);
    rc = kExitInternal;
  }
  if (spdlog::get_level() <= spdlog::level::info) {
    std::cerr << format_summary(summary.stats, summary.interrupted) << sink.failures();
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

}  // namespace

int run_engine(CrawlEngine& engine, OutcomeLog& sink, const Settings& settings, const std::string& progress_mode,
               const std::string& label, const FeedInput& feed, const RunFiles& files) {
  SignalWatcher signals([&engine] { engine.request_stop(); });
  std::unique_ptr<ProgressReporter> reporter = start_progress(engine, settings, progress_mode, label);
  RunInfo run;
  run.start = std::chrono::system_clock::now();
  engine.start();
  const bool fed = feed(engine);
  engine.finish_input();
  const RunSummary summary = engine.wait();
  if (reporter) reporter->stop();
  run.end = std::chrono::system_clock::now();
  run.finish_reason = summary.interrupted || signals.signals_seen() > 0 ? "interrupted"
                      : !fed                                            ? "input_error"
                                                                        : "completed";

  if (const int rc = finish_outputs(engine, sink, summary, settings, files, run); rc != kExitOk) return rc;
  if (summary.interrupted || signals.signals_seen() > 0) return kExitInterrupted;
  if (!fed) return kExitUsage;
  return summary.stats.failed > 0 ? kExitSomeFailed : kExitOk;
}

}  // namespace fetchpool::cli
