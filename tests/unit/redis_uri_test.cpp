#include <catch2/catch.hpp>

#include "fetchpool/redis_uri.hpp"

using fetchpool::parse_redis_uri;

TEST_CASE("redis URI: host, port, prefix and lease are read", "[redis_uri]") {
  const auto uri = parse_redis_uri("redis://10.0.0.5:6380/crawl-1?lease=30");
  REQUIRE(uri);
  CHECK(uri->host == "10.0.0.5");
  CHECK(uri->port == 6380);
  CHECK(uri->prefix == "crawl-1");
  CHECK(uri->lease == std::chrono::seconds(30));
  CHECK(fetchpool::to_string(*uri) == "redis://10.0.0.5:6380/crawl-1?lease=30");
}

TEST_CASE("redis URI: grace, alone or after lease, is read and printed back", "[redis_uri]") {
  const auto both = parse_redis_uri("redis://h/x?lease=2&grace=5");
  REQUIRE(both);
  CHECK(both->lease == std::chrono::seconds(2));
  CHECK(both->grace == std::chrono::seconds(5));
  CHECK(fetchpool::to_string(*both) == "redis://h:6379/x?lease=2&grace=5");
  const auto alone = parse_redis_uri("redis://h/x?grace=7");
  REQUIRE(alone);
  CHECK(alone->lease == std::chrono::seconds(60));
  CHECK(alone->grace == std::chrono::seconds(7));
  CHECK(fetchpool::to_string(*alone) == "redis://h:6379/x?grace=7");
}

TEST_CASE("redis URI: port, prefix and lease have defaults", "[redis_uri]") {
  for (const char* text : {"redis://cache.lan", "redis://cache.lan/", "redis://cache.lan:6379/fetchpool"}) {
    const auto uri = parse_redis_uri(text);
    REQUIRE(uri);
    CHECK(uri->host == "cache.lan");
    CHECK(uri->port == 6379);
    CHECK(uri->prefix == "fetchpool");
    CHECK(uri->lease == std::chrono::seconds(60));
    CHECK(uri->grace == std::chrono::seconds(30));
    CHECK(fetchpool::to_string(*uri) == "redis://cache.lan:6379/fetchpool");
  }
}

TEST_CASE("redis URI: errors name the input and the bad part", "[redis_uri]") {
  const struct {
    const char* text;
    const char* part;
  } cases[] = {
      {"http://h:1/x", "expected redis://"},
      {"redis://", "no host"},
      {"redis://:6379/x", "no host"},
      {"redis://h:0/x", "port '0'"},
      {"redis://h:65536/x", "port '65536'"},
      {"redis://h:abc/x", "port 'abc'"},
      {"redis://h:/x", "port ''"},
      {"redis://user:pw@h/x", "passwords"},
      {"redis://[::1]:6379/x", "IPv6"},
      {"redis://h o/x", "host 'h o'"},
      {"redis://h/a b", "key prefix 'a b'"},
      {"redis://h/a:b", "key prefix 'a:b'"},  // would share keys with crawl "a" on --clear
      {"redis://h/x?lease=0", "lease '0'"},
      {"redis://h/x?lease=soon", "lease 'soon'"},
      {"redis://h/x?grace=0", "grace '0'"},
      {"redis://h/x?grace=86401", "grace '86401'"},
      {"redis://h/x?db=2", "unknown parameter 'db'"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const auto uri = parse_redis_uri(c.text);
    REQUIRE_FALSE(uri);
    CHECK(uri.error().code == fetchpool::ErrorCode::kConfig);
    CHECK_THAT(uri.error().message, Catch::Contains(c.text) && Catch::Contains(c.part));
    CHECK(uri.error().message.find('\n') == std::string::npos);
  }
}
