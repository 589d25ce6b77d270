#include "fetchpool/sinks.hpp"

#include "fetchpool/sqlite_sink.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json_text.hpp"
#include "base/unique_fd.hpp"

namespace fetchpool {

namespace {

using detail::append_json_string;

void append_key(std::string& out, std::string_view key) {
  out.push_back(out.empty() ? '{' : ',');
  out.push_back('"');
  out.append(key);
  out += "\":";
}

void append_field(std::string& out, std::string_view key, std::string_view value) {
  append_key(out, key);
  append_json_string(out, value);
}

void append_field(std::string& out, std::string_view key, std::uint64_t value) {
  append_key(out, key);
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

void append_null(std::string& out, std::string_view key) {
  append_key(out, key);
  out += "null";
}

void append_signed(std::string& out, std::string_view key, long value) {
  append_key(out, key);
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

}  // namespace

std::string to_json_line(const ResultRecord& r) {
  std::string out;
  out.reserve(256 + r.url.size() + r.final_url.size() + r.title.size() + r.error_message.size() + r.referrer.size());
  append_field(out, "url", r.url);
  if (r.line != 0) append_field(out, "line", r.line);
  append_field(out, "depth", std::uint64_t{r.depth});
  if (!r.referrer.empty()) append_field(out, "referrer", r.referrer);
  if (r.final_url.empty()) {
    append_null(out, "final_url");
  } else {
    append_field(out, "final_url", r.final_url);
  }
  append_field(out, "redirects", std::uint64_t{r.redirects});
  if (r.status == 0) {
    append_null(out, "status");
  } else {
    append_signed(out, "status", r.status);
  }
  if (r.content_type.empty()) {
    append_null(out, "content_type");
  } else {
    append_field(out, "content_type", r.content_type);
  }
  append_field(out, "bytes", r.bytes);
  append_key(out, "elapsed_ms");
  // to_chars gives what printf's "%.3f" gives (both round the exact binary
  // value, ties to even), without parsing a format string per record. Room
  // for any finite double: 309 integer digits, the point and 3 decimals.
  char elapsed[320];
  const auto written = std::to_chars(elapsed, elapsed + sizeof elapsed,
                                     std::isfinite(r.elapsed_ms) ? r.elapsed_ms : 0.0, std::chars_format::fixed, 3);
  out.append(elapsed, written.ptr);
  if (r.parsed || !r.title.empty()) {
    append_field(out, "title", r.title);
  } else {
    append_null(out, "title");
  }
  if (r.parsed || r.links != 0) {
    append_field(out, "links", std::uint64_t{r.links});
  } else {
    append_null(out, "links");
  }
  append_field(out, "attempts", std::uint64_t{r.attempts});
  append_key(out, "ok");
  out += r.ok() ? "true" : "false";
  append_key(out, "error");
  if (r.error == ErrorCode::kOk) {
    out += "null";
  } else {
    out += "{\"class\":";
    append_json_string(out, to_string(r.error));
    out += ",\"message\":";
    append_json_string(out, r.error_message);
    out.push_back('}');
  }
  if (!r.path.empty()) append_field(out, "path", r.path);
  if (!r.sha256.empty()) append_field(out, "sha256", r.sha256);
  if (r.fetched_at.empty()) {
    append_null(out, "fetched_at");
  } else {
    append_field(out, "fetched_at", r.fetched_at);
  }
  if (r.lastmod.empty()) {
    append_null(out, "lastmod");
  } else {
    append_field(out, "lastmod", r.lastmod);
  }
  out.push_back('}');
  return out;
}

namespace {

void append_csv_field(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(field);
    return;
  }
  out.push_back('"');
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace

std::string csv_header() {
  return "url,line,depth,referrer,final_url,redirects,status,content_type,bytes,elapsed_ms,title,links,attempts,ok,"
         "error_class,error_message,path,sha256,fetched_at,lastmod";
}

std::string to_csv_row(const ResultRecord& r) {
  std::string out;
  out.reserve(256);
  auto field = [&out](std::string_view value) {
    append_csv_field(out, value);
    out.push_back(',');
  };
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, "%.3f", r.elapsed_ms);
  field(r.url);
  field(std::to_string(r.line));
  field(std::to_string(r.depth));
  field(r.referrer);
  field(r.final_url);
  field(std::to_string(r.redirects));
  field(std::to_string(r.status));
  field(r.content_type);
  field(std::to_string(r.bytes));
  field(elapsed);
  field(r.title);
  field(std::to_string(r.links));
  field(std::to_string(r.attempts));
  field(r.ok() ? "true" : "false");
  field(r.error == ErrorCode::kOk ? std::string_view{} : to_string(r.error));
  field(r.error_message);
  field(r.path);
  field(r.sha256);
  field(r.fetched_at);
  append_csv_field(out, r.lastmod);
  return out;
}

namespace {

// Big enough that a write(2) carries many records, small enough that a
// process killed at once loses little.
constexpr std::size_t kSinkBufferBytes = std::size_t{1} << 16;

}  // namespace

LockedFileSink::LockedFileSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
  struct stat st {};
  regular_file_ = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
  MutexLock lock(mutex_);
  buffer_.reserve(kSinkBufferBytes);
}

LockedFileSink::~LockedFileSink() {
  {
    MutexLock lock(mutex_);
    (void)write_buffer_locked();
  }
  if (fd_ != STDOUT_FILENO) ::close(fd_);
}

void LockedFileSink::write(const ResultRecord& record) {
  std::string line = serialise(record);
  line.push_back('\n');
  write_line(line);
}

void LockedFileSink::note_error_locked(int error) {
  if (first_error_.code == ErrorCode::kOk)
    first_error_ = Error{ErrorCode::kIo, name_ + ": cannot write results: " + std::strerror(error)};
}

bool LockedFileSink::write_buffer_locked() {
  if (buffer_.empty()) return true;
  const bool was_ok = first_error_.code == ErrorCode::kOk;
  // After a failure the records are dropped: retrying a full disk or a closed
  // pipe on every record would only repeat the error.
  if (was_ok) {
    if (const int error = detail::write_all(fd_, buffer_); error != 0) note_error_locked(error);
  }
  buffer_.clear();
  return !was_ok || first_error_.code == ErrorCode::kOk;
}

void LockedFileSink::write_line(const std::string& line) {
  bool failed_now = false;
  {
    MutexLock lock(mutex_);
    // Only whole lines are handed to write(2): the buffer is written out
    // before a line that would not fit, never split across two calls.
    if (buffer_.size() + line.size() > kSinkBufferBytes) failed_now = !write_buffer_locked();
    buffer_.append(line);
    if (buffer_.size() >= kSinkBufferBytes) failed_now = !write_buffer_locked() || failed_now;
  }
  if (failed_now) report_failure();
}

void LockedFileSink::on_failure(std::function<void()> handler) {
  MutexLock lock(handler_mutex_);
  on_failure_ = std::move(handler);
}

void LockedFileSink::report_failure() {
  if (failure_reported_.exchange(true)) return;
  MutexLock lock(handler_mutex_);
  if (on_failure_) on_failure_();
}

Result<void> LockedFileSink::flush() {
  bool failed_now = false;
  Error error{ErrorCode::kOk, {}};
  {
    MutexLock lock(mutex_);
    failed_now = !write_buffer_locked();
    error = first_error_;
  }
  if (failed_now) report_failure();
  if (error.code != ErrorCode::kOk) return error;
  return {};
}

void LockedFileSink::flush_before_exit() {
  if (!regular_file_ || !mutex_.try_lock()) return;
  (void)write_buffer_locked();
  mutex_.unlock();
}

namespace {

// A path the user names is opened as given (a symbolic link such as
// /dev/stdout is followed). A name the program chose (the results file inside
// an output directory) is checked by the open itself, not by an lstat before
// it that a link planted in between would pass: O_NOFOLLOW refuses a link,
// O_NONBLOCK keeps a planted FIFO from blocking the open, and fstat refuses
// anything but a regular file before O_TRUNC could touch it (so no O_TRUNC
// in the open: ftruncate once it is known to be ours).
Result<int> open_output(const std::filesystem::path& path, ResultsPath kind) {
  if (path == "-") return STDOUT_FILENO;
  auto cannot = [&path](const std::string& why) {
    return Error{ErrorCode::kIo, path.string() + ": cannot open results file: " + why};
  };
  if (kind == ResultsPath::kAsGiven) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return cannot(std::strerror(errno));
    return fd;
  }
  detail::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666));
  if (fd.get() < 0) {
    if (errno == ELOOP) return cannot("it is a symbolic link; not followed");
    if (errno == ENXIO) return cannot("not a regular file (a FIFO or device)");  // a FIFO with no reader
    return cannot(std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return cannot(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return cannot("not a regular file");
  if (::ftruncate(fd.get(), 0) != 0) return cannot(std::strerror(errno));
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) return cannot(std::strerror(errno));
  return fd.release();
}

}  // namespace

std::string JsonlSink::serialise(const ResultRecord& record) const { return to_json_line(record); }

Result<std::unique_ptr<JsonlSink>> JsonlSink::open(const std::filesystem::path& path, ResultsPath kind) {
  auto file = open_output(path, kind);
  if (!file) return std::move(file).error();
  return std::unique_ptr<JsonlSink>(new JsonlSink(*file, path.string()));
}

std::string CsvSink::serialise(const ResultRecord& record) const { return to_csv_row(record); }

Result<std::unique_ptr<CsvSink>> CsvSink::open(const std::filesystem::path& path, ResultsPath kind) {
  auto file = open_output(path, kind);
  if (!file) return std::move(file).error();
  std::unique_ptr<CsvSink> sink(new CsvSink(*file, path.string()));
  sink->write_line(csv_header() + "\n");
  return sink;
}

void MemorySink::write(const ResultRecord& record) {
  MutexLock lock(mutex_);
  records_.push_back(record);
}

std::vector<ResultRecord> MemorySink::records() const {
  MutexLock lock(mutex_);
  return records_;
}

std::size_t MemorySink::size() const {
  MutexLock lock(mutex_);
  return records_.size();
}

Result<std::unique_ptr<ResultSink>> open_result_sink(const std::string& format, const std::filesystem::path& path,
                                                     ResultsPath kind) {
  if (format == "csv") {
    auto sink = CsvSink::open(path, kind);
    if (!sink) return std::move(sink).error();
    return std::unique_ptr<ResultSink>(std::move(*sink));
  }
  if (format == "jsonl") {
    auto sink = JsonlSink::open(path, kind);
    if (!sink) return std::move(sink).error();
    return std::unique_ptr<ResultSink>(std::move(*sink));
  }
  if (format == "sqlite") {
    auto sink = SqliteSink::open(path);
    if (!sink) return std::move(sink).error();
    return std::unique_ptr<ResultSink>(std::move(*sink));
  }
  return Error{ErrorCode::kConfig, "output format '" + format + "' is not one of jsonl, csv, sqlite"};
}

}  // namespace fetchpool
