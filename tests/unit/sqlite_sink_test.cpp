#include <sqlite3.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/sinks.hpp"
#include "fetchpool/sqlite_sink.hpp"

using fetchpool::ErrorCode;
using fetchpool::ResultRecord;
using fetchpool::SqliteSink;

namespace {

std::filesystem::path temp_db(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("fetchpool-sqlite-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / name;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  return path;
}

// A second, independent connection: what a user's `sqlite3 results.db` sees.
class Reader {
 public:
  explicit Reader(const std::filesystem::path& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  }
  ~Reader() { sqlite3_close(db_); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Each row's columns as text ("NULL" for NULL).
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    sqlite3_stmt* statement = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK);
    std::vector<std::vector<std::string>> out;
    while (sqlite3_step(statement) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(statement); ++i) {
        const auto* text = sqlite3_column_text(statement, i);
        row.emplace_back(text == nullptr ? "NULL" : reinterpret_cast<const char*>(text));
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(statement);
    return out;
  }
  std::string one(const std::string& sql) {
    const auto r = rows(sql);
    REQUIRE(r.size() == 1);
    return r[0].at(0);
  }

 private:
  sqlite3* db_ = nullptr;
};

ResultRecord page(const std::string& url, std::uint64_t line) {
  ResultRecord r;
  r.url = url;
  r.line = line;
  r.final_url = url;
  r.status = 200;
  r.content_type = "text/html";
  r.bytes = 1234;
  r.elapsed_ms = 12.5;
  r.title = "Caf\xc3\xa9 \"quotes\", commas; 'and' -- more";
  r.links = 3;
  r.attempts = 1;
  return r;
}

}  // namespace

TEST_CASE("records become rows with every field, errors by class, empty text as NULL", "[sinks][sqlite]") {
  const auto path = temp_db("fields.db");
  {
    auto sink = fetchpool::open_result_sink("sqlite", path);
    REQUIRE(sink);
    auto dated = page("http://example.test/a", 1);
    dated.lastmod = "2024-05-01T10:00:00+02:00";
    (*sink)->write(dated);
    ResultRecord failed;
    failed.url = "http://example.test/missing";
    failed.line = 2;
    failed.status = 404;
    failed.attempts = 1;
    failed.error = ErrorCode::kHttpStatus;
    failed.error_message = "HTTP 404";
    (*sink)->write(failed);
    ResultRecord invalid;  // an empty input line that did not parse still gets its row
    invalid.line = 3;
    invalid.error = ErrorCode::kInvalidUrl;
    invalid.error_message = "line 3: empty URL";
    (*sink)->write(invalid);
    REQUIRE((*sink)->flush());
  }
  Reader db(path);
  const auto rows =
      db.rows("SELECT url, line, status, ok, error, error_message, title, bytes, elapsed_ms FROM results ORDER BY id");
  REQUIRE(rows.size() == 3);
  CHECK(rows[0] == std::vector<std::string>{"http://example.test/a", "1", "200", "1", "NULL", "NULL",
                                            "Caf\xc3\xa9 \"quotes\", commas; 'and' -- more", "1234", "12.5"});
  CHECK(rows[1] == std::vector<std::string>{"http://example.test/missing", "2", "404", "0", "http_status", "HTTP 404",
                                            "NULL", "0", "0.0"});
  CHECK(rows[2][0].empty());
  CHECK(rows[2][4] == "invalid_url");
  CHECK(db.rows("SELECT lastmod FROM results ORDER BY id") ==
        std::vector<std::vector<std::string>>{{"2024-05-01T10:00:00+02:00"}, {"NULL"}, {"NULL"}});
  CHECK(db.one("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'results'") == "2");
}

TEST_CASE("rows are committed in batches and by flush, visible to another connection", "[sinks][sqlite]") {
  const auto path = temp_db("batches.db");
  auto sink = SqliteSink::open(path);
  REQUIRE(sink);
  for (int i = 0; i < SqliteSink::kRowsPerCommit + 5; ++i)
    (*sink)->write(page("http://example.test/" + std::to_string(i), static_cast<std::uint64_t>(i) + 1));
  {
    Reader db(path);
    CHECK(db.one("SELECT count(*) FROM results") == std::to_string(SqliteSink::kRowsPerCommit));  // one batch committed
  }
  REQUIRE((*sink)->flush());
  Reader db(path);
  CHECK(db.one("SELECT count(*) FROM results") == std::to_string(SqliteSink::kRowsPerCommit + 5));
}

TEST_CASE("opening again starts a fresh results table and leaves other tables alone", "[sinks][sqlite]") {
  const auto path = temp_db("reopen.db");
  {
    auto sink = SqliteSink::open(path);
    REQUIRE(sink);
    (*sink)->write(page("http://example.test/old", 1));
    REQUIRE((*sink)->flush());
  }
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "CREATE TABLE notes(x TEXT); INSERT INTO notes VALUES ('keep me');", nullptr, nullptr,
                       nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  {
    auto sink = SqliteSink::open(path);
    REQUIRE(sink);
    (*sink)->write(page("http://example.test/new", 1));
  }  // the destructor commits
  Reader db(path);
  CHECK(db.one("SELECT group_concat(url) FROM results") == "http://example.test/new");
  CHECK(db.one("SELECT x FROM notes") == "keep me");
}

TEST_CASE("many threads write at once: every record is one row", "[sinks][sqlite]") {
  const auto path = temp_db("threads.db");
  {
    auto sink = SqliteSink::open(path);
    REQUIRE(sink);
    std::vector<std::jthread> writers;
    writers.reserve(8);
    for (int t = 0; t < 8; ++t) {
      writers.emplace_back([&sink, t] {
        for (int i = 0; i < 400; ++i) {
          const auto line = static_cast<std::uint64_t>(t) * 400 + static_cast<std::uint64_t>(i) + 1;
          (*sink)->write(page("http://example.test/" + std::to_string(line), line));
        }
      });
    }
    writers.clear();  // joins
    REQUIRE((*sink)->flush());
  }
  Reader db(path);
  CHECK(db.one("SELECT count(*) FROM results") == "3200");
  CHECK(db.one("SELECT count(DISTINCT line) FROM results") == "3200");
  CHECK(db.one("SELECT min(line) || '-' || max(line) FROM results") == "1-3200");
}

TEST_CASE("stdout and unusable paths are refused with a message naming them", "[sinks][sqlite]") {
  auto to_stdout = fetchpool::open_result_sink("sqlite", "-");
  REQUIRE_FALSE(to_stdout);
  CHECK(to_stdout.error().message.find("needs a results file") != std::string::npos);
  auto missing_dir = SqliteSink::open("/no/such/dir/results.db");
  REQUIRE_FALSE(missing_dir);
  CHECK(missing_dir.error().message.find("/no/such/dir/results.db") != std::string::npos);
  const auto not_a_db = temp_db("text.db");
  std::FILE* f = std::fopen(not_a_db.c_str(), "w");
  REQUIRE(f != nullptr);
  std::fputs("this is not a database, just text long enough to fill a header page ..........................\n", f);
  std::fclose(f);
  auto garbage = SqliteSink::open(not_a_db);
  REQUIRE_FALSE(garbage);
  CHECK(garbage.error().message.find(not_a_db.string()) != std::string::npos);
}
