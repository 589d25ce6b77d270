// Url's fast path against its libcurl path (src/parse/url_fast_path.hpp):
// wherever the fast path answers, libcurl's parse + normalisation must give
// the same Url, and Url::parse / Url::resolve must give what the libcurl path
// alone gives (the same value, or the same error and message) on every input.
// Inputs are generated from fragments chosen to sit on the fast path's
// borders (case, escapes, ports, number-like hosts, dot segments, schemes,
// bytes to encode), plus the RFC 3986 5.4 examples.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "fetchpool/url.hpp"
#include "parse/url_fast_path.hpp"

using fetchpool::Result;
using fetchpool::Url;
using fetchpool::detail::parse_simple;
using fetchpool::detail::parse_with_curl;
using fetchpool::detail::resolve_simple;
using fetchpool::detail::resolve_with_curl;

namespace {

// Every observable part of a Url, so that two Urls compare part by part.
std::string describe(const Url& url) {
  return url.str() + " | " + url.host_key() + " | " + std::string(url.scheme()) + " | " + std::string(url.host()) +
         " | " + std::to_string(url.port()) + " | " + std::string(url.path_and_query());
}

std::string describe(const Result<Url>& url) {
  if (!url) return "ERROR " + std::string(fetchpool::to_string(url.error().code)) + ": " + url.error().message;
  return describe(*url);
}

Url must_parse(std::string_view text) {
  auto url = parse_with_curl(text);
  INFO(text);
  REQUIRE(url.ok());
  return std::move(url).value();
}

// Deterministic on every standard library: mt19937's output is specified,
// and picks use a plain modulo rather than a distribution.
class Generator {
 public:
  explicit Generator(std::uint32_t seed) : rng_(seed) {}

  template <std::size_t N>
  std::string_view pick(const std::array<std::string_view, N>& from, std::size_t first = N) {
    return from[rng_() % std::min(first, N)];
  }
  std::size_t below(std::size_t n) { return rng_() % n; }

 private:
  std::mt19937 rng_;
};

// Pieces of paths, queries and fragments: first the bytes the fast path
// takes (kSimplePieces of them), then the ones that send an input to libcurl.
constexpr std::size_t kSimplePieces = 27;
constexpr auto kTailPieces = std::to_array<std::string_view>({
    "a", "b",   "g",   "index.html", "s/0/1.html", ".",  "..", "/", "//",  "?",        "#",   ":",   "@",
    "=", "&",   ";",   "~",          "-",          "_",  "!",  "$", "'",   "(",        ")",   "*",   "+",
    ",", "%41", "%2e", "%2E%2E",     "%",          " ",  "\\", "A", "Z",   "\xC3\xA9", "[",   "]",   "{",
    "|", "^",   "`",   "\"",         "<",          "\t", "\n", "0", "x=1", "./",       "../", "/..",
});

// The start of a reference: relative, network-path, absolute, other schemes.
constexpr auto kReferenceStarts = std::to_array<std::string_view>({
    "",      "",         "",        "/",        "./",          "../",           "../../",
    "?",     "#",        "//h",     "//H",      "//h:8080",    "//127.0.0.1",   "//1.2.3",
    "//h:0", "//h:080",  "//h:",    "//user@h", "//h.",        "http://x.test", "https://x.test:443",
    "http:", "HTTP://x", "https:g", "mailto:",  "javascript:", "1a:",           "a:",
    ":",     " ",        "\t/",     "//[::1]",  "//0x7f.1",    "//256.1.1.1",
});

constexpr auto kSchemes =
    std::to_array<std::string_view>({"http://", "https://", "HTTP://", "http:/", "http:///", "hTTps://"});

constexpr auto kAuthorities = std::to_array<std::string_view>({
    "h",          "example.com", "EXAMPLE.com", "127.0.0.1",
    "127.0.0.01", "1.2.3",       "1.2.3.4.5",   "256.1.1.1",
    "a..b",       "a.",          ".a",          "-a",
    "a-b.c-d",    "0x7f.1",      "09.1.1.1",    "xn--bcher-kva.example",
    "b\xC3\xBC",  "[::1]",       "u@h",         "u:p@h",
    "h:80",       "h:443",       "h:8080",      "h:0",
    "h:099",      "h:",          "h:65535",     "h:65536",
    "h:99999999", "h:8080:1",    "h_1",         "255.255.255.255",
});

std::string random_tail(Generator& generator) {
  std::string tail;
  const std::size_t pieces = generator.below(6);
  // Half the tails stay inside the fast path's bytes, so that it answers often.
  const std::size_t first = generator.below(2) == 0 ? kSimplePieces : kTailPieces.size();
  for (std::size_t i = 0; i < pieces; ++i) tail += generator.pick(kTailPieces, first);
  return tail;
}

std::string random_absolute(Generator& generator) {
  std::string url(generator.pick(kSchemes));
  url += generator.pick(kAuthorities);
  if (generator.below(4) != 0) url += '/';
  url += random_tail(generator);
  return url;
}

std::string random_reference(Generator& generator) {
  if (generator.below(8) == 0) return random_absolute(generator);
  return std::string(generator.pick(kReferenceStarts)) + random_tail(generator);
}

const std::vector<std::string_view> kBases = {
    "http://a/b/c/d;p?q",
    "http://example.com/",
    "http://example.com",
    "https://example.com:8443/dir/sub/page.html?x=1&y=2",
    "http://user:pw@h.example/a/b",
    "http://[::1]:8080/x/y/",
    "http://127.0.0.1:8080/s/0/1.html",
    "http://h/a",
    "http://h/a/",
    "http://h/a//b/",
    "https://xn--bcher-kva.example/a%20b/c?q%41",
    "http://h/%7Euser/x?",
};

}  // namespace

TEST_CASE("parse: the fast path gives what libcurl gives, wherever it answers", "[url]") {
  Generator generator(20261206);
  std::size_t fast = 0;
  constexpr std::size_t kCases = 20000;
  for (std::size_t i = 0; i < kCases; ++i) {
    const std::string text = random_absolute(generator);
    INFO("input: " << text);
    const Result<Url> slow = parse_with_curl(text);
    if (const auto simple = parse_simple(text)) {
      ++fast;
      REQUIRE(slow.ok());
      REQUIRE(describe(*simple) == describe(*slow));
    }
    REQUIRE(describe(Url::parse(text)) == describe(slow));
  }
  // Both paths are exercised: neither side of the comparison is empty.
  CHECK(fast > kCases / 20);
  CHECK(fast < kCases * 9 / 10);
}

TEST_CASE("resolve: the fast path gives what libcurl gives, wherever it answers", "[url]") {
  Generator generator(7);
  std::size_t fast = 0;
  std::size_t cases = 0;
  for (const std::string_view base_text : kBases) {
    const Url base = must_parse(base_text);
    for (std::size_t i = 0; i < 4000; ++i, ++cases) {
      const std::string reference = random_reference(generator);
      INFO("base: " << base_text << "  reference: " << reference);
      const Result<Url> slow = resolve_with_curl(base, reference);
      if (const auto simple = resolve_simple(base, reference)) {
        ++fast;
        REQUIRE(slow.ok());
        REQUIRE(describe(*simple) == describe(*slow));
      }
      REQUIRE(describe(base.resolve(reference)) == describe(slow));
    }
  }
  CHECK(fast > cases / 10);
  CHECK(fast < cases * 9 / 10);
}

TEST_CASE("the fast path takes the RFC 3986 5.4 references and the common link shapes", "[url]") {
  const Url rfc = must_parse("http://a/b/c/d;p?q");
  // 5.4.1 and 5.4.2 examples of the shape a crawl meets (no other scheme).
  for (const std::string_view reference :
       {"g",     "./g",    "g/",        "/g",         "//g",     "?y",       "g?y",        "#s",
        "g#s",   "g?y#s",  ";x",        "g;x",        "g;x?y#s", "",         ".",          "./",
        "..",    "../",    "../g",      "../..",      "../../",  "../../g",  "../../../g", "../../../../g",
        "/./g",  "/../g",  "g.",        ".g",         "g..",     "..g",      "./../g",     "./g/.",
        "g/./h", "g/../h", "g;x=1/./y", "g;x=1/../y", "g?y/./x", "g?y/../x", "g#s/./x",    "g#s/../x"}) {
    INFO(reference);
    const auto simple = resolve_simple(rfc, reference);
    REQUIRE(simple.has_value());
    const Result<Url> slow = resolve_with_curl(rfc, reference);
    REQUIRE(slow.ok());
    CHECK(describe(*simple) == describe(*slow));
  }
  const Url page = must_parse("http://127.0.0.1:8080/s/0/1.html");
  for (const std::string_view reference : {"s/0/2.html", "/index.html", "../x?a=1&b=2", "http://127.0.0.1:8080/"}) {
    INFO(reference);
    REQUIRE(resolve_simple(page, reference).has_value());
  }
  for (const std::string_view absolute : {"http://127.0.0.1:8080/index.html", "https://www.example.com/a/b?c=d"}) {
    INFO(absolute);
    REQUIRE(parse_simple(absolute).has_value());
  }
}

TEST_CASE("the fast path leaves to libcurl what it does not normalise itself", "[url]") {
  // Each of these needs a rewrite only the libcurl path does (or an error it words).
  for (const std::string_view text :
       {"HTTP://h/", "http://H/", "http://h/%41", "http://h/a b", "http://127.1/", "http://0x7f.0.0.1/",
        "http://010.0.0.1/", "http://u@h/", "http://[::1]/", "http://h:080/", "http://h:/", "http://h./",
        "http://b\xC3\xBC/", "http://h/\\"}) {
    INFO(text);
    CHECK_FALSE(parse_simple(text).has_value());
  }
}
