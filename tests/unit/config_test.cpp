#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "fetchpool/config.hpp"

using fetchpool::ErrorCode;
using fetchpool::parse_settings;
using fetchpool::Settings;

namespace {

std::string error_of(std::string_view toml) {
  auto result = parse_settings(toml, "test.toml");
  REQUIRE_FALSE(result.ok());
  REQUIRE(result.error().code == ErrorCode::kConfig);
  return result.error().message;
}

}  // namespace

TEST_CASE("config/default.toml documents exactly the built-in defaults", "[config]") {
  auto loaded = fetchpool::load_settings("config/default.toml");
  REQUIRE(loaded.ok());
  const Settings defaults;
  CHECK(loaded->run.workers == defaults.run.workers);
  CHECK(loaded->run.progress_interval_ms == defaults.run.progress_interval_ms);
  CHECK(loaded->run.log_level == defaults.run.log_level);
  CHECK(loaded->crawl.max_depth == defaults.crawl.max_depth);
  CHECK(loaded->crawl.max_pages == defaults.crawl.max_pages);
  CHECK(loaded->crawl.scope == defaults.crawl.scope);
  CHECK(loaded->crawl.robots == defaults.crawl.robots);
  CHECK(loaded->crawl.link_tags == defaults.crawl.link_tags);
  CHECK(loaded->crawl.html_parser == defaults.crawl.html_parser);
  CHECK(loaded->crawl.max_links_per_page == defaults.crawl.max_links_per_page);
  CHECK(loaded->http.user_agent == defaults.http.user_agent);
  CHECK(loaded->http.timeout_ms == defaults.http.timeout_ms);
  CHECK(loaded->http.max_body_bytes == defaults.http.max_body_bytes);
  CHECK(loaded->politeness.crawl_per_host == defaults.politeness.crawl_per_host);
  CHECK(loaded->politeness.get_per_host == defaults.politeness.get_per_host);
  CHECK(loaded->retry.max_retries == defaults.retry.max_retries);
  CHECK(loaded->output.format == defaults.output.format);
  CHECK(loaded->serve.pages == defaults.serve.pages);
  CHECK(loaded->serve.error_rate == defaults.serve.error_rate);
}

TEST_CASE("every key in default.toml is one the loader knows", "[config]") {
  // A key the loader did not know would be an error, so loading the shipped
  // file is itself the check; changing a value proves the keys are applied.
  std::ifstream in("config/default.toml");
  REQUIRE(in);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto pos = text.find("workers = 16");
  REQUIRE(pos != std::string::npos);
  text.replace(pos, 12, "workers = 77");
  auto loaded = parse_settings(text, "edited.toml");
  REQUIRE(loaded.ok());
  CHECK(loaded->run.workers == 77);
}

TEST_CASE("values from a config file override defaults, others stay", "[config]") {
  auto loaded = parse_settings(R"(
[run]
workers = 200
[crawl]
scope = "domain"
exclude = ["\\.pdf$", "/private/"]
[http]
user_agent = "mybot/2.0"
compressed = false
[serve]
error_rate = 0.25
)",
                               "inline");
  REQUIRE(loaded.ok());
  CHECK(loaded->run.workers == 200);
  CHECK(loaded->crawl.scope == "domain");
  CHECK(loaded->crawl.exclude == std::vector<std::string>{"\\.pdf$", "/private/"});
  CHECK(loaded->http.user_agent == "mybot/2.0");
  CHECK_FALSE(loaded->http.compressed);
  CHECK(loaded->serve.error_rate == Approx(0.25));
  CHECK(loaded->crawl.max_depth == Settings{}.crawl.max_depth);
}

TEST_CASE("bad config gives one line naming the file and the key", "[config]") {
  using Catch::Matchers::Contains;
  CHECK_THAT(error_of("[run]\nworkers = \"many\"\n"),
             Contains("test.toml: run.workers: expected a non-negative integer, got string"));
  CHECK_THAT(error_of("[run]\nworkers = -3\n"), Contains("run.workers: value -3 is out of range"));
  CHECK_THAT(error_of("[run]\nworkers = 0\n"), Contains("run.workers: must be between 1 and 10000"));
  CHECK_THAT(error_of("[run]\nworkerz = 4\n"), Contains("test.toml: run.workerz: unknown key"));
  CHECK_THAT(error_of("[runn]\nworkers = 4\n"), Contains("test.toml: runn: unknown section"));
  CHECK_THAT(error_of("[crawl]\nscope = \"planet\"\n"),
             Contains("crawl.scope: 'planet' is not one of host, domain, any"));
  CHECK_THAT(error_of("[crawl]\nhtml_parser = \"regex\"\n"),
             Contains("crawl.html_parser: 'regex' is not one of fast, gumbo"));
  CHECK_THAT(error_of("[crawl]\nexclude = [1, 2]\n"), Contains("crawl.exclude: expected an array of strings"));
  CHECK_THAT(error_of("[http]\ncompressed = \"yes\"\n"), Contains("http.compressed: expected true or false"));
  CHECK_THAT(error_of("[output]\nformat = \"xml\"\n"), Contains("output.format"));
  CHECK_THAT(error_of("[retry]\nbackoff_base_ms = 100\nbackoff_max_ms = 10\n"), Contains("retry.backoff_max_ms"));
  // Syntax errors carry line:column.
  CHECK_THAT(error_of("[run]\nworkers = = 3\n"), Contains("test.toml:2:"));
  for (const auto& message : {error_of("[run]\nworkers = \"x\"\n"), error_of("[run\n")})
    CHECK(message.find('\n') == std::string::npos);
}

TEST_CASE("load_settings reports a missing file by name", "[config]") {
  auto loaded = fetchpool::load_settings("no/such/dir/fetchpool.toml");
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().message == "no/such/dir/fetchpool.toml: cannot open config file");
}
