#include "tools/cli/report.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "base/rfc3339.hpp"
#include "base/unique_fd.hpp"
#include "crawl/stats_json.hpp"

namespace fetchpool::cli {

nlohmann::ordered_json stats_to_json(const StatsSnapshot& s, const RunInfo& run) {
  nlohmann::ordered_json j;
  j["version"] = FETCHPOOL_VERSION;
  j["start"] = detail::rfc3339(run.start);
  j["end"] = detail::rfc3339(run.end);
  j["finish_reason"] = run.finish_reason;
  // One writer of the counts for this file and status.json.
  j.update(counts_json(s));
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
