#include "fetchpool/sqlite_sink.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

#include <utility>

namespace fetchpool {
namespace {

constexpr const char* kSchema =
    "DROP TABLE IF EXISTS results;"
    "CREATE TABLE results ("
    " id INTEGER PRIMARY KEY,"  // write order
    " url TEXT NOT NULL,"
    " line INTEGER NOT NULL,"  // input line; 0 for discovered URLs
    " depth INTEGER NOT NULL,"
    " referrer TEXT,"
    " final_url TEXT,"
    " status INTEGER,"  // NULL when no response was received
    " content_type TEXT,"
    " bytes INTEGER NOT NULL,"
    " elapsed_ms REAL NOT NULL,"
    " title TEXT,"
    " links INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL,"
    " ok INTEGER NOT NULL,"  // 1 when fetched with a 2xx/3xx final status
    " error TEXT,"           // error class (as in JSONL), NULL when none
    " error_message TEXT,"
    " path TEXT,"
    " sha256 TEXT,"
    " redirects INTEGER NOT NULL DEFAULT 0,"
    " fetched_at TEXT,"  // RFC 3339 UTC
    " lastmod TEXT);"    // the listing sitemap's <lastmod>, NULL when none
    "CREATE INDEX results_url ON results(url);"
    "CREATE INDEX results_line ON results(line);";

constexpr const char* kInsert =
    "INSERT INTO results (url, line, depth, referrer, final_url, status, content_type, bytes, elapsed_ms, title,"
    " links, attempts, ok, error, error_message, path, sha256, redirects, fetched_at, lastmod)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)";

std::string message_of(sqlite3* db, const std::string& name, const char* what) {
  return name + ": " + what + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
}

// Empty strings are stored as NULL, so `WHERE title IS NULL` finds pages without one.
void bind_text(sqlite3_stmt* statement, int index, const std::string& text) {
  if (text.empty()) {
    sqlite3_bind_null(statement, index);
  } else {
    sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
}

}  // namespace

Result<std::unique_ptr<SqliteSink>> SqliteSink::open(const std::filesystem::path& path) {
  const std::string name = path.string();
  if (name == "-")
    return Error{ErrorCode::kConfig, "--format sqlite needs a results file (e.g. -o results.db), not stdout"};
  // SQLite creates NAME-wal, NAME-shm and NAME-journal beside the database;
  // a symbolic link planted under one of them would redirect its writes.
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    struct stat st {};
    const std::string side = name + suffix;
    if (::lstat(side.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
      return Error{ErrorCode::kIo, side + ": cannot open database: it is a symbolic link; not followed"};
  }
  sqlite3* db = nullptr;
  // FULLMUTEX is not needed (our mutex serialises every call), NOMUTEX saves SQLite's own locking.
  const int opened =
      sqlite3_open_v2(name.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, nullptr);
  if (opened != SQLITE_OK) {
    Error error{ErrorCode::kIo, message_of(db, name, "cannot open database")};
    sqlite3_close(db);
    return error;
  }
  sqlite3_busy_timeout(db, 5000);
  char* failure = nullptr;
  const int schema =
      sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", nullptr, nullptr, &failure);
  const int created = schema == SQLITE_OK ? sqlite3_exec(db, kSchema, nullptr, nullptr, &failure) : schema;
  if (created != SQLITE_OK) {
    Error error{ErrorCode::kIo,
                name + ": cannot create the results table: " + (failure != nullptr ? failure : "unknown error")};
    sqlite3_free(failure);
    sqlite3_close(db);
    return error;
  }
  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v3(db, kInsert, -1, SQLITE_PREPARE_PERSISTENT, &insert, nullptr) != SQLITE_OK) {
    Error error{ErrorCode::kInternal, message_of(db, name, "cannot prepare the insert")};
    sqlite3_close(db);
    return error;
  }
  return std::unique_ptr<SqliteSink>(new SqliteSink(db, insert, name));
}

SqliteSink::SqliteSink(sqlite3* db, sqlite3_stmt* insert, std::string name)
    : db_(db), insert_(insert), name_(std::move(name)) {}

SqliteSink::~SqliteSink() {
  {
    MutexLock lock(mutex_);
    (void)commit();  // a failure here has nowhere to go; flush() reports it to callers that care
    sqlite3_finalize(insert_);
  }
  sqlite3_close(db_);
}

Result<void> SqliteSink::exec(const char* sql) {
  char* failure = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &failure) == SQLITE_OK) return {};
  Error error{ErrorCode::kIo, name_ + ": " + (failure != nullptr ? failure : "unknown error")};
  sqlite3_free(failure);
  return error;
}

Result<void> SqliteSink::commit() {
  if (!in_transaction_) return {};
  auto committed = exec("COMMIT");
  // A failed COMMIT (SQLITE_BUSY) leaves the transaction open: the next
  // commit tries again rather than every later BEGIN failing.
  in_transaction_ = sqlite3_get_autocommit(db_) == 0;
  if (!in_transaction_) pending_rows_ = 0;
  return committed;
}

void SqliteSink::write(const ResultRecord& record) {
  const std::string error_class = record.error == ErrorCode::kOk ? std::string() : std::string(to_string(record.error));
  MutexLock lock(mutex_);
  auto remember = [this](const Result<void>& result) FETCHPOOL_REQUIRES(mutex_) {
    if (!result && first_error_.code == ErrorCode::kOk) first_error_ = result.error();
  };
  if (!in_transaction_) {
    auto begun = exec("BEGIN");
    if (!begun) return remember(begun);
    in_transaction_ = true;
  }
  sqlite3_stmt* s = insert_;
  bind_text(s, 1, record.url);
  sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(record.line));
  sqlite3_bind_int64(s, 3, record.depth);
  bind_text(s, 4, record.referrer);
  bind_text(s, 5, record.final_url);
  if (record.status == 0) {
    sqlite3_bind_null(s, 6);
  } else {
    sqlite3_bind_int64(s, 6, record.status);
  }
  bind_text(s, 7, record.content_type);
  sqlite3_bind_int64(s, 8, static_cast<sqlite3_int64>(record.bytes));
  sqlite3_bind_double(s, 9, record.elapsed_ms);
  bind_text(s, 10, record.title);
  sqlite3_bind_int64(s, 11, record.links);
  sqlite3_bind_int64(s, 12, record.attempts);
  sqlite3_bind_int(s, 13, record.ok() ? 1 : 0);
  bind_text(s, 14, error_class);
  bind_text(s, 15, record.error_message);
  bind_text(s, 16, record.path);
  bind_text(s, 17, record.sha256);
  sqlite3_bind_int64(s, 18, record.redirects);
  bind_text(s, 19, record.fetched_at);
  bind_text(s, 20, record.lastmod);
  // url is NOT NULL, but an unparsable empty input line still deserves its row.
  if (record.url.empty()) sqlite3_bind_text(s, 1, "", 0, SQLITE_STATIC);
  const int stepped = sqlite3_step(s);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  if (stepped != SQLITE_DONE) return remember(Error{ErrorCode::kIo, message_of(db_, name_, "cannot insert a result")});
  if (++pending_rows_ >= kRowsPerCommit) remember(commit());
}

Result<void> SqliteSink::flush() {
  MutexLock lock(mutex_);
  if (auto committed = commit(); !committed && first_error_.code == ErrorCode::kOk) first_error_ = committed.error();
  if (first_error_.code != ErrorCode::kOk) return first_error_;
  return {};
}

}  // namespace fetchpool
