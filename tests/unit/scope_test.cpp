#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/scope.hpp"
#include "support/small_stack.hpp"

using fetchpool::ErrorCode;
using fetchpool::Scope;
using fetchpool::ScopeMode;
using fetchpool::ScopeOptions;
using fetchpool::Url;

namespace {

Url must_parse(std::string_view text) {
  auto url = Url::parse(text);
  INFO(text);
  REQUIRE(url.ok());
  return std::move(url).value();
}

std::vector<Url> seeds() {
  return {must_parse("http://example.com/"), must_parse("https://docs.example.org:8443/start")};
}

Scope must_create(const ScopeOptions& options, const std::vector<Url>& seed_urls) {
  auto scope = Scope::create(options, seed_urls);
  if (!scope) FAIL(scope.error().message);
  return std::move(scope).value();
}

}  // namespace

TEST_CASE("the mode compares a URL with the seeds", "[scope]") {
  struct Case {
    ScopeMode mode;
    std::string_view url;
    bool allowed;
    const char* why;
  };
  static const Case kCases[] = {
      {ScopeMode::kSameHost, "http://example.com/a", true, "the seed's host"},
      {ScopeMode::kSameHost, "http://EXAMPLE.com:80/x", true, "normalised before comparing"},
      {ScopeMode::kSameHost, "https://example.com/a", true, "http and https on default ports are one host"},
      {ScopeMode::kSameHost, "http://example.com:8080/", false, "another port is another host"},
      {ScopeMode::kSameHost, "http://www.example.com/", false, "a subdomain is another host"},
      {ScopeMode::kSameHost, "https://docs.example.org:8443/x", true, "the second seed, with its port"},
      {ScopeMode::kSameHost, "https://docs.example.org/x", false, "the second seed's host without its port"},
      {ScopeMode::kSameHost, "http://other.com/", false, "unrelated"},
      {ScopeMode::kSameDomain, "http://www.example.com/", true, "a subdomain shares the registrable domain"},
      {ScopeMode::kSameDomain, "https://a.b.example.com:9/", true, "any depth, any port"},
      {ScopeMode::kSameDomain, "http://example.org/", true, "the second seed's registrable domain"},
      {ScopeMode::kSameDomain, "http://example.co.uk/", false, "another registrable domain"},
      {ScopeMode::kSameDomain, "http://evil-example.com/", false, "a suffix of the name is not the domain"},
      {ScopeMode::kSameDomain, "http://example.com.evil.net/", false, "a prefix of the name is not the domain"},
      {ScopeMode::kAny, "http://anything.test/", true, "any"},
      {ScopeMode::kAny, "https://[::1]:9/", true, "any"},
  };
  const std::vector<Url> seed_urls = seeds();
  for (const Case& c : kCases) {
    INFO(c.why << ": " << c.url);
    const Scope scope = must_create(ScopeOptions{c.mode, {}, {}}, seed_urls);
    CHECK(scope.allows(must_parse(c.url)) == c.allowed);
  }
}

TEST_CASE("include and exclude patterns are searched in the normalised URL", "[scope]") {
  struct Case {
    std::vector<std::string> includes, excludes;
    std::string_view url;
    bool allowed;
  };
  const std::vector<std::string> docs = {"^https?://example\\.com/docs/"};
  const std::vector<std::string> junk = {"\\.pdf$", "[?&]session="};
  const Case kCases[] = {
      {docs, junk, "http://example.com/docs/a", true},
      {docs, junk, "http://example.com/blog/a", false},                // no include matches
      {docs, junk, "http://example.com/docs/a.pdf", false},            // an exclude matches
      {docs, junk, "http://example.com/docs/a?x=1&session=2", false},  // search, not full match
      {docs, junk, "HTTP://Example.COM/docs/%7Ea", true},              // matched against str(): .../docs/~a
      {{}, junk, "http://example.com/anything", true},                 // no includes: everything passes them
      {{}, junk, "http://example.com/a.pdf", false},
      {{"/a/", "/b/"}, {}, "http://example.com/b/x", true},  // any include
      {{"/a/", "/b/"}, {}, "http://example.com/c/x", false},
      {{"\\?"}, {}, "http://example.com/x?", false},  // the empty query is gone after normalisation
  };
  const std::vector<Url> seed_urls = seeds();
  for (const Case& c : kCases) {
    INFO(c.url);
    const Scope scope = must_create(ScopeOptions{ScopeMode::kAny, c.includes, c.excludes}, seed_urls);
    CHECK(scope.allows(must_parse(c.url)) == c.allowed);
  }
  // The mode still applies when patterns match.
  const Scope host_only = must_create(ScopeOptions{ScopeMode::kSameHost, {"/docs/"}, {}}, seed_urls);
  CHECK(host_only.allows(must_parse("http://example.com/docs/")));
  CHECK_FALSE(host_only.allows(must_parse("http://elsewhere.com/docs/")));
}

TEST_CASE("bad configuration is a kConfig error naming the pattern", "[scope]") {
  struct Case {
    ScopeOptions options;
    bool with_seeds;
    std::string_view message_part;
  };
  const Case kCases[] = {
      {{ScopeMode::kAny, {"("}, {}}, true, "bad include pattern \"(\""},
      {{ScopeMode::kAny, {}, {"a[b"}}, true, "bad exclude pattern \"a[b\""},
      {{ScopeMode::kAny, {"(a)\\1"}, {}}, true, "bad include pattern \"(a)\\1\""},  // no back-references
      {{ScopeMode::kAny, {"a)(?:b"}, {}}, true, "bad include pattern \"a)(?:b\""},  // valid only when wrapped
      {{ScopeMode::kSameHost, {}, {}}, false, "scope \"host\" needs at least one seed"},
      {{ScopeMode::kSameDomain, {}, {}}, false, "scope \"domain\" needs at least one seed"},
  };
  for (const Case& c : kCases) {
    INFO(c.message_part);
    auto scope = Scope::create(c.options, c.with_seeds ? seeds() : std::vector<Url>{});
    REQUIRE_FALSE(scope.ok());
    CHECK(scope.error().code == ErrorCode::kConfig);
    CHECK_THAT(scope.error().message, Catch::Contains(std::string(c.message_part)));
  }
  CHECK(Scope::create(ScopeOptions{ScopeMode::kAny, {}, {}}, {}).ok());
}

TEST_CASE("scope mode names", "[scope]") {
  struct Case {
    std::string_view name;
    std::optional<ScopeMode> mode;
  };
  static const Case kCases[] = {
      {"host", ScopeMode::kSameHost},
      {"domain", ScopeMode::kSameDomain},
      {"any", ScopeMode::kAny},
      {"Host", std::nullopt},
      {"", std::nullopt},
      {"same-host", std::nullopt},
  };
  for (const Case& c : kCases) {
    INFO(c.name);
    CHECK(fetchpool::parse_scope_mode(c.name) == c.mode);
  }
}

TEST_CASE("matching an 8 KiB URL fits in a 512 KiB worker stack", "[scope]") {
  // libstdc++'s default backtracking matcher recurses per character: ".*x=2"
  // on this URL overflows a 512 KiB stack. Scope must not use it.
  const std::string path(Url::kMaxLength - 40, 'a');
  const Url long_url = must_parse("http://example.com/" + path + "?x=1");
  const Scope scope = must_create(
      ScopeOptions{ScopeMode::kAny, {"^https?://example\\.com/.*", "(a|b)*\\?x=1$"}, {".*x=2", "(a*)*b"}}, {});
  bool allowed = false;
  fetchpool::testing::run_with_stack(fetchpool::testing::kWorkerStackBytes, [&] { allowed = scope.allows(long_url); });
  CHECK(allowed);
}

TEST_CASE("allows() may be called from many threads at once", "[scope]") {
  const Scope scope = must_create(ScopeOptions{ScopeMode::kSameDomain, {"/docs/"}, {"\\.pdf$"}}, seeds());
  const Url in = must_parse("http://www.example.com/docs/a");
  const Url out = must_parse("http://www.example.com/docs/a.pdf");
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        if (!scope.allows(in) || scope.allows(out)) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
}
