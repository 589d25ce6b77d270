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

// Every key is written with the separator and quotes around it as one
// literal (`,"depth":`), a single append of a length known at compile time:
// a record has 17 of them, and building each from its pieces cost a record
// about 1,500 instructions (callgrind).
template <std::size_t N>
void append_literal(std::string& out, const char (&text)[N]) {
  out.append(text, N - 1);
}

template <std::size_t N>
void append_field(std::string& out, const char (&key)[N], std::string_view value) {
  append_literal(out, key);
  append_json_string(out, value);
}

template <std::size_t N>
void append_field(std::string& out, const char (&key)[N], std::uint64_t value) {
  append_literal(out, key);
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

template <std::size_t N>
void append_signed(std::string& out, const char (&key)[N], long value) {
  append_literal(out, key);
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

// A string field that is null when empty.
template <std::size_t N>
void append_text_or_null(std::string& out, const char (&key)[N], std::string_view value) {
  append_literal(out, key);
  if (value.empty()) {
    append_literal(out, "null");
  } else {
    append_json_string(out, value);
  }
}

// What printf's "%.3f" writes (the exact binary value rounded to three
// decimals, ties to even). A time the engine measured is a whole number of
// microseconds over 1000, within a quarter of a thousandth of an integer n
// once scaled (the scaling's own error is below 1.2e-4 under 1e9), so its
// rounding is n whatever the exact value: n is written with integer digits,
// a fifth of to_chars' instructions. Anything else goes to to_chars, which
// rounds as printf does; room for any finite double: 309 integer digits,
// the point and 3 decimals.
void append_millis(std::string& out, double value) {
  if (!std::signbit(value) && value < 1e9) {  // -0.0 is printf's "-0.000"
    const double scaled = value * 1000.0;
    const auto thousandths = static_cast<std::uint64_t>(std::llround(scaled));
    if (std::fabs(scaled - static_cast<double>(thousandths)) <= 0.25) {
      char digits[24];
      const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, thousandths / 1000);
      out.append(digits, end);
      const auto rest = static_cast<unsigned>(thousandths % 1000);
      const char decimals[] = {'.', static_cast<char>('0' + rest / 100), static_cast<char>('0' + rest / 10 % 10),
                               static_cast<char>('0' + rest % 10)};
      out.append(decimals, sizeof decimals);
      return;
    }
  }
  char text[320];
  const auto written = std::to_chars(text, text + sizeof text, value, std::chars_format::fixed, 3);
  out.append(text, written.ptr);
}

}  // namespace

void append_json_line(std::string& out, const ResultRecord& r) {
  out.reserve(out.size() + 320 + r.url.size() + r.final_url.size() + r.title.size() + r.error_message.size() +
              r.referrer.size() + r.content_type.size() + r.path.size() + r.sha256.size());
  append_field(out, "{\"url\":", r.url);
  if (r.line != 0) append_field(out, ",\"line\":", r.line);
  append_field(out, ",\"depth\":", std::uint64_t{r.depth});
  if (!r.referrer.empty()) append_field(out, ",\"referrer\":", r.referrer);
  append_text_or_null(out, ",\"final_url\":", r.final_url);
  append_field(out, ",\"redirects\":", std::uint64_t{r.redirects});
  if (r.status == 0) {
    append_literal(out, ",\"status\":null");
  } else {
    append_signed(out, ",\"status\":", r.status);
  }
  append_text_or_null(out, ",\"content_type\":", r.content_type);
  append_field(out, ",\"bytes\":", r.bytes);
  append_literal(out, ",\"elapsed_ms\":");
  append_millis(out, std::isfinite(r.elapsed_ms) ? r.elapsed_ms : 0.0);
  if (r.parsed || !r.title.empty()) {
    append_field(out, ",\"title\":", r.title);
  } else {
    append_literal(out, ",\"title\":null");
  }
  if (r.parsed || r.links != 0) {
    append_field(out, ",\"links\":", std::uint64_t{r.links});
  } else {
    append_literal(out, ",\"links\":null");
  }
  append_field(out, ",\"attempts\":", std::uint64_t{r.attempts});
  if (r.ok()) {
    append_literal(out, ",\"ok\":true");
  } else {
    append_literal(out, ",\"ok\":false");
  }
  if (r.error == ErrorCode::kOk) {
    append_literal(out, ",\"error\":null");
  } else {
    append_literal(out, ",\"error\":{\"class\":");
    append_json_string(out, to_string(r.error));
    append_literal(out, ",\"message\":");
    append_json_string(out, r.error_message);
    out.push_back('}');
  }
  if (!r.path.empty()) append_field(out, ",\"path\":", r.path);
  if (!r.sha256.empty()) append_field(out, ",\"sha256\":", r.sha256);
  append_text_or_null(out, ",\"fetched_at\":", r.fetched_at);
  append_text_or_null(out, ",\"lastmod\":", r.lastmod);
  out.push_back('}');
}

std::string to_json_line(const ResultRecord& r) {
  std::string out;
  append_json_line(out, r);
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
  append_csv_row(out, r);
  return out;
}

void append_csv_row(std::string& out, const ResultRecord& r) {
  out.reserve(out.size() + 256);
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
  // Serialised outside the lock into this thread's own buffer, which keeps
  // its capacity from record to record: no allocation per record.
  thread_local std::string line;
  line.clear();
  serialise(record, line);
  line.push_back('\n');
  write_line(line);
  // One huge record (a long error message) does not pin its size per thread.
  if (line.capacity() > kSinkBufferBytes) std::string().swap(line);
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

void JsonlSink::serialise(const ResultRecord& record, std::string& out) const { append_json_line(out, record); }

Result<std::unique_ptr<JsonlSink>> JsonlSink::open(const std::filesystem::path& path, ResultsPath kind) {
  auto file = open_output(path, kind);
  if (!file) return std::move(file).error();
  return std::unique_ptr<JsonlSink>(new JsonlSink(*file, path.string()));
}

void CsvSink::serialise(const ResultRecord& record, std::string& out) const { append_csv_row(out, record); }

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
