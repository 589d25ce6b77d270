#include "tools/cli/crawl_command.hpp"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <charconv>
#include <filesystem>
#include <iostream>
#include <memory>

#include "fetchpool/download.hpp"
#include "fetchpool/engine.hpp"
#include "fetchpool/redis_uri.hpp"
#include "fetchpool/sinks.hpp"
#include "fetchpool/url.hpp"
#include "tools/cli/exit_codes.hpp"
#include "tools/cli/run_engine.hpp"
#include "tools/cli/run_outputs.hpp"
#ifdef FETCHPOOL_WITH_REDIS
#include "fetchpool/redis_frontier.hpp"
#endif

namespace fetchpool::cli {
namespace {

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

// The config file's settings with the crawl's flags applied over them.
Settings crawl_settings(const CrawlCommandOptions& o, const Settings& base) {
  Settings s = base;
  apply_common_flags(o.flags, s, /*crawl=*/true);
  if (o.depth_opt->count()) s.crawl.max_depth = o.depth;
  if (o.level_opt->count()) {
    const auto level = parse_level(o.level);
    s.crawl.max_depth = level && *level != 0 ? *level : kUnlimitedDepth;  // checked while parsing
  }
  if (o.max_pages_opt->count()) s.crawl.max_pages = o.max_pages;
  if (o.scope_opt->count()) s.crawl.scope = o.scope;
  if (o.include_opt->count()) s.crawl.include = o.include;
  if (o.exclude_opt->count()) s.crawl.exclude = o.exclude;
  if (o.no_robots) s.crawl.robots = false;
  if (o.html_parser_opt->count()) s.crawl.html_parser = o.html_parser;
  if (o.max_links_opt->count()) s.crawl.max_links_per_page = o.max_links_per_page;
  return s;
}

bool queue_seeds(CrawlEngine& engine, const std::vector<std::string>& seeds) {
  std::uint64_t position = 0;
  for (const auto& seed : seeds) {
    ++position;
    if (!engine.add(seed, position)) spdlog::warn("seed {}: '{}' was not queued (see its record)", position, seed);
  }
  return true;
}

}  // namespace

CLI::App* add_crawl_command(CLI::App& app, CrawlCommandOptions& o) {
  auto* crawl = app.add_subcommand("crawl", "Crawl recursively from seed URLs, within a scope, obeying robots.txt");
  crawl->add_option("urls", o.seeds, "Seed URLs (http/https)")->required();
  add_common_flags(*crawl, o.flags);
  crawl->add_option("-P,--directory-prefix,--download-dir", o.download_dir,
                    "Save files whose URL ends in a --download-ext in this directory");
  crawl->add_option("--download-ext", o.download_extensions,
                    "File extensions to save, e.g. .pdf (repeatable; needs --download-dir)");
  const CLI::Validator level_text(
      [](const std::string& text) {
        auto level = parse_level(text);
        return level ? std::string() : level.error().message;
      },
      "N|inf");
  o.level_opt = crawl
                    ->add_option("-l,--level", o.level,
                                 "Follow links at most N away from a seed; 0 or inf = no limit (wget's -l) [default 5]")
                    ->check(level_text);
  o.depth_opt =
      crawl->add_option("--depth", o.depth, "Follow links at most N away from a seed; 0 = the seeds only [default 5]")
          ->excludes(o.level_opt);
  o.max_pages_opt = crawl->add_option("--max-pages", o.max_pages, "Queue at most this many URLs (0 = unlimited)")
                        ->check(no_minus_sign());
  o.scope_opt = crawl
                    ->add_option("--scope", o.scope,
                                 "Links followed: host (same host:port as a seed), domain (same registrable domain), "
                                 "any")
                    ->check(CLI::IsMember({"host", "domain", "any"}));
  o.include_opt =
      crawl->add_option("--include", o.include, "Follow only URLs matching one of these regexes (repeatable)");
  o.exclude_opt = crawl->add_option("--exclude", o.exclude, "Never follow URLs matching these regexes (repeatable)");
  crawl->add_flag("--no-robots", o.no_robots, "Ignore robots.txt (on by default for crawl)");
  o.html_parser_opt =
      crawl->add_option("--html-parser", o.html_parser, "fast (one pass, no tree) or gumbo (full HTML5 tree) [fast]")
          ->check(CLI::IsMember({"fast", "gumbo"}));
  o.max_links_opt = crawl
                        ->add_option("--max-links-per-page", o.max_links_per_page,
                                     "Keep at most this many links of one page [default 10000]")
                        ->check(no_minus_sign());
  crawl->add_option("--frontier", o.frontier_uri,
                    "Share this crawl with other fetchpool processes (any machine) through Redis: "
                    "redis://HOST[:PORT][/PREFIX][?lease=SECONDS][&grace=SECONDS]; each URL is fetched once across "
                    "all of them, politeness limits are shared, a dead process's URLs return after the lease "
                    "(default 60 s); Redis unreachable for grace seconds (default 30) ends this process with exit 5");
  return crawl;
}

Result<std::uint32_t> parse_level(const std::string& text) {
  if (text == "inf") return std::uint32_t{0};
  std::uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
    return Error{ErrorCode::kConfig, "'" + text + "' is not a link depth (0, 1, 2, ...; 0 or inf = no limit)"};
  return value;
}

int run_crawl(const CrawlCommandOptions& o, const Settings& base, bool quiet) {
  const Settings s = crawl_settings(o, base);
  // A seed that is no URL would otherwise surface as an empty crawl scope.
  for (const auto& seed : o.seeds) {
    if (auto url = Url::parse(seed); !url)
      return fail("crawl: seed '" + seed + "' is not an http(s) URL: " + url.error().message, kExitUsage);
  }
  if (!o.flags.output.empty() && o.flags.output != "-" && std::filesystem::is_directory(o.flags.output))
    return fail("crawl: -o '" + o.flags.output +
                    "' is a directory: -o names the results file; save files into a directory with -P DIR",
                kExitUsage);
  // The journal would sync a record after Redis already counts its URL as
  // done for every node, so a crash could lose it: not combined (yet).
  if (!o.frontier_uri.empty() && !o.flags.state_dir.empty()) {
    return fail(
        "crawl: --state and --frontier cannot be combined (the shared frontier keeps the crawl's state in Redis)",
        kExitUsage);
  }
  if (auto status = check_status(RunStatus{o.flags.status, o.flags.status_token}); !status)
    return fail(status.error().message, kExitUsage);
  const std::string results_path = o.flags.output.empty() ? "-" : o.flags.output;
  auto outputs = open_outputs(o.flags, "crawl", s.output.format, results_path);
  if (!outputs) return fail(outputs.error().message, kExitUsage);
  ResultSink& out = (*outputs)->records();
  auto options = engine_options(s, true);
  if (auto http = apply_http_flags(o.flags.http, options); !http) return fail(http.error().message, kExitUsage);
  options.state = (*outputs)->journal.get();
  if (!o.download_dir.empty()) {
    if (o.download_extensions.empty()) {
      return fail("crawl: -P/--download-dir needs at least one --download-ext (e.g. --download-ext .pdf)", kExitUsage);
    }
    DownloadOptions download;
    download.directory = o.download_dir;
    download.extensions = o.download_extensions;
    download.reserved = own_files(results_path, s.output.format, s.output.stats_json, {}, o.flags.state_dir);
    download.max_file_bytes = s.http.max_file_bytes;
    download.decode = s.http.decode_downloads;
    options.download = download;
  }
  // A shared crawl's rules (each record flushed before its lease completes,
  // no `aborted` or `duplicate` records) are the engine's.
  std::unique_ptr<Frontier> shared;
  if (!o.frontier_uri.empty()) {
    auto opened = open_shared_frontier(o.frontier_uri, options.frontier);
    if (!opened) return fail(opened.error().message, exit_code_for(opened.error()));
    shared = std::move(*opened);
  }
  CrawlEngine engine(options, out, std::move(shared));
  if (auto prepared = engine.prepare(); !prepared) return fail(prepared.error().message, kExitUsage);
  if (auto seeded = engine.set_seeds(o.seeds); !seeded) return fail(seeded.error().message, kExitUsage);
  return run_engine(
      engine, out, *(*outputs)->outcomes, s, quiet ? "none" : o.flags.progress, "crawl",
      [&o](CrawlEngine& e, int /*stop_fd*/) { return queue_seeds(e, o.seeds); },
      RunFiles{{}, {}, o.flags.http.cookie_jar, (*outputs)->sink.get()},
      RunStatus{o.flags.status, o.flags.status_token});
}

}  // namespace fetchpool::cli
