// robots.txt parsing and matching (RFC 9309, Robots Exclusion Protocol),
// modelled on google/robotstxt: a parser that reports each line to a
// RobotsParseHandler, and RobotsRules, the handler that keeps the rules for one
// user agent and answers allowed(path). Pure: no I/O, no threads; the caller
// fetches robots.txt and maps its HTTP status onto parse / allow_all /
// disallow_all (RFC 9309 2.3.1).
//
// Where this follows google/robotstxt rather than the letter of RFC 9309:
//  - Typos accepted in keys (exact, case-insensitive spellings): "useragent",
//    "user agent"; "dissallow", "dissalow", "disalow", "diasllow", "disallaw";
//    "site-map"; "crawldelay", "crawl delay". A missing colon is accepted when
//    the line is exactly two whitespace-separated words ("Disallow /x").
//  - A leading UTF-8 byte order mark (or a leading part of one) is skipped.
//  - Lines longer than kRobotsMaxLineBytes are cut there; the cut line is used.
//  - "Allow: /dir/index.htm..." also allows "/dir/" (implicit "Allow: /dir/$").
//  - A user-agent line counts up to its first whitespace or '/', so
//    "User-agent: FooBot/2.1" and "User-agent: FooBot Images" name FooBot.
// Where it deviates from google/robotstxt, following RFC 9309 2.2.2 instead:
//  - %-encoded unreserved characters are decoded before comparison in both
//    the pattern and the path ("/%7Efoo" matches "/~foo"); reserved ones stay
//    encoded ("/a%2Fb" does not match "/a/b").
// Extensions: Crawl-delay (non-standard) is read from the matched group(s).
//
// Thread-safety: parse_robots_txt is reentrant. RobotsRules is immutable after
// construction; all const members may be called from any number of threads,
// and copies share their state.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fetchpool {

// RFC 9309 2.5: crawlers must parse at least 500 KiB; we parse exactly that.
inline constexpr std::size_t kRobotsMaxBytes = std::size_t{500} * 1024;
// A line is cut after this many bytes (google/robotstxt uses 8 x 2083).
inline constexpr std::size_t kRobotsMaxLineBytes = std::size_t{16} * 1024;

// Callbacks the parser reports to, one per recognised line, in file order.
// `line` is 1-based (CR, LF and CRLF each end one line). Values are as
// written, with the comment and surrounding whitespace removed; Allow and
// Disallow values are not yet %-normalised. Lines without a key/value
// separator are not reported. Handlers MUST copy what they keep: the
// string_views are valid only during the call.
class RobotsParseHandler {
 public:
  virtual ~RobotsParseHandler() = default;
  virtual void on_user_agent(int line, std::string_view value) = 0;
  virtual void on_allow(int line, std::string_view value) = 0;
  virtual void on_disallow(int line, std::string_view value) = 0;
  virtual void on_sitemap(int line, std::string_view value) = 0;
  virtual void on_crawl_delay(int line, std::string_view value) = 0;
  virtual void on_unknown(int line, std::string_view key, std::string_view value) = 0;
};

// Parses `body` and reports each line to `handler`. Only the first
// kRobotsMaxBytes bytes are read (RFC 9309 2.5); a line that the limit cuts in
// two is dropped, since half a rule can widen or narrow what it covers.
void parse_robots_txt(std::string_view body, RobotsParseHandler& handler);

// The rules that apply to one user agent, compiled once per host and then
// queried by many threads. Immutable; cheap to copy (copies share state).
class RobotsRules {
 public:
  // Compiles the group(s) for `user_agent`: a full User-Agent string or a
  // product token; the product token (text before the first '/' or
  // whitespace) is compared case-insensitively (RFC 9309 2.2.1). All groups
  // naming it are merged; if none does, all "*" groups are merged; if there is
  // no "*" group either, everything is allowed. Rules before the first
  // user-agent line belong to no group and are ignored.
  static RobotsRules parse(std::string_view body, std::string_view user_agent);
  // robots.txt answered 4xx: everything allowed (RFC 9309 2.3.1.3).
  static RobotsRules allow_all();
  // robots.txt answered 5xx or was unreachable: everything disallowed, as if
  // it said "Disallow: /" (RFC 9309 2.3.1.4).
  static RobotsRules disallow_all();

  // `path_and_query` is the URL's path with its query, %-encoded as sent on
  // the wire (RFC 3986), without the fragment, e.g. "/a/b?c=d". A value that
  // does not start with '/' is read as if it did ("?q" as "/?q"). The longest
  // matching pattern wins; on equal length Allow wins (RFC 9309 2.2.2).
  // "/robots.txt" is always allowed (RFC 9309 2.2.2).
  bool allowed(std::string_view path_and_query) const;

  // Largest Crawl-delay in the matched group(s); fractional seconds allowed
  // ("0.5"), millisecond precision, capped at kMaxDelay. Unparsable or
  // negative values are ignored. nullopt if there is none.
  std::optional<std::chrono::milliseconds> crawl_delay() const;
  // Every Sitemap value in file order, whatever group it is in (RFC 9309 2.2.4).
  const std::vector<std::string>& sitemaps() const noexcept;
  // Allow/Disallow lines with a non-empty value in the matched group(s).
  std::size_t rule_count() const noexcept;

  // Upper bound for delays read from robots.txt and Retry-After, so that
  // absurd values cannot overflow time arithmetic; callers cap further.
  static constexpr std::chrono::seconds kMaxDelay{std::chrono::hours{24 * 365}};

 private:
  struct Impl;
  explicit RobotsRules(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

// Parses a Retry-After value (RFC 9110 10.2.3): delay-seconds, or an
// HTTP-date in any of the three formats RFC 9110 5.6.7 requires recipients to
// accept (IMF-fixdate, obsolete RFC 850, asctime). Returns how long to wait
// from `now`: zero for a date in the past, capped at RobotsRules::kMaxDelay;
// nullopt when the value is neither. Lives here because it is pure and the
// politeness code that needs it also needs robots.txt.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

}  // namespace fetchpool
