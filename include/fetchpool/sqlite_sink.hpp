// Results in a SQLite database: `--format sqlite -o results.db`.
//
// For users who query a crawl rather than read it (scrapy users export items
// to a database for the same reason): one row per ResultRecord in a table
// `results` whose columns are the JSONL record's fields, plus an `ok` flag
// and the error class as text, with indexes on url and line so a results
// table joins back to its input list cheaply.
//
// Like the file sinks, opening starts a fresh result set: an existing
// `results` table in the file is replaced (other tables are left alone).
//
// Durability and speed: rows are inserted inside one open transaction that
// commits every kRowsPerCommit rows and on flush(); the database is in WAL
// mode with synchronous=NORMAL, the usual pairing (a commit is durable across
// a process crash, and across power loss up to the last checkpoint). A
// per-row commit would cost one fsync per URL. flush() is the point at which
// rows are committed, which the shared-crawl wrapper calls after every record.
//
// Thread-safety: write() and flush() may be called from any thread. One
// mutex serialises them, as the file sinks' mutex does: the binding and the
// insert into SQLite's page cache are the whole critical section; disk I/O
// happens only in the commit every kRowsPerCommit rows.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "fetchpool/error.hpp"
#include "fetchpool/sinks.hpp"
#include "fetchpool/thread_annotations.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace fetchpool {

class SqliteSink final : public ResultSink {
 public:
  static constexpr int kRowsPerCommit = 1000;

  // Creates the file if needed. "-" (stdout) is refused: a database needs a file.
  static Result<std::unique_ptr<SqliteSink>> open(const std::filesystem::path& path);
  ~SqliteSink() override;  // commits what is pending
  SqliteSink(const SqliteSink&) = delete;
  SqliteSink& operator=(const SqliteSink&) = delete;

  void write(const ResultRecord& record) override;
  Result<void> flush() override;

 private:
  SqliteSink(sqlite3* db, sqlite3_stmt* insert, std::string name);
  Result<void> exec(const char* sql) FETCHPOOL_REQUIRES(mutex_);
  Result<void> commit() FETCHPOOL_REQUIRES(mutex_);  // ends the open transaction, if any

  Mutex mutex_;
  sqlite3* db_ FETCHPOOL_GUARDED_BY(mutex_);
  sqlite3_stmt* insert_ FETCHPOOL_GUARDED_BY(mutex_);
  std::string name_;
  int pending_rows_ FETCHPOOL_GUARDED_BY(mutex_) = 0;  // rows in the open transaction
  bool in_transaction_ FETCHPOOL_GUARDED_BY(mutex_) = false;
  Error first_error_ FETCHPOOL_GUARDED_BY(mutex_){ErrorCode::kOk, {}};
};

}  // namespace fetchpool
