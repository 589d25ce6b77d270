// Result records and the sinks that store them.
//
// Every URL a run is given or discovers ends as exactly one ResultRecord,
// success or failure, so a results file can be joined back to its input (the
// `line` field) and nothing is silently dropped.
//
// Sinks are shared by all worker threads. As in spdlog's base_sink, the
// locking lives in one base class (LockedSink) so an implementation cannot
// forget it: the record is serialised on the calling thread with no lock
// held, and only the append of the finished line happens under the mutex.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fetchpool/error.hpp"
#include "fetchpool/thread_annotations.hpp"

namespace fetchpool {

struct ResultRecord {
  std::string url;          // normalised URL, or the raw input text when it did not parse
  std::uint64_t line = 0;   // input list line number; 0 for URLs found by crawling
  std::uint32_t depth = 0;  // link distance from a seed
  std::string referrer;     // page the URL was found on ("" for seeds)
  std::string final_url;    // after redirects
  long status = 0;          // HTTP status of the final response; 0 when none
  std::string content_type;
  std::uint64_t bytes = 0;     // decoded body bytes received
  double elapsed_ms = 0;       // last attempt's transfer time
  std::string title;           // HTML <title>
  std::uint32_t links = 0;     // links found on the page
  std::uint32_t attempts = 0;  // tries made (1 + retries); 0 when never fetched
  ErrorCode error = ErrorCode::kOk;
  std::string error_message;
  std::string path;        // downloaded file, relative to the output directory
  std::string sha256;      // of the downloaded file
  bool parsed = false;     // the body was parsed as HTML, so title and links are known (else null in JSON)
  std::string fetched_at;  // RFC 3339 UTC time the record was made, set by the CLI; "" = null

  // Success: fetched, and the final status is 2xx or 3xx.
  bool ok() const noexcept { return error == ErrorCode::kOk && status >= 200 && status < 400; }
};

// Serialisations, also used by tests and tools. JSON writes null for what is
// not known: status and final_url of a URL never answered, content_type when
// none was sent, title and links of a body not parsed, an empty fetched_at.
std::string to_json_line(const ResultRecord& record);  // one JSON object, no trailing newline
std::string csv_header();                              // column names, no trailing newline
std::string to_csv_row(const ResultRecord& record);    // RFC 4180 quoting, no trailing newline

// Where records go. Implementations MUST be safe to call from many threads.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual void write(const ResultRecord& record) = 0;
  // Pushes buffered records to their destination; returns the first write
  // error seen since the sink was opened (a full disk is reported, not lost).
  virtual Result<void> flush() = 0;
};

// Appends serialised lines to a FILE* under a mutex. Subclasses only choose
// the serialisation; the lock is taken here, once per record.
class LockedFileSink : public ResultSink {
 public:
  ~LockedFileSink() override;
  void write(const ResultRecord& record) final;
  Result<void> flush() final;

 protected:
  // Takes ownership of `file` unless it is stdout.
  LockedFileSink(std::FILE* file, std::string name);
  void write_line(const std::string& line) FETCHPOOL_EXCLUDES(mutex_);
  virtual std::string serialise(const ResultRecord& record) const = 0;  // no lock held

 private:
  Mutex mutex_;
  std::FILE* file_ FETCHPOOL_GUARDED_BY(mutex_);
  std::string name_;
  Error first_error_ FETCHPOOL_GUARDED_BY(mutex_){ErrorCode::kOk, {}};
};

// One JSON object per line (default). Path "-" writes to standard output.
class JsonlSink final : public LockedFileSink {
 public:
  static Result<std::unique_ptr<JsonlSink>> open(const std::filesystem::path& path);

 private:
  using LockedFileSink::LockedFileSink;
  std::string serialise(const ResultRecord& record) const override;
};

// CSV with a header row. Path "-" writes to standard output.
class CsvSink final : public LockedFileSink {
 public:
  static Result<std::unique_ptr<CsvSink>> open(const std::filesystem::path& path);

 private:
  using LockedFileSink::LockedFileSink;
  std::string serialise(const ResultRecord& record) const override;
};

// Keeps records in memory: for tests, benchmarks and library users.
class MemorySink final : public ResultSink {
 public:
  void write(const ResultRecord& record) override;
  Result<void> flush() override { return {}; }
  std::vector<ResultRecord> records() const;  // a copy, safe while writers run
  std::size_t size() const;

 private:
  mutable Mutex mutex_;
  std::vector<ResultRecord> records_ FETCHPOOL_GUARDED_BY(mutex_);
};

// Opens the sink for `format` ("jsonl", "csv" or "sqlite", see sqlite_sink.hpp)
// at `path` ("-" = stdout, not for sqlite).
Result<std::unique_ptr<ResultSink>> open_result_sink(const std::string& format, const std::filesystem::path& path);

}  // namespace fetchpool
