// Scope: which discovered URLs a crawl follows.
//
// A URL is in scope when it passes the mode check against the seeds, matches
// at least one include pattern (if any are given) and matches no exclude
// pattern. Patterns are ECMAScript regular expressions (std::regex) searched
// for anywhere in Url::str(), the normalised URL; anchor them with ^ and $ to
// match the whole URL. Back-references are refused: matching runs in
// libstdc++'s polynomial (Thompson NFA) mode, whose stack use does not grow
// with the URL's length and whose time cannot explode on a crafted URL (the
// default backtracking matcher recurses once per character and overflows a
// 512 KiB worker stack on an 8 KiB URL). A search runs as one linear match
// of [\s\S]*(?:pattern)[\s\S]*: under 1 ms on an 8 KiB URL and a few
// microseconds on a typical one, where std::regex_search takes seconds.
//
// Thread-safety: a Scope is immutable after create(); allows() may be called
// from any number of threads at once.
#pragma once

#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fetchpool/error.hpp"
#include "fetchpool/url.hpp"

namespace fetchpool {

enum class ScopeMode {
  kSameHost,    // same host and port as a seed; http and https on their default ports count as one host
  kSameDomain,  // same registrable domain (Public Suffix List) as a seed: www.a.com and blog.a.com
  kAny,         // anything http(s)
};

// "host", "domain" or "any" (the names used in config files and on the command line).
std::optional<ScopeMode> parse_scope_mode(std::string_view name);

struct ScopeOptions {
  ScopeMode mode = ScopeMode::kSameHost;
  std::vector<std::string> include_patterns;  // if any: a URL must match one
  std::vector<std::string> exclude_patterns;  // a URL matching any is out
};

class Scope {
 public:
  // Errors (kConfig): a pattern that does not compile, naming it; no seeds in
  // a mode that compares against them.
  static Result<Scope> create(const ScopeOptions& options, const std::vector<Url>& seeds);

  bool allows(const Url& url) const;

 private:
  // std::less<> lets allows() look up a string_view without building a string.
  using KeySet = std::set<std::string, std::less<>>;

  Scope(ScopeMode mode, KeySet keys, std::vector<std::regex> includes, std::vector<std::regex> excludes);

  ScopeMode mode_;
  KeySet keys_;  // host[:port] or registrable domain of each seed, per mode_
  std::vector<std::regex> includes_;
  std::vector<std::regex> excludes_;
};

}  // namespace fetchpool
