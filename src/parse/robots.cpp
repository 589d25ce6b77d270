#include "fetchpool/robots.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "base/ascii.hpp"
#include "base/percent_coding.hpp"
#include "parse/robots_pattern.hpp"

namespace fetchpool {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

using detail::iequals;
using detail::is_ascii_digit;
using detail::trim_any_of;
using detail::trim_http_ows;

// What robots.txt lines are trimmed of: line breaks have already split them.
constexpr std::string_view kWhitespace = " \t\v\f";

// ---------------------------------------------------------------------------
// Parser

enum class Key { kUserAgent, kAllow, kDisallow, kSitemap, kCrawlDelay, kUnknown };

bool key_is_any_of(std::string_view key, std::initializer_list<std::string_view> spellings) {
  return std::any_of(spellings.begin(), spellings.end(), [key](std::string_view s) { return iequals(key, s); });
}

// Exact, case-insensitive spellings, typos included (see robots.hpp). Exact
// rather than google's prefix test, so "allowance: x" stays unknown.
Key classify_key(std::string_view key) {
  if (key_is_any_of(key, {"user-agent", "useragent", "user agent"})) return Key::kUserAgent;
  if (key_is_any_of(key, {"allow"})) return Key::kAllow;
  if (key_is_any_of(key, {"disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw"})) {
    return Key::kDisallow;
  }
  if (key_is_any_of(key, {"sitemap", "site-map"})) return Key::kSitemap;
  if (key_is_any_of(key, {"crawl-delay", "crawldelay", "crawl delay"})) return Key::kCrawlDelay;
  return Key::kUnknown;
}

void parse_line(int line_number, std::string_view line, RobotsParseHandler& handler) {
  if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
  line = trim_any_of(line, kWhitespace);
  if (line.empty()) return;

  std::string_view key;
  std::string_view value;
  if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    key = trim_any_of(line.substr(0, colon), kWhitespace);
    value = trim_any_of(line.substr(colon + 1), kWhitespace);
  } else {
    // No colon: accept "key value" only when there are exactly two words, so
    // prose and garbage are not read as rules (google/robotstxt does the same).
    const auto gap = line.find_first_of(kWhitespace);
    if (gap == std::string_view::npos) return;
    const auto value_start = line.find_first_not_of(kWhitespace, gap);  // exists: line is trimmed
    if (line.find_first_of(kWhitespace, value_start) != std::string_view::npos) return;
    key = line.substr(0, gap);
    value = line.substr(value_start);
  }
  if (key.empty()) return;

  switch (classify_key(key)) {
    case Key::kUserAgent:
      handler.on_user_agent(line_number, value);
      break;
    case Key::kAllow:
      handler.on_allow(line_number, value);
      break;
    case Key::kDisallow:
      handler.on_disallow(line_number, value);
      break;
    case Key::kSitemap:
      handler.on_sitemap(line_number, value);
      break;
    case Key::kCrawlDelay:
      handler.on_crawl_delay(line_number, value);
      break;
    case Key::kUnknown:
      handler.on_unknown(line_number, key, value);
      break;
  }
}

// ---------------------------------------------------------------------------
// Delay values

constexpr auto kMaxDelayMs = std::chrono::duration_cast<milliseconds>(RobotsRules::kMaxDelay).count();

// Adds a decimal digit to `value`, saturating above `cap` instead of overflowing.
void accumulate_digit(std::int64_t& value, char digit, std::int64_t cap) {
  value = std::min<std::int64_t>(value * 10 + (digit - '0'), cap + 1);
}

// "10", "0.5", "1.", ".25": non-negative decimal seconds, kept to the millisecond.
std::optional<milliseconds> parse_crawl_delay(std::string_view value) {
  value = trim_any_of(value, kWhitespace);
  std::int64_t whole = 0;
  std::int64_t millis = 0;
  int fraction_digits = 0;
  bool any_digit = false;
  std::size_t i = 0;
  for (; i < value.size() && is_ascii_digit(value[i]); ++i) {
    accumulate_digit(whole, value[i], kMaxDelayMs / 1000);
    any_digit = true;
  }
  if (i < value.size() && value[i] == '.') {
    for (++i; i < value.size() && is_ascii_digit(value[i]); ++i) {
      if (fraction_digits < 3) millis = millis * 10 + (value[i] - '0');
      ++fraction_digits;
      any_digit = true;
    }
    for (int d = std::min(fraction_digits, 3); d < 3; ++d) millis *= 10;
  }
  if (!any_digit || i != value.size()) return std::nullopt;
  return milliseconds{std::min(whole * 1000 + millis, kMaxDelayMs)};
}

// A cursor over an HTTP-date (RFC 9110 5.6.7). Each method consumes on success.
class DateCursor {
 public:
  explicit DateCursor(std::string_view text) : text_(text) {}

  bool done() const { return pos_ == text_.size(); }
  bool literal(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool literal(std::string_view s) {
    if (text_.substr(pos_, s.size()) != s) return false;
    pos_ += s.size();
    return true;
  }
  // Exactly `count` digits.
  bool number(int count, int& out) {
    if (text_.size() - pos_ < static_cast<std::size_t>(count)) return false;
    int v = 0;
    for (int i = 0; i < count; ++i) {
      const char c = text_[pos_ + static_cast<std::size_t>(i)];
      if (!is_ascii_digit(c)) return false;
      v = v * 10 + (c - '0');
    }
    pos_ += static_cast<std::size_t>(count);
    out = v;
    return true;
  }
  // One of `names` (case-insensitive); `index` is its position.
  template <std::size_t N>
  bool name(const std::array<std::string_view, N>& names, int& index) {
    for (std::size_t i = 0; i < N; ++i) {
      if (iequals(text_.substr(pos_, names[i].size()), names[i])) {
        pos_ += names[i].size();
        index = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }
  // hour ":" minute ":" second
  bool time_of_day(int& h, int& m, int& s) {
    return number(2, h) && literal(':') && number(2, m) && literal(':') && number(2, s) && h <= 23 && m <= 59 &&
           s <= 60;  // 60: a leap second
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

constexpr std::array<std::string_view, 7> kDayNames = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDayNames = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                           "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> kMonthNames = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::optional<std::chrono::sys_seconds> make_time(int year, int month, int day, int h, int m, int s) {
  const std::chrono::year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return std::nullopt;
  return std::chrono::sys_days{date} + std::chrono::hours{h} + std::chrono::minutes{m} + seconds{s};
}

// The three HTTP-date forms (RFC 9110 5.6.7):
//   IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT
//   rfc850-date  Sunday, 06-Nov-94 08:49:37 GMT
//   asctime-date Sun Nov  6 08:49:37 1994
std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view text, int current_year) {
  int weekday = 0, day = 0, month = 0, year = 0, h = 0, m = 0, s = 0;
  {
    DateCursor c(text);
    if (c.name(kDayNames, weekday) && c.literal(", ") && c.number(2, day) && c.literal(' ') &&
        c.name(kMonthNames, month) && c.literal(' ') && c.number(4, year) && c.literal(' ') && c.time_of_day(h, m, s) &&
        c.literal(" GMT") && c.done()) {
      return make_time(year, month + 1, day, h, m, s);
    }
  }
  {
    DateCursor c(text);
    if (c.name(kLongDayNames, weekday) && c.literal(", ") && c.number(2, day) && c.literal('-') &&
        c.name(kMonthNames, month) && c.literal('-') && c.number(2, year) && c.literal(' ') && c.time_of_day(h, m, s) &&
        c.literal(" GMT") && c.done()) {
      // RFC 9110 5.6.7: a two-digit year more than 50 years ahead is in the
      // past century; we also keep it within 50 years behind.
      year += current_year - current_year % 100;
      if (year > current_year + 50) year -= 100;
      if (year < current_year - 50) year += 100;
      return make_time(year, month + 1, day, h, m, s);
    }
  }
  {
    DateCursor c(text);
    if (c.name(kDayNames, weekday) && c.literal(' ') && c.name(kMonthNames, month) && c.literal(' ') &&
        (c.number(2, day) || (c.literal(' ') && c.number(1, day))) && c.literal(' ') && c.time_of_day(h, m, s) &&
        c.literal(' ') && c.number(4, year) && c.done()) {
      return make_time(year, month + 1, day, h, m, s);
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Matching

// The product token of a User-Agent string or of a user-agent line: the text
// before the first '/' or whitespace ("FooBot/2.1 (+http://x)" -> "FooBot").
std::string_view product_token(std::string_view user_agent) {
  user_agent = trim_any_of(user_agent, kWhitespace);
  return user_agent.substr(0, user_agent.find_first_of(" \t\v\f/"));
}

}  // namespace

// ---------------------------------------------------------------------------
// detail: normalisation and the pattern matcher

namespace detail {
namespace {

bool is_unreserved(unsigned char c) { return is_uri_unreserved(static_cast<char>(c)); }

// Unreserved plus reserved (RFC 3986 2.2): what may appear unencoded in a URI.
bool is_uri_char(unsigned char c) {
  return is_unreserved(c) ||
         std::string_view(":/?#[]@!$&'()*+,;=").find(static_cast<char>(c)) != std::string_view::npos;
}

}  // namespace

std::string normalize_robots_path(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '%') {
      const int hi = i + 2 < text.size() ? hex_digit_value(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? hex_digit_value(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        append_percent_encoded(out, c);  // a lone '%' is the octet '%' itself
        continue;
      }
      const auto decoded = static_cast<unsigned char>(hi * 16 + lo);
      if (is_unreserved(decoded)) {
        out += static_cast<char>(decoded);
      } else {
        append_percent_encoded(out, decoded);
      }
      i += 2;
    } else if (is_uri_char(c)) {
      out += static_cast<char>(c);
    } else {
      append_percent_encoded(out, c);
    }
  }
  return out;
}

RobotsPattern::RobotsPattern(std::string_view normalized) : length_(normalized.size()) {
  if (!normalized.empty() && normalized.back() == '$') {
    anchored_end_ = true;
    normalized.remove_suffix(1);
  }
  std::size_t start = 0;
  while (true) {
    const auto star = normalized.find('*', start);
    const auto text = normalized.substr(start, star == std::string_view::npos ? std::string_view::npos : star - start);
    // Empty segments between consecutive stars change nothing; the first and
    // last stay, since they carry the start and end anchoring.
    if (!text.empty() || segments_.empty() || star == std::string_view::npos) {
      Segment segment{std::string(text), std::vector<std::size_t>(text.size(), 0)};
      for (std::size_t i = 1, k = 0; i < text.size(); ++i) {
        while (k > 0 && text[i] != text[k]) k = segment.failure[k - 1];
        if (text[i] == text[k]) ++k;
        segment.failure[i] = k;
      }
      segments_.push_back(std::move(segment));
    }
    if (star == std::string_view::npos) break;
    start = star + 1;
  }
}

// Leftmost occurrence of `segment` in `path` at or after `from`, or npos.
// Knuth-Morris-Pratt: at most 2 x (path.size() - from) comparisons.
std::size_t RobotsPattern::find(std::string_view path, std::size_t from, const Segment& segment, std::size_t& steps) {
  const std::string_view needle = segment.text;
  if (needle.empty()) return from;
  std::size_t k = 0;
  for (std::size_t i = from; i < path.size(); ++i) {
    ++steps;
    while (k > 0 && path[i] != needle[k]) {
      k = segment.failure[k - 1];
      ++steps;
    }
    if (path[i] == needle[k]) ++k;
    if (k == needle.size()) return i + 1 - needle.size();
  }
  return std::string_view::npos;
}

bool RobotsPattern::matches(std::string_view path, std::size_t* steps) const {
  std::size_t local_steps = 0;
  std::size_t& count = steps != nullptr ? *steps : local_steps;

  const std::string_view first = segments_.front().text;
  count += std::min(first.size(), path.size());
  if (path.substr(0, first.size()) != first) return false;
  if (segments_.size() == 1) return !anchored_end_ || path.size() == first.size();

  // Greedy: each middle segment at its leftmost place leaves the most room
  // for the rest, so if any placement matches, this one does.
  std::size_t pos = first.size();
  for (std::size_t i = 1; i + 1 < segments_.size(); ++i) {
    const auto found = find(path, pos, segments_[i], count);
    if (found == std::string_view::npos) return false;
    pos = found + segments_[i].text.size();
  }
  const Segment& last = segments_.back();
  if (!anchored_end_) return find(path, pos, last, count) != std::string_view::npos;
  count += last.text.size();
  return path.size() - pos >= last.text.size() && path.substr(path.size() - last.text.size()) == last.text;
}

}  // namespace detail

// ---------------------------------------------------------------------------
// RobotsRules

namespace detail {
struct RobotsRule {
  RobotsPattern pattern;
  bool allow;
};
}  // namespace detail

struct RobotsRules::Impl {
  std::vector<detail::RobotsRule> rules;
  std::size_t rule_count = 0;  // from robots.txt lines; the implicit index.html rules are not counted
  std::optional<milliseconds> crawl_delay;
  std::vector<std::string> sitemaps;
};

namespace {

// The matcher handler (google/robotstxt's RobotsMatcher, compiling instead of
// matching one URL): collects the rules of the groups naming our product
// token and, separately, of the "*" groups, and picks one set at the end.
class RulesCollector final : public RobotsParseHandler {
 public:
  explicit RulesCollector(std::string_view user_agent) : token_(product_token(user_agent)) {
    if (token_ == "*") token_ = {};  // "*" is not a name; such a crawler obeys only "*" groups
  }

  void on_user_agent(int, std::string_view value) override {
    // Consecutive user-agent lines share one group; any other line ends the
    // list, and the next user-agent line then starts a new group (RFC 9309 2.1).
    if (group_has_lines_) in_specific_ = in_global_ = group_has_lines_ = false;
    const auto token = product_token(value);
    if (token == "*") {
      in_global_ = true;
    } else if (!token_.empty() && iequals(token, token_)) {
      in_specific_ = true;
      specific_.matched = true;
    }
  }
  void on_allow(int, std::string_view value) override { add_rule(value, true); }
  void on_disallow(int, std::string_view value) override { add_rule(value, false); }
  void on_sitemap(int, std::string_view value) override {
    group_has_lines_ = true;
    if (!value.empty()) sitemaps_.emplace_back(value);
  }
  void on_crawl_delay(int, std::string_view value) override {
    if (!in_group()) return;
    group_has_lines_ = true;
    const auto delay = parse_crawl_delay(value);
    if (!delay) return;
    auto& slot = current().crawl_delay;
    slot = slot ? std::max(*slot, *delay) : *delay;
  }
  void on_unknown(int, std::string_view, std::string_view) override { group_has_lines_ = true; }

  struct Collected {
    std::vector<detail::RobotsRule> rules;
    std::size_t rule_count = 0;
    std::optional<milliseconds> crawl_delay;
    bool matched = false;
  };

  // RFC 9309 2.2.1: the group(s) naming us, even if empty; else the "*" group(s).
  Collected& chosen() { return specific_.matched ? specific_ : global_; }
  std::vector<std::string>& sitemaps() { return sitemaps_; }

 private:
  bool in_group() const { return in_specific_ || in_global_; }
  // A group listing both "*" and our name is ours.
  Collected& current() { return in_specific_ ? specific_ : global_; }

  void add_rule(std::string_view value, bool allow) {
    if (!in_group()) return;  // before the first user-agent line, or another agent's group
    group_has_lines_ = true;
    if (value.empty()) return;  // "Disallow:" with no path disallows nothing
    Collected& target = current();
    std::string pattern = detail::normalize_robots_path(value);
    ++target.rule_count;
    if (allow) {
      // Google-specific: allowing ".../index.htm[l]" allows the directory too.
      const auto slash = pattern.rfind('/');
      if (slash != std::string::npos && std::string_view(pattern).substr(slash).starts_with("/index.htm")) {
        target.rules.push_back({detail::RobotsPattern(pattern.substr(0, slash + 1) + "$"), true});
      }
    }
    target.rules.push_back({detail::RobotsPattern(pattern), allow});
  }

  std::string_view token_;
  bool in_specific_ = false;
  bool in_global_ = false;
  bool group_has_lines_ = false;
  Collected specific_;
  Collected global_;
  std::vector<std::string> sitemaps_;
};

}  // namespace

RobotsRules::RobotsRules(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

RobotsRules RobotsRules::parse(std::string_view body, std::string_view user_agent) {
  RulesCollector collector(user_agent);
  parse_robots_txt(body, collector);
  auto& chosen = collector.chosen();
  auto impl = std::make_shared<Impl>();
  impl->rules = std::move(chosen.rules);
  impl->rule_count = chosen.rule_count;
  impl->crawl_delay = chosen.crawl_delay;
  impl->sitemaps = std::move(collector.sitemaps());
  return RobotsRules(std::move(impl));
}

RobotsRules RobotsRules::allow_all() { return RobotsRules(std::make_shared<const Impl>()); }

RobotsRules RobotsRules::disallow_all() {
  auto impl = std::make_shared<Impl>();
  impl->rules.push_back({detail::RobotsPattern("/"), false});
  impl->rule_count = 1;
  return RobotsRules(std::move(impl));
}

bool RobotsRules::allowed(std::string_view path_and_query) const {
  const std::string path = path_and_query.starts_with('/')
                               ? detail::normalize_robots_path(path_and_query)
                               : detail::normalize_robots_path("/" + std::string(path_and_query));
  if (path == "/robots.txt") return true;  // RFC 9309 2.2.2: implicitly allowed

  // RFC 9309 2.2.2: the most octets wins; on a tie the least restrictive (Allow).
  std::size_t best_length = 0;
  bool matched = false;
  bool best_allow = true;
  for (const auto& rule : impl_->rules) {
    const std::size_t length = rule.pattern.length();
    if (matched && (length < best_length || (length == best_length && (best_allow || !rule.allow)))) continue;
    if (!rule.pattern.matches(path)) continue;
    matched = true;
    best_length = length;
    best_allow = rule.allow;
  }
  return best_allow;
}

std::optional<milliseconds> RobotsRules::crawl_delay() const { return impl_->crawl_delay; }

const std::vector<std::string>& RobotsRules::sitemaps() const noexcept { return impl_->sitemaps; }

std::size_t RobotsRules::rule_count() const noexcept { return impl_->rule_count; }

// ---------------------------------------------------------------------------
// Parser entry point

void parse_robots_txt(std::string_view body, RobotsParseHandler& handler) {
  if (body.size() > kRobotsMaxBytes) {
    body = body.substr(0, kRobotsMaxBytes);
    const auto last_end = body.find_last_of("\r\n");
    body = last_end == std::string_view::npos ? std::string_view{} : body.substr(0, last_end + 1);
  }
  // A UTF-8 byte order mark, or the start of one, is skipped (google/robotstxt).
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  std::size_t pos = 0;
  while (pos < kBom.size() && pos < body.size() && body[pos] == kBom[pos]) ++pos;

  int line_number = 0;
  while (true) {
    auto end = body.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) end = body.size();
    parse_line(++line_number, body.substr(pos, std::min(end - pos, kRobotsMaxLineBytes)), handler);
    if (end == body.size()) break;
    pos = end + 1;
    if (body[end] == '\r' && pos < body.size() && body[pos] == '\n') ++pos;  // CRLF ends one line
  }
}

// ---------------------------------------------------------------------------
// Retry-After

std::optional<milliseconds> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
  value = trim_http_ows(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), is_ascii_digit)) {
    std::int64_t secs = 0;
    for (const char c : value) accumulate_digit(secs, c, kMaxDelayMs / 1000);
    return milliseconds{std::min(secs * 1000, kMaxDelayMs)};
  }
  const auto now_seconds = std::chrono::floor<seconds>(now);
  const int current_year =
      static_cast<int>(std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(now)}.year());
  const auto date = parse_http_date(value, current_year);
  if (!date) return std::nullopt;
  // Compare in seconds first: a far-future date minus `now` in the clock's
  // nanoseconds would overflow.
  if (*date <= now_seconds) return milliseconds{0};
  if (*date - now_seconds > RobotsRules::kMaxDelay) return milliseconds{kMaxDelayMs};
  return std::chrono::ceil<milliseconds>(*date - now);
}

}  // namespace fetchpool
