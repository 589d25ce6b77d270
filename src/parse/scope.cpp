// GCC 12 with -fsanitize=address reports std::function members inside
// std::regex's compiler as maybe-uninitialized: a false positive in library
// code instantiated here, so it is silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "fetchpool/scope.hpp"

#include <algorithm>
#include <utility>

namespace fetchpool {
namespace {

#if defined(__GLIBCXX__)
// See scope.hpp: bounded stack and polynomial time, at the price of back-references.
constexpr auto kRegexFlags = std::regex::ECMAScript | std::regex_constants::__polynomial;
#else
constexpr auto kRegexFlags = std::regex::ECMAScript;
#endif

bool has_default_port(const Url& url) noexcept { return url.port() == (url.scheme() == "https" ? 443 : 80); }

// "example.com" on the scheme's default port, else "example.com:8080".
// Hosts on port 80 and 443 share a key because sites move from http to https
// by redirect, and a crawl seeded with http://example.com should follow.
std::string host_scope_key(const Url& url) {
  std::string key(url.host());
  if (!has_default_port(url)) key.append(":").append(std::to_string(url.port()));
  return key;
}

Result<std::vector<std::regex>> compile(const std::vector<std::string>& patterns, std::string_view kind) {
  std::vector<std::regex> compiled;
  compiled.reserve(patterns.size());
  for (const std::string& pattern : patterns) {
    try {
      // The pattern alone first, so that one that only parses inside the
      // wrapper (such as "a)(b") is still refused.
      const std::regex alone(pattern, kRegexFlags);
      // regex_search runs the matcher from every start position, O(n^2) on an
      // 8 KiB URL (seconds for ".*x=2"); one match with an explicit prefix
      // and suffix is a single linear pass. [\s\S] is any character.
      compiled.emplace_back("[\\s\\S]*(?:" + pattern + ")[\\s\\S]*", kRegexFlags);
    } catch (const std::regex_error& error) {
      return Error{ErrorCode::kConfig, "bad " + std::string(kind) + " pattern \"" + pattern + "\": " + error.what()};
    }
  }
  return compiled;
}

bool any_matches(const std::vector<std::regex>& patterns, const std::string& text) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&text](const std::regex& pattern) { return std::regex_match(text, pattern); });
}

}  // namespace

std::optional<ScopeMode> parse_scope_mode(std::string_view name) {
  if (name == "host") return ScopeMode::kSameHost;
  if (name == "domain") return ScopeMode::kSameDomain;
  if (name == "any") return ScopeMode::kAny;
  return std::nullopt;
}

Scope::Scope(ScopeMode mode, KeySet keys, std::vector<std::regex> includes, std::vector<std::regex> excludes)
    : mode_(mode), keys_(std::move(keys)), includes_(std::move(includes)), excludes_(std::move(excludes)) {}

Result<Scope> Scope::create(const ScopeOptions& options, const std::vector<Url>& seeds) {
  if (options.mode != ScopeMode::kAny && seeds.empty()) {
    return Error{ErrorCode::kConfig, std::string("scope \"") +
                                         (options.mode == ScopeMode::kSameHost ? "host" : "domain") +
                                         "\" needs at least one seed URL to compare against"};
  }
  auto includes = compile(options.include_patterns, "include");
  if (!includes) return std::move(includes).error();
  auto excludes = compile(options.exclude_patterns, "exclude");
  if (!excludes) return std::move(excludes).error();

  KeySet keys;
  for (const Url& seed : seeds) {
    if (options.mode == ScopeMode::kSameHost) keys.insert(host_scope_key(seed));
    if (options.mode == ScopeMode::kSameDomain) keys.insert(seed.registrable_domain());
  }
  return Scope(options.mode, std::move(keys), std::move(includes).value(), std::move(excludes).value());
}

bool Scope::allows(const Url& url) const {
  switch (mode_) {
    case ScopeMode::kSameHost:
      // The common case (default port) looks up the host without building a key.
      if (has_default_port(url) ? !keys_.contains(url.host()) : !keys_.contains(host_scope_key(url))) {
        return false;
      }
      break;
    case ScopeMode::kSameDomain:
      if (!keys_.contains(url.registrable_domain())) return false;
      break;
    case ScopeMode::kAny:
      break;
  }
  if (!includes_.empty() && !any_matches(includes_, url.str())) return false;
  return !any_matches(excludes_, url.str());
}

}  // namespace fetchpool
