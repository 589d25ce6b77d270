// robots.txt parser and matcher against RFC 9309 (sections cited per test)
// and against cases from google/robotstxt's robots_test.cc (named ID_* there
// when they check the RFC, GoogleOnly_* when they check Google's extensions).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fetchpool/robots.hpp"
#include "parse/robots_pattern.hpp"

using fetchpool::kRobotsMaxBytes;
using fetchpool::kRobotsMaxLineBytes;
using fetchpool::parse_retry_after;
using fetchpool::parse_robots_txt;
using fetchpool::RobotsParseHandler;
using fetchpool::RobotsRules;
using fetchpool::detail::normalize_robots_path;
using fetchpool::detail::RobotsPattern;
using std::chrono::milliseconds;
using namespace std::literals;

namespace {

// One row: robots.txt body, our user agent, the path asked about, the verdict.
struct Case {
  std::string_view body;
  std::string_view agent;
  std::string_view path;
  bool allowed;
};

void check_cases(std::initializer_list<Case> cases) {
  for (const Case& c : cases) {
    INFO("robots.txt:\n" << c.body << "\nagent: " << c.agent << "\npath: " << c.path);
    CHECK(RobotsRules::parse(c.body, c.agent).allowed(c.path) == c.allowed);
  }
}

// Writes every callback as "<line> <kind> [value]" so parser tests compare lists.
class Recorder final : public RobotsParseHandler {
 public:
  std::vector<std::string> events;

  void on_user_agent(int line, std::string_view value) override { add(line, "user-agent", value); }
  void on_allow(int line, std::string_view value) override { add(line, "allow", value); }
  void on_disallow(int line, std::string_view value) override { add(line, "disallow", value); }
  void on_sitemap(int line, std::string_view value) override { add(line, "sitemap", value); }
  void on_crawl_delay(int line, std::string_view value) override { add(line, "crawl-delay", value); }
  void on_unknown(int line, std::string_view key, std::string_view value) override {
    add(line, "unknown:" + std::string(key), value);
  }

 private:
  void add(int line, const std::string& kind, std::string_view value) {
    events.push_back(std::to_string(line) + " " + kind + " [" + std::string(value) + "]");
  }
};

std::vector<std::string> parse_events(std::string_view body) {
  Recorder recorder;
  parse_robots_txt(body, recorder);
  return recorder.events;
}

using Events = std::vector<std::string>;

// RFC 9309 section 5.1, verbatim.
constexpr std::string_view kRfc51 =
    "User-Agent: *\n"
    "Disallow: *.gif$\n"
    "Disallow: /example/\n"
    "Allow: /publications/\n"
    "\n"
    "User-Agent: foobot\n"
    "Disallow:/\n"
    "Allow:/example/page.html\n"
    "Allow:/example/allowed.gif\n"
    "\n"
    "User-Agent: barbot\n"
    "User-Agent: bazbot\n"
    "Disallow: /example/page.html\n"
    "\n"
    "User-Agent: quxbot\n"
    "\n"
    "EOF\n";

// RFC 9309 section 5.2.
constexpr std::string_view kRfc52 =
    "User-Agent: foobot\n"
    "Allow: /example/page/\n"
    "Disallow: /example/page/disallowed.gif\n";

// google/robotstxt ID_LineSyntax_Groups.
constexpr std::string_view kGroups =
    "allow: /foo/bar/\n"
    "\n"
    "user-agent: FooBot\n"
    "disallow: /\n"
    "allow: /x/\n"
    "user-agent: BarBot\n"
    "disallow: /\n"
    "allow: /y/\n"
    "\n"
    "\n"
    "allow: /w/\n"
    "user-agent: BazBot\n"
    "\n"
    "user-agent: FooBot\n"
    "allow: /z/\n"
    "disallow: /\n";

// The reference matcher: google/robotstxt's positions array, O(path x pattern).
bool reference_matches(std::string_view path, std::string_view pattern) {
  std::vector<std::size_t> pos{0};
  for (std::size_t p = 0; p < pattern.size(); ++p) {
    if (pattern[p] == '$' && p + 1 == pattern.size()) return pos.back() == path.size();
    std::vector<std::size_t> next;
    if (pattern[p] == '*') {
      for (std::size_t i = pos.front(); i <= path.size(); ++i) next.push_back(i);
    } else {
      for (const std::size_t i : pos) {
        if (i < path.size() && path[i] == pattern[p]) next.push_back(i + 1);
      }
    }
    if (next.empty()) return false;
    pos = std::move(next);
  }
  return true;
}

// Deterministic pseudo-random numbers (a 64-bit LCG), so failures reproduce.
class Lcg {
 public:
  explicit Lcg(std::uint64_t seed) : state_(seed) {}
  std::uint32_t next() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state_ >> 33);
  }

 private:
  std::uint64_t state_;
};

}  // namespace

// ---------------------------------------------------------------------------
// RFC 9309 examples

TEST_CASE("RFC 9309 5.1: simple example, every group", "[robots]") {
  check_cases({
      {kRfc51, "foobot", "/example/page.html", true},
      {kRfc51, "foobot", "/example/allowed.gif", true},
      {kRfc51, "foobot", "/example/other.html", false},
      {kRfc51, "foobot", "/publications/", false},  // foobot's own group, not "*"
      {kRfc51, "foobot", "/", false},
      {kRfc51, "FooBot/1.0", "/example/page.html", true},
      {kRfc51, "barbot", "/example/page.html", false},
      {kRfc51, "barbot", "/example/other.html", true},
      {kRfc51, "barbot", "/image.gif", true},
      {kRfc51, "bazbot", "/example/page.html", false},
      {kRfc51, "bazbot", "/example/", true},
      {kRfc51, "quxbot", "/example/page.html", true},  // an empty group allows everything
      {kRfc51, "quxbot", "/image.gif", true},
      {kRfc51, "otherbot", "/example/", false},
      {kRfc51, "otherbot", "/example/page.html", false},
      {kRfc51, "otherbot", "/publications/", true},
      {kRfc51, "otherbot", "/publications/cover.gif", true},  // "/publications/" is longer than "*.gif$"
      {kRfc51, "otherbot", "/image.gif", false},
      {kRfc51, "otherbot", "/image.gif?size=2", true},  // "$" anchors at the end
      {kRfc51, "otherbot", "/other", true},
  });
}

TEST_CASE("RFC 9309 5.2: longest match", "[robots]") {
  check_cases({
      {kRfc52, "foobot", "/example/page/", true},
      {kRfc52, "foobot", "/example/page/disallowed.gif", false},
      {kRfc52, "foobot", "/example/page/allowed.gif", true},
  });
}

// ---------------------------------------------------------------------------
// RFC 9309 2.1 / 2.2.1: lines and groups

TEST_CASE("RFC 9309 2.1: key/value lines, keys case-insensitive (ID_LineSyntax_Line, ID_REPLineNamesCaseInsensitive)",
          "[robots]") {
  check_cases({
      {"user-agent: FooBot\ndisallow: /\n", "FooBot", "/x/y", false},
      {"foo: FooBot\nbar: /\n", "FooBot", "/x/y", true},
      {"user-agent FooBot\ndisallow /\n", "FooBot", "/x/y", false},  // missing colon accepted
      {"USER-AGENT: FooBot\nALLOW: /x/\nDISALLOW: /\n", "FooBot", "/x/y", true},
      {"USER-AGENT: FooBot\nALLOW: /x/\nDISALLOW: /\n", "FooBot", "/a/b", false},
      {"uSeR-aGeNt: FooBot\nAlLoW: /x/\ndIsAlLoW: /\n", "FooBot", "/x/y", true},
      {"uSeR-aGeNt: FooBot\nAlLoW: /x/\ndIsAlLoW: /\n", "FooBot", "/a/b", false},
  });
}

TEST_CASE("RFC 9309 2.1: groups, and rules outside any group are ignored (ID_LineSyntax_Groups)", "[robots]") {
  check_cases({
      {kGroups, "FooBot", "/x/b", true},
      {kGroups, "FooBot", "/z/d", true},  // second FooBot group merged into the first
      {kGroups, "FooBot", "/y/c", false},
      {kGroups, "BarBot", "/y/c", true},
      {kGroups, "BarBot", "/w/a", true},  // "allow: /w/" after a blank line still belongs to BarBot
      {kGroups, "BarBot", "/z/d", false},
      {kGroups, "BazBot", "/z/d", true},  // BazBot shares the last group with FooBot
      {kGroups, "FooBot", "/foo/bar/", false},
      {kGroups, "BarBot", "/foo/bar/", false},
      {kGroups, "BazBot", "/foo/bar/", false},
      {"allow: /\nuser-agent: *\ndisallow: /\n", "FooBot", "/x", false},  // "allow: /" precedes all groups
  });
}

TEST_CASE("RFC 9309 2.2.1: groups naming the same agent are merged", "[robots]") {
  constexpr std::string_view kSplit =
      "User-agent: a\nDisallow: /x\n\nUser-agent: b\nDisallow: /y\n\nUser-agent: A\nDisallow: /z\n";
  constexpr std::string_view kTwoStars =
      "User-agent: *\nDisallow: /x\n\nUser-agent: a\nDisallow: /y\n\n"
      "User-agent: *\nDisallow: /z\n";
  check_cases({
      {kSplit, "a", "/x", false},
      {kSplit, "a", "/z", false},
      {kSplit, "a", "/y", true},
      {kSplit, "b", "/y", false},
      {kSplit, "b", "/z", true},
      {kTwoStars, "other", "/x", false},  // both "*" groups merged
      {kTwoStars, "other", "/z", false},
      {kTwoStars, "other", "/y", true},
      {kTwoStars, "a", "/x", true},
  });
}

TEST_CASE("RFC 9309 2.2.1: consecutive user-agent lines share a group, any other line ends the list", "[robots]") {
  check_cases({
      {"User-agent: a\n\nUser-agent: b\nDisallow: /\n", "a", "/x", false},  // blank lines do not split
      {"User-agent: a\n# note\nUser-agent: b\nDisallow: /\n", "a", "/x", false},
      {"User-agent: a\nCrawl-delay: 1\nUser-agent: b\nDisallow: /\n", "a", "/x", true},
      {"User-agent: a\nCrawl-delay: 1\nUser-agent: b\nDisallow: /\n", "b", "/x", false},
      {"User-agent: a\nSitemap: /s.xml\nUser-agent: b\nDisallow: /\n", "a", "/x", true},
      {"User-agent: a\nNoindex: /\nUser-agent: b\nDisallow: /\n", "a", "/x", true},
      {"User-agent: a\nDisallow: /x\nSitemap: /s.xml\nDisallow: /y\n", "a", "/y", false},  // still a's group
  });
}

TEST_CASE("RFC 9309 2.2.1: fall back to the \"*\" group(s), else allow all (ID_GlobalGroups_Secondary)", "[robots]") {
  constexpr std::string_view kGlobal = "user-agent: *\nallow: /\nuser-agent: FooBot\ndisallow: /\n";
  constexpr std::string_view kOnlySpecific =
      "user-agent: FooBot\nallow: /\nuser-agent: BarBot\ndisallow: /\nuser-agent: BazBot\ndisallow: /\n";
  constexpr std::string_view kStarAndName = "User-agent: *\nDisallow: /x/\nUser-agent: FooBot\nDisallow: /y/\n";
  check_cases({
      {"", "FooBot", "/x/y", true},
      {kGlobal, "FooBot", "/x/y", false},
      {kGlobal, "BarBot", "/x/y", true},
      {kOnlySpecific, "QuxBot", "/x/y", true},
      {kStarAndName, "FooBot", "/x/page", true},  // the FooBot group replaces "*", it does not add to it
      {kStarAndName, "FooBot", "/y/page", false},
      {kStarAndName, "QuxBot", "/x/page", false},
      {"User-agent: *\nUser-agent: FooBot\nDisallow: /y/\n", "FooBot", "/y/1", false},  // one group, both names
      {"User-agent: *\nUser-agent: FooBot\nDisallow: /y/\n", "QuxBot", "/y/1", false},
      {"User-agent: * \nDisallow: /\n", "QuxBot", "/x", false},
      {"User-agent: *\nDisallow: /\n", "", "/x", false},  // no product token: only "*" applies
      {"User-agent: *\nDisallow: /\n", "*", "/x", false},
  });
}

TEST_CASE("RFC 9309 2.2.1: agent names match case-insensitively by product token (ID_UserAgentValueCaseInsensitive)",
          "[robots]") {
  constexpr std::string_view kUpper = "User-Agent: FOO BAR\nAllow: /x/\nDisallow: /\n";
  constexpr std::string_view kLower = "User-Agent: foo bar\nAllow: /x/\nDisallow: /\n";
  constexpr std::string_view kCamel = "User-Agent: FoO bAr\nAllow: /x/\nDisallow: /\n";
  check_cases({
      {kUpper, "Foo", "/x/y", true},
      {kUpper, "Foo", "/a/b", false},
      {kLower, "Foo", "/x/y", true},
      {kLower, "Foo", "/a/b", false},
      {kCamel, "foo", "/x/y", true},
      {kCamel, "foo", "/a/b", false},
      // Our user agent may be a full User-Agent string; its product token counts.
      {"User-agent: fetchpool\nDisallow: /\n", "fetchpool/0.1 (+https://example.com/bot)", "/x", false},
      {"User-agent: fetchpool\nDisallow: /\n", "FETCHPOOL", "/x", false},
      {"User-agent: fetchpool\nDisallow: /\n", "fetchpoolx", "/x", true},
      // A versioned user-agent line names the product (GoogleOnly_AcceptUserAgentUpToFirstSpace).
      {"User-agent: FooBot/2.1\nDisallow: /\n", "foobot", "/x", false},
      {"User-Agent: *\nDisallow: /\nUser-Agent: Foo Bar\nAllow: /x/\nDisallow: /\n", "Foo", "/x/y", true},
      // Unlike google, "Foo Bar" as our agent is reduced to its product token "Foo" too.
      {"User-Agent: *\nDisallow: /\nUser-Agent: Foo Bar\nAllow: /x/\nDisallow: /\n", "Foo Bar", "/x/y", true},
  });
}

// ---------------------------------------------------------------------------
// RFC 9309 2.2.2: Allow / Disallow

TEST_CASE("RFC 9309 2.2.2: longest match wins, Allow wins ties (ID_LongestMatch)", "[robots]") {
  check_cases({
      {"user-agent: FooBot\ndisallow: /x/page.html\nallow: /x/\n", "FooBot", "/x/page.html", false},
      {"user-agent: FooBot\nallow: /x/page.html\ndisallow: /x/\n", "FooBot", "/x/page.html", true},
      {"user-agent: FooBot\nallow: /x/page.html\ndisallow: /x/\n", "FooBot", "/x/", false},
      {"user-agent: FooBot\ndisallow: \nallow: \n", "FooBot", "/x/page.html", true},
      {"user-agent: FooBot\ndisallow: /\nallow: /\n", "FooBot", "/x/page.html", true},
      {"user-agent: FooBot\nallow: /\ndisallow: /\n", "FooBot", "/x/page.html", true},  // order does not matter
      {"user-agent: FooBot\ndisallow: /x\nallow: /x/\n", "FooBot", "/x", false},
      {"user-agent: FooBot\ndisallow: /x\nallow: /x/\n", "FooBot", "/x/", true},
      {"user-agent: FooBot\ndisallow: /x/page.html\nallow: /x/page.html\n", "FooBot", "/x/page.html", true},
      {"user-agent: FooBot\nallow: /page\ndisallow: /*.html\n", "FooBot", "/page.html", false},
      {"user-agent: FooBot\nallow: /page\ndisallow: /*.html\n", "FooBot", "/page", true},
      {"user-agent: FooBot\nallow: /x/page.\ndisallow: /*.html\n", "FooBot", "/x/page.html", true},
      {"user-agent: FooBot\nallow: /x/page.\ndisallow: /*.html\n", "FooBot", "/x/y.html", false},
      {"user-agent: FooBot\nallow: /p\ndisallow: /\n", "FooBot", "/page", true},
      {"user-agent: FooBot\nallow: /folder\ndisallow: /folder\n", "FooBot", "/folder/page", true},
      {"user-agent: FooBot\nallow: /page\ndisallow: /*.htm\n", "FooBot", "/page.htm", false},
      {"user-agent: FooBot\nallow: /$\ndisallow: /\n", "FooBot", "/", true},
      {"user-agent: FooBot\nallow: /$\ndisallow: /\n", "FooBot", "/page.html", false},
  });
}

TEST_CASE("RFC 9309 2.2.2: an empty Disallow disallows nothing", "[robots]") {
  check_cases({
      {"User-agent: *\nDisallow:\n", "bot", "/", true},
      {"User-agent: *\nDisallow:   # nothing\n", "bot", "/x", true},
      {"User-agent: bot\nDisallow:\nUser-agent: *\nDisallow: /\n", "bot", "/x", true},
  });
}

TEST_CASE("RFC 9309 2.2.2: paths match case-sensitively (ID_AllowDisallow_Value_CaseSensitive)", "[robots]") {
  check_cases({
      {"user-agent: FooBot\ndisallow: /x/\n", "FooBot", "/x/y", false},
      {"user-agent: FooBot\ndisallow: /X/\n", "FooBot", "/x/y", true},
      {"user-agent: FooBot\ndisallow: /\nallow: /fish\n", "FooBot", "/Fish.asp", false},
  });
}

TEST_CASE("RFC 9309 2.2.2: /robots.txt is always allowed", "[robots]") {
  check_cases({
      {"User-agent: *\nDisallow: /\n", "bot", "/robots.txt", true},
      {"User-agent: *\nDisallow: /robots.txt\n", "bot", "/robots.txt", true},
      {"User-agent: *\nDisallow: /\n", "bot", "/robots.txt.bak", false},
  });
  CHECK(RobotsRules::disallow_all().allowed("/robots.txt"));
}

TEST_CASE("RFC 9309 2.2.2: percent-encoding is normalised before comparison (ID_Encoding)", "[robots]") {
  constexpr std::string_view kQuery =
      "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar?qux=taz&baz=http://foo.bar?tar&par\n";
  constexpr std::string_view kUtf8 = "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/\xE3\x83\x84\n";
  constexpr std::string_view kEncoded = "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%E3%83%84\n";
  constexpr std::string_view kUnreserved = "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%62%61%7A\n";
  check_cases({
      {kQuery, "FooBot", "/foo/bar?qux=taz&baz=http://foo.bar?tar&par", true},
      {kUtf8, "FooBot", "/foo/bar/%E3%83%84", true},  // the rule's UTF-8 is %-encoded
      {kUtf8, "FooBot", "/foo/bar/%e3%83%84", true},  // hex case does not matter
      {kEncoded, "FooBot", "/foo/bar/%E3%83%84", true},
      // Unlike google/robotstxt (which expects the caller to encode), a raw
      // non-ASCII path is encoded here too, so it matches.
      {kEncoded, "FooBot", "/foo/bar/\xE3\x83\x84", true},
      // RFC 9309 2.2.2 table: %-encoded unreserved octets are decoded (google
      // compares them literally and would answer false for "/foo/bar/baz").
      {kUnreserved, "FooBot", "/foo/bar/baz", true},
      {kUnreserved, "FooBot", "/foo/bar/%62%61%7A", true},
      {"User-agent: *\nDisallow: /%7Efoo\n", "bot", "/~foo/x", false},
      {"User-agent: *\nDisallow: /~foo\n", "bot", "/%7efoo/x", false},
      // Reserved characters keep their meaning: "%2F" is not "/".
      {"User-agent: *\nDisallow: /a%2fb\n", "bot", "/a/b", true},
      {"User-agent: *\nDisallow: /a%2fb\n", "bot", "/a%2Fb", false},
      {"User-agent: *\nDisallow: /a/b\n", "bot", "/a%2Fb", true},
      {"User-agent: *\nDisallow: /a b\n", "bot", "/a%20b", false},
      {"User-agent: *\nDisallow: /100%\n", "bot", "/100%25", false},  // a lone '%' is the octet itself
      {"User-agent: *\nDisallow: /%2A\n", "bot", "/anything", true},  // an encoded '*' is no wildcard
      {"User-agent: *\nDisallow: /%2A\n", "bot", "/%2a", false},
  });
}

TEST_CASE("RFC 9309 2.2.2: the normalisation table", "[robots]") {
  struct Row {
    std::string_view in;
    std::string_view out;
  };
  const Row rows[] = {
      {"/a/b/c", "/a/b/c"},
      {"http://www.example.com", "http://www.example.com"},
      {"/foo/bar?baz=quz", "/foo/bar?baz=quz"},
      {"\xC3\xA1", "%C3%A1"},  // TestMaybeEscapePattern: "á"
      {"%aa", "%AA"},          // TestMaybeEscapePattern
      {"/foo/bar/%62%61%7A", "/foo/bar/baz"},
      {"/%7e%2D%2e%5F", "/~-._"},
      {"/a%2fb", "/a%2Fb"},
      {"/a b\t", "/a%20b%09"},
      {"/<>\"{}|\\^`", "/%3C%3E%22%7B%7D%7C%5C%5E%60"},
      {"/x\x7F", "/x%7F"},
      {"/100%", "/100%25"},
      {"/%zz%4", "/%25zz%254"},
      {"/*.gif$", "/*.gif$"},
      {"/%2A%24", "/%2A%24"},
      {"/a\0b"sv, "/a%00b"},
  };
  for (const Row& row : rows) {
    INFO("input: " << row.in);
    CHECK(normalize_robots_path(row.in) == row.out);
  }
}

// ---------------------------------------------------------------------------
// RFC 9309 2.2.3: special characters

TEST_CASE("RFC 9309 2.2.3: '*', '$' and '#' (ID_SpecialCharacters)", "[robots]") {
  constexpr std::string_view kStar = "User-agent: FooBot\nDisallow: /foo/bar/quz\nAllow: /foo/*/qux\n";
  constexpr std::string_view kDollar = "User-agent: FooBot\nDisallow: /foo/bar$\nAllow: /foo/bar/qux\n";
  constexpr std::string_view kHash = "User-agent: FooBot\n# Disallow: /\nDisallow: /foo/quz#qux\nAllow: /\n";
  check_cases({
      {kStar, "FooBot", "/foo/bar/quz", false},
      {kStar, "FooBot", "/foo/quz", true},
      {kStar, "FooBot", "/foo//quz", true},
      {kStar, "FooBot", "/foo/bax/quz", true},
      {kDollar, "FooBot", "/foo/bar", false},
      {kDollar, "FooBot", "/foo/bar/qux", true},
      {kDollar, "FooBot", "/foo/bar/", true},
      {kDollar, "FooBot", "/foo/bar/baz", true},
      {kHash, "FooBot", "/foo/bar", true},
      {kHash, "FooBot", "/foo/quz", false},
      {"User-agent: *\nDisallow: /a$b\n", "bot", "/a$b/c", false},  // '$' not at the end is literal
      {"User-agent: *\nDisallow: /a$b\n", "bot", "/a", true},
      {"User-agent: *\nDisallow: /a%24\n", "bot", "/a", true},  // an encoded '$' does not anchor
      {"User-agent: *\nDisallow: /a**b\n", "bot", "/axxb", false},
      {"User-agent: *\nDisallow: /*\n", "bot", "/", false},
      {"User-agent: *\nDisallow: *\n", "bot", "/x", false},
      {"User-agent: *\nDisallow: $\n", "bot", "/", true},  // matches only an empty path
      {"User-agent: *\nDisallow: /a*$\n", "bot", "/a/b", false},
      {"User-agent: *\nDisallow: x\n", "bot", "/x", true},  // patterns are anchored at the path start
  });
}

TEST_CASE("RFC 9309 2.2.3: Google's documented path examples (GoogleOnly_DocumentationChecks)", "[robots]") {
  constexpr std::string_view kFish = "user-agent: FooBot\ndisallow: /\nallow: /fish\n";
  constexpr std::string_view kFishStar = "user-agent: FooBot\ndisallow: /\nallow: /fish*\n";
  constexpr std::string_view kFishSlash = "user-agent: FooBot\ndisallow: /\nallow: /fish/\n";
  constexpr std::string_view kPhp = "user-agent: FooBot\ndisallow: /\nallow: /*.php\n";
  constexpr std::string_view kPhpEnd = "user-agent: FooBot\ndisallow: /\nallow: /*.php$\n";
  constexpr std::string_view kFishPhp = "user-agent: FooBot\ndisallow: /\nallow: /fish*.php\n";
  check_cases({
      {kFish, "FooBot", "/bar", false},
      {kFish, "FooBot", "/fish", true},
      {kFish, "FooBot", "/fish.html", true},
      {kFish, "FooBot", "/fish/salmon.html", true},
      {kFish, "FooBot", "/fishheads/yummy.html", true},
      {kFish, "FooBot", "/fish.html?id=anything", true},
      {kFish, "FooBot", "/catfish", false},
      {kFish, "FooBot", "/?id=fish", false},
      {kFishStar, "FooBot", "/fish", true},
      {kFishStar, "FooBot", "/fishheads", true},
      {kFishStar, "FooBot", "/Fish.bar", false},
      {kFishSlash, "FooBot", "/fish/", true},
      {kFishSlash, "FooBot", "/fish/?salmon", true},
      {kFishSlash, "FooBot", "/fish", false},
      {kFishSlash, "FooBot", "/Fish/Salmon.html", false},
      {kPhp, "FooBot", "/filename.php", true},
      {kPhp, "FooBot", "/folder/filename.php?parameters", true},
      {kPhp, "FooBot", "//folder/any.php.file.html", true},
      {kPhp, "FooBot", "/index?f=filename.php/", true},
      {kPhp, "FooBot", "/php/", false},
      {kPhp, "FooBot", "/index?php", false},
      {kPhp, "FooBot", "/windows.PHP", false},
      {kPhpEnd, "FooBot", "/filename.php", true},
      {kPhpEnd, "FooBot", "/folder/filename.php", true},
      {kPhpEnd, "FooBot", "/filename.php?parameters", false},
      {kPhpEnd, "FooBot", "/filename.php/", false},
      {kPhpEnd, "FooBot", "/filename.php5", false},
      {kPhpEnd, "FooBot", "/aaaphpaaa", false},
      {kFishPhp, "FooBot", "/fish.php", true},
      {kFishPhp, "FooBot", "/fishheads/catfish.php?parameters", true},
      {kFishPhp, "FooBot", "/Fish.PHP", false},
  });
}

TEST_CASE("Google-specific: allowing index.html allows its directory (GoogleOnly_IndexHTMLisDirectory)", "[robots]") {
  constexpr std::string_view kIndex = "User-Agent: *\nAllow: /allowed-slash/index.html\nDisallow: /\n";
  check_cases({
      {kIndex, "foobot", "/allowed-slash/", true},
      {kIndex, "foobot", "/allowed-slash/index.htm", false},
      {kIndex, "foobot", "/allowed-slash/index.html", true},
      {kIndex, "foobot", "/allowed-slash/other", false},
      {kIndex, "foobot", "/anyother-url", false},
      {"User-Agent: *\nDisallow: /d/index.html\n", "foobot", "/d/", true},  // Disallow gets no such alias
  });
  CHECK(RobotsRules::parse(kIndex, "foobot").rule_count() == 2);  // the implied "/allowed-slash/$" not counted
}

// ---------------------------------------------------------------------------
// Parser robustness (RFC 9309 2.2: syntax; google/robotstxt tolerances)

TEST_CASE("Parser: CR, LF and CRLF each end a line (ID_LinesNumbersAreCountedCorrectly)", "[robots]") {
  const Events expected = {"1 user-agent [foo]", "2 allow [/some/path]", "3 user-agent [bar]", "6 disallow [/]"};
  CHECK(parse_events("User-Agent: foo\nAllow: /some/path\nUser-Agent: bar\n\n\nDisallow: /\n") == expected);
  CHECK(parse_events("User-Agent: foo\r\nAllow: /some/path\r\nUser-Agent: bar\r\n\r\n\r\nDisallow: /\r\n") == expected);
  CHECK(parse_events("User-Agent: foo\rAllow: /some/path\rUser-Agent: bar\r\r\rDisallow: /\r") == expected);
  CHECK(parse_events("User-Agent: foo\nAllow: /some/path\nUser-Agent: bar\n\n\nDisallow: /") == expected);
  CHECK(parse_events("User-Agent: foo\nAllow: /some/path\r\nUser-Agent: bar\n\r\n\nDisallow: /") == expected);
  CHECK(parse_events("").empty());
  CHECK(parse_events("\n\r\n\r").empty());
}

TEST_CASE("Parser: a UTF-8 byte order mark is skipped (ID_UTF8ByteOrderMarkIsSkipped)", "[robots]") {
  const Events expected = {"1 user-agent [foo]", "2 allow [/AnyValue]"};
  CHECK(parse_events("\xEF\xBB\xBF"
                     "User-Agent: foo\nAllow: /AnyValue\n") == expected);
  CHECK(parse_events("\xEF\xBB"
                     "User-Agent: foo\nAllow: /AnyValue\n") == expected);
  CHECK(parse_events("\xEF"
                     "User-Agent: foo\nAllow: /AnyValue\n") == expected);
  // A broken BOM is part of the first key; a BOM later in the file is just bytes.
  CHECK(parse_events("\xEF\x11\xBF"
                     "User-Agent: foo\nAllow: /AnyValue\n") == Events{"1 unknown:\x11\xBF"
                                                                      "User-Agent [foo]",
                                                                      "2 allow [/AnyValue]"});
  CHECK(parse_events("User-Agent: foo\n\xEF\xBB\xBF"
                     "Allow: /AnyValue\n") == Events{"1 user-agent [foo]",
                                                     "2 unknown:\xEF\xBB\xBF"
                                                     "Allow [/AnyValue]"});
}

TEST_CASE("Parser: comments, whitespace, missing colons and accepted typos", "[robots]") {
  CHECK(parse_events("# only a comment\n   \t\n").empty());
  CHECK(parse_events("  Allow :  /x  # why\n") == Events{"1 allow [/x]"});
  CHECK(parse_events("Disallow: /a#b\n") == Events{"1 disallow [/a]"});
  CHECK(parse_events("Disallow:/x\n") == Events{"1 disallow [/x]"});
  CHECK(parse_events("Disallow:\n") == Events{"1 disallow []"});
  // Missing colon: exactly two words are read as key and value.
  CHECK(parse_events("Disallow /x\n") == Events{"1 disallow [/x]"});
  CHECK(parse_events("Disallow \t /x  \n") == Events{"1 disallow [/x]"});
  CHECK(parse_events("Disallow / x\n").empty());
  CHECK(parse_events("Disallow\n").empty());
  CHECK(parse_events(": /x\n").empty());
  // Typos accepted, exact spellings only (see robots.hpp).
  CHECK(parse_events("useragent: a\nuser agent: b\nUser-Agent: c\n") ==
        Events{"1 user-agent [a]", "2 user-agent [b]", "3 user-agent [c]"});
  CHECK(parse_events("dissallow: /1\ndissalow: /2\ndisalow: /3\ndiasllow: /4\ndisallaw: /5\n") ==
        Events{"1 disallow [/1]", "2 disallow [/2]", "3 disallow [/3]", "4 disallow [/4]", "5 disallow [/5]"});
  CHECK(parse_events("site-map: /s\nSITEMAP: http://x/s.xml\n") ==
        Events{"1 sitemap [/s]", "2 sitemap [http://x/s.xml]"});
  CHECK(parse_events("crawl-delay: 1\ncrawldelay: 2\ncrawl delay: 3\n") ==
        Events{"1 crawl-delay [1]", "2 crawl-delay [2]", "3 crawl-delay [3]"});
  CHECK(parse_events("allowance: /x\nNoindex: /y\n") == Events{"1 unknown:allowance [/x]", "2 unknown:Noindex [/y]"});
  // As in google/robotstxt, a colon in the value of a colon-less line wins.
  CHECK(parse_events("Disallow /a:b\n") == Events{"1 unknown:Disallow /a [b]"});
}

TEST_CASE("Parser: over-long lines are cut at kRobotsMaxLineBytes (GoogleOnly_LineTooLong)", "[robots]") {
  const std::string prefix = "disallow: ";
  const std::string long_path = "/x/" + std::string(kRobotsMaxLineBytes, 'a');
  const std::string body = "user-agent: FooBot\n" + prefix + long_path + "/qux\nallow: /after\n";
  const std::string kept = long_path.substr(0, kRobotsMaxLineBytes - prefix.size());

  const Events events = parse_events(body);
  REQUIRE(events.size() == 3);
  CHECK(events[1] == "2 disallow [" + kept + "]");
  CHECK(events[2] == "3 allow [/after]");  // the next line is intact

  const RobotsRules rules = RobotsRules::parse(body, "FooBot");
  CHECK(rules.allowed("/fux"));
  CHECK_FALSE(rules.allowed(kept + "/fux"));  // the cut rule still applies
  CHECK(rules.allowed(kept.substr(0, kept.size() - 1)));
}

TEST_CASE("Parser: binary garbage and NULs never crash and leave good lines alone", "[robots]") {
  Lcg rng(42);
  std::string garbage;
  for (int i = 0; i < 200'000; ++i) garbage += static_cast<char>(rng.next() & 0xFF);
  Recorder recorder;
  parse_robots_txt(garbage, recorder);
  const RobotsRules rules = RobotsRules::parse(garbage, "bot");
  CHECK(rules.allowed("/robots.txt"));
  (void)rules.allowed(garbage.substr(0, 5000));  // any bytes as a path

  const std::string with_nuls = "User-agent: *\n\0\0\0\nDis\0allow: /x\nDisallow: /a\0b\nDisallow: /y\n"s;
  CHECK(parse_events(with_nuls) ==
        Events{"1 user-agent [*]", "3 unknown:Dis\0allow [/x]"s, "4 disallow [/a\0b]"s, "5 disallow [/y]"});
  const RobotsRules nul_rules = RobotsRules::parse(with_nuls, "bot");
  CHECK(nul_rules.allowed("/x"));
  CHECK(nul_rules.allowed("/a"));
  CHECK_FALSE(nul_rules.allowed("/a%00b"));
  CHECK_FALSE(nul_rules.allowed("/y"));
}

TEST_CASE("RFC 9309 2.5: content after 500 KiB is ignored", "[robots]") {
  // Comment lines of 100 bytes up to the limit, then a rule.
  const std::string filler_line = "#" + std::string(98, 'f') + "\n";
  std::string filler;
  while (filler.size() + filler_line.size() <= kRobotsMaxBytes - 100) filler += filler_line;

  SECTION("a rule wholly after the limit is ignored, one before it applies") {
    std::string body = "User-agent: *\nDisallow: /before\n" + filler;
    while (body.size() < kRobotsMaxBytes + 10) body += filler_line;
    body += "Disallow: /after\n";
    const RobotsRules rules = RobotsRules::parse(body, "bot");
    CHECK_FALSE(rules.allowed("/before"));
    CHECK(rules.allowed("/after"));  // control: the same line before the limit disallows
    CHECK_FALSE(RobotsRules::parse("User-agent: *\nDisallow: /after\n", "bot").allowed("/after"));
  }
  SECTION("a line ending exactly at the limit is kept") {
    std::string body = "User-agent: *\n" + filler;
    const std::string rule = "Disallow: /edge\n";
    body += std::string(kRobotsMaxBytes - body.size() - rule.size() - 1, '#') + "\n" + rule + "Disallow: /x\n";
    REQUIRE(body.find(rule) + rule.size() == kRobotsMaxBytes);
    const RobotsRules rules = RobotsRules::parse(body, "bot");
    CHECK_FALSE(rules.allowed("/edge"));
    CHECK(rules.allowed("/x"));
  }
  SECTION("a line cut by the limit is dropped, not read as a shorter rule") {
    std::string body = "User-agent: *\n" + filler;
    body += std::string(kRobotsMaxBytes - body.size() - 15, '#') + "\n";  // 14 bytes left for the next line
    body += "Disallow: /private-area\n";
    REQUIRE(body.substr(kRobotsMaxBytes - 14, 14) == "Disallow: /pri");
    const RobotsRules rules = RobotsRules::parse(body, "bot");
    CHECK(rules.allowed("/pri"));
    CHECK(rules.allowed("/private-area"));
    CHECK(rules.rule_count() == 0);
  }
}

// ---------------------------------------------------------------------------
// The matcher's cost

TEST_CASE("Matcher: pathological wildcard patterns cost O(path + pattern) comparisons", "[robots]") {
  const std::string path = "/" + std::string(10'000, 'a');
  std::string many_stars = "/";
  for (int i = 0; i < 1000; ++i) many_stars += "*a";
  many_stars += "*b";
  std::string long_literal = "/*" + std::string(1000, 'a') + "b";
  const std::string patterns[] = {
      "/*a*a*a*a*a*a*a*b", "/*a*a*a*a*a*a*a*b$", "/*a*a*a*a*a*a*a*a$", many_stars, long_literal, long_literal + "$",
  };
  const bool expected[] = {false, false, true, false, false, false};
  for (std::size_t i = 0; i < std::size(patterns); ++i) {
    INFO("pattern: " << patterns[i].substr(0, 40) << "... (" << patterns[i].size() << " octets)");
    std::size_t steps = 0;
    CHECK(RobotsPattern(patterns[i]).matches(path, &steps) == expected[i]);
    // google's positions array would make up to path x pattern = 10^7..10^8 here.
    CHECK(steps <= 2 * (path.size() + patterns[i].size()));
  }

  // End to end, 50 hostile rules x 40 queries, against the same 2000 matches
  // made by the pattern directly (counted linear above): the rules add no
  // work of their own, a quadratic path there would cost 500x or more. The
  // fastest of three runs each keeps a load spike out of the ratio.
  std::string body = "User-agent: *\n";
  for (int i = 0; i < 50; ++i) body += "Disallow: " + many_stars + "\n";
  const RobotsRules rules = RobotsRules::parse(body, "bot");
  const RobotsPattern hostile(many_stars);
  const auto fastest_of_three = [](const auto& run) {
    auto best = std::chrono::steady_clock::duration::max();
    for (int round = 0; round < 3; ++round) {
      const auto start = std::chrono::steady_clock::now();
      run();
      best = std::min(best, std::chrono::steady_clock::now() - start);
    }
    return best;
  };
  int allowed = 0;
  int matched = 0;
  const auto via_rules = fastest_of_three([&] {
    for (int i = 0; i < 40; ++i) allowed += rules.allowed(path) ? 1 : 0;
  });
  const auto direct = fastest_of_three([&] {
    for (int i = 0; i < 50 * 40; ++i) matched += hostile.matches(path) ? 1 : 0;
  });
  CHECK(allowed == 3 * 40);
  CHECK(matched == 0);
  CHECK(via_rules < 20 * direct);
}

TEST_CASE("Matcher: agrees with google's positions-array matcher on random patterns", "[robots]") {
  // Few distinct letters, so segments repeat themselves ("aab", "abab") and
  // the search has to fall back inside partial matches.
  const std::string_view borders[][2] = {
      {"/*aab", "/aaab"},          {"/*abab", "/abaabab"},        {"/*abab$", "/ababab"},
      {"/*aabaab", "/aabaaabaab"}, {"/*aabaaaa", "/aabaaabaaaa"},  // needs a failure-table entry that is itself a
                                                                   // fallback
  };
  for (const auto& [pattern, path] : borders) {
    INFO("pattern " << pattern << " path " << path);
    CHECK(RobotsPattern(pattern).matches(path));
  }
  Lcg rng(7);
  constexpr std::string_view kPatternChars = "aab*b$/";
  constexpr std::string_view kPathChars = "aab$";
  for (int i = 0; i < 20'000; ++i) {
    std::string pattern = "/";
    std::string path = "/";
    for (std::uint32_t n = rng.next() % 10; n > 0; --n) pattern += kPatternChars[rng.next() % kPatternChars.size()];
    for (std::uint32_t n = rng.next() % 16; n > 0; --n) path += kPathChars[rng.next() % kPathChars.size()];
    INFO("pattern " << pattern << " path " << path);
    REQUIRE(RobotsPattern(pattern).matches(path) == reference_matches(path, pattern));
  }
}

// ---------------------------------------------------------------------------
// Crawl-delay, sitemaps, counts, canned rules

TEST_CASE("Crawl-delay (non-standard): values, fractions and garbage", "[robots]") {
  struct Row {
    std::string_view value;
    std::optional<milliseconds> delay;
  };
  const Row rows[] = {
      {"5", milliseconds{5000}},
      {"0.5", milliseconds{500}},
      {"1.25", milliseconds{1250}},
      {" 2 ", milliseconds{2000}},
      {".5", milliseconds{500}},
      {"1.", milliseconds{1000}},
      {"0", milliseconds{0}},
      {"0.0005", milliseconds{0}},
      {"99999999999999999999", std::chrono::duration_cast<milliseconds>(RobotsRules::kMaxDelay)},
      {"", std::nullopt},
      {"abc", std::nullopt},
      {"-1", std::nullopt},
      {"1e3", std::nullopt},
      {"5s", std::nullopt},
      {"1.2.3", std::nullopt},
      {".", std::nullopt},
  };
  for (const Row& row : rows) {
    INFO("Crawl-delay: " << row.value);
    const std::string body = "User-agent: *\nCrawl-delay: " + std::string(row.value) + "\n";
    CHECK(RobotsRules::parse(body, "bot").crawl_delay() == row.delay);
  }
}

TEST_CASE("Crawl-delay comes from the matched group(s)", "[robots]") {
  constexpr std::string_view kBoth =
      "User-agent: *\nCrawl-delay: 10\n\nUser-agent: bot\nCrawl-delay: 2\nDisallow: /x\n";
  CHECK(RobotsRules::parse(kBoth, "bot").crawl_delay() == milliseconds{2000});
  CHECK(RobotsRules::parse(kBoth, "other").crawl_delay() == milliseconds{10'000});
  // A matched group without Crawl-delay does not inherit the "*" one.
  CHECK(RobotsRules::parse("User-agent: *\nCrawl-delay: 10\nUser-agent: bot\nDisallow: /x\n", "bot").crawl_delay() ==
        std::nullopt);
  // Merged groups: the largest delay wins.
  CHECK(RobotsRules::parse("User-agent: bot\nCrawl-delay: 1\nUser-agent: x\nDisallow:\nUser-agent: bot\n"
                           "Crawl-delay: 3\nCrawl-delay: 0.5\n",
                           "bot")
            .crawl_delay() == milliseconds{3000});
  CHECK(RobotsRules::parse("Crawl-delay: 5\nUser-agent: *\nDisallow: /\n", "bot").crawl_delay() == std::nullopt);
  CHECK(RobotsRules::parse("User-agent: *\nCrawl-delay: soon\n", "bot").crawl_delay() == std::nullopt);
}

TEST_CASE("RFC 9309 2.2.4: every Sitemap line is collected, whatever its group", "[robots]") {
  constexpr std::string_view kBody =
      "Sitemap: https://example.com/a.xml\n"
      "User-agent: other\n"
      "Disallow: /\n"
      "Sitemap: https://example.com/b.xml # second\n"
      "User-agent: *\n"
      "Site-map: https://example.com/c.xml\n"
      "Sitemap:\n";
  const std::vector<std::string> expected = {"https://example.com/a.xml", "https://example.com/b.xml",
                                             "https://example.com/c.xml"};
  CHECK(RobotsRules::parse(kBody, "bot").sitemaps() == expected);
  CHECK(RobotsRules::parse(kBody, "other").sitemaps() == expected);
  CHECK(RobotsRules::allow_all().sitemaps().empty());
}

TEST_CASE("rule_count counts the non-empty rules of the matched group(s)", "[robots]") {
  CHECK(RobotsRules::parse(kRfc51, "foobot").rule_count() == 3);
  CHECK(RobotsRules::parse(kRfc51, "barbot").rule_count() == 1);
  CHECK(RobotsRules::parse(kRfc51, "quxbot").rule_count() == 0);
  CHECK(RobotsRules::parse(kRfc51, "otherbot").rule_count() == 3);
  CHECK(RobotsRules::parse("User-agent: *\nDisallow:\nAllow: /x\n", "bot").rule_count() == 1);
  CHECK(RobotsRules::parse("", "bot").rule_count() == 0);
}

TEST_CASE("RFC 9309 2.3.1.3 / 2.3.1.4: allow_all for 4xx, disallow_all for 5xx or unreachable", "[robots]") {
  const RobotsRules open = RobotsRules::allow_all();
  CHECK(open.allowed("/"));
  CHECK(open.allowed("/private/x?y=1"));
  CHECK(open.rule_count() == 0);
  CHECK(open.crawl_delay() == std::nullopt);

  const RobotsRules closed = RobotsRules::disallow_all();
  CHECK_FALSE(closed.allowed("/"));
  CHECK_FALSE(closed.allowed("/index.html"));
  CHECK_FALSE(closed.allowed("?q"));
  CHECK(closed.allowed("/robots.txt"));
  CHECK(closed.rule_count() == 1);
  CHECK(closed.crawl_delay() == std::nullopt);
}

TEST_CASE("allowed(): a path without a leading '/' is read as if it had one", "[robots]") {
  const RobotsRules rules = RobotsRules::parse("User-agent: *\nDisallow: /$\nDisallow: /?\n", "bot");
  CHECK_FALSE(rules.allowed(""));
  CHECK_FALSE(rules.allowed("?q=1"));
  CHECK(rules.allowed("/a"));
}

TEST_CASE("RobotsRules: copies share state and may be queried from many threads", "[robots]") {
  const RobotsRules rules = RobotsRules::parse(kRfc51, "otherbot");
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([copy = rules, &wrong] {
      for (int i = 0; i < 2000; ++i) {
        if (copy.allowed("/example/x") || !copy.allowed("/publications/x") || copy.allowed("/a.gif")) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
}

// ---------------------------------------------------------------------------
// Retry-After (RFC 9110 10.2.3)

TEST_CASE("Retry-After: delay-seconds and the three HTTP-date forms (RFC 9110 10.2.3, 5.6.7)", "[robots]") {
  using namespace std::chrono;
  // Saturday 2025-03-01 12:00:00 UTC.
  const system_clock::time_point now = sys_days{year{2025} / March / 1} + hours{12};
  const auto kMax = duration_cast<milliseconds>(RobotsRules::kMaxDelay);
  struct Row {
    std::string_view value;
    std::optional<milliseconds> wait;
  };
  const Row rows[] = {
      {"120", milliseconds{120'000}},
      {" 5\t", milliseconds{5000}},
      {"0", milliseconds{0}},
      {"99999999999999999999999", kMax},
      {"Sat, 01 Mar 2025 12:01:30 GMT", milliseconds{90'000}},     // IMF-fixdate
      {"Saturday, 01-Mar-25 12:01:30 GMT", milliseconds{90'000}},  // obsolete RFC 850
      {"Sat Mar  1 12:01:30 2025", milliseconds{90'000}},          // asctime
      {"Sat Mar 01 12:01:30 2025", milliseconds{90'000}},
      {"sat, 01 mar 2025 12:01:30 GMT", milliseconds{90'000}},  // names are matched case-insensitively
      {"Sat, 01 Mar 2025 12:00:00 GMT", milliseconds{0}},       // now
      {"Sun, 06 Nov 1994 08:49:37 GMT", milliseconds{0}},       // past -> 0
      {"Sunday, 06-Nov-94 08:49:37 GMT", milliseconds{0}},
      {"Sun Nov  6 08:49:37 1994", milliseconds{0}},
      {"Friday, 01-Mar-80 12:00:00 GMT", milliseconds{0}},  // 2080 is > 50 years ahead: 1980
      {"Friday, 01-Mar-70 12:00:00 GMT", kMax},             // 2070, capped
      {"Fri, 31 Dec 9999 23:59:59 GMT", kMax},              // no overflow
      {"Sat, 28 Feb 2026 12:00:00 GMT", milliseconds{hours{24 * 364}}},
      {"", std::nullopt},
      {"soon", std::nullopt},
      {"-5", std::nullopt},
      {"5.5", std::nullopt},
      {"12abc", std::nullopt},
      {"Sat, 01 Mar 2025 12:01:30 UTC", std::nullopt},
      {"Sat, 31 Feb 2025 12:01:30 GMT", std::nullopt},
      {"Sat, 01 Mar 2025 24:00:00 GMT", std::nullopt},
      {"Sat, 1 Mar 2025 12:01:30 GMT", std::nullopt},
      {"Sat, 01 Mar 2025 12:01:30 GMT trailing", std::nullopt},
      {"Xyz, 01 Mar 2025 12:01:30 GMT", std::nullopt},
  };
  for (const Row& row : rows) {
    INFO("Retry-After: " << row.value);
    CHECK(parse_retry_after(row.value, now) == row.wait);
  }
  // Sub-second `now`: the wait is rounded up, never ending early.
  CHECK(parse_retry_after("Sat, 01 Mar 2025 12:00:10 GMT", now + milliseconds{250}) == milliseconds{9750});
  CHECK(parse_retry_after("Sat, 01 Mar 2025 12:00:10 GMT", now + microseconds{250}) == milliseconds{10'000});
}
