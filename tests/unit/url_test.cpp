#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fetchpool/url.hpp"

using fetchpool::ErrorCode;
using fetchpool::Url;
using namespace std::string_view_literals;

namespace {

// The normalised form, or "ERROR <code>" so that a table row can expect either.
std::string parsed(std::string_view text) {
  auto url = Url::parse(text);
  if (!url) return "ERROR " + std::string(fetchpool::to_string(url.error().code));
  return url->str();
}

std::string resolved(const Url& base, std::string_view reference) {
  auto url = base.resolve(reference);
  if (!url) return "ERROR " + std::string(fetchpool::to_string(url.error().code));
  return url->str();
}

Url must_parse(std::string_view text) {
  auto url = Url::parse(text);
  INFO(text);
  REQUIRE(url.ok());
  return std::move(url).value();
}

bool is_one_ascii_line(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7F;
  });
}

}  // namespace

TEST_CASE("parse normalises so that one resource has one spelling (RFC 3986 6.2.2, 6.2.3)", "[url]") {
  struct Case {
    std::string_view input;
    std::string_view expected;
    const char* rule;
  };
  static const Case kCases[] = {
      {"http://example.com", "http://example.com/", "6.2.3: empty path is \"/\""},
      {"HTTP://EXAMPLE.COM/", "http://example.com/", "6.2.2.1: scheme and host are case-insensitive"},
      {"https://Example.com/Path/File", "https://example.com/Path/File", "6.2.2.1: path keeps its case"},
      {"http://example.com:80/", "http://example.com/", "6.2.3: default port dropped"},
      {"https://example.com:443/x", "https://example.com/x", "6.2.3: default port dropped (https)"},
      {"http://example.com:443/", "http://example.com:443/", "443 is not http's default"},
      {"https://example.com:80/", "https://example.com:80/", "80 is not https's default"},
      {"http://example.com:/", "http://example.com/", "6.2.3: empty port is the default"},
      {"http://example.com:0080/", "http://example.com/", "leading zeros in the port"},
      {"http://example.com:08080/", "http://example.com:8080/", "leading zeros in the port"},
      {"http://example.com/a/./b/../c", "http://example.com/a/c", "6.2.2.3: dot segments removed"},
      {"http://example.com/../../x", "http://example.com/x", "5.2.4: .. above the root stays at the root"},
      {"http://example.com/a/b/..", "http://example.com/a/", "5.2.4: trailing .."},
      {"http://example.com/%7Euser/%41%62%2d%2E%5F", "http://example.com/~user/Ab-._",
       "6.2.2.2: percent-encoded unreserved characters decoded"},
      {"http://example.com/%2f%3a%3F%23%25", "http://example.com/%2F%3A%3F%23%25",
       "6.2.2.1: other escapes kept, hex digits upper case"},
      {"http://example.com/a/%2e%2E/b", "http://example.com/b", "6.2.2: dot segments that appear after decoding"},
      {"http://example.com/a/%2E/b?q=%2E", "http://example.com/a/b?q=.", "6.2.2: \"%2E\" segment; query dots stay"},
      {"http://example.com/a%2e%2E/b", "http://example.com/a../b", "\"a..\" is not a dot segment"},
      {"http://example.com/a b", "http://example.com/a%20b", "2.1: space encoded"},
      {"http://example.com/?q=a b", "http://example.com/?q=a%20b", "space in the query is %20, not \"+\""},
      {"http://example.com/?q=a+b", "http://example.com/?q=a+b", "\"+\" in the query is data, kept"},
      {"http://example.com/\"<>\\^`{|}[]", "http://example.com/%22%3C%3E%5C%5E%60%7B%7C%7D%5B%5D",
       "3.3: characters RFC 3986 does not allow in a path are encoded"},
      {"http://example.com/caf\xC3\xA9?\xC3\xA9", "http://example.com/caf%C3%A9?%C3%A9", "non-ASCII bytes encoded"},
      {"http://example.com/100%", "http://example.com/100%25", "2.4: a stray % is encoded"},
      {"http://example.com/%zz%4", "http://example.com/%25zz%254", "2.4: malformed escapes are encoded"},
      {"http://example.com/p?b=2&a=1&a=1", "http://example.com/p?b=2&a=1&a=1", "query order and repeats kept"},
      {"http://example.com/p?x=%7e%2b", "http://example.com/p?x=~%2B", "6.2.2: query escapes normalised too"},
      {"http://example.com/p?a/b?c:d@e", "http://example.com/p?a/b?c:d@e", "3.4: \"/\" and \"?\" allowed in a query"},
      {"http://example.com/~!$&'()*+,;=:@", "http://example.com/~!$&'()*+,;=:@", "3.3: sub-delims, \":\", \"@\" kept"},
      {"http://example.com/p#frag", "http://example.com/p", "the fragment is dropped"},
      {"http://example.com/p?#", "http://example.com/p", "an empty query is dropped (as libcurl 7.88 does)"},
      {"  \t http://example.com/x \n", "http://example.com/x", "WHATWG: surrounding whitespace trimmed"},
      {"http://exa\tmple.com/a\nb\rc", "http://example.com/abc", "WHATWG: tab, CR, LF inside removed"},
      {"http://example.com/a\x01\x7F", "http://example.com/a%01%7F", "controls encoded"},
      {"http://example.com/a\0b"sv, "http://example.com/a%00b", "an embedded NUL is data, not the end"},
      {"http://ex%61mple.com/", "http://example.com/", "percent-encoded host name decoded"},
      {"http://M\xC3\x9Cnchen.de/", "http://xn--mnchen-3ya.de/", "IDN to punycode (UTS #46 maps case)"},
      {"http://www.b\xC3\xBC"
       "cher.example/",
       "http://www.xn--bcher-kva.example/", "IDN to punycode"},
      {"http://xn--bcher-kva.example/", "http://xn--bcher-kva.example/", "punycode stays"},
      {"http://[::FFFF:127.0.0.1]:8080/", "http://[::ffff:127.0.0.1]:8080/", "IPv6 in RFC 5952 form"},
      {"http://[2001:DB8:0:0:0:0:0:1]/", "http://[2001:db8::1]/", "IPv6 zeros compressed"},
      {"http://0x7f.1/", "http://127.0.0.1/", "IPv4 numeric forms (libcurl)"},
      {"http://user:p%61ss@Example.com/", "http://user:pass@example.com/", "userinfo kept, normalised"},
      {"http:/example.com/x", "http://example.com/x", "one slash accepted, as libcurl and WHATWG do"},
      {"http://example.com./", "http://example.com./", "a trailing dot in the host is kept"},
      {"http://example.com/a\\b", "http://example.com/a%5Cb", "backslash is data (RFC 3986, not WHATWG)"},
  };
  for (const Case& c : kCases) {
    INFO(c.rule << ": " << c.input);
    CHECK(parsed(c.input) == c.expected);
  }
}

TEST_CASE("parse refuses what is not an absolute http(s) URL, saying why", "[url]") {
  struct Case {
    std::string_view input;
    ErrorCode code;
    std::string_view message_part;
  };
  static const Case kCases[] = {
      {"", ErrorCode::kInvalidUrl, "empty"},
      {" \t\n", ErrorCode::kInvalidUrl, "empty"},
      {"example.com/x", ErrorCode::kInvalidUrl, "no scheme"},
      {"//example.com/x", ErrorCode::kInvalidUrl, "no scheme"},
      {"/just/a/path", ErrorCode::kInvalidUrl, "no scheme"},
      {"1http://example.com/", ErrorCode::kInvalidUrl, "no scheme"},
      {"ftp://example.com/", ErrorCode::kUnsupportedScheme, "\"ftp\""},
      {"FILE:///etc/passwd", ErrorCode::kUnsupportedScheme, "\"FILE\""},
      {"javascript:alert(1)", ErrorCode::kUnsupportedScheme, "\"javascript\""},
      {"mailto:a@example.com", ErrorCode::kUnsupportedScheme, "\"mailto\""},
      {"data:text/html,x", ErrorCode::kUnsupportedScheme, "\"data\""},
      {"localhost:8080", ErrorCode::kUnsupportedScheme, "\"localhost\""},  // RFC 3986 3.1: that is a scheme
      {"http://", ErrorCode::kInvalidUrl, "No host"},
      {"http:///", ErrorCode::kInvalidUrl, "No host"},
      {"http:g", ErrorCode::kInvalidUrl, "slashes"},
      {"http://exa mple.com/", ErrorCode::kInvalidUrl, "hostname"},
      {"http://a@b@c/", ErrorCode::kInvalidUrl, "hostname"},
      {"http://example.com:99999/", ErrorCode::kInvalidUrl, "Port"},
      {"http://example.com:-1/", ErrorCode::kInvalidUrl, "Port"},
      {"http://example.com:8o/", ErrorCode::kInvalidUrl, "Port"},
      {"http://example.com:0/", ErrorCode::kInvalidUrl, "port must be between 1 and 65535"},
      {"http://[::1/", ErrorCode::kInvalidUrl, "IPv6"},
      {"http://[fe80::1%25eth0]/", ErrorCode::kInvalidUrl, "zone"},
      {"http://\xFF\xFE.com/", ErrorCode::kInvalidUrl, "international host name"},
  };
  for (const Case& c : kCases) {
    INFO(c.input);
    auto url = Url::parse(c.input);
    REQUIRE_FALSE(url.ok());
    CHECK(url.error().code == c.code);
    CHECK_THAT(url.error().message, Catch::Contains(std::string(c.message_part)));
    CHECK(is_one_ascii_line(url.error().message));
  }
}

TEST_CASE("error messages quote the input, escaped and truncated to one short line", "[url]") {
  const std::string long_garbage = "http://exa mple.com/" + std::string(300, 'x') + "\n\x01\xFF";
  auto url = Url::parse(long_garbage);
  REQUIRE_FALSE(url.ok());
  const std::string& message = url.error().message;
  CHECK_THAT(message, Catch::StartsWith("invalid URL \"http://exa mple.com/xxx"));
  CHECK_THAT(message, Catch::Contains("... (323 bytes)"));
  CHECK(message.size() < 300);
  CHECK(is_one_ascii_line(message));

  auto scheme = Url::parse("gopher://a/\"q\"");
  REQUIRE_FALSE(scheme.ok());
  CHECK(scheme.error().message ==
        "unsupported scheme \"gopher\" in URL \"gopher://a/\\\"q\\\"\" (only http and https are followed)");
}

TEST_CASE("URLs longer than 8 KiB are refused, given or once normalised", "[url]") {
  const std::string prefix = "http://example.com/";
  const std::string longest = prefix + std::string(Url::kMaxLength - prefix.size(), 'a');
  REQUIRE(longest.size() == 8192);
  CHECK(parsed(longest) == longest);
  CHECK(parsed("  " + longest + "  ") == longest);  // the limit applies after trimming

  auto too_long = Url::parse(longest + "a");
  REQUIRE_FALSE(too_long.ok());
  CHECK(too_long.error().code == ErrorCode::kInvalidUrl);
  CHECK_THAT(too_long.error().message, Catch::Contains("longer than 8192 bytes"));

  // 4 KB of input that percent-encoding triples.
  std::string expands = prefix;
  for (int i = 0; i < 2000; ++i) expands += "\xC3\xA9";
  auto expanded = Url::parse(expands);
  REQUIRE_FALSE(expanded.ok());
  CHECK_THAT(expanded.error().message, Catch::Contains("once normalised"));

  const Url base = must_parse("http://example.com/");
  CHECK(resolved(base, std::string(Url::kMaxLength + 1, 'a')) == "ERROR invalid_url");
  CHECK(resolved(base, std::string(Url::kMaxLength - prefix.size(), 'a')) == longest);
}

// RFC 3986 5.4 resolves its examples against "http://a/b/c/d;p?q". (Test names
// avoid ";": catch_discover_tests would split the name there.)
TEST_CASE("RFC 3986 5.4.1 normal examples resolve against the RFC's base URL", "[url]") {
  struct Case {
    std::string_view reference;
    std::string_view expected;  // the RFC's result without its fragment
  };
  static const Case kCases[] = {
      {"g:h", "ERROR unsupported_scheme"},  // RFC: "g:h", a URL we do not follow
      {"g", "http://a/b/c/g"},
      {"./g", "http://a/b/c/g"},
      {"g/", "http://a/b/c/g/"},
      {"/g", "http://a/g"},
      {"//g", "http://g/"},
      {"?y", "http://a/b/c/d;p?y"},
      {"g?y", "http://a/b/c/g?y"},
      {"#s", "http://a/b/c/d;p?q"},
      {"g#s", "http://a/b/c/g"},
      {"g?y#s", "http://a/b/c/g?y"},
      {";x", "http://a/b/c/;x"},
      {"g;x", "http://a/b/c/g;x"},
      {"g;x?y#s", "http://a/b/c/g;x?y"},
      {"", "http://a/b/c/d;p?q"},
      {".", "http://a/b/c/"},
      {"./", "http://a/b/c/"},
      {"..", "http://a/b/"},
      {"../", "http://a/b/"},
      {"../g", "http://a/b/g"},
      {"../..", "http://a/"},
      {"../../", "http://a/"},
      {"../../g", "http://a/g"},
  };
  const Url base = must_parse("http://a/b/c/d;p?q");
  for (const Case& c : kCases) {
    INFO("reference: \"" << c.reference << "\"");
    CHECK(resolved(base, c.reference) == c.expected);
  }
}

TEST_CASE("RFC 3986 5.4.2 abnormal examples resolve against the RFC's base URL", "[url]") {
  struct Case {
    std::string_view reference;
    std::string_view expected;
  };
  static const Case kCases[] = {
      {"../../../g", "http://a/g"},
      {"../../../../g", "http://a/g"},
      {"/./g", "http://a/g"},
      {"/../g", "http://a/g"},
      {"g.", "http://a/b/c/g."},
      {".g", "http://a/b/c/.g"},
      {"g..", "http://a/b/c/g.."},
      {"..g", "http://a/b/c/..g"},
      {"./../g", "http://a/b/g"},
      {"./g/.", "http://a/b/c/g/"},
      {"g/./h", "http://a/b/c/g/h"},
      {"g/../h", "http://a/b/c/h"},
      {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
      {"g;x=1/../y", "http://a/b/c/y"},
      {"g?y/./x", "http://a/b/c/g?y/./x"},
      {"g?y/../x", "http://a/b/c/g?y/../x"},
      {"g#s/./x", "http://a/b/c/g"},
      {"g#s/../x", "http://a/b/c/g"},
      {"http:g", "ERROR invalid_url"},  // the strict reading: an http URL without a host
  };
  const Url base = must_parse("http://a/b/c/d;p?q");
  for (const Case& c : kCases) {
    INFO("reference: \"" << c.reference << "\"");
    CHECK(resolved(base, c.reference) == c.expected);
  }
}

TEST_CASE("resolve handles hrefs as pages write them", "[url]") {
  struct Case {
    std::string_view reference;
    std::string_view expected;
  };
  static const Case kCases[] = {
      {"//cdn.example.net/a.js", "https://cdn.example.net/a.js"},  // 4.2: takes the base's scheme
      {"//CDN.example.net:443", "https://cdn.example.net/"},
      {"?page=2", "https://www.example.com/dir/page.html?page=2"},
      {"#top", "https://www.example.com/dir/page.html?x=1"},
      {"  other.html \n", "https://www.example.com/dir/other.html"},
      {"\t/x\n/y", "https://www.example.com/x/y"},
      {"HTTP://Other.Example/", "http://other.example/"},
      {"a b.html?q=a b", "https://www.example.com/dir/a%20b.html?q=a%20b"},
      {"%7Efoo/%2e%2e/bar", "https://www.example.com/dir/bar"},
      {"../../../../x", "https://www.example.com/x"},
      {"caf\xC3\xA9", "https://www.example.com/dir/caf%C3%A9"},
      {"//user@host.example/", "https://user@host.example/"},
      {"http://[::1]:8080/p", "http://[::1]:8080/p"},
      {"javascript:void(0)", "ERROR unsupported_scheme"},
      {"JavaScript:void(0)", "ERROR unsupported_scheme"},
      {"mailto:someone@example.com", "ERROR unsupported_scheme"},
      {"tel:+15551234", "ERROR unsupported_scheme"},
      {"data:image/png;base64,iVBORw0KGgo=", "ERROR unsupported_scheme"},
      {"ftp://files.example.com/x", "ERROR unsupported_scheme"},
      {"//", "ERROR invalid_url"},
      {"http://", "ERROR invalid_url"},
      {"https:", "ERROR invalid_url"},
      {"//bad host/", "ERROR invalid_url"},
      {"//example.com:99999/", "ERROR invalid_url"},
  };
  const Url base = must_parse("https://www.example.com/dir/page.html?x=1#frag");
  for (const Case& c : kCases) {
    INFO("reference: \"" << c.reference << "\"");
    CHECK(resolved(base, c.reference) == c.expected);
  }
}

TEST_CASE("resolve errors name the reference and the base", "[url]") {
  const Url base = must_parse("http://a/b");
  auto bad = base.resolve("//bad host/");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "invalid URL \"//bad host/\": Bad hostname (resolved against \"http://a/b\")");
  auto mail = base.resolve("mailto:x@y");
  REQUIRE_FALSE(mail.ok());
  CHECK(mail.error().message ==
        "unsupported scheme \"mailto\" in URL \"mailto:x@y\" (only http and https are followed)");
}

TEST_CASE("accessors split the normalised URL", "[url]") {
  struct Case {
    std::string_view input;
    std::string_view scheme, host;
    std::uint16_t port;
    std::string_view path_and_query, host_key, robots_url;
  };
  static const Case kCases[] = {
      {"https://User@WWW.Example.com:8443/a/b?x=1#f", "https", "www.example.com", 8443, "/a/b?x=1",
       "https://www.example.com:8443", "https://www.example.com:8443/robots.txt"},
      {"http://example.com", "http", "example.com", 80, "/", "http://example.com:80", "http://example.com/robots.txt"},
      {"https://[::1]/x?", "https", "[::1]", 443, "/x", "https://[::1]:443", "https://[::1]/robots.txt"},
      {"http://127.0.0.1:8080/p?q", "http", "127.0.0.1", 8080, "/p?q", "http://127.0.0.1:8080",
       "http://127.0.0.1:8080/robots.txt"},
      {"http://b\xC3\xBC"
       "cher.example:80/?",
       "http", "xn--bcher-kva.example", 80, "/", "http://xn--bcher-kva.example:80",
       "http://xn--bcher-kva.example/robots.txt"},
  };
  for (const Case& c : kCases) {
    INFO(c.input);
    const Url url = must_parse(c.input);
    CHECK(url.scheme() == c.scheme);
    CHECK(url.host() == c.host);
    CHECK(url.port() == c.port);
    CHECK(url.path_and_query() == c.path_and_query);
    CHECK(url.host_key() == c.host_key);
    CHECK(url.robots_url() == c.robots_url);
    // host_key() + "/robots.txt" must itself be a URL, the same as robots_url().
    CHECK(parsed(url.host_key() + "/robots.txt") == c.robots_url);
  }
}

TEST_CASE("registrable_domain follows the Public Suffix List", "[url]") {
  struct Case {
    std::string_view input;
    std::string_view domain;
  };
  static const Case kCases[] = {
      {"http://example.com/", "example.com"},
      {"http://a.b.example.com/", "example.com"},
      {"http://www.example.co.uk/", "example.co.uk"},       // ICANN section: co.uk is a suffix
      {"https://someone.github.io/", "someone.github.io"},  // private section: github.io is a suffix
      {"http://www.b\xC3\xBC"
       "cher.de/",
       "xn--bcher-kva.de"},
      {"http://foo.bar.unknowntld/", "bar.unknowntld"},  // the "*" default rule
      {"http://co.uk/", "co.uk"},                        // a suffix itself: no registrable domain
      {"http://localhost:8080/", "localhost"},
      {"http://127.0.0.1/", "127.0.0.1"},
      {"http://[::1]/", "[::1]"},
  };
  for (const Case& c : kCases) {
    INFO(c.input);
    CHECK(must_parse(c.input).registrable_domain() == c.domain);
  }
}

TEST_CASE("equality is equality of the normalised form, and copies and moves keep the value", "[url]") {
  const Url a = must_parse("HTTP://Example.com:80/%7e/./x#f");
  const Url b = must_parse("http://example.com/~/x");
  const Url c = must_parse("http://example.com/~/y");
  CHECK(a == b);
  CHECK_FALSE(a == c);
  Url copy = a;
  CHECK(copy == a);
  Url moved = std::move(copy);
  CHECK(moved.str() == "http://example.com/~/x");
  CHECK(copy.str() == "http://example.com/~/x");  // NOLINT(bugprone-use-after-move): documented to stay valid
  copy = c;
  CHECK(copy == c);
}

TEST_CASE("normalisation is idempotent and never fails on arbitrary bytes", "[url]") {
  // Deterministic pseudo-random URLs built from the pieces that trip parsers.
  // "b\xC3\xBC" "cher" is split on purpose, so that \xBC ends before 'c'.
  // NOLINTBEGIN(bugprone-suspicious-missing-comma)
  static const std::string_view kPieces[] = {"http://",
                                             "https://",
                                             "HTTP://",
                                             "//",
                                             "/",
                                             "?",
                                             "#",
                                             "%",
                                             "%2e",
                                             "%2E%2e",
                                             "%41",
                                             "%zz",
                                             "..",
                                             ".",
                                             "@",
                                             ":",
                                             "[",
                                             "]",
                                             "::1",
                                             "a",
                                             "Z",
                                             "9",
                                             "-",
                                             "_",
                                             "~",
                                             " ",
                                             "\t",
                                             "\n",
                                             "\x01",
                                             "\x7F",
                                             "\xC3\xA9",
                                             "\xFF",
                                             "\0"sv,
                                             "xn--",
                                             "\\",
                                             "\"",
                                             "<",
                                             "+",
                                             "=",
                                             "&",
                                             ";",
                                             ":80",
                                             ":443",
                                             ":0",
                                             ":65536",
                                             "example.com",
                                             "b\xC3\xBC"
                                             "cher"};
  // NOLINTEND(bugprone-suspicious-missing-comma)
  std::uint64_t state = 42;
  auto next = [&state](std::size_t bound) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::size_t>((state >> 33) % bound);
  };
  const Url base = must_parse("http://base.example/a/b?c");
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = next(2) == 0 ? "http://" : "";
    const std::size_t pieces = 1 + next(12);
    for (std::size_t p = 0; p < pieces; ++p) text += kPieces[next(std::size(kPieces))];
    INFO("input: " << text);
    for (auto result : {Url::parse(text), base.resolve(text)}) {
      if (!result.ok()) {
        CHECK((result.error().code == ErrorCode::kInvalidUrl || result.error().code == ErrorCode::kUnsupportedScheme));
        CHECK(is_one_ascii_line(result.error().message));
        continue;
      }
      ++accepted;
      const Url& url = *result;
      CHECK((url.scheme() == "http" || url.scheme() == "https"));
      CHECK(url.path_and_query().substr(0, 1) == "/");
      CHECK(url.str().find('#') == std::string::npos);
      CHECK(url.str().size() <= Url::kMaxLength);
      CHECK(parsed(url.str()) == url.str());
      CHECK(parsed(url.host_key() + "/robots.txt") == url.robots_url());
    }
  }
  CHECK(accepted > 1000);  // the generator must reach the success paths too
}

TEST_CASE("one Url may be read, copied and resolved against from many threads", "[url]") {
  const Url base = must_parse("https://www.example.com/dir/page.html");
  std::vector<std::thread> threads;
  threads.reserve(4);
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&base, &mismatches, t] {
      for (int i = 0; i < 500; ++i) {
        const Url copy = base;  // NOLINT(performance-unnecessary-copy-initialization): copies are under test
        auto link = copy.resolve("../x" + std::to_string(i));
        if (!link || link->str() != "https://www.example.com/x" + std::to_string(i) ||
            copy.registrable_domain() != "example.com") {
          ++mismatches[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(mismatches == std::vector<int>(4, 0));
}
