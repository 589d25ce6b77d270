#include "fetchpool/sinks.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>

namespace fetchpool {

std::string to_json_line(const ResultRecord& r) {
  nlohmann::ordered_json j;
  j["url"] = r.url;
  if (r.line != 0) j["line"] = r.line;
  j["depth"] = r.depth;
  if (!r.referrer.empty()) j["referrer"] = r.referrer;
  j["final_url"] = r.final_url;
  j["status"] = r.status;
  j["content_type"] = r.content_type;
  j["bytes"] = r.bytes;
  j["elapsed_ms"] = static_cast<double>(static_cast<std::int64_t>(r.elapsed_ms * 1000.0)) / 1000.0;
  j["title"] = r.title;
  j["links"] = r.links;
  j["attempts"] = r.attempts;
  j["ok"] = r.ok();
  if (r.error != ErrorCode::kOk) {
    j["error"] = {{"class", to_string(r.error)}, {"message", r.error_message}};
  } else {
    j["error"] = nullptr;
  }
  if (!r.path.empty()) j["path"] = r.path;
  if (!r.sha256.empty()) j["sha256"] = r.sha256;
  // Pages are not obliged to be valid UTF-8; a bad <title> must not cost the record.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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
         "error_class,error_message,path,sha256";
}

std::string to_csv_row(const ResultRecord& r) {
  std::string out;
  out.reserve(256);
  auto field = [&out](std::string_view value) { append_csv_field(out, value); out.push_back(','); };
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
  append_csv_field(out, r.sha256);
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
  std::lock_guard lock(mutex_);
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() && first_error_.code == ErrorCode::kOk) {
    first_error_ = Error{ErrorCode::kIo, name_ + ": cannot write results: " + std::strerror(errno)};
  }
}

Result<void> LockedFileSink::flush() {
  std::lock_guard lock(mutex_);
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
  std::lock_guard lock(mutex_);
  records_.push_back(record);
}

std::vector<ResultRecord> MemorySink::records() const {
  std::lock_guard lock(mutex_);
  return records_;
}

std::size_t MemorySink::size() const {
  std::lock_guard lock(mutex_);
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
  return Error{ErrorCode::kConfig, "output format '" + format + "' is not one of jsonl, csv"};
}

}  // namespace fetchpool
