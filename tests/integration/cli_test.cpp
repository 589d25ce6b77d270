// The command-line tool through run_cli(argv): exit codes, files, messages.
#include <sqlite3.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "support/cli_runner.hpp"
#include "tools/cli/cli.hpp"
#include "tools/cli/report.hpp"
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
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", "-i", list.string(), "-j", "4", "-t", "1", "--results",
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

TEST_CASE("--help names the program in its usage lines", "[cli]") {
  const ScratchDir scratch("cli-help");
  const auto top = fetchpool::testing::run_fetchpool_capturing({"--help"}, scratch.path(), 1);
  CHECK(top.exit_code == 0);
  CHECK(top.output.find("Usage: fetchpool [OPTIONS] SUBCOMMAND") != std::string::npos);
  const auto get = fetchpool::testing::run_fetchpool_capturing({"get", "--help"}, scratch.path(), 1);
  CHECK(get.exit_code == 0);
  CHECK(get.output.find("Usage: fetchpool get [OPTIONS]") != std::string::npos);
  CHECK(get.output.find("-i,--input-file") != std::string::npos);
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

// ---------------------------------------------------------------------------
// One command line for wget, curl and aria2 users (issue 17)

using fetchpool::testing::run_fetchpool_capturing;

TEST_CASE("every error is one line starting 'fetchpool:' that names the input", "[cli][errors]") {
  const ScratchDir scratch("cli-errors");
  auto one_line = [](const std::string& err) {
    CHECK(err.rfind("fetchpool: ", 0) == 0);
    CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  };
  auto run = run_fetchpool_capturing({"frobnicate", "http://x.test/"}, scratch.path());
  CHECK(run.exit_code == fetchpool::cli::kExitUsage);
  one_line(run.output);
  CHECK(run.output.find("'frobnicate' is not a fetchpool command") != std::string::npos);

  run = run_fetchpool_capturing({"get", "--no-such-flag"}, scratch.path());
  CHECK(run.exit_code == fetchpool::cli::kExitUsage);
  one_line(run.output);
  CHECK(run.output.find("--no-such-flag") != std::string::npos);

  run = run_fetchpool_capturing({"crawl", "not-a-url"}, scratch.path());
  CHECK(run.exit_code == fetchpool::cli::kExitUsage);
  one_line(run.output);
  CHECK(run.output.find("seed 'not-a-url' is not an http(s) URL") != std::string::npos);

  run = run_fetchpool_capturing({"get", "-t", "many", "http://127.0.0.1/"}, scratch.path());
  CHECK(run.exit_code == fetchpool::cli::kExitUsage);
  one_line(run.output);
  CHECK(run.output.find("'many'") != std::string::npos);

  // wget's -c (continue) lands on -c/--config, which says where --continue went.
  run = run_fetchpool_capturing({"get", "-c", "http://127.0.0.1/"}, scratch.path());
  CHECK(run.exit_code == fetchpool::cli::kExitUsage);
  one_line(run.output);
  CHECK(run.output.find("--continue") != std::string::npos);
}

TEST_CASE("get and crawl: -o is the results file, -P the download directory, misuse is one line", "[cli][flags]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("cli-output");
  const auto results = scratch.path() / "results.jsonl";
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", server.base_url() + "/", "-o", results.string()}) == 0);
  CHECK(fs::is_regular_file(results));
  CHECK(read_jsonl(results).size() == 1);
  CHECK(fetchpool::testing::run_fetchpool(
            {"-q", "crawl", server.base_url() + "/", "--depth", "0", "--results", results.string()}) == 0);
  CHECK_FALSE(read_jsonl(results).empty());

  const auto files = scratch.path() / "files";
  CHECK(fetchpool::testing::run_fetchpool(
            {"-q", "get", server.base_url() + "/bytes/10", "-P", files.string(), "-o", results.string()}) == 0);
  CHECK(fs::file_size(files / "10") == 10);

  // The old `get -o DIR` meaning: an existing directory as the results file.
  auto run = run_fetchpool_capturing({"get", server.base_url() + "/", "-o", files.string()}, scratch.path());
  CHECK(run.exit_code == fetchpool::cli::kExitUsage);
  CHECK(run.output.find("-P DIR") != std::string::npos);
  CHECK(std::count(run.output.begin(), run.output.end(), '\n') == 1);
  // Download flags without a download directory.
  run = run_fetchpool_capturing({"get", server.base_url() + "/", "--continue"}, scratch.path());
  CHECK(run.exit_code == fetchpool::cli::kExitUsage);
  CHECK(run.output.find("add -P DIR") != std::string::npos);
}

TEST_CASE("global options are accepted before and after the command", "[cli][flags]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("cli-global");
  const auto config = scratch.path() / "my.toml";
  std::ofstream(config) << "[output]\nformat = \"csv\"\n";
  const auto results = scratch.path() / "r.csv";
  auto run = run_fetchpool_capturing(
      {"-c", config.string(), "crawl", server.base_url() + "/", "--depth", "0", "-q", "-o", results.string()},
      scratch.path());
  CHECK(run.exit_code == 0);
  CHECK(run.output.empty());  // -q after the command silenced progress and summary
  std::ifstream in(results);
  std::string header;
  std::getline(in, header);
  CHECK(header.rfind("url,line,", 0) == 0);  // the config's csv format was used

  run = run_fetchpool_capturing(
      {"get", server.base_url() + "/", "-o", results.string(), "--config", config.string(), "-q"}, scratch.path());
  CHECK(run.exit_code == 0);
  CHECK(run.output.empty());
}

TEST_CASE("wget's -t (total tries), -w (seconds), -l (0 and inf unlimited) and -nc", "[cli][flags]") {
  fetchpool::ServerOptions options;
  options.site.pages = 30;
  fetchpool::LocalServer server(options);
  const ScratchDir scratch("cli-wget");
  const auto results = scratch.path() / "r.jsonl";
  const std::string base = server.base_url();

  SECTION("-t 1 tries once, -t 2 twice") {
    CHECK(fetchpool::testing::run_fetchpool({"-q", "get", base + "/flaky/a?fail=1", "-t", "1", "-o",
                                             results.string()}) == fetchpool::cli::kExitSomeFailed);
    CHECK(read_jsonl(results).at(0)["attempts"] == 1);
    CHECK(fetchpool::testing::run_fetchpool(
              {"-q", "get", base + "/flaky/b?fail=1", "-t", "2", "-o", results.string()}) == 0);
    CHECK(read_jsonl(results).at(0)["attempts"] == 2);
    CHECK(fetchpool::testing::run_fetchpool(
              {"-q", "get", base + "/flaky/c?fail=2", "-t", "inf", "-o", results.string()}) == 0);
    CHECK(read_jsonl(results).at(0)["attempts"] == 3);
  }
  SECTION("-w takes seconds, fractions allowed") {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    CHECK(fetchpool::testing::run_fetchpool({"-q", "get", base + "/status/200", base + "/status/201",
                                             base + "/status/202", "-j", "3", "-w", "0.3", "-o", results.string()}) ==
          0);
    // Three starts 0.3 s apart to one host: at least 0.6 s.
    CHECK(std::chrono::duration<double>(Clock::now() - start).count() >= 0.6);
  }
  SECTION("-l 0 and -l inf follow links without limit; --depth 0 fetches the seeds only") {
    const std::size_t pages = fetchpool::site_page_paths(options.site).size();
    for (const std::string level : {"0", "inf"}) {
      CHECK(fetchpool::testing::run_fetchpool(
                {"-q", "crawl", base + "/", "-l", level, "--no-robots", "-o", results.string()}) == 0);
      std::size_t ok = 0;
      for (const auto& r : read_jsonl(results)) ok += r["ok"] == true ? 1 : 0;
      CHECK(ok >= pages);
    }
    CHECK(fetchpool::testing::run_fetchpool(
              {"-q", "crawl", base + "/", "--depth", "0", "--no-robots", "-o", results.string()}) == 0);
    CHECK(read_jsonl(results).size() == 1);
  }
  SECTION("-nc skips files that exist; without it a rerun picks NAME.1") {
    const auto dir = scratch.path() / "files";
    for (int run = 0; run < 2; ++run)
      CHECK(fetchpool::testing::run_fetchpool({"-q", "get", base + "/bytes/20", "-P", dir.string(), "-nc"}) == 0);
    CHECK_FALSE(fs::exists(dir / "20.1"));
    CHECK(fetchpool::testing::run_fetchpool({"-q", "get", base + "/bytes/20", "-P", dir.string()}) == 0);
    CHECK(fs::exists(dir / "20.1"));
  }
}

TEST_CASE("verbose: -v prints one line per URL, failed URLs are named at the end", "[cli][report]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("cli-verbose");
  const auto list = scratch.path() / "urls.txt";
  {
    std::ofstream out(list);
    for (int i = 0; i < 13; ++i) out << server.base_url() << "/status/404?n=" << i << "\n";
    out << server.base_url() << "/status/200\n";
  }
  auto run = run_fetchpool_capturing(
      {"-v", "get", "-i", list.string(), "--progress", "none", "-o", (scratch.path() / "r.jsonl").string()},
      scratch.path());
  CHECK(run.exit_code == fetchpool::cli::kExitSomeFailed);
  CHECK(run.output.find("200 " + server.base_url() + "/status/200 (") != std::string::npos);
  CHECK(run.output.find("failed " + server.base_url() + "/status/404?n=12: http_status") != std::string::npos);
  CHECK(run.output.find("fetchpool: 13 URLs failed:\n") != std::string::npos);
  CHECK(run.output.find("... and 3 more\n") != std::string::npos);

  // Without -v: no per-URL lines, the failures still named.
  run = run_fetchpool_capturing(
      {"get", "-i", list.string(), "--progress", "none", "-o", (scratch.path() / "r.jsonl").string()}, scratch.path());
  CHECK(run.output.find("200 " + server.base_url() + "/status/200 (") == std::string::npos);
  CHECK(run.output.find("fetchpool: 13 URLs failed:\n") != std::string::npos);
}

TEST_CASE("records: null for unknown values, fetched_at, and --stats-json start, end, version, finish reason",
          "[cli][report]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("cli-nulls");
  const auto list = scratch.path() / "urls.txt";
  std::ofstream(list) << server.base_url() << "/\nnot a url\nhttp://127.0.0.1:1/\n";
  const auto results = scratch.path() / "r.jsonl";
  const auto stats = scratch.path() / "stats.json";
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", "-i", list.string(), "-t", "1", "-o", results.string(),
                                           "--stats-json", stats.string()}) == fetchpool::cli::kExitSomeFailed);
  std::map<int, nlohmann::json> by_line;
  for (auto& r : read_jsonl(results)) by_line[r["line"].get<int>()] = r;
  REQUIRE(by_line.size() == 3);
  const auto& page = by_line.at(1);
  CHECK(page["status"] == 200);
  CHECK(page["title"].is_null());  // get parses no HTML without --titles
  CHECK(page["links"].is_null());
  const std::string at = page["fetched_at"].get<std::string>();
  CHECK(at.size() == 24);
  CHECK(at[4] == '-');
  CHECK(at[10] == 'T');
  CHECK(at.back() == 'Z');
  CHECK(by_line.at(2)["status"].is_null());  // never fetched
  CHECK(by_line.at(2)["final_url"].is_null());
  CHECK(by_line.at(2)["fetched_at"].is_null());
  CHECK(by_line.at(3)["status"].is_null());  // fetched, never answered
  CHECK(by_line.at(3)["fetched_at"].is_string());

  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", server.base_url() + "/", "--titles", "-o", results.string()}) ==
        0);
  CHECK(read_jsonl(results).at(0)["title"].is_string());

  std::ifstream in(stats);
  const auto s = nlohmann::json::parse(in);
  CHECK(s["version"].is_string());
  CHECK(s["start"].get<std::string>().back() == 'Z');
  CHECK(s["end"].get<std::string>() >= s["start"].get<std::string>());
  CHECK(s["finish_reason"] == "completed");
  CHECK_FALSE(s["by_status"].contains("0"));
  CHECK(s["no_response"] == 2);
}

TEST_CASE("progress: a resumed run counts only what it fetches, so it ends at 100 %", "[cli][report]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("cli-progress");
  const auto list = scratch.path() / "urls.txt";
  const auto state = scratch.path() / "state";
  const auto results = scratch.path() / "r.jsonl";
  std::ofstream(list) << server.base_url() << "/status/200?a\n" << server.base_url() << "/status/200?b\n";
  CHECK(fetchpool::testing::run_fetchpool(
            {"-q", "get", "-i", list.string(), "--state", state.string(), "-o", results.string()}) == 0);
  std::ofstream(list, std::ios::app) << server.base_url() << "/status/200?c\n";
  const auto run = run_fetchpool_capturing(
      {"get", "-i", list.string(), "--state", state.string(), "-o", results.string(), "--progress", "log"},
      scratch.path());
  CHECK(run.exit_code == 0);
  CHECK(run.output.find("get: 1/1 done (100%)") != std::string::npos);
  CHECK(read_jsonl(results).size() == 3);
}
