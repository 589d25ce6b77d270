#include "tools/cli/common_flags.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>

#include "fetchpool/scope.hpp"
#include "fetchpool/status_server.hpp"

namespace fetchpool::cli {

namespace {

// Timeouts are kept in milliseconds in 32 bits: a larger value would wrap
// (-T 4294968 used to become 0.7 s), so it is refused at parse time, as are
// NaN and infinity, which CLI::Range lets through.
constexpr double kMaxTimeoutSeconds = 4294967.0;  // UINT32_MAX ms, about 49.7 days

CLI::Validator timeout_seconds(bool zero_allowed) {
  return CLI::Validator(
      [zero_allowed](std::string& text) -> std::string {
        double seconds = 0;
        if (!CLI::detail::lexical_cast(text, seconds) || !std::isfinite(seconds))
          return "'" + text + "' is not a number of seconds";
        if (seconds < 0 || (!zero_allowed && seconds == 0) || seconds > kMaxTimeoutSeconds) {
          return "'" + text + "' is out of range: " + (zero_allowed ? "0" : "more than 0") + " to " +
                 std::to_string(static_cast<std::uint32_t>(kMaxTimeoutSeconds)) + " seconds";
        }
        return {};
      },
      zero_allowed ? "SECONDS in [0, 4294967]" : "SECONDS in (0, 4294967]");
}

}  // namespace

CLI::Validator no_minus_sign() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (text.find('-') != std::string::npos) return "'" + text + "' is negative; expected a whole number >= 0";
        return {};
      },
      "NUMBER >= 0");
}

void add_common_flags(CLI::App& cmd, CommonFlags& f) {
  cmd.add_option("-o,--output,--results", f.output,
                 "Results file, one record per URL ('-' = stdout), in every command [default: stdout; for get -P DIR, "
                 "DIR/fetchpool-results.jsonl]");
  f.workers_opt =
      cmd.add_option("-j,--jobs", f.workers,
                     "Worker threads fetching in parallel [config run.workers, default 16]. When the open-files "
                     "limit cannot carry N (about 6 descriptors each), the run uses the workers that fit, warns "
                     "once, and reports it under \"workers\" in --stats-json; the exit code is unchanged")
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
  f.delay_opt = cmd.add_option("-w,--wait", f.wait_s,
                               "Least seconds between two request starts to one host, fractions allowed (shared by "
                               "all workers; wget's -w)")
                    ->check(CLI::Range(0.0, 86400.0));
  const CLI::Validator tries_text(
      [](const std::string& text) {
        auto tries = parse_tries(text);
        return tries ? std::string() : tries.error().message;
      },
      "N|inf");
  f.tries_opt = cmd.add_option("-t,--tries", f.tries_text,
                               "Total tries per URL for transient failures (connect, timeout, reset, 5xx, 429); "
                               "0 or inf = no limit (wget's -t) [default 3]")
                    ->check(tries_text);
  f.retry_opt = cmd.add_option("--retry", f.retries, "Extra tries after the first (curl's --retry; -t N = --retry N-1)")
                    ->excludes(f.tries_opt);
  f.timeout_opt = cmd.add_option("-T,--timeout", f.timeout_s, "Whole-transfer timeout in seconds (0 = none)")
                      ->check(timeout_seconds(/*zero_allowed=*/true));
  f.connect_timeout_opt = cmd.add_option("--connect-timeout", f.connect_timeout_s, "Connect timeout in seconds")
                              ->check(timeout_seconds(/*zero_allowed=*/false));
  f.max_body_opt = cmd.add_option("--max-body", f.max_body, "Largest in-memory body in bytes; larger = error too_large")
                       ->check(no_minus_sign());
  f.max_retry_wait_opt = cmd.add_option("--max-retry-wait", f.max_retry_wait_s,
                                        "Longest wait before a retry in seconds, a server's Retry-After included; "
                                        "a longer Retry-After gives up at once (retry_after_too_long) [default 300]")
                             ->check(no_minus_sign());
  f.max_file_opt = cmd.add_option("--max-filesize", f.max_file_bytes,
                                  "Largest file saved, in bytes written; larger = error too_large [default 16 GiB]")
                       ->check(CLI::PositiveNumber);
  cmd.add_flag("--compressed", f.compressed,
               "Ask for gzip/deflate and save files decoded (capped by --max-filesize); without it files "
               "are saved exactly as sent, as curl does");
  f.warc_file_opt = cmd.add_option(
      "--warc-file", f.warc_file,
      "Archive every request and response (redirects and robots.txt included) as WARC/1.1 in NAME.warc.gz,\n"
      "with a CDXJ index NAME.cdxj (as wget --warc-file); with --state a resumed run appends");
  cmd.add_option("--warc-max-size", f.warc_max_size,
                 "Start a new WARC file at this size: NAME-00000.warc.gz, NAME-00001.warc.gz ... (500M, 1G)")
      ->check(CLI::Validator(
          [](const std::string& text) {
            auto parsed = parse_size(text);
            return parsed ? std::string() : parsed.error().message;
          },
          "SIZE"));
  cmd.add_option("--progress", f.progress,
                 "Progress display: auto (bar on a terminal, log lines otherwise), bar, log, none")
      ->check(CLI::IsMember({"auto", "bar", "log", "none"}));
  cmd.add_option("--state", f.state_dir,
                 "Journal the run in this directory (created if needed). Rerunning the same command with the same\n"
                 "directory after a crash, kill or Ctrl-C resumes it: finished URLs are not fetched again and the\n"
                 "results file is rewritten with every record once (to stdout only new records are printed)");
  cmd.add_option("--status", f.status,
                 "Serve a live status page (/), /status.json and Prometheus /metrics at [HOST:]PORT while the run\n"
                 "lasts; HOST defaults to 127.0.0.1, port 0 picks a free port; the URL is printed on stderr")
      ->check(CLI::Validator(
          [](const std::string& text) {
            auto parsed = parse_status_address(text);
            return parsed ? std::string() : parsed.error().message;
          },
          "[HOST:]PORT"));
  cmd.add_option("--status-token", f.status_token,
                 "Access token for --status, required when HOST is not loopback (default: $FETCHPOOL_STATUS_TOKEN);\n"
                 "send it as 'Authorization: Bearer TOKEN' or open the page with ?token=TOKEN");
  add_http_flags(cmd, f.http);
}

Result<std::uint32_t> parse_tries(const std::string& text) {
  if (text == "inf" || text == "0") return std::uint32_t{0};
  std::uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
    return Error{ErrorCode::kConfig, "'" + text + "' is not a number of tries (1, 2, ...; 0 or inf = no limit)"};
  return value;
}

void apply_common_flags(const CommonFlags& f, Settings& s, bool crawl) {
  if (f.workers_opt->count()) s.run.workers = f.workers;
  if (f.format_opt->count()) s.output.format = f.format;
  if (f.stats_opt->count()) s.output.stats_json = f.stats_json;
  if (f.ua_opt->count()) s.http.user_agent = f.user_agent;
  if (f.per_host_opt->count()) (crawl ? s.politeness.crawl_per_host : s.politeness.get_per_host) = f.per_host;
  if (f.delay_opt->count())
    (crawl ? s.politeness.crawl_min_interval_ms : s.politeness.get_min_interval_ms) =
        static_cast<std::uint32_t>(std::lround(f.wait_s * 1000.0));
  if (f.tries_opt->count()) {
    const auto parsed = parse_tries(f.tries_text);  // checked while parsing
    const std::uint32_t tries = parsed ? *parsed : 0;
    s.retry.max_retries = tries == 0 ? kUnlimitedRetries : tries - 1;
  }
  if (f.retry_opt->count()) s.retry.max_retries = f.retries;
  if (f.timeout_opt->count()) s.http.timeout_ms = static_cast<std::uint32_t>(f.timeout_s * 1000.0);
  if (f.connect_timeout_opt->count())
    s.http.connect_timeout_ms = static_cast<std::uint32_t>(f.connect_timeout_s * 1000.0);
  if (f.max_body_opt->count()) s.http.max_body_bytes = f.max_body;
  if (f.max_retry_wait_opt->count()) s.retry.max_retry_wait_s = f.max_retry_wait_s;
  if (f.max_file_opt->count()) s.http.max_file_bytes = f.max_file_bytes;
  if (f.compressed) s.http.decode_downloads = true;
  if (f.warc_file_opt->count()) s.output.warc_file = f.warc_file;
  if (!f.warc_max_size.empty()) s.output.warc_max_size = parse_size(f.warc_max_size).value();  // checked while parsing
  apply_http_settings(f.http, s);
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
  o.retry.max_retry_wait = std::chrono::seconds(s.retry.max_retry_wait_s);
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

}  // namespace fetchpool::cli
