#include "tools/cli/cli.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/config.hpp"
#include "fetchpool/download.hpp"
#include "fetchpool/engine.hpp"
#include "fetchpool/progress.hpp"
#include "fetchpool/redis_uri.hpp"
#include "fetchpool/scope.hpp"
#include "fetchpool/sinks.hpp"
#include "fetchpool/state_journal.hpp"
#include "tools/cli/bench_command.hpp"
#include "tools/cli/demo.hpp"
#include "tools/cli/report.hpp"
#include "tools/cli/signals.hpp"
#include "tools/testsite/local_server.hpp"
#ifdef FETCHPOOL_WITH_REDIS
#include "fetchpool/redis_frontier.hpp"
#endif

namespace fetchpool::cli {
namespace {

namespace fs = std::filesystem;

// Values given on the command line; each overrides the config file only when
// the flag was actually given (CLI11's count()).
struct CommonFlags {
  std::uint32_t workers = 0;
  std::string output;
  std::string format;
  std::string stats_json;
  std::string user_agent;
  std::uint32_t per_host = 0;
  std::uint32_t delay_ms = 0;
  std::uint32_t retries = 0;
  double timeout_s = 0;
  double connect_timeout_s = 0;
  std::uint64_t max_body = 0;
  std::string progress = "auto";
  std::string state_dir;
  CLI::Option* workers_opt = nullptr;
  CLI::Option* format_opt = nullptr;
  CLI::Option* stats_opt = nullptr;
  CLI::Option* ua_opt = nullptr;
  CLI::Option* per_host_opt = nullptr;
  CLI::Option* delay_opt = nullptr;
  CLI::Option* retries_opt = nullptr;
  CLI::Option* timeout_opt = nullptr;
  CLI::Option* connect_timeout_opt = nullptr;
  CLI::Option* max_body_opt = nullptr;
};

void add_common_flags(CLI::App& cmd, CommonFlags& f) {
  f.workers_opt =
      cmd.add_option("-j,--jobs", f.workers, "Worker threads fetching in parallel [config run.workers, default 16]")
          ->check(CLI::Range(1u, 10000u));
  f.format_opt = cmd.add_option("--format", f.format,
                                "Results format: jsonl, csv, or sqlite (a database file with a `results` table; needs "
                                "a file, not stdout) [config output.format]")
                     ->check(CLI::IsMember({"jsonl", "csv", "sqlite"}));
  f.stats_opt = cmd.add_option("--stats-json", f.stats_json,
                               "Also write aggregate stats (counts, latency percentiles) as JSON to this file");
  f.ua_opt =
      cmd.add_option("-U,--user-agent", f.user_agent, "User-Agent header; its product token is matched in robots.txt");
  f.per_host_opt = cmd.add_option("--per-host", f.per_host, "Most requests in flight to one host (0 = unlimited)");
  f.delay_opt = cmd.add_option("-w,--wait", f.delay_ms,
                               "Least milliseconds between two request starts to one host (shared by all workers)");
  f.retries_opt = cmd.add_option("-t,--tries-extra", f.retries,
                                 "Extra attempts for transient failures (connect, timeout, reset, 5xx, 429)");
  f.timeout_opt = cmd.add_option("-T,--timeout", f.timeout_s, "Whole-transfer timeout in seconds (0 = none)")
                      ->check(CLI::NonNegativeNumber);
  f.connect_timeout_opt = cmd.add_option("--connect-timeout", f.connect_timeout_s, "Connect timeout in seconds")
                              ->check(CLI::PositiveNumber);
  f.max_body_opt =
      cmd.add_option("--max-body", f.max_body, "Largest in-memory body in bytes; larger = error too_large");
  cmd.add_option("--progress", f.progress,
                 "Progress display: auto (bar on a terminal, log lines otherwise), bar, log, none")
      ->check(CLI::IsMember({"auto", "bar", "log", "none"}));
  cmd.add_option("--state", f.state_dir,
                 "Journal the run in this directory (created if needed). Rerunning the same command with the same\n"
                 "directory after a crash, kill or Ctrl-C resumes it: finished URLs are not fetched again and the\n"
                 "results file is rewritten with every record once (to stdout only new records are printed)");
}

// --state: the journal must be opened (and locked) before the results file,
// since opening that truncates it: a second run on the same state directory,
// or a journal that fails to load, must leave the first run's results alone.
// The journal is given this slot, and the sink is bound to it once open,
// before any record can flow (records start with the engine).
class ResultsAfterJournal final : public ResultSink {
 public:
  void bind(ResultSink& target) { target_.store(&target, std::memory_order_release); }
  void write(const ResultRecord& record) override { target_.load(std::memory_order_acquire)->write(record); }
  Result<void> flush() override {
    ResultSink* target = target_.load(std::memory_order_acquire);
    return target != nullptr ? target->flush() : Result<void>{};
  }

 private:
  std::atomic<ResultSink*> target_{nullptr};
};

// --state: the journal stands between the engine and the results sink.
// Returns nullptr without --state.
Result<std::unique_ptr<StateJournal>> open_state(const CommonFlags& f, std::string_view command, ResultSink& results,
                                                 const std::string& results_path) {
  if (f.state_dir.empty()) return std::unique_ptr<StateJournal>();
  StateOptions options;
  options.replay = results_path != "-";
  auto journal = StateJournal::open(f.state_dir, command, results, options);
  if (!journal) return std::move(journal).error();
  const ResumeInfo& info = (*journal)->resume_info();
  if (info.torn_bytes > 0)
    spdlog::info("{}: cut {} bytes of a torn last line", (*journal)->path().string(), info.torn_bytes);
  if (info.resumed)
    spdlog::info("resuming from {}: {} done, {} queued by earlier runs", f.state_dir, info.done, info.queued);
  return journal;
}

// Where a run's records go: the results sink, behind the journal with --state.
// Members are destroyed journal first (it hands its last records over), then
// the slot it writes through, then the sink.
struct RunOutputs {
  std::unique_ptr<ResultSink> sink;
  ResultsAfterJournal slot;
  std::unique_ptr<StateJournal> journal;  // null without --state
  ResultSink& records() { return journal ? static_cast<ResultSink&>(*journal) : *sink; }
};

// Opens the journal (and so takes its lock) before the results file, which
// opening truncates. Heap-allocated: the journal keeps the slot's address.
Result<std::unique_ptr<RunOutputs>> open_outputs(const CommonFlags& f, std::string_view command,
                                                 const std::string& format, const std::string& results_path) {
  auto outputs = std::make_unique<RunOutputs>();
  auto journal = open_state(f, command, outputs->slot, results_path);
  if (!journal) return std::move(journal).error();
  outputs->journal = std::move(*journal);
  auto sink = open_result_sink(format, results_path);
  if (!sink) return std::move(sink).error();
  outputs->sink = std::move(*sink);
  outputs->slot.bind(*outputs->sink);
  return outputs;
}

// Applies the flags that were given over the loaded settings.
void apply_common_flags(const CommonFlags& f, Settings& s, bool crawl) {
  if (f.workers_opt->count()) s.run.workers = f.workers;
  if (f.format_opt->count()) s.output.format = f.format;
  if (f.stats_opt->count()) s.output.stats_json = f.stats_json;
  if (f.ua_opt->count()) s.http.user_agent = f.user_agent;
  if (f.per_host_opt->count()) (crawl ? s.politeness.crawl_per_host : s.politeness.get_per_host) = f.per_host;
  if (f.delay_opt->count())
    (crawl ? s.politeness.crawl_min_interval_ms : s.politeness.get_min_interval_ms) = f.delay_ms;
  if (f.retries_opt->count()) s.retry.max_retries = f.retries;
  if (f.timeout_opt->count()) s.http.timeout_ms = static_cast<std::uint32_t>(f.timeout_s * 1000.0);
  if (f.connect_timeout_opt->count())
    s.http.connect_timeout_ms = static_cast<std::uint32_t>(f.connect_timeout_s * 1000.0);
  if (f.max_body_opt->count()) s.http.max_body_bytes = f.max_body;
}

EngineOptions engine_options(const Settings& s, bool crawl) {
  EngineOptions o;
  o.workers = s.run.workers;
  o.fetch.connect_timeout = std::chrono::milliseconds(s.http.connect_timeout_ms);
  o.fetch.total_timeout = std::chrono::milliseconds(s.http.timeout_ms);
  o.fetch.low_speed_limit = s.http.low_speed_limit;
  o.fetch.low_speed_time = std::chrono::seconds(s.http.low_speed_time_s);
  o.fetch.max_body_bytes = s.http.max_body_bytes;
  o.fetch.max_redirects = s.http.max_redirects;
  o.fetch.user_agent = s.http.user_agent;
  o.fetch.accept_compressed = s.http.compressed;
  o.fetch.http2 = s.http.http2;
  o.fetch.verify_tls = s.http.verify_tls;
  o.retry.max_retries = s.retry.max_retries;
  o.retry.base_delay = std::chrono::milliseconds(s.retry.backoff_base_ms);
  o.retry.max_delay = std::chrono::milliseconds(s.retry.backoff_max_ms);
  o.max_crawl_delay = std::chrono::milliseconds(s.politeness.max_crawl_delay_ms);
  o.frontier.max_in_flight_per_host = crawl ? s.politeness.crawl_per_host : s.politeness.get_per_host;
  o.frontier.min_host_interval =
      std::chrono::milliseconds(crawl ? s.politeness.crawl_min_interval_ms : s.politeness.get_min_interval_ms);
  if (crawl) {
    o.follow_links = true;
    o.frontier.max_depth = s.crawl.max_depth;
    o.frontier.max_pages = s.crawl.max_pages;
    o.robots = s.crawl.robots;
    o.frontier.robots_first = s.crawl.robots;
    o.links.link_tags = s.crawl.link_tags;
    o.links.parser = s.crawl.html_parser == "gumbo" ? HtmlParser::kGumbo : HtmlParser::kFast;
    o.links.max_links = s.crawl.max_links_per_page;
    o.links.honour_rel_nofollow = s.crawl.honour_rel_nofollow;
    ScopeOptions scope;
    scope.mode = parse_scope_mode(s.crawl.scope).value_or(ScopeMode::kSameHost);
    scope.include_patterns = s.crawl.include;
    scope.exclude_patterns = s.crawl.exclude;
    o.scope = scope;
  } else {
    // A list fetch fetches exactly the list: no links, no depth, no robots
    // (like curl and aria2), but duplicates are still fetched once.
    o.follow_links = false;
  }
  return o;
}

// --frontier URI: the Redis frontier shared with other fetchpool processes.
// kConfig errors (a bad URI, no Redis support) are usage errors; an
// unreachable server is an environment error.
Result<std::unique_ptr<Frontier>> open_shared_frontier(const std::string& text, const FrontierOptions& options) {
  auto uri = parse_redis_uri(text);
  if (!uri) return std::move(uri).error();
#ifdef FETCHPOOL_WITH_REDIS
  auto frontier = RedisFrontier::connect(*uri, options);
  if (!frontier) return std::move(frontier).error();
  if ((*frontier)->counts().finished) {
    return Error{ErrorCode::kConfig,
                 "--frontier '" + text +
                     "': that crawl has finished; use a new PREFIX, or delete it with fetchpool status --frontier " +
                     to_string(*uri) + " --clear"};
  }
  return std::unique_ptr<Frontier>(std::move(*frontier));
#else
  (void)options;
  return Error{ErrorCode::kConfig,
               "--frontier '" + text + "': fetchpool was built without Redis support (FETCHPOOL_WITH_REDIS=OFF)"};
#endif
}

// In a shared crawl a URL is done for every node as soon as this process
// completes its lease, so its record must be in the file by then. The engine
// writes a record before it completes the lease; flushing each record makes
// it reach the kernel first, so a node killed with SIGKILL loses no record of
// a URL it completed (one write(2) per record, small next to a fetch).
//
// An `aborted` record is not written: a transfer cut short by Ctrl-C is given
// back to the shared crawl, and the node that fetches it records it.
class FlushEachRecord final : public ResultSink {
 public:
  explicit FlushEachRecord(ResultSink& inner) : inner_(inner) {}
  void write(const ResultRecord& record) override {
    if (record.error == ErrorCode::kAborted) return;
    inner_.write(record);
    (void)inner_.flush();  // an error is sticky: the final flush() reports it
  }
  Result<void> flush() override { return inner_.flush(); }

 private:
  ResultSink& inner_;
};

int exit_code_for(const Error& error) { return error.code == ErrorCode::kConfig ? kExitUsage : kExitInternal; }

// `fetchpool status`: the shared crawl as Redis holds it, readable from any node.
int run_status(const std::string& text, bool clear) {
  auto uri = parse_redis_uri(text);
  if (!uri) {
    std::cerr << "fetchpool: " << uri.error().message << "\n";
    return kExitUsage;
  }
#ifdef FETCHPOOL_WITH_REDIS
  if (clear) {
    auto deleted = clear_redis_crawl(*uri);
    if (!deleted) {
      std::cerr << "fetchpool: " << deleted.error().message << "\n";
      return exit_code_for(deleted.error());
    }
    std::cout << "crawl " << to_string(*uri) << ": deleted " << *deleted << " keys\n";
    return kExitOk;
  }
  auto status = read_redis_crawl_status(*uri);
  if (!status) {
    std::cerr << "fetchpool: " << status.error().message << "\n";
    return exit_code_for(status.error());
  }
  const FrontierCounts& c = status->counts;
  const char* state = c.finished ? "finished" : (status->accepted == 0 ? "empty" : "running");
  std::cout << "crawl " << to_string(*uri) << ": " << state << "\n"
            << "queued:          " << c.queued << "\n"
            << "in flight:       " << c.in_flight << "\n"
            << "waiting retry:   " << c.delayed << "\n"
            << "done:            " << status->completed << "\n"
            << "accepted:        " << status->accepted << "\n"
            << "hosts:           " << c.hosts << "\n"
            << "leases:          " << c.leased_total << " handed out, " << status->expired << " expired and re-queued\n"
            << "retries:         " << status->retried << "\n"
            << "input closed:    " << (status->input_closed ? "yes" : "no") << "\n";
  return kExitOk;
#else
  (void)clear;
  std::cerr << "fetchpool: --frontier '" << text
            << "': fetchpool was built without Redis support (FETCHPOOL_WITH_REDIS=OFF)\n";
  return kExitUsage;
#endif
}

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

// Runs an engine to completion with progress and signal handling, writes the
// summary, and maps the outcome to an exit code.
int run_engine(CrawlEngine& engine, ResultSink& sink, const Settings& settings, const std::string& progress_mode,
               const std::string& label, const std::function<bool(CrawlEngine&)>& feed,
               const std::string& manifest = {}, const std::string& download_root = {}) {
  SignalWatcher signals([&engine] { engine.request_stop(); });
  std::unique_ptr<ProgressReporter> reporter;
  const bool tty = stderr_is_terminal();
  if (progress_mode != "none" && spdlog::get_level() <= spdlog::level::info) {
    ProgressOptions p;
    p.interval = std::chrono::milliseconds(settings.run.progress_interval_ms);
    p.interactive = progress_mode == "bar" || (progress_mode == "auto" && tty);
    p.label = label;
    reporter = std::make_unique<ProgressReporter>([&engine] { return engine.progress_view(); }, p);
  }
  engine.start();
  const bool fed = feed(engine);
  engine.finish_input();
  const RunSummary summary = engine.wait();
  if (reporter) reporter->stop();

  int rc = kExitOk;
  if (auto flushed = sink.flush(); !flushed) {
    spdlog::error("{}", flushed.error().message);
    rc = kExitInternal;
  }
  if (spdlog::get_level() <= spdlog::level::info) std::cerr << format_summary(summary.stats, summary.interrupted);
  if (!manifest.empty()) {
    std::error_code ec;
    const auto root = fs::canonical(download_root, ec);
    if (auto written = write_sha256_manifest(manifest, summary.downloads, ec ? fs::path(download_root) : root);
        !written) {
      spdlog::error("{}", written.error().message);
      rc = kExitInternal;
    }
  }
  if (!settings.output.stats_json.empty()) {
    if (auto written = write_json_file(settings.output.stats_json, stats_to_json(summary.stats)); !written) {
      spdlog::error("{}", written.error().message);
      rc = kExitInternal;
    }
  }
  if (rc != kExitOk) return rc;
  if (summary.interrupted || signals.signals_seen() > 0) return kExitInterrupted;
  if (!fed) return kExitUsage;
  return summary.stats.failed > 0 ? kExitSomeFailed : kExitOk;
}

Result<Settings> load_base_settings(const std::string& config_path) {
  if (config_path.empty()) return Settings{};
  return load_settings(config_path);
}

void configure_logging(int verbosity, bool quiet, const std::string& configured_level) {
  // run_cli may run more than once per process (tests), so reuse the logger.
  auto logger = spdlog::get("fetchpool");
  if (!logger) logger = spdlog::stderr_color_mt("fetchpool");
  logger->set_pattern("%^%l%$: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(configured_level));
  if (quiet) spdlog::set_level(spdlog::level::warn);
  if (verbosity == 1) spdlog::set_level(spdlog::level::debug);
  if (verbosity >= 2) spdlog::set_level(spdlog::level::trace);
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{
      "fetchpool: concurrent web crawler and parallel fetcher.\n"
      "A frontier queue feeds a pool of worker threads, each doing blocking HTTP with its own\n"
      "reused libcurl handle. Exit codes: 0 all URLs ok, 1 some URLs failed, 2 usage or config\n"
      "error, 3 interrupted (results so far were written), 4 internal or environment error."};
  app.require_subcommand(1);
  app.set_version_flag("-V,--version", "fetchpool 0.1.0");
  std::string config_path;
  int verbosity = 0;
  bool quiet = false;
  app.add_option("--config", config_path, "TOML config file (see config/default.toml for every key)")
      ->check(CLI::ExistingFile);
  app.add_flag("-v,--verbose", verbosity, "More logging (-vv for trace)");
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors; no progress and no summary");

  // crawl
  auto* crawl = app.add_subcommand("crawl", "Crawl recursively from seed URLs, within a scope, obeying robots.txt");
  std::vector<std::string> seeds;
  CommonFlags crawl_flags;
  std::uint32_t depth = 0;
  std::uint64_t max_pages = 0;
  std::string scope;
  std::vector<std::string> include, exclude;
  bool no_robots = false;
  crawl->add_option("urls", seeds, "Seed URLs (http/https)")->required();
  crawl->add_option("-o,--output", crawl_flags.output,
                    "Results file, one record per URL; '-' = stdout [default: stdout]");
  add_common_flags(*crawl, crawl_flags);
  std::string crawl_download_dir;
  std::vector<std::string> download_extensions;
  crawl->add_option("--download-dir", crawl_download_dir, "Save files whose URL ends in a --download-ext here");
  crawl->add_option("--download-ext", download_extensions,
                    "File extensions to save, e.g. .pdf (repeatable; needs --download-dir)");
  auto* depth_opt = crawl->add_option("-l,--depth", depth, "Follow links at most this far from a seed [default 5]");
  auto* max_pages_opt = crawl->add_option("--max-pages", max_pages, "Queue at most this many URLs (0 = unlimited)");
  auto* scope_opt =
      crawl
          ->add_option("--scope", scope,
                       "Links followed: host (same host:port as a seed), domain (same registrable domain), any")
          ->check(CLI::IsMember({"host", "domain", "any"}));
  auto* include_opt =
      crawl->add_option("--include", include, "Follow only URLs matching one of these regexes (repeatable)");
  auto* exclude_opt = crawl->add_option("--exclude", exclude, "Never follow URLs matching these regexes (repeatable)");
  crawl->add_flag("--no-robots", no_robots, "Ignore robots.txt (on by default for crawl)");
  std::string html_parser;
  std::uint64_t max_links_per_page = 0;
  auto* html_parser_opt =
      crawl->add_option("--html-parser", html_parser, "fast (one pass, no tree) or gumbo (full HTML5 tree) [fast]")
          ->check(CLI::IsMember({"fast", "gumbo"}));
  auto* max_links_opt = crawl->add_option("--max-links-per-page", max_links_per_page,
                                          "Keep at most this many links of one page [default 10000]");
  std::string frontier_uri;
  crawl->add_option("--frontier", frontier_uri,
                    "Share this crawl with other fetchpool processes (any machine) through Redis: "
                    "redis://HOST[:PORT][/PREFIX][?lease=SECONDS]; each URL is fetched once across all of them, "
                    "politeness limits are shared, a dead process's URLs return after the lease (default 60 s)");

  // get
  auto* get = app.add_subcommand("get", "Fetch a list of URLs in parallel (one record per input line)");
  std::string input_file;
  std::vector<std::string> get_urls;
  CommonFlags get_flags;
  get->add_option("-i,--input-file", input_file,
                  "File with one URL per line ('-' = stdin); blank lines and # comments skipped");
  get->add_option("urls", get_urls, "URLs to fetch, in addition to --input-file");
  std::string download_dir, checksum_file, manifest_file;
  bool resume = false, overwrite = false, content_disposition = false, force_directories = false;
  get->add_option("-o,--output-dir", download_dir,
                  "Save each body as a file in this directory (.part until complete and verified)");
  get->add_option("--results", get_flags.output,
                  "Results file, one record per input line; '-' = stdout [default: stdout, or "
                  "DIR/fetchpool-results.jsonl with -o]");
  get->add_flag("-c,--continue", resume, "Resume .part files left by an earlier run with Range requests");
  get->add_flag("--overwrite", overwrite,
                "Replace existing files instead of picking name.1, name.2 (--no-clobber is the default)");
  get->add_flag("--content-disposition", content_disposition,
                "Name files from the server's Content-Disposition header");
  get->add_flag("-x,--force-directories", force_directories, "Mirror host/path directories under the output directory");
  get->add_option("--checksums", checksum_file, "sha256sum-format list; files that do not match are not kept")
      ->check(CLI::ExistingFile);
  get->add_option("--manifest", manifest_file, "Write a sha256sum-format manifest of every file saved");
  bool parse_titles = false;
  get->add_flag("--titles", parse_titles,
                "Parse HTML pages for their <title> and link count (costs CPU; off by default for get)");
  add_common_flags(*get, get_flags);

  // serve
  auto* serve = app.add_subcommand("serve", "Run the built-in test site on 127.0.0.1 until interrupted");
  std::uint16_t serve_port = 0;
  ServeSettings serve_flags;
  serve->add_option("-p,--port", serve_port, "Port to listen on (0 = pick a free one; the URL is printed)");
  auto* pages_opt = serve->add_option("--pages", serve_flags.pages, "Pages in the synthetic site [default 10000]")
                        ->check(CLI::Range(1u, 100000000u));
  auto* links_opt = serve->add_option("--links", serve_flags.links_per_page, "Links per page [default 8]");
  auto* size_opt =
      serve->add_option("--page-bytes", serve_flags.page_bytes, "Approximate page size in bytes [default 4096]");
  auto* latency_opt =
      serve->add_option("--latency", serve_flags.latency_ms, "Milliseconds added to every page response");
  auto* jitter_opt =
      serve->add_option("--jitter", serve_flags.jitter_ms, "Extra random 0..N milliseconds per response");
  auto* error_opt = serve->add_option("--error-rate", serve_flags.error_rate, "Fraction of pages answering 500")
                        ->check(CLI::Range(0.0, 1.0));
  auto* threads_opt =
      serve->add_option("--threads", serve_flags.threads, "Server event-loop threads")->check(CLI::Range(1u, 64u));

  // demo
  auto* demo = app.add_subcommand(
      "demo", "Offline demo: crawl the built-in site sequentially and with a thread pool, show the speedup");
  DemoOptions demo_options;
  demo->add_option("--pages", demo_options.pages, "Pages to crawl [default 200]")->check(CLI::Range(1u, 100000u));
  demo->add_option("--latency", demo_options.latency_ms, "Server latency per page in ms [default 25]")
      ->check(CLI::Range(0u, 10000u));
  demo->add_option("-j,--jobs", demo_options.workers, "Workers in the threaded run [default 32]")
      ->check(CLI::Range(1u, 10000u));

  // status
  auto* status = app.add_subcommand("status", "Print the state of a shared (--frontier) crawl from any node");
  std::string status_uri;
  bool status_clear = false;
  status->add_option("--frontier", status_uri, "The crawl: redis://HOST[:PORT][/PREFIX]")->required();
  status->add_flag("--clear", status_clear,
                   "Delete the crawl's keys from Redis instead, so its PREFIX can start a new crawl");

  // bench
  BenchCommandOptions bench_options;
  auto* bench = add_bench_command(app, bench_options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  auto settings = load_base_settings(config_path);
  if (!settings) {
    std::cerr << "fetchpool: " << settings.error().message << "\n";
    return kExitUsage;
  }
  configure_logging(verbosity, quiet, settings->run.log_level);

  try {
    if (*crawl) {
      Settings s = *settings;
      apply_common_flags(crawl_flags, s, /*crawl=*/true);
      if (depth_opt->count()) s.crawl.max_depth = depth;
      if (max_pages_opt->count()) s.crawl.max_pages = max_pages;
      if (scope_opt->count()) s.crawl.scope = scope;
      if (include_opt->count()) s.crawl.include = include;
      if (exclude_opt->count()) s.crawl.exclude = exclude;
      if (no_robots) s.crawl.robots = false;
      if (html_parser_opt->count()) s.crawl.html_parser = html_parser;
      if (max_links_opt->count()) s.crawl.max_links_per_page = max_links_per_page;
      // The journal would sync a record after Redis already counts its URL as
      // done for every node, so a crash could lose it: not combined (yet).
      if (!frontier_uri.empty() && !crawl_flags.state_dir.empty()) {
        std::cerr << "fetchpool crawl: --state and --frontier cannot be combined (the shared frontier keeps the "
                     "crawl's state in Redis)\n";
        return kExitUsage;
      }
      const std::string results_path = crawl_flags.output.empty() ? "-" : crawl_flags.output;
      auto outputs = open_outputs(crawl_flags, "crawl", s.output.format, results_path);
      if (!outputs) {
        std::cerr << "fetchpool: " << outputs.error().message << "\n";
        return kExitUsage;
      }
      ResultSink& out = (*outputs)->records();
      auto options = engine_options(s, true);
      options.state = (*outputs)->journal.get();
      if (!crawl_download_dir.empty()) {
        if (download_extensions.empty()) {
          std::cerr << "fetchpool crawl: --download-dir needs at least one --download-ext (e.g. --download-ext .pdf)\n";
          return kExitUsage;
        }
        DownloadOptions download;
        download.directory = crawl_download_dir;
        download.extensions = download_extensions;
        options.download = download;
      }
      std::unique_ptr<Frontier> shared;
      std::optional<FlushEachRecord> flushing;
      ResultSink* records = &out;
      if (!frontier_uri.empty()) {
        auto opened = open_shared_frontier(frontier_uri, options.frontier);
        if (!opened) {
          std::cerr << "fetchpool: " << opened.error().message << "\n";
          return exit_code_for(opened.error());
        }
        shared = std::move(*opened);
        records = &flushing.emplace(out);
        options.record_duplicate_input = false;
      }
      CrawlEngine engine(options, *records, std::move(shared));
      if (auto prepared = engine.prepare(); !prepared) {
        std::cerr << "fetchpool: " << prepared.error().message << "\n";
        return kExitUsage;
      }
      if (auto seeded = engine.set_seeds(seeds); !seeded) {
        std::cerr << "fetchpool: " << seeded.error().message << "\n";
        return kExitUsage;
      }
      return run_engine(engine, *records, s, quiet ? "none" : crawl_flags.progress, "crawl", [&seeds](CrawlEngine& e) {
        std::uint64_t position = 0;
        for (const auto& seed : seeds) {
          ++position;
          if (!e.add(seed, position)) spdlog::warn("seed {}: '{}' was not queued (see its record)", position, seed);
        }
        return true;
      });
    }

    if (*get) {
      Settings s = *settings;
      apply_common_flags(get_flags, s, /*crawl=*/false);
      if (input_file.empty() && get_urls.empty()) {
        std::cerr << "fetchpool get: give URLs or -i FILE (see fetchpool get --help)\n";
        return kExitUsage;
      }
      std::ifstream file;
      std::istream* in = nullptr;
      if (input_file == "-") {
        in = &std::cin;
      } else if (!input_file.empty()) {
        file.open(input_file);
        if (!file) {
          std::cerr << "fetchpool: " << input_file << ": cannot open input list\n";
          return kExitUsage;
        }
        in = &file;
      }
      auto options = engine_options(s, false);
      options.parse_html = parse_titles;
      if (!download_dir.empty()) {
        DownloadOptions download;
        download.directory = download_dir;
        download.resume = resume;
        download.clobber = resume      ? ClobberPolicy::kSkipExisting
                           : overwrite ? ClobberPolicy::kOverwrite
                                       : ClobberPolicy::kNoClobber;
        download.naming.content_disposition = content_disposition;
        download.naming.use_directories = force_directories;
        if (!checksum_file.empty()) {
          auto sums = load_checksum_list(checksum_file);
          if (!sums) {
            std::cerr << "fetchpool: " << sums.error().message << "\n";
            return kExitUsage;
          }
          download.checksums = std::move(*sums);
        }
        options.download = download;
      }
      std::string results_path = get_flags.output;
      if (results_path.empty())
        results_path =
            download_dir.empty()
                ? "-"
                : (fs::path(download_dir) /
                   ("fetchpool-results." + std::string(s.output.format == "sqlite" ? "db" : s.output.format)))
                      .string();
      if (!download_dir.empty()) {
        std::error_code ec;
        fs::create_directories(download_dir, ec);
        if (ec) {
          std::cerr << "fetchpool: " << download_dir << ": cannot create output directory: " << ec.message() << "\n";
          return kExitUsage;
        }
      }
      auto outputs = open_outputs(get_flags, "get", s.output.format, results_path);
      if (!outputs) {
        std::cerr << "fetchpool: " << outputs.error().message << "\n";
        return kExitUsage;
      }
      ResultSink& out = (*outputs)->records();
      options.state = (*outputs)->journal.get();
      CrawlEngine engine(options, out);
      if (auto prepared = engine.prepare(); !prepared) {
        std::cerr << "fetchpool: " << prepared.error().message << "\n";
        return kExitUsage;
      }
      return run_engine(
          engine, out, s, quiet ? "none" : get_flags.progress, "get",
          [&](CrawlEngine& e) {
            // The list is streamed: lines are queued as they are read, while the
            // workers already fetch, so a huge list never sits in memory twice.
            std::uint64_t line_number = 0;
            if (in != nullptr) {
              for (std::string line; std::getline(*in, line);) {
                ++line_number;
                const auto first = line.find_first_not_of(" \t\r");
                if (first == std::string::npos || line[first] == '#') continue;
                const auto last = line.find_last_not_of(" \t\r");
                e.add(std::string_view(line).substr(first, last - first + 1), line_number);
              }
              if (in->bad()) {
                spdlog::error("{}: read error after line {}", input_file, line_number);
                return false;
              }
            }
            for (const auto& url : get_urls) e.add(url, ++line_number);
            return true;
          },
          manifest_file, download_dir);
    }

    if (*serve) {
      ServeSettings s = settings->serve;
      if (pages_opt->count()) s.pages = serve_flags.pages;
      if (links_opt->count()) s.links_per_page = serve_flags.links_per_page;
      if (size_opt->count()) s.page_bytes = serve_flags.page_bytes;
      if (latency_opt->count()) s.latency_ms = serve_flags.latency_ms;
      if (jitter_opt->count()) s.jitter_ms = serve_flags.jitter_ms;
      if (error_opt->count()) s.error_rate = serve_flags.error_rate;
      if (threads_opt->count()) s.threads = serve_flags.threads;
      return run_serve(s, serve_port);
    }

    if (*demo) return run_demo(demo_options);
    if (*status) return run_status(status_uri, status_clear);
    if (*bench) return run_bench(bench_options, quiet);
  } catch (const std::system_error& e) {
    std::cerr << "fetchpool: " << e.what() << "\n";
    return kExitInternal;
  } catch (const std::exception& e) {
    std::cerr << "fetchpool: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
  return kExitUsage;
}

}  // namespace fetchpool::cli
