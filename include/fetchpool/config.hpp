// Settings: every tunable of fetchpool as plain values, loaded from TOML.
//
// config/default.toml documents every key with its default and one line of
// explanation; this header is its typed mirror. Components never parse files:
// the CLI loads a Settings (defaults, then --config file, then flags) and hands
// each component the plain values it needs. Unknown keys and wrong types are
// errors, not warnings, so a typo in a config file cannot silently fall back to
// a default. Values are plain data: copy freely, no thread-safety concerns.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fetchpool/error.hpp"

namespace fetchpool {

struct RunSettings {
  std::uint32_t workers = 16;                 // -j: worker threads
  std::uint32_t progress_interval_ms = 1000;  // progress reporter period
  std::string log_level = "info";             // trace|debug|info|warn|error|off
};

struct CrawlSettings {
  std::uint32_t max_depth = 5;       // links followed from the seeds
  std::uint64_t max_pages = 0;       // 0 = unlimited
  std::string scope = "host";        // host | domain | any
  std::vector<std::string> include;  // regexes a URL must match (any)
  std::vector<std::string> exclude;  // regexes a URL must not match
  bool robots = true;                // obey robots.txt
  std::vector<std::string> link_tags{"a", "area", "link", "iframe", "frame"};
  bool honour_rel_nofollow = false;          // skip <a rel="nofollow">
  std::string html_parser = "fast";          // fast (one-pass scanner) | gumbo (full HTML5 tree)
  std::uint64_t max_links_per_page = 10000;  // links kept per page; bounds a page's memory
};

struct HttpSettings {
  std::string user_agent = "fetchpool/0.1";
  std::uint32_t connect_timeout_ms = 10000;
  std::uint32_t timeout_ms = 120000;           // whole transfer; 0 = none
  std::uint32_t low_speed_limit = 100;         // bytes/s ...
  std::uint32_t low_speed_time_s = 30;         // ... for this long = stalled
  std::uint64_t max_body_bytes = 32ull << 20;  // in-memory bodies
  std::uint32_t max_redirects = 10;
  bool compressed = true;                      // pages: Accept-Encoding gzip/deflate, decoded
  bool decode_downloads = false;               // --compressed: files too are asked for coded and decoded
  std::uint64_t max_file_bytes = 16ull << 30;  // --max-filesize: largest file saved (bytes written)
  bool http2 = true;                           // HTTP/2 over TLS when offered
  bool verify_tls = true;
};

struct PolitenessSettings {
  std::uint32_t crawl_per_host = 8;          // max in-flight requests per host for crawl
  std::uint32_t get_per_host = 0;            // ... for get (0 = unlimited, like curl/aria2)
  std::uint32_t crawl_min_interval_ms = 0;   // between request starts to one host (crawl)
  std::uint32_t get_min_interval_ms = 0;     // ... (get)
  std::uint32_t max_crawl_delay_ms = 30000;  // cap on robots.txt Crawl-delay
};

struct RetrySettings {
  std::uint32_t max_retries = 2;         // extra tries for transient failures
  std::uint32_t backoff_base_ms = 500;   // first retry waits ~base, then x2 ...
  std::uint32_t backoff_max_ms = 30000;  // ... up to this, with jitter
  std::uint32_t max_retry_wait_s = 300;  // --max-retry-wait: longest wait for a retry, Retry-After included
};

struct OutputSettings {
  std::string format = "jsonl";     // jsonl | csv
  std::string stats_json;           // write aggregate stats here ("" = don't)
  std::string warc_file;            // --warc-file NAME: archive every exchange in NAME.warc.gz ("" = don't)
  std::uint64_t warc_max_size = 0;  // --warc-max-size: roll over to NAME-00001.warc.gz ... at this size (0 = never)
};

struct ServeSettings {
  std::uint32_t pages = 10000;
  std::uint32_t links_per_page = 8;
  std::uint32_t page_bytes = 4096;
  std::uint32_t latency_ms = 0;
  std::uint32_t jitter_ms = 0;
  double error_rate = 0.0;
  std::uint64_t seed = 1;
  std::uint32_t threads = 1;
};

struct Settings {
  RunSettings run;
  CrawlSettings crawl;
  HttpSettings http;
  PolitenessSettings politeness;
  RetrySettings retry;
  OutputSettings output;
  ServeSettings serve;
};

// Loads `path` over the defaults. Errors name the file and the key, e.g.
// "config/x.toml: http.timeout_ms: expected a non-negative integer, got string".
Result<Settings> load_settings(const std::filesystem::path& path);

// Same, from text already in memory; `source_name` is used in error messages.
Result<Settings> parse_settings(std::string_view toml_text, std::string_view source_name);

}  // namespace fetchpool
