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

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fetchpool/error.hpp"
#include "fetchpool/thread_annotations.hpp"

namespace fetchpool {

struct ResultRecord {
  std::string url;              // normalised URL, or the raw input text when it did not parse
  std::uint64_t line = 0;       // input list line number; 0 for URLs found by crawling
  std::uint32_t depth = 0;      // link distance from a seed
  std::string referrer;         // page the URL was found on ("" for seeds)
  std::string final_url;        // after redirects (the URL the chain ended on)
  std::uint32_t redirects = 0;  // redirect hops followed from `url` to `final_url`
  long status = 0;              // HTTP status of the final response; 0 when none
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
  std::string fetched_at;  // RFC 3339 UTC time the fetch ended, set by CrawlEngine; "" = null
  std::string lastmod;     // <lastmod> of the sitemap that listed the URL (W3C datetime as written); "" = null

  // Success: fetched, and the final status is 2xx or 3xx.
  bool ok() const noexcept { return error == ErrorCode::kOk && status >= 200 && status < 400; }
};

// Serialisations, also used by tests and tools. JSON writes null for what is
// not known: status and final_url of a URL never answered, content_type when
// none was sent, title and links of a body not parsed, an empty fetched_at,
// lastmod of a URL no sitemap dated.
std::string to_json_line(const ResultRecord& record);                 // one JSON object, no trailing newline
void append_json_line(std::string& out, const ResultRecord& record);  // to_json_line's text appended to `out`
std::string csv_header();                                             // column names, no trailing newline
std::string to_csv_row(const ResultRecord& record);                   // RFC 4180 quoting, no trailing newline
void append_csv_row(std::string& out, const ResultRecord& record);    // to_csv_row's text appended to `out`

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
// Records go to one descriptor in whole lines: they are gathered in a 64 KiB
// buffer and handed to the kernel with one write(2) of complete lines, so a
// process that ends at any moment (a second Ctrl-C, SIGKILL) leaves every
// record in the file whole or not at all, never torn.
class LockedFileSink : public ResultSink {
 public:
  ~LockedFileSink() override;
  void write(const ResultRecord& record) final;
  Result<void> flush() final;
  // Called once, on the thread that wrote, when a write first fails (a full
  // disk, a closed pipe): a run stops rather than fetch for records it cannot
  // keep.
  // Replacing it (with nullptr: none) waits for a call in progress, so what
  // the old handler refers to may be destroyed once this returns.
  void on_failure(std::function<void()> handler) FETCHPOOL_EXCLUDES(handler_mutex_);
  // For a process about to _exit: writes the buffered whole lines if no
  // thread holds the sink and the destination is a regular file (a pipe could
  // block the exit); otherwise does nothing. Never blocks on the lock.
  void flush_before_exit() FETCHPOOL_EXCLUDES(mutex_);

 protected:
  // Takes ownership of `fd` unless it is STDOUT_FILENO.
  LockedFileSink(int fd, std::string name);
  void write_line(const std::string& line) FETCHPOOL_EXCLUDES(mutex_);
  // Appends the record's line (without its newline) to `out`; no lock held.
  virtual void serialise(const ResultRecord& record, std::string& out) const = 0;

 private:
  bool write_buffer_locked() FETCHPOOL_REQUIRES(mutex_);  // false on a new first error
  void note_error_locked(int error) FETCHPOOL_REQUIRES(mutex_);
  void report_failure() FETCHPOOL_EXCLUDES(handler_mutex_, mutex_);

  Mutex mutex_;
  int fd_;
  bool regular_file_ = false;
  std::string name_;
  std::string buffer_ FETCHPOOL_GUARDED_BY(mutex_);
  Error first_error_ FETCHPOOL_GUARDED_BY(mutex_){ErrorCode::kOk, {}};
  Mutex handler_mutex_;
  std::function<void()> on_failure_ FETCHPOOL_GUARDED_BY(handler_mutex_);
  std::atomic<bool> failure_reported_{false};
};

// How a results file's path is opened: as the user gave it (a symbolic link
// such as /dev/stdout is followed), or as a name the program chose itself in a
// directory others may write to (never through a symbolic link, and only a
// regular file: a planted FIFO or device is refused, not opened).
enum class ResultsPath { kAsGiven, kOwnName };

class JsonlSink final : public LockedFileSink {
 public:
  static Result<std::unique_ptr<JsonlSink>> open(const std::filesystem::path& path,
                                                 ResultsPath kind = ResultsPath::kAsGiven);

 private:
  using LockedFileSink::LockedFileSink;
  void serialise(const ResultRecord& record, std::string& out) const override;
};

// CSV with a header row. Path "-" writes to standard output.
class CsvSink final : public LockedFileSink {
 public:
  static Result<std::unique_ptr<CsvSink>> open(const std::filesystem::path& path,
                                               ResultsPath kind = ResultsPath::kAsGiven);

 private:
  using LockedFileSink::LockedFileSink;
  void serialise(const ResultRecord& record, std::string& out) const override;
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
// at `path` ("-" = stdout, not for sqlite). SQLite never follows a link.
Result<std::unique_ptr<ResultSink>> open_result_sink(const std::string& format, const std::filesystem::path& path,
                                                     ResultsPath kind = ResultsPath::kAsGiven);

}  // namespace fetchpool
