// crawl --sitemaps / --sitemap against the built-in server's sitemaps
// (src/tools/testsite/local_server_sitemaps.cpp): robots.txt Sitemap: lines,
// an index with a nested index, .xml.gz, Content-Encoding: gzip, text, the
// 50,000-URL limit, the scope and location rules, malformed and hostile XML.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "fetchpool/engine.hpp"
#include "fetchpool/sinks.hpp"
#include "support/cli_runner.hpp"
#include "tools/cli/exit_codes.hpp"
#include "tools/testsite/local_server.hpp"

namespace fs = std::filesystem;
using fetchpool::testing::ScratchDir;

namespace {

std::map<std::string, nlohmann::json> records_by_url(const fs::path& path) {
  std::ifstream in(path);
  std::map<std::string, nlohmann::json> records;
  for (std::string line; std::getline(in, line);) {
    auto record = nlohmann::json::parse(line);
    const auto url = record["url"].get<std::string>();
    CHECK(records.count(url) == 0);  // one record per URL
    records[url] = std::move(record);
  }
  return records;
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::string page(std::uint32_t number) {
  return "/s/" + std::to_string(number / 100) + "/" + std::to_string(number) + ".html";
}

}  // namespace

TEST_CASE("crawl --sitemaps: robots.txt's sitemaps seed the crawl, each listed page fetched once", "[sitemap][cli]") {
  fetchpool::ServerOptions options;
  options.sitemaps = true;
  fetchpool::LocalServer server(options);
  const std::string base = server.base_url();
  const ScratchDir scratch("sitemaps-robots");
  const auto results = scratch.path() / "results.jsonl";
  const auto stats = scratch.path() / "stats.json";
  const auto run =
      fetchpool::testing::run_fetchpool_capturing({"-v", "crawl", base + "/", "--sitemaps", "--depth", "0", "-j", "4",
                                                   "-o", results.string(), "--stats-json", stats.string()},
                                                  scratch.path());
  // The malformed and hostile sitemaps' records are errors.
  CHECK(run.exit_code == fetchpool::cli::kExitSomeFailed);
  const auto records = records_by_url(results);

  // Pages 1-34 are listed by the sitemaps that parse (33 and 34 before the
  // malformed one's error): each fetched once, as a seed, referred by its sitemap.
  const std::map<std::uint32_t, std::string> referrer_path = {
      {1, "/sitemaps/pages-a.xml"},    {10, "/sitemaps/pages-a.xml"},  {11, "/sitemaps/pages-b.xml.gz"},
      {21, "/sitemaps/pages-c.xml"},   {26, "/sitemaps/pages.txt"},    {31, "/sitemaps/deep/pages-d.xml"},
      {33, "/sitemaps/malformed.xml"}, {34, "/sitemaps/malformed.xml"}};
  for (std::uint32_t number = 1; number <= 34; ++number) {
    INFO("page " << number);
    CHECK(server.requests_for(page(number)) == 1);
    REQUIRE(records.count(base + page(number)) == 1);
    const auto& record = records.at(base + page(number));
    CHECK(record["ok"] == true);
    CHECK(record["depth"] == 0);
    if (auto it = referrer_path.find(number); it != referrer_path.end()) CHECK(record["referrer"] == base + it->second);
  }
  // After the malformed sitemap's error: not read.
  CHECK(server.requests_for(page(35)) == 0);
  CHECK(server.requests_for(page(36)) == 0);

  // <lastmod> in every W3C datetime form, kept as written; none -> null.
  CHECK(records.at(base + page(1))["lastmod"] == "2024-01-02");
  CHECK(records.at(base + page(2))["lastmod"] == "2024-01-02T03:04+05:00");
  CHECK(records.at(base + page(3))["lastmod"] == "2024-01-02T03:04:05Z");
  CHECK(records.at(base + page(4))["lastmod"] == "2024-01-02T03:04:05.678-01:30");
  CHECK(records.at(base + page(5))["lastmod"] == "2024-01");
  CHECK(records.at(base + page(10))["lastmod"].is_null());  // "last tuesday"
  CHECK(records.at(base + page(15))["lastmod"] == "2023-06-15");
  CHECK(records.at(base + page(21))["lastmod"].is_null());
  CHECK(records.at(base + "/")["lastmod"].is_null());

  // Every sitemap fetched once, through robots.txt's rules like any URL.
  for (const auto* path :
       {"/sitemaps/index.xml", "/sitemaps/pages-a.xml", "/sitemaps/pages-b.xml.gz", "/sitemaps/pages-c.xml",
        "/sitemaps/pages.txt", "/sitemaps/nested-index.xml", "/sitemaps/deep/pages-d.xml", "/sitemaps/malformed.xml",
        "/sitemaps/hostile/laughs.xml", "/sitemaps/hostile/xxe.xml", "/sitemaps/hostile/dtd.xml"}) {
    INFO(path);
    CHECK(server.requests_for(path) == 1);
  }
  CHECK(records.at(base + "/sitemaps/index.xml")["links"] == 5);
  CHECK(records.at(base + "/sitemaps/index.xml")["referrer"] == base + "/robots.txt");

  // Hostile XML: refused at its DOCTYPE, nothing it names was ever requested.
  CHECK(server.requests_for("/sitemaps/hostile/entity.txt") == 0);
  CHECK(server.requests_for("/sitemaps/hostile/evil.dtd") == 0);
  for (const auto* path : {"/sitemaps/hostile/laughs.xml", "/sitemaps/hostile/xxe.xml", "/sitemaps/hostile/dtd.xml"}) {
    INFO(path);
    const auto& record = records.at(base + path);
    CHECK(record["error"]["class"] == "protocol_error");
    CHECK(record["error"]["message"].get<std::string>().find("DOCTYPE") != std::string::npos);
    CHECK(record["links"] == 0);
  }
  for (const auto& [url, record] : records) CHECK(url.find("root:") == std::string::npos);
  CHECK(records.at(base + "/sitemaps/malformed.xml")["error"]["message"].get<std::string>().find("XML line") !=
        std::string::npos);

  // One clear line per refused or malformed sitemap, and -v names the dropped entry.
  CHECK(run.output.find("sitemap " + base + "/sitemaps/malformed.xml: XML line") != std::string::npos);
  CHECK(run.output.find("sitemap " + base + "/sitemaps/hostile/laughs.xml: <!DOCTYPE urlset> refused") !=
        std::string::npos);
  CHECK(run.output.find("http://elsewhere.invalid/a.html dropped") != std::string::npos);

  const auto s = read_json(stats)["sitemaps"];
  CHECK(s["files"] == 11);
  CHECK(s["listed"] == 41);  // 6 sitemaps in the two indexes, 35 pages
  CHECK(s["queued"] == 34);
  CHECK(s["out_of_scope"] == 1);
  CHECK(s["over_limit"] == 0);
  CHECK(s["invalid"] == 4);
  CHECK(s["refused"] == 0);
}

TEST_CASE("crawl --sitemap: 50,000 URLs per file, scope and the sitemap's location", "[sitemap][cli]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const std::string base = server.base_url();
  const ScratchDir scratch("sitemaps-given");
  const auto results = scratch.path() / "results.jsonl";
  const auto stats = scratch.path() / "stats.json";
  const auto run = fetchpool::testing::run_fetchpool_capturing(
      {"crawl", base + "/", "--sitemap", base + "/sitemaps/big.xml.gz", "--sitemap", base + "/sitemaps/outside.xml",
       "--depth", "0", "--exclude", "/big/", "-o", results.string(), "--stats-json", stats.string()},
      scratch.path());
  CHECK(run.exit_code == 0);
  const auto records = records_by_url(results);
  // The big file's first 50,000 entries are read, all excluded by --exclude;
  // the 10 after the limit are never read.
  CHECK(server.requests_for("/big/0.html") == 0);
  CHECK(run.output.find("sitemap " + base + "/sitemaps/big.xml.gz: more than 50000 URLs; read up to the limit") !=
        std::string::npos);
  // outside.xml may list what lies under /sitemaps/ only (sitemaps.org).
  CHECK(server.requests_for("/sitemaps/listed.html") == 1);
  CHECK(records.at(base + "/sitemaps/listed.html")["lastmod"] == "2022-02-02");
  CHECK(records.at(base + "/sitemaps/listed.html")["referrer"] == base + "/sitemaps/outside.xml");
  CHECK(server.requests_for(page(40)) == 0);
  CHECK(records.at(base + "/sitemaps/big.xml.gz")["links"] == 50'000);
  CHECK(records.at(base + "/sitemaps/big.xml.gz")["ok"] == true);

  const auto s = read_json(stats)["sitemaps"];
  CHECK(s["files"] == 2);
  CHECK(s["listed"] == 50'002);
  CHECK(s["queued"] == 1);
  CHECK(s["out_of_scope"] == 50'001);
  CHECK(s["over_limit"] == 1);
  CHECK(s["invalid"] == 0);
}

TEST_CASE("crawl: --sitemaps off reads no sitemap, and bad --sitemap values are usage errors", "[sitemap][cli]") {
  fetchpool::ServerOptions options;
  options.sitemaps = true;
  fetchpool::LocalServer server(options);
  const std::string base = server.base_url();
  const ScratchDir scratch("sitemaps-off");
  const auto results = scratch.path() / "results.jsonl";
  const auto stats = scratch.path() / "stats.json";
  CHECK(fetchpool::testing::run_fetchpool(
            {"-q", "crawl", base + "/", "--depth", "0", "-o", results.string(), "--stats-json", stats.string()}) == 0);
  CHECK(server.requests_for("/sitemaps/index.xml") == 0);
  CHECK(records_by_url(results).size() == 1);
  CHECK_FALSE(read_json(stats).contains("sitemaps"));

  const auto bad = fetchpool::testing::run_fetchpool_capturing(
      {"crawl", base + "/", "--sitemap", "ftp://example.com/sitemap.xml", "-o", results.string()}, scratch.path());
  CHECK(bad.exit_code == fetchpool::cli::kExitUsage);
  CHECK(bad.output.find("--sitemap 'ftp://example.com/sitemap.xml' is not an http(s) URL") != std::string::npos);
  const auto shared = fetchpool::testing::run_fetchpool_capturing(
      {"crawl", base + "/", "--sitemaps", "--frontier", "redis://127.0.0.1:1/x", "-o", results.string()},
      scratch.path());
  CHECK(shared.exit_code == fetchpool::cli::kExitUsage);
  CHECK(shared.output.find("cannot be combined with --frontier") != std::string::npos);
}

TEST_CASE("crawl --sitemap URL without seeds: the sitemap stands for them", "[sitemap][cli]") {
  fetchpool::ServerOptions options;
  options.sitemaps = true;
  fetchpool::LocalServer server(options);
  const std::string base = server.base_url();
  const ScratchDir scratch("sitemaps-no-seed");
  const auto results = scratch.path() / "results.jsonl";
  CHECK(fetchpool::testing::run_fetchpool({"-q", "crawl", "--sitemap", base + "/sitemaps/outside.xml", "--depth", "0",
                                           "-o", results.string()}) == fetchpool::cli::kExitSomeFailed);
  const auto records = records_by_url(results);
  // outside.xml's page under its directory, and robots.txt's sitemaps (its
  // host is the seed host now), but no seed page.
  CHECK(server.requests_for("/sitemaps/listed.html") == 1);
  CHECK(records.at(base + "/sitemaps/listed.html")["referrer"] == base + "/sitemaps/outside.xml");
  CHECK(server.requests_for(page(40)) == 0);
  CHECK(server.requests_for("/sitemaps/index.xml") == 1);
  for (std::uint32_t number = 1; number <= 34; ++number) CHECK(server.requests_for(page(number)) == 1);
  CHECK(server.requests_for("/") == 0);
  CHECK(fetchpool::testing::run_fetchpool({"-q", "crawl", "-o", results.string()}) == fetchpool::cli::kExitUsage);
}

TEST_CASE("CrawlEngine: sitemaps over the nesting or file bound are not read, a redirected one is",
          "[sitemap][engine]") {
  fetchpool::ServerOptions server_options;
  server_options.sitemaps = true;
  fetchpool::LocalServer server(server_options);
  const std::string base = server.base_url();
  auto crawl = [&](fetchpool::SitemapOptions sitemaps) {
    fetchpool::EngineOptions options;
    options.workers = 4;
    options.follow_links = true;
    options.robots = true;
    options.frontier.max_depth = 0;
    options.retry.max_retries = 0;
    options.scope = fetchpool::ScopeOptions{};
    options.sitemaps = std::move(sitemaps);
    fetchpool::MemorySink sink;
    fetchpool::CrawlEngine engine(options, sink);
    REQUIRE(engine.prepare().ok());
    REQUIRE(engine.set_seeds({base + "/"}).ok());
    engine.start();
    engine.finish_input();
    return engine.wait().stats.sitemaps;
  };
  SECTION("nesting 0: the index is read, the sitemaps it names are not") {
    fetchpool::SitemapOptions sitemaps;
    sitemaps.urls = {base + "/sitemaps/index.xml"};
    sitemaps.max_nesting = 0;
    const auto counts = crawl(sitemaps);
    CHECK(counts.files == 1);
    CHECK(counts.refused == 5);
    CHECK(server.requests_for("/sitemaps/pages-a.xml") == 0);
  }
  SECTION("two files at most") {
    fetchpool::SitemapOptions sitemaps;
    sitemaps.urls = {base + "/sitemaps/index.xml"};
    sitemaps.max_files = 2;
    const auto counts = crawl(sitemaps);
    CHECK(counts.files == 2);
    CHECK(counts.refused == 4);
  }
  SECTION("a sitemap reached by a redirect is read as a sitemap") {
    fetchpool::SitemapOptions sitemaps;
    sitemaps.urls = {base + "/redirect-to?url=" + base + "/sitemaps/outside.xml"};
    const auto counts = crawl(sitemaps);
    CHECK(counts.files == 1);
    CHECK(counts.listed == 2);
    CHECK(counts.queued == 1);
    // Its location is where it was served from: /sitemaps/, not page 40's /s/0/.
    CHECK(counts.out_of_scope == 1);
    CHECK(server.requests_for("/sitemaps/listed.html") == 1);
    CHECK(server.requests_for(page(40)) == 0);
  }
}
