#include "tools/cli/report.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>

#include "base/unique_fd.hpp"

namespace fetchpool::cli {

std::string rfc3339(std::chrono::system_clock::time_point time) {
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis % 1000));
  return text;
}

nlohmann::ordered_json stats_to_json(const StatsSnapshot& s, const RunInfo& run) {
  const double seconds = std::chrono::duration<double>(s.elapsed).count();
  nlohmann::ordered_json j;
  j["version"] = FETCHPOOL_VERSION;
  j["start"] = rfc3339(run.start);
  j["end"] = rfc3339(run.end);
  j["finish_reason"] = run.finish_reason;
  j["done"] = s.done;
  j["ok"] = s.ok;
  j["skipped"] = s.skipped;
  j["failed"] = s.failed;
  j["retries"] = s.retries;
  j["bytes"] = s.bytes;
  j["elapsed_s"] = seconds;
  j["pages_per_s"] = seconds > 0 ? static_cast<double>(s.done) / seconds : 0.0;
  nlohmann::ordered_json by_status = nlohmann::ordered_json::object();
  std::uint64_t no_response = 0;
  for (const auto& [status, count] : s.by_status) {
    // A URL never answered (a connect error, robots.txt, a duplicate) has no status to count under.
    if (status == 0) {
      no_response = count;
      continue;
    }
    by_status[status < 0 ? std::string("other") : std::to_string(status)] = count;
  }
  j["by_status"] = by_status;
  j["no_response"] = no_response;
  nlohmann::ordered_json by_error = nlohmann::ordered_json::object();
  for (const auto& [name, count] : s.by_error) by_error[name] = count;
  j["by_error"] = by_error;
  j["latency_ms"] = {{"mean", s.latency_mean_ms}, {"p50", s.latency_p50_ms}, {"p90", s.latency_p90_ms},
                     {"p95", s.latency_p95_ms},   {"p99", s.latency_p99_ms}, {"max", s.latency_max_ms}};
  nlohmann::ordered_json workers;
  workers["requested"] = s.workers_requested;
  workers["started"] = s.workers_started;
  workers["limited_by"] = nullptr;  // every worker asked for started
  if (!s.workers_limited_by.empty()) workers["limited_by"] = s.workers_limited_by;
  j["workers"] = std::move(workers);
  if (s.sitemaps.enabled) {
    const auto& m = s.sitemaps;
    j["sitemaps"] = {
        {"files", m.files},           {"listed", m.listed},   {"queued", m.queued},  {"out_of_scope", m.out_of_scope},
        {"over_limit", m.over_limit}, {"invalid", m.invalid}, {"refused", m.refused}};
  }
  return j;
}

std::string format_summary(const StatsSnapshot& s, bool interrupted) {
  const double seconds = std::chrono::duration<double>(s.elapsed).count();
  char line[512];
  std::snprintf(line, sizeof line,
                "%s: %llu URLs in %.2f s (%.1f/s): %llu ok, %llu failed, %llu skipped, %llu retries, %.1f MiB\n"
                "latency ms: p50 %.1f  p90 %.1f  p95 %.1f  p99 %.1f  max %.1f\n",
                interrupted ? "Interrupted" : "Done", static_cast<unsigned long long>(s.done), seconds,
                seconds > 0 ? static_cast<double>(s.done) / seconds : 0.0, static_cast<unsigned long long>(s.ok),
                static_cast<unsigned long long>(s.failed), static_cast<unsigned long long>(s.skipped),
                static_cast<unsigned long long>(s.retries), static_cast<double>(s.bytes) / (1024.0 * 1024.0),
                s.latency_p50_ms, s.latency_p90_ms, s.latency_p95_ms, s.latency_p99_ms, s.latency_max_ms);
  std::string out = line;
  if (!s.by_status.empty()) {
    out += "by status:";
    for (const auto& [status, count] : s.by_status) {
      // Appended piece by piece: `" " + std::string(...)` trips GCC 12's -Wrestrict false positive.
      out += ' ';
      out += status == 0 ? std::string("none") : std::to_string(status);
      out += '=';
      out += std::to_string(count);
    }
    out += "\n";
  }
  if (!s.by_error.empty()) {
    out += "by error:";
    for (const auto& [name, count] : s.by_error) out += " " + name + "=" + std::to_string(count);
    out += "\n";
  }
  if (s.sitemaps.enabled) {
    const auto& m = s.sitemaps;
    out += "sitemaps: " + std::to_string(m.files) + " files, " + std::to_string(m.listed) + " entries, " +
           std::to_string(m.queued) + " URLs queued, " + std::to_string(m.out_of_scope) + " out of scope, " +
           std::to_string(m.over_limit) + " over the limit, " + std::to_string(m.invalid) + " invalid, " +
           std::to_string(m.refused) + " not read\n";
  }
  return out;
}

namespace {

std::atomic<unsigned> temporary_counter{0};

// A name beside `path` that no other writer (this process or another) picks.
std::string temporary_beside(const std::filesystem::path& path) {
  return path.string() + ".tmp" + std::to_string(::getpid()) + "." + std::to_string(temporary_counter.fetch_add(1));
}

// Created exclusively and never through a symbolic link: a link planted under
// the temporary name cannot redirect the write to a file elsewhere.
int create_exclusive(const std::string& name) {
  return ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
}

Error cannot_write(const std::filesystem::path& path, int error) {
  return Error{ErrorCode::kIo, path.string() + ": cannot write: " + std::strerror(error)};
}

}  // namespace

Result<void> check_output_file(const std::filesystem::path& path, std::string_view flag) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return Error{ErrorCode::kConfig, std::string(flag) + " " + path.string() + ": is a directory"};
  const std::string probe = temporary_beside(path);
  const int fd = create_exclusive(probe);
  if (fd < 0) {
    return Error{ErrorCode::kConfig,
                 std::string(flag) + " " + path.string() + ": cannot create a file there: " + std::strerror(errno)};
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return {};
}

Result<void> write_json_file(const std::filesystem::path& path, const nlohmann::ordered_json& json) {
  const std::string text = json.dump(2) + "\n";
  const std::string temp = temporary_beside(path);
  const int fd = create_exclusive(temp);
  if (fd < 0) return cannot_write(path, errno);
  int error = detail::write_all(fd, text);
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && ::rename(temp.c_str(), path.c_str()) != 0) error = errno;
  if (error != 0) {
    ::unlink(temp.c_str());
    return cannot_write(path, error);
  }
  return {};
}

}  // namespace fetchpool::cli
