// The command-line tool through run_cli(argv): exit codes, files, messages.
#include <sqlite3.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "support/cli_runner.hpp"
#include "tools/cli/cli.hpp"
#include "tools/testsite/local_server.hpp"

namespace fs = std::filesystem;
using fetchpool::testing::ScratchDir;

namespace {

std::vector<nlohmann::json> read_jsonl(const fs::path& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> records;
  for (std::string line; std::getline(in, line);) records.push_back(nlohmann::json::parse(line));
  return records;
}

}  // namespace

TEST_CASE("get: every input line is accounted for, exit 1 when some failed", "[cli]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("cli-get");
  const auto& dir = scratch.path();
  const auto list = dir / "urls.txt";
  {
    std::ofstream out(list);
    out << "# a comment\n\n"
        << server.base_url() << "/\n"
        << "http://[broken\n"
        << server.base_url() << "/status/500\n"
        << "  " << server.base_url() << "/s/0/2.html  \n";
  }
  const auto results = dir / "results.jsonl";
  const auto stats = dir / "stats.json";
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", "-i", list.string(), "-j", "4", "-t", "0", "--results",
                                           results.string(), "--stats-json", stats.string()}) ==
        fetchpool::cli::kExitSomeFailed);
  std::map<int, nlohmann::json> by_line;
  for (auto& r : read_jsonl(results)) by_line[r["line"].get<int>()] = r;
  REQUIRE(by_line.size() == 4);
  CHECK(by_line.at(3)["ok"] == true);
  CHECK(by_line.at(4)["error"]["class"] == "invalid_url");
  CHECK(by_line.at(5)["status"] == 500);
  CHECK(by_line.at(6)["ok"] == true);
  std::ifstream stats_in(stats);
  const auto s = nlohmann::json::parse(stats_in);
  CHECK(s["done"] == 4);
  CHECK(s["failed"] == 2);
  CHECK(s["by_status"]["500"] == 1);
}

TEST_CASE("get: all ok exits 0", "[cli]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("cli-ok");
  const auto results = scratch.path() / "ok.jsonl";
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", server.base_url() + "/", server.base_url() + "/s/0/3.html",
                                           "--results", results.string()}) == 0);
  CHECK(read_jsonl(results).size() == 2);
}

TEST_CASE("get --format sqlite writes a results table, one row per input line", "[cli]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("cli-sqlite");
  const auto list = scratch.path() / "urls.txt";
  std::ofstream(list) << server.base_url() << "/\nnot a url\n" << server.base_url() << "/status/404\n";
  const auto db = scratch.path() / "results.db";
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", "-i", list.string(), "--format", "sqlite", "--results",
                                           db.string()}) == fetchpool::cli::kExitSomeFailed);
  sqlite3* handle = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* query = nullptr;
  REQUIRE(sqlite3_prepare_v2(handle, "SELECT line, ok, coalesce(error, '-') FROM results ORDER BY line", -1, &query,
                             nullptr) == SQLITE_OK);
  std::vector<std::string> rows;
  while (sqlite3_step(query) == SQLITE_ROW) {
    rows.push_back(std::to_string(sqlite3_column_int(query, 0)) + " " + std::to_string(sqlite3_column_int(query, 1)) +
                   " " + reinterpret_cast<const char*>(sqlite3_column_text(query, 2)));
  }
  sqlite3_finalize(query);
  sqlite3_close(handle);
  CHECK(rows == std::vector<std::string>{"1 1 -", "2 0 invalid_url", "3 0 http_status"});
  // A database needs a file: stdout is a usage error.
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", server.base_url() + "/", "--format", "sqlite"}) ==
        fetchpool::cli::kExitUsage);
}

TEST_CASE("usage errors exit 2", "[cli]") {
  CHECK(fetchpool::testing::run_fetchpool({"get", "--no-such-flag"}) == fetchpool::cli::kExitUsage);
  CHECK(fetchpool::testing::run_fetchpool({"crawl"}) == fetchpool::cli::kExitUsage);  // seed required
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", "-i", "/no/such/list.txt"}) == fetchpool::cli::kExitUsage);
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", "-j", "0", "http://127.0.0.1/"}) == fetchpool::cli::kExitUsage);
  const ScratchDir scratch("cli-usage");
  const auto bad = scratch.path() / "bad.toml";
  std::ofstream(bad) << "[http]\ntimeout_ms = \"soon\"\n";
  CHECK(fetchpool::testing::run_fetchpool({"-c", bad.string(), "get", "http://127.0.0.1/"}) ==
        fetchpool::cli::kExitUsage);
  CHECK(fetchpool::testing::run_fetchpool({"--help"}) == 0);
}

TEST_CASE("crawl writes one record per page of the site", "[cli]") {
  fetchpool::ServerOptions options;
  options.site.pages = 60;
  fetchpool::LocalServer server(options);
  const ScratchDir scratch("cli-crawl");
  const auto results = scratch.path() / "crawl.jsonl";
  CHECK(fetchpool::testing::run_fetchpool(
            {"-q", "crawl", server.base_url() + "/", "-j", "8", "-o", results.string()}) == 0);
  std::size_t ok = 0;
  for (const auto& r : read_jsonl(results)) {
    if (r["ok"] == true)
      ++ok;
    else
      CHECK(r["error"]["class"] == "robots_disallowed");
  }
  CHECK(ok == fetchpool::site_page_paths(options.site).size());
}

TEST_CASE("demo runs offline and exits 0", "[cli]") {
  CHECK(fetchpool::testing::run_fetchpool({"-q", "demo", "--pages", "40", "--latency", "5", "-j", "8"}) == 0);
}
