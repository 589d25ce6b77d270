// `fetchpool crawl`: a recursive crawl from seed URLs within a scope, obeying
// robots.txt, optionally saving matching files and optionally shared with
// other processes through a Redis frontier (--frontier).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fetchpool/config.hpp"
#include "fetchpool/error.hpp"
#include "tools/cli/common_flags.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace fetchpool::cli {

struct CrawlCommandOptions {
  std::vector<std::string> seeds;
  CommonFlags flags;
  std::uint32_t depth = 0;
  std::string level;  // -l: a depth, 0 or inf
  std::uint64_t max_pages = 0;
  std::string scope;
  std::vector<std::string> include, exclude;
  bool no_robots = false;
  std::string html_parser;
  std::uint64_t max_links_per_page = 0;
  std::string download_dir;
  std::vector<std::string> download_extensions;
  std::string frontier_uri;  // empty: the in-memory frontier
  std::string mirror_dir;    // --mirror DIR: every page saved under DIR/HOST[:PORT]/PATH
  bool convert_links = false;
  bool sitemaps = false;                  // --sitemaps: seed from the seed hosts' robots.txt Sitemap: lines
  std::vector<std::string> sitemap_urls;  // --sitemap URL (repeatable; implies --sitemaps)
  // Given flags override the config file (count()).
  CLI::Option* depth_opt = nullptr;
  CLI::Option* level_opt = nullptr;
  CLI::Option* max_pages_opt = nullptr;
  CLI::Option* scope_opt = nullptr;
  CLI::Option* include_opt = nullptr;
  CLI::Option* exclude_opt = nullptr;
  CLI::Option* html_parser_opt = nullptr;
  CLI::Option* max_links_opt = nullptr;
};

// -l 0 and -l inf: wget's "no limit", as the deepest depth a frontier counts.
inline constexpr std::uint32_t kUnlimitedDepth = 0xffffffffu;

// -l's text: a depth, or 0 / inf for no limit (returned as 0).
Result<std::uint32_t> parse_level(const std::string& text);

// Registers the subcommand and its flags on `app`; the values land in `options`.
CLI::App* add_crawl_command(CLI::App& app, CrawlCommandOptions& options);

// Runs the crawl over `base` (the config file's settings). Exit codes as run_cli's.
int run_crawl(const CrawlCommandOptions& options, const Settings& base, bool quiet);

}  // namespace fetchpool::cli
