#include "fetchpool/sinks.hpp"

#include "fetchpool/sqlite_sink.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include "base/json_text.hpp"

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
  char elapsed[32];
  const int n = std::snprintf(elapsed, sizeof elapsed, "%.3f", std::isfinite(r.elapsed_ms) ? r.elapsed_ms : 0.0);
  out.append(elapsed, static_cast<std::size_t>(n));
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
  return "url,line,depth,referrer,final_url,status,content_type,bytes,elapsed_ms,title,links,attempts,ok,"
         "error_class,error_message,path,sha256,fetched_at";
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
  append_csv_field(out, r.fetched_at);
  return out;
}

LockedFileSink::LockedFileSink(std::FILE* file, std::string name) : file_(file), name_(std::move(name)) {
  // Records are small and frequent: a large stdio buffer keeps the per-record
  // cost at a memcpy under the lock rather than a write(2).
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 16);
}

LockedFileSink::~LockedFileSink() {
  if (file_ == stdout) {
    std::fflush(file_);
  } else if (file_ != nullptr) {
    std::fclose(file_);
  }
}

void LockedFileSink::write(const ResultRecord& record) {
  std::string line = serialise(record);
  line.push_back('\n');
  write_line(line);
}

void LockedFileSink::write_line(const std::string& line) {
  MutexLock lock(mutex_);
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() && first_error_.code == ErrorCode::kOk) {
    first_error_ = Error{ErrorCode::kIo, name_ + ": cannot write results: " + std::strerror(errno)};
  }
}

Result<void> LockedFileSink::flush() {
  MutexLock lock(mutex_);
  if (std::fflush(file_) != 0 && first_error_.code == ErrorCode::kOk) {
    first_error_ = Error{ErrorCode::kIo, name_ + ": cannot write results: " + std::strerror(errno)};
  }
  if (first_error_.code != ErrorCode::kOk) return first_error_;
  return {};
}

namespace {

Result<std::FILE*> open_output(const std::filesystem::path& path) {
  if (path == "-") return stdout;
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr)
    return Error{ErrorCode::kIo, path.string() + ": cannot open results file: " + std::strerror(errno)};
  return file;
}

}  // namespace

std::string JsonlSink::serialise(const ResultRecord& record) const { return to_json_line(record); }

Result<std::unique_ptr<JsonlSink>> JsonlSink::open(const std::filesystem::path& path) {
  auto file = open_output(path);
  if (!file) return std::move(file).error();
  return std::unique_ptr<JsonlSink>(new JsonlSink(*file, path.string()));
}

std::string CsvSink::serialise(const ResultRecord& record) const { return to_csv_row(record); }

Result<std::unique_ptr<CsvSink>> CsvSink::open(const std::filesystem::path& path) {
  auto file = open_output(path);
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

Result<std::unique_ptr<ResultSink>> open_result_sink(const std::string& format, const std::filesystem::path& path) {
  if (format == "csv") {
    auto sink = CsvSink::open(path);
    if (!sink) return std::move(sink).error();
    return std::unique_ptr<ResultSink>(std::move(*sink));
  }
  if (format == "jsonl") {
    auto sink = JsonlSink::open(path);
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
