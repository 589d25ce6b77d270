#include "tools/bench/benchmark.hpp"

#include <poll.h>
#include <sched.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX kill and sigset_t, not in <csignal>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>

#include "fetchpool/engine.hpp"
#include "fetchpool/sinks.hpp"
#include "fetchpool/stats.hpp"

namespace fetchpool {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using nlohmann::ordered_json;

std::string strprintf(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string strprintf(const char* format, ...) {
  va_list args;
  va_start(args, format);
  va_list again;
  va_copy(again, args);
  const int length = std::vsnprintf(nullptr, 0, format, args);
  va_end(args);
  std::string text(static_cast<std::size_t>(std::max(length, 0)), '\0');
  std::vsnprintf(text.data(), text.size() + 1, format, again);
  va_end(again);
  return text;
}

// ---- /proc and getrusage ----------------------------------------------------

struct ProcStatus {
  bool read = false;
  std::uint64_t rss_kib = 0;  // VmRSS
  std::uint64_t hwm_kib = 0;  // VmHWM: peak RSS since start or since the last reset
  int threads = 0;
};

ProcStatus read_proc_status() {
  ProcStatus status;
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    auto value = [&line](std::string_view key) -> std::optional<std::uint64_t> {
      if (line.rfind(key, 0) != 0) return std::nullopt;
      return std::strtoull(line.c_str() + key.size(), nullptr, 10);
    };
    if (auto v = value("VmRSS:")) status.rss_kib = *v;
    if (auto v = value("VmHWM:")) status.hwm_kib = *v;
    if (auto v = value("Threads:")) {
      status.threads = static_cast<int>(*v);
      status.read = true;
    }
  }
  return status;
}

// Writing "5" to clear_refs sets VmHWM back to the current RSS (Linux 4.0+),
// so a run's own peak can be told apart from earlier runs'.
bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

double cpu_seconds(int who) {
  rusage usage{};
  getrusage(who, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

unsigned usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return static_cast<unsigned>(std::max(CPU_COUNT(&set), 1));
  return 1;
}

// This run's peak RSS growth over its start, per worker.
class PeakProbe {
 public:
  PeakProbe() {
    if (reset_peak_rss()) {
      const auto status = read_proc_status();
      known_ = status.read;
      baseline_kib_ = status.rss_kib;
    }
  }
  std::optional<double> per_worker_kib(std::uint32_t workers) const {
    if (!known_) return std::nullopt;
    const auto status = read_proc_status();
    if (!status.read) return std::nullopt;
    const auto growth = status.hwm_kib > baseline_kib_ ? status.hwm_kib - baseline_kib_ : 0;
    return static_cast<double>(growth) / workers;
  }

 private:
  bool known_ = false;  // the peak could be reset and the baseline read
  std::uint64_t baseline_kib_ = 0;
};

bool is_ok(const Result<FetchResponse>& response) {
  return response && response->head.status >= 200 && response->head.status < 400;
}

// Worker processes report counts and one latency per URL, not statuses. Only
// the latency histogram of a point's CrawlStats is read, so each latency is
// recorded as a plain 200.
Outcome latency_only(std::uint64_t micros) {
  return Outcome{200, ErrorCode::kOk, 0,
                 std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(micros))};
}

// Threads mode's sink: counts and latencies, no copies of records.
class RecordingSink final : public ResultSink {
 public:
  explicit RecordingSink(CrawlStats& stats) : stats_(stats) {}
  void write(const ResultRecord& record) override {
    (record.ok() ? ok_ : failed_).fetch_add(1, std::memory_order_relaxed);
    const auto micros = std::llround(record.elapsed_ms * 1000.0);
    stats_.record(Outcome{record.status, record.error, record.bytes, std::chrono::microseconds(micros)});
  }
  Result<void> flush() override { return {}; }
  std::uint64_t ok() const { return ok_.load(); }
  std::uint64_t failed() const { return failed_.load(); }

 private:
  CrawlStats& stats_;
  std::atomic<std::uint64_t> ok_{0};
  std::atomic<std::uint64_t> failed_{0};
};

// ---- Runs --------------------------------------------------------------------

RunSample run_sequential(const std::vector<std::string>& urls, const FetchOptions& fetch, CrawlStats& stats) {
  PeakProbe peak;
  const double cpu_before = cpu_seconds(RUSAGE_SELF);
  const auto started = Clock::now();
  RunSample sample;
  {
    Fetcher fetcher(fetch);
    for (const auto& url : urls) {
      FetchRequest request;
      request.url = url;
      const auto begun = Clock::now();
      const auto response = fetcher.fetch(request);
      const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - begun).count();
      const bool ok = is_ok(response);
      (ok ? sample.ok : sample.failed) += 1;
      stats.record(Outcome{response ? response->head.status : 0L, response ? ErrorCode::kOk : response.error().code,
                           response ? response->body_bytes : 0, std::chrono::microseconds(micros)});
    }
  }
  sample.wall_s = std::chrono::duration<double>(Clock::now() - started).count();
  sample.cpu_s = cpu_seconds(RUSAGE_SELF) - cpu_before;
  sample.memory_per_worker_kib = peak.per_worker_kib(1);
  return sample;
}

RunSample run_threads(const BenchOptions& options, std::uint32_t workers, CrawlStats& stats) {
  EngineOptions engine_options;
  engine_options.workers = workers;
  engine_options.fetch = options.fetch;
  engine_options.retry.max_retries = 0;  // the other modes do not retry either
  engine_options.follow_links = false;
  engine_options.parse_html = false;  // as `fetchpool get` without --titles
  engine_options.frontier.max_in_flight_per_host = options.per_host;
  RecordingSink sink(stats);
  PeakProbe peak;
  const double cpu_before = cpu_seconds(RUSAGE_SELF);
  const auto started = Clock::now();
  {
    // Built, fed and joined inside the timed span: starting N threads is part
    // of what a pool costs, as forking is for processes.
    CrawlEngine engine(engine_options, sink);
    engine.start();
    std::uint64_t line = 0;
    for (const auto& url : options.urls) engine.add(url, ++line);
    engine.finish_input();
    engine.wait();
  }
  RunSample sample;
  sample.wall_s = std::chrono::duration<double>(Clock::now() - started).count();
  sample.cpu_s = cpu_seconds(RUSAGE_SELF) - cpu_before;
  sample.ok = sink.ok();
  sample.failed = sink.failed();
  sample.memory_per_worker_kib = peak.per_worker_kib(workers);
  return sample;
}

// Generous but finite: every URL of the largest share may take the whole
// transfer timeout.
std::chrono::seconds process_deadline(const BenchOptions& options, std::uint32_t workers) {
  const auto share = (options.urls.size() + workers - 1) / workers;
  const auto per_request =
      options.fetch.total_timeout.count() > 0
          ? std::chrono::duration_cast<std::chrono::seconds>(options.fetch.total_timeout) + std::chrono::seconds(1)
          : std::chrono::seconds(600);
  return per_request * static_cast<long>(share) + std::chrono::seconds(60);
}

Result<RunSample> run_processes(const BenchOptions& options, std::uint32_t workers, ProcessLauncher& launcher,
                                CrawlStats& stats) {
  const double cpu_before = cpu_seconds(RUSAGE_SELF);
  auto run = launcher.run(options.urls, workers, options.fetch, process_deadline(options, workers));
  if (!run) return std::move(run).error();
  RunSample sample;
  sample.wall_s = run->wall_s;
  sample.cpu_s = run->cpu_s + (cpu_seconds(RUSAGE_SELF) - cpu_before);
  double rss_sum = 0;
  for (const auto& child : run->children) {
    sample.ok += child.ok;
    sample.failed += child.failed;
    rss_sum += static_cast<double>(child.peak_rss_kib);
    for (const auto micros : child.latencies_us) stats.record(latency_only(micros));
  }
  if (!run->children.empty()) sample.memory_per_worker_kib = rss_sum / static_cast<double>(run->children.size());
  return sample;
}

std::optional<double> median_of(const std::vector<std::optional<double>>& values) {
  std::vector<double> known;
  for (const auto& v : values)
    if (v) known.push_back(*v);
  if (known.empty()) return std::nullopt;
  return spread_of(std::move(known)).median;
}

// Runs one point `repeats` times and fills in what it measured; the model
// columns are filled in once L is known (complete_point).
template <typename RunOnce>
Result<BenchPoint> measure_point(BenchMode mode, std::uint32_t workers, const BenchOptions& options, RunOnce run_once) {
  BenchPoint point;
  point.mode = mode;
  point.workers = workers;
  point.requests = options.urls.size();
  CrawlStats stats;
  std::vector<double> walls, cpus;
  std::vector<std::optional<double>> memories;
  for (std::uint32_t repeat = 0; repeat < options.repeats; ++repeat) {
    Result<RunSample> sample = run_once(stats);
    if (!sample) return std::move(sample).error();
    walls.push_back(sample->wall_s);
    cpus.push_back(sample->cpu_s);
    memories.push_back(sample->memory_per_worker_kib);
    point.ok += sample->ok;
    point.failed += sample->failed;
    if (options.on_run) {
      options.on_run(strprintf("%s N=%u run %u/%u: %.3f s, %llu ok, %llu failed", std::string(to_string(mode)).c_str(),
                               workers, repeat + 1, options.repeats, sample->wall_s,
                               static_cast<unsigned long long>(sample->ok),
                               static_cast<unsigned long long>(sample->failed)));
    }
    point.runs.push_back(*sample);
  }
  point.wall_s = spread_of(walls);
  point.cpu_s = spread_of(cpus).median;
  point.memory_per_worker_kib = median_of(memories);
  const auto snapshot = stats.snapshot();
  point.latency_mean_ms = snapshot.latency_mean_ms;
  point.latency_p50_ms = snapshot.latency_p50_ms;
  point.latency_p95_ms = snapshot.latency_p95_ms;
  point.latency_p99_ms = snapshot.latency_p99_ms;
  point.requests_per_s = point.wall_s.median > 0 ? static_cast<double>(point.requests) / point.wall_s.median : 0;
  return point;
}

void complete_point(BenchPoint& point, double sequential_wall_s, double latency_s) {
  point.speedup = point.wall_s.median > 0 ? sequential_wall_s / point.wall_s.median : 0;
  point.efficiency = parallel_efficiency(point.speedup, point.workers);
  point.ideal_speedup = ideal_speedup(point.requests, point.workers);
  point.ideal_wall_s = ideal_wall_seconds(point.requests, point.workers, latency_s);
  point.littles_law_rps = littles_law_throughput(point.workers, latency_s);
}

// ---- The helper process and its children -------------------------------------

#if defined(__SANITIZE_THREAD__)
constexpr int kOwnThreadsAllowed = 2;  // TSan's background thread holds none of our or libc's locks
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr int kOwnThreadsAllowed = 2;
#else
constexpr int kOwnThreadsAllowed = 1;
#endif
#else
constexpr int kOwnThreadsAllowed = 1;
#endif

bool send_all(int fd, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t sent = ::send(fd, bytes, size, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    bytes += sent;
    size -= static_cast<std::size_t>(sent);
  }
  return true;
}

// Messages on the helper channel: 8-byte length, then the JSON text.
bool send_message(int fd, const std::string& text) {
  const std::uint64_t length = text.size();
  return send_all(fd, &length, sizeof length) && send_all(fd, text.data(), text.size());
}

// Reads exactly `size` bytes, waiting at most until `deadline`. False on EOF,
// error or timeout.
bool read_exact(int fd, void* data, std::size_t size, Clock::time_point deadline) {
  auto* bytes = static_cast<char*>(data);
  while (size > 0) {
    int timeout_ms = -1;
    if (deadline != Clock::time_point::max()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      timeout_ms = static_cast<int>(std::min<long long>(left, 60'000));
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return false;
    if (ready == 0) continue;  // re-check the deadline
    const ssize_t got = ::read(fd, bytes, size);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    bytes += got;
    size -= static_cast<std::size_t>(got);
  }
  return true;
}

std::optional<std::string> read_message(int fd, Clock::time_point deadline) {
  std::uint64_t length = 0;
  if (!read_exact(fd, &length, sizeof length, deadline)) return std::nullopt;
  if (length > (std::uint64_t{1} << 32)) return std::nullopt;
  std::string text(length, '\0');
  if (!read_exact(fd, text.data(), text.size(), deadline)) return std::nullopt;
  return text;
}

json fetch_options_to_json(const FetchOptions& f) {
  return {{"connect_timeout_ms", f.connect_timeout.count()},
          {"total_timeout_ms", f.total_timeout.count()},
          {"low_speed_limit", f.low_speed_limit},
          {"low_speed_time_s", f.low_speed_time.count()},
          {"max_body_bytes", f.max_body_bytes},
          {"max_redirects", f.max_redirects},
          {"user_agent", f.user_agent},
          {"accept_compressed", f.accept_compressed},
          {"http2", f.http2},
          {"verify_tls", f.verify_tls}};
}

FetchOptions fetch_options_from_json(const json& j) {
  FetchOptions f;
  f.connect_timeout = std::chrono::milliseconds(j.at("connect_timeout_ms").get<long long>());
  f.total_timeout = std::chrono::milliseconds(j.at("total_timeout_ms").get<long long>());
  f.low_speed_limit = j.at("low_speed_limit").get<long>();
  f.low_speed_time = std::chrono::seconds(j.at("low_speed_time_s").get<long long>());
  f.max_body_bytes = j.at("max_body_bytes").get<std::uint64_t>();
  f.max_redirects = j.at("max_redirects").get<long>();
  f.user_agent = j.at("user_agent").get<std::string>();
  f.accept_compressed = j.at("accept_compressed").get<bool>();
  f.http2 = j.at("http2").get<bool>();
  f.verify_tls = j.at("verify_tls").get<bool>();
  return f;
}

// A worker process: fetch every N-th URL from `index`, report, _exit. Runs in
// a child of the single-threaded helper, so malloc, libcurl and OpenSSL are
// in a consistent state here.
[[noreturn]] void worker_process_main(std::size_t index, std::size_t stride, const std::vector<std::string>& urls,
                                      const FetchOptions& fetch, int out, pid_t helper) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the helper died: nobody will read us
  if (::getppid() != helper) ::_exit(1);
  int code = 0;
  std::string text;
  try {
    json result;
    std::uint64_t ok = 0, failed = 0;
    std::vector<std::uint64_t> latencies;
    {
      Fetcher fetcher(fetch);
      for (std::size_t i = index; i < urls.size(); i += stride) {
        FetchRequest request;
        request.url = urls[i];
        const auto begun = Clock::now();
        const auto response = fetcher.fetch(request);
        latencies.push_back(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - begun).count()));
        (is_ok(response) ? ok : failed) += 1;
      }
    }
    result["ok"] = ok;
    result["failed"] = failed;
    result["latency_us"] = std::move(latencies);
    result["peak_rss_kib"] = read_proc_status().hwm_kib;
    text = result.dump();
  } catch (const std::exception& e) {
    text = json{{"error", e.what()}}.dump();
    code = 1;
  }
  send_all(out, text.data(), text.size());
  ::_exit(code);  // no atexit handlers, no flush of stdio buffers copied from the parent
}

// One processes-mode run, inside the helper.
json helper_run(const json& command, int channel) {
  const auto urls = command.at("urls").get<std::vector<std::string>>();
  const auto workers = command.at("workers").get<std::size_t>();
  const auto fetch = fetch_options_from_json(command.at("fetch"));
  const auto deadline = Clock::now() + std::chrono::seconds(command.at("deadline_s").get<long long>());

  struct Child {
    pid_t pid = -1;
    int fd = -1;
    std::string out;
    int status = 0;
  };
  std::vector<Child> children;
  children.reserve(workers);
  std::string failure;
  bool timed_out = false;

  const double self_before = cpu_seconds(RUSAGE_SELF);
  const double children_before = cpu_seconds(RUSAGE_CHILDREN);
  const auto started = Clock::now();
  for (std::size_t k = 0; k < workers; ++k) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      failure = strprintf("worker %zu: socketpair: %s", k, std::strerror(errno));
      break;
    }
    const pid_t helper = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(pair[0]);
      ::close(channel);
      for (const auto& sibling : children) ::close(sibling.fd);
      worker_process_main(k, workers, urls, fetch, pair[1], helper);
    }
    ::close(pair[1]);
    if (pid < 0) {
      ::close(pair[0]);
      failure = strprintf("worker %zu: fork: %s", k, std::strerror(errno));
      break;
    }
    children.push_back(Child{pid, pair[0], {}, 0});
  }
  if (!failure.empty()) {
    for (auto& child : children) ::kill(child.pid, SIGKILL);
  }

  // Read every child at once: one that writes more than a socket buffer
  // holds must not wait for us to finish reading another.
  std::size_t still_open = children.size();
  while (still_open > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      for (auto& child : children) {
        if (child.fd < 0) continue;
        ::kill(child.pid, SIGKILL);
        ::close(child.fd);
        child.fd = -1;
      }
      break;
    }
    std::vector<pollfd> fds;
    std::vector<Child*> owners;
    for (auto& child : children) {
      if (child.fd < 0) continue;
      fds.push_back(pollfd{child.fd, POLLIN, 0});
      owners.push_back(&child);
    }
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<long long>(left, 60'000)));
    if (ready < 0 && errno != EINTR) {
      failure = strprintf("poll: %s", std::strerror(errno));
      for (auto* child : owners) {
        ::kill(child->pid, SIGKILL);
        ::close(child->fd);
        child->fd = -1;
      }
      break;
    }
    for (std::size_t i = 0; ready > 0 && i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      char buffer[65536];
      const ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
      if (got > 0) {
        owners[i]->out.append(buffer, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(owners[i]->fd);
        owners[i]->fd = -1;
        --still_open;
      }
    }
  }
  // Every child has closed its socket (by _exit) or was killed: waitpid returns promptly.
  for (auto& child : children) {
    while (::waitpid(child.pid, &child.status, 0) < 0 && errno == EINTR) {
    }
  }
  const double wall_s = std::chrono::duration<double>(Clock::now() - started).count();
  const double cpu_s = (cpu_seconds(RUSAGE_SELF) - self_before) + (cpu_seconds(RUSAGE_CHILDREN) - children_before);

  json reply;
  reply["wall_s"] = wall_s;
  reply["cpu_s"] = cpu_s;
  reply["timed_out"] = timed_out;
  json results = json::array();
  for (std::size_t k = 0; k < children.size() && failure.empty() && !timed_out; ++k) {
    const auto& child = children[k];
    const json out = json::parse(child.out, nullptr, /*allow_exceptions=*/false);
    if (out.is_object() && out.contains("error")) {
      failure = strprintf("worker %zu: %s", k, out["error"].get<std::string>().c_str());
    } else if (!WIFEXITED(child.status) || WEXITSTATUS(child.status) != 0 || !out.is_object()) {
      failure = WIFSIGNALED(child.status) ? strprintf("worker %zu: killed by signal %d", k, WTERMSIG(child.status))
                                          : strprintf("worker %zu: exited with status %d and no report", k,
                                                      WIFEXITED(child.status) ? WEXITSTATUS(child.status) : -1);
    } else {
      results.push_back(out);
    }
  }
  if (timed_out && failure.empty()) failure = "workers still running at the deadline were killed";
  reply["children"] = std::move(results);
  reply["error"] = failure;
  return reply;
}

[[noreturn]] void helper_main(int channel, pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(0);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);  // Ctrl-C ends the helper with the rest of the group
  for (;;) {
    const auto command = read_message(channel, Clock::time_point::max());
    if (!command) ::_exit(0);  // the launcher closed the channel
    std::string reply;
    try {
      reply = helper_run(json::parse(*command), channel).dump();
    } catch (const std::exception& e) {
      reply = json{{"error", std::string("helper: ") + e.what()}, {"timed_out", false}}.dump();
    }
    if (!send_message(channel, reply)) ::_exit(0);
  }
}

// ---- Rendering helpers ---------------------------------------------------------

std::string memory_text(const std::optional<double>& kib) {
  if (!kib) return "n/a";
  if (*kib >= 10 * 1024.0) return strprintf("%.1f MiB", *kib / 1024.0);
  return strprintf("%.0f KiB", *kib);
}

std::string xml_escape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A "nice" tick step (1, 2 or 5 x 10^k) giving at most about `ticks` ticks up to `top`.
double nice_step(double top, int ticks) {
  const double raw = top / ticks;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) return m * magnitude;
  return 10 * magnitude;
}

}  // namespace

// ---- Public: the model ------------------------------------------------------------

std::string_view to_string(BenchMode mode) noexcept {
  switch (mode) {
    case BenchMode::kSequential:
      return "sequential";
    case BenchMode::kThreads:
      return "threads";
    case BenchMode::kProcesses:
      return "processes";
  }
  return "unknown";
}

double ideal_wall_seconds(std::uint64_t requests, std::uint32_t workers, double latency_s) noexcept {
  if (workers == 0) return 0;
  const auto rounds = (requests + workers - 1) / workers;
  return static_cast<double>(rounds) * latency_s;
}

double ideal_speedup(std::uint64_t requests, std::uint32_t workers) noexcept {
  if (requests == 0 || workers == 0) return 1;
  const auto rounds = (requests + workers - 1) / workers;
  return static_cast<double>(requests) / static_cast<double>(rounds);
}

double littles_law_throughput(std::uint32_t workers, double latency_s) noexcept {
  return latency_s > 0 ? workers / latency_s : 0;
}

double parallel_efficiency(double speedup, std::uint32_t workers) noexcept {
  return workers > 0 ? speedup / workers : 0;
}

Spread spread_of(std::vector<double> values) {
  Spread spread;
  if (values.empty()) return spread;
  std::sort(values.begin(), values.end());
  const auto n = values.size();
  spread.min = values.front();
  spread.max = values.back();
  spread.median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return spread;
}

std::string likely_limit(const BenchPoint& point, const LimitContext& context) {
  if (point.mode == BenchMode::kThreads && context.per_host > 0 && point.workers > context.per_host) {
    return strprintf("per-host cap: at most %u requests in flight to one host, %u workers", context.per_host,
                     point.workers);
  }
  const double wall = point.wall_s.median;
  const double cpu_per_wall = wall > 0 ? point.cpu_s / wall : 0;
  if (cpu_per_wall >= 0.75 * context.cores) {
    return strprintf("CPU-bound: process CPU %.2f s per wall second on %u cores", cpu_per_wall, context.cores);
  }
  if (context.sequential_latency_ms > 0 && point.latency_mean_ms >= 1.5 * context.sequential_latency_ms) {
    return strprintf("server capacity: mean latency rose from %.1f ms (sequential) to %.1f ms",
                     context.sequential_latency_ms, point.latency_mean_ms);
  }
  // What the start-up share would be: the time above the ideal, per worker.
  const double excess_s = std::max(wall - point.ideal_wall_s, 0.0);
  return strprintf(
      "connection/loopback limits or per-run start-up costs: %.3f s above the ideal, %.2f ms per worker "
      "(CPU %.2f s per wall second, latency %.1f ms)",
      excess_s, 1000.0 * excess_s / std::max(point.workers, 1u), cpu_per_wall, point.latency_mean_ms);
}

std::optional<Knee> find_knee(const std::vector<BenchPoint>& points, BenchMode mode, const LimitContext& context,
                              double threshold) {
  std::vector<const BenchPoint*> of_mode;
  for (const auto& point : points)
    if (point.mode == mode) of_mode.push_back(&point);
  std::sort(of_mode.begin(), of_mode.end(),
            [](const BenchPoint* a, const BenchPoint* b) { return a->workers < b->workers; });
  for (const auto* point : of_mode) {
    if (point->speedup < threshold * point->ideal_speedup) {
      return Knee{mode, point->workers, point->speedup, point->ideal_speedup, likely_limit(*point, context)};
    }
  }
  return std::nullopt;
}

// ---- Public: rendering ----------------------------------------------------------------

std::string format_table(const BenchReport& report) {
  std::string out = "fetchpool bench: " + report.workload + "\n";
  out += strprintf(
      "U = %llu requests per run, %u repeats, %u cores; L = %.2f ms (mean latency of the sequential runs)\n\n",
      static_cast<unsigned long long>(report.requests), report.repeats, report.context.cores, report.latency_ms);
  out += strprintf("%-10s %4s %9s %-19s %8s %9s %7s %7s %6s %9s %8s %8s %8s %7s %10s %6s\n", "mode", "N", "wall s",
                   "(min..max)", "req/s", "N/L req/s", "speedup", "ideal", "effic", "ideal s", "p50 ms", "p95 ms",
                   "p99 ms", "CPU s", "mem/worker", "failed");
  for (const auto& p : report.points) {
    const std::string range = strprintf("(%.3f..%.3f)", p.wall_s.min, p.wall_s.max);
    out += strprintf("%-10s %4u %9.3f %-19s %8.1f %9.1f %6.2fx %6.2fx %6.2f %9.3f %8.1f %8.1f %8.1f %7.2f %10s %6llu\n",
                     std::string(to_string(p.mode)).c_str(), p.workers, p.wall_s.median, range.c_str(),
                     p.requests_per_s, p.littles_law_rps, p.speedup, p.ideal_speedup, p.efficiency, p.ideal_wall_s,
                     p.latency_p50_ms, p.latency_p95_ms, p.latency_p99_ms, p.cpu_s,
                     memory_text(p.memory_per_worker_kib).c_str(), static_cast<unsigned long long>(p.failed));
  }
  out += "\n";
  for (const auto mode : {BenchMode::kThreads, BenchMode::kProcesses}) {
    std::uint32_t largest = 0;
    for (const auto& p : report.points)
      if (p.mode == mode) largest = std::max(largest, p.workers);
    if (largest == 0) continue;
    const auto knee =
        std::find_if(report.knees.begin(), report.knees.end(), [mode](const Knee& k) { return k.mode == mode; });
    if (knee == report.knees.end()) {
      out += strprintf("knee (%s): none up to N=%u: every point reached 0.8 x its ideal speedup\n",
                       std::string(to_string(mode)).c_str(), largest);
    } else {
      out += strprintf("knee (%s): N=%u, speedup %.2fx < 0.8 x ideal %.2fx; likely limit: %s\n",
                       std::string(to_string(mode)).c_str(), knee->workers, knee->speedup, knee->ideal_speedup,
                       knee->likely_limit.c_str());
    }
  }
  out +=
      "\nspeedup = sequential median wall / median wall; ideal = U / ceil(U/N); effic = speedup / N;\n"
      "N/L = Little's law throughput; ideal s = ceil(U/N) x L; CPU s = process CPU per run (built-in server "
      "included);\n"
      "mem/worker: sequential and threads = peak RSS growth / N, processes = mean child peak RSS (VmHWM);\n"
      "failed = fetches not ending in 2xx/3xx, over all repeats.\n";
  return out;
}

std::string report_csv(const BenchReport& report) {
  std::string out =
      "mode,workers,requests,repeats,ok,failed,wall_median_s,wall_min_s,wall_max_s,requests_per_s,littles_law_rps,"
      "speedup,ideal_speedup,efficiency,ideal_wall_s,latency_mean_ms,latency_p50_ms,latency_p95_ms,latency_p99_ms,"
      "cpu_s,memory_per_worker_kib\n";
  for (const auto& p : report.points) {
    out += strprintf(
        "%s,%u,%llu,%zu,%llu,%llu,%.6f,%.6f,%.6f,%.3f,%.3f,%.4f,%.4f,%.4f,%.6f,%.3f,%.3f,%.3f,%.3f,%.4f,%s\n",
        std::string(to_string(p.mode)).c_str(), p.workers, static_cast<unsigned long long>(p.requests), p.runs.size(),
        static_cast<unsigned long long>(p.ok), static_cast<unsigned long long>(p.failed), p.wall_s.median, p.wall_s.min,
        p.wall_s.max, p.requests_per_s, p.littles_law_rps, p.speedup, p.ideal_speedup, p.efficiency, p.ideal_wall_s,
        p.latency_mean_ms, p.latency_p50_ms, p.latency_p95_ms, p.latency_p99_ms, p.cpu_s,
        p.memory_per_worker_kib ? strprintf("%.1f", *p.memory_per_worker_kib).c_str() : "");
  }
  return out;
}

std::string report_json(const BenchReport& report) {
  auto optional_number = [](const std::optional<double>& v) { return v ? ordered_json(*v) : ordered_json(nullptr); };
  ordered_json root;
  root["workload"] = report.workload;
  root["requests"] = report.requests;
  root["repeats"] = report.repeats;
  root["cores"] = report.context.cores;
  root["per_host"] = report.context.per_host;
  root["sequential_latency_ms"] = report.latency_ms;
  ordered_json points = ordered_json::array();
  for (const auto& p : report.points) {
    ordered_json point;
    point["mode"] = to_string(p.mode);
    point["workers"] = p.workers;
    point["requests"] = p.requests;
    point["ok"] = p.ok;
    point["failed"] = p.failed;
    point["wall_s"] = {{"median", p.wall_s.median}, {"min", p.wall_s.min}, {"max", p.wall_s.max}};
    point["requests_per_s"] = p.requests_per_s;
    point["littles_law_rps"] = p.littles_law_rps;
    point["speedup"] = p.speedup;
    point["ideal_speedup"] = p.ideal_speedup;
    point["efficiency"] = p.efficiency;
    point["ideal_wall_s"] = p.ideal_wall_s;
    point["latency_ms"] = {
        {"mean", p.latency_mean_ms}, {"p50", p.latency_p50_ms}, {"p95", p.latency_p95_ms}, {"p99", p.latency_p99_ms}};
    point["cpu_s"] = p.cpu_s;
    point["memory_per_worker_kib"] = optional_number(p.memory_per_worker_kib);
    ordered_json runs = ordered_json::array();
    for (const auto& r : p.runs) {
      runs.push_back({{"wall_s", r.wall_s},
                      {"cpu_s", r.cpu_s},
                      {"ok", r.ok},
                      {"failed", r.failed},
                      {"memory_per_worker_kib", optional_number(r.memory_per_worker_kib)}});
    }
    point["runs"] = std::move(runs);
    points.push_back(std::move(point));
  }
  root["points"] = std::move(points);
  ordered_json knees = ordered_json::array();
  for (const auto& k : report.knees) {
    knees.push_back({{"mode", to_string(k.mode)},
                     {"workers", k.workers},
                     {"speedup", k.speedup},
                     {"ideal_speedup", k.ideal_speedup},
                     {"likely_limit", k.likely_limit}});
  }
  root["knees"] = std::move(knees);
  return root.dump(2) + "\n";
}

std::string render_svg(const BenchReport& report) {
  constexpr double kWidth = 760, kHeight = 480;
  constexpr double kLeft = 70, kRight = 30, kTop = 50, kBottom = 60;
  constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

  std::uint32_t max_workers = 2;
  double max_speedup = 1;
  for (const auto& p : report.points) {
    max_workers = std::max(max_workers, p.workers);
    if (std::isfinite(p.speedup)) max_speedup = std::max(max_speedup, p.speedup);
    max_speedup = std::max(max_speedup, p.ideal_speedup);
  }
  const double x_top = std::ceil(std::log2(static_cast<double>(max_workers)));
  const double y_step = nice_step(max_speedup, 8);
  const double y_top = std::ceil(max_speedup / y_step) * y_step;
  auto x_of = [&](double workers) { return kLeft + std::log2(std::max(workers, 1.0)) / x_top * kPlotW; };
  auto y_of = [&](double speedup) { return kTop + kPlotH - std::clamp(speedup, 0.0, y_top) / y_top * kPlotH; };

  std::string svg = strprintf(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f "
      "%.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n",
      kWidth, kHeight, kWidth, kHeight);
  svg += strprintf("<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", kWidth, kHeight);
  svg += strprintf("<text x=\"%.1f\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">%s</text>\n", kWidth / 2,
                   xml_escape(strprintf("Speedup vs workers: %llu requests, L = %.1f ms",
                                        static_cast<unsigned long long>(report.requests), report.latency_ms))
                       .c_str());
  // Grid, ticks and tick labels.
  for (double y = 0; y <= y_top + y_step / 2; y += y_step) {
    svg += strprintf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", kLeft, y_of(y),
                     kLeft + kPlotW, y_of(y));
    svg += strprintf("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", kLeft - 6, y_of(y) + 4, y);
  }
  for (int e = 0; e <= static_cast<int>(x_top); ++e) {
    const double x = x_of(std::ldexp(1.0, e));
    svg += strprintf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", x, kTop, x,
                     kTop + kPlotH);
    svg += strprintf("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", x, kTop + kPlotH + 18,
                     std::ldexp(1.0, e));
  }
  // Axes and their titles.
  svg += strprintf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", kLeft, kTop + kPlotH,
                   kLeft + kPlotW, kTop + kPlotH);
  svg += strprintf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", kLeft, kTop, kLeft,
                   kTop + kPlotH);
  svg += strprintf("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">workers N (log2 scale)</text>\n",
                   kLeft + kPlotW / 2, kHeight - 18);
  svg += strprintf(
      "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 18 %.1f)\">"
      "speedup vs sequential</text>\n",
      kTop + kPlotH / 2, kTop + kPlotH / 2);

  struct Series {
    std::string name;
    std::string colour;
    std::string dash;
    std::vector<std::pair<double, double>> points;
  };
  std::vector<Series> series;
  Series ideal{"ideal: U / ceil(U/N)", "#7f7f7f", "6 4", {}};
  std::set<std::uint32_t> seen;
  for (const auto& p : report.points)
    if (p.mode != BenchMode::kSequential && seen.insert(p.workers).second)
      ideal.points.emplace_back(p.workers, p.ideal_speedup);
  std::sort(ideal.points.begin(), ideal.points.end());
  if (!ideal.points.empty()) series.push_back(std::move(ideal));
  for (const auto& [mode, colour] :
       {std::pair{BenchMode::kThreads, "#1f77b4"}, std::pair{BenchMode::kProcesses, "#ff7f0e"}}) {
    Series s{std::string("measured: ") + std::string(to_string(mode)), colour, "", {}};
    for (const auto& p : report.points)
      if (p.mode == mode && std::isfinite(p.speedup)) s.points.emplace_back(p.workers, p.speedup);
    std::sort(s.points.begin(), s.points.end());
    if (!s.points.empty()) series.push_back(std::move(s));
  }
  for (const auto& s : series) {
    std::string coords;
    for (const auto& [n, speedup] : s.points)
      coords += strprintf("%s%.1f,%.1f", coords.empty() ? "" : " ", x_of(n), y_of(speedup));
    svg +=
        strprintf("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"%s\"/>\n", s.colour.c_str(),
                  s.dash.empty() ? "" : strprintf(" stroke-dasharray=\"%s\"", s.dash.c_str()).c_str(), coords.c_str());
    for (const auto& [n, speedup] : s.points) {
      svg += strprintf("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", x_of(n), y_of(speedup),
                       s.colour.c_str());
    }
  }
  // Legend, top left inside the plot (the curves rise to the right).
  const double legend_x = kLeft + 12, legend_y = kTop + 10;
  svg += strprintf("<rect x=\"%.1f\" y=\"%.1f\" width=\"190\" height=\"%.1f\" fill=\"white\" stroke=\"#999999\"/>\n",
                   legend_x, legend_y, 10 + 18.0 * static_cast<double>(series.size()));
  for (std::size_t i = 0; i < series.size(); ++i) {
    const double y = legend_y + 18 + 18.0 * static_cast<double>(i);
    svg +=
        strprintf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
                  legend_x + 8, y - 4, legend_x + 36, y - 4, series[i].colour.c_str(),
                  series[i].dash.empty() ? "" : strprintf(" stroke-dasharray=\"%s\"", series[i].dash.c_str()).c_str());
    svg += strprintf("<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", legend_x + 44, y, xml_escape(series[i].name).c_str());
  }
  svg += "</svg>\n";
  return svg;
}

// ---- Public: running ----------------------------------------------------------------------

Result<std::unique_ptr<ProcessLauncher>> ProcessLauncher::start() {
  const auto status = read_proc_status();
  if (!status.read)
    return Error{ErrorCode::kInternal, "process launcher: cannot read /proc/self/status to count threads"};
  if (status.threads > kOwnThreadsAllowed) {
    return Error{ErrorCode::kInternal,
                 strprintf("process launcher: this process already runs %d threads; start it before any thread "
                           "(a fork would copy locks those threads hold)",
                           status.threads)};
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return Error{ErrorCode::kInternal, strprintf("process launcher: socketpair: %s", std::strerror(errno))};
  }
  std::fflush(nullptr);  // nothing buffered may be written twice
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pair[0]);
    helper_main(pair[1], parent);
  }
  ::close(pair[1]);
  if (pid < 0) {
    ::close(pair[0]);
    return Error{ErrorCode::kInternal, strprintf("process launcher: fork: %s", std::strerror(errno))};
  }
  return std::unique_ptr<ProcessLauncher>(new ProcessLauncher(pid, pair[0]));
}

ProcessLauncher::~ProcessLauncher() {
  if (channel_ < 0) return;
  // The helper is idle between runs (run() is synchronous and kills it on
  // any failure), so on EOF it exits at once and waitpid returns promptly.
  ::close(channel_);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

void ProcessLauncher::kill_helper() noexcept {
  if (channel_ < 0) return;
  ::kill(pid_, SIGKILL);  // its children get SIGKILL through PR_SET_PDEATHSIG
  ::close(channel_);
  channel_ = -1;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

Result<ProcessRun> ProcessLauncher::run(const std::vector<std::string>& urls, std::uint32_t workers,
                                        const FetchOptions& fetch, std::chrono::seconds deadline) {
  if (channel_ < 0)
    return Error{ErrorCode::kInternal, "process launcher: the helper process is gone after an earlier failure"};
  if (workers == 0) return Error{ErrorCode::kConfig, "process launcher: workers must be at least 1"};
  json command;
  command["urls"] = urls;
  command["workers"] = workers;
  command["fetch"] = fetch_options_to_json(fetch);
  command["deadline_s"] = deadline.count();
  if (!send_message(channel_, command.dump())) {
    kill_helper();
    return Error{ErrorCode::kInternal, "process launcher: the helper process did not take the command"};
  }
  // The helper enforces `deadline` itself; the margin covers reaping and the reply.
  const auto reply_text = read_message(channel_, Clock::now() + deadline + std::chrono::seconds(30));
  if (!reply_text) {
    kill_helper();
    return Error{ErrorCode::kTimeout, "process launcher: no reply from the helper process before the deadline"};
  }
  const json reply = json::parse(*reply_text, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object()) {
    kill_helper();
    return Error{ErrorCode::kInternal, "process launcher: unreadable reply from the helper process"};
  }
  const auto error = reply.value("error", std::string{});
  if (!error.empty()) {
    return Error{reply.value("timed_out", false) ? ErrorCode::kTimeout : ErrorCode::kInternal,
                 "processes run with " + std::to_string(workers) + " workers: " + error};
  }
  ProcessRun run;
  try {
    run.wall_s = reply.at("wall_s").get<double>();
    run.cpu_s = reply.at("cpu_s").get<double>();
    for (const auto& child : reply.at("children")) {
      ChildResult result;
      result.ok = child.at("ok").get<std::uint64_t>();
      result.failed = child.at("failed").get<std::uint64_t>();
      result.latencies_us = child.at("latency_us").get<std::vector<std::uint64_t>>();
      result.peak_rss_kib = child.at("peak_rss_kib").get<std::uint64_t>();
      run.children.push_back(std::move(result));
    }
  } catch (const json::exception& e) {
    return Error{ErrorCode::kInternal,
                 std::string("process launcher: malformed reply from the helper process: ") + e.what()};
  }
  return run;
}

Result<BenchReport> run_benchmark(const BenchOptions& options, ProcessLauncher* launcher) {
  if (options.urls.empty()) return Error{ErrorCode::kConfig, "bench: no URLs to fetch"};
  if (options.repeats == 0) return Error{ErrorCode::kConfig, "bench: repeats must be at least 1"};
  if (options.workers.empty()) return Error{ErrorCode::kConfig, "bench: no worker counts to measure"};
  for (const auto n : options.workers)
    if (n == 0) return Error{ErrorCode::kConfig, "bench: worker count 0 in the sweep; counts start at 1"};
  if (options.processes && launcher == nullptr) {
    return Error{ErrorCode::kConfig, "bench: processes mode needs a ProcessLauncher started before any thread"};
  }
  std::vector<std::uint32_t> sweep(options.workers);
  std::sort(sweep.begin(), sweep.end());
  sweep.erase(std::unique(sweep.begin(), sweep.end()), sweep.end());

  BenchReport report;
  report.workload = options.workload;
  report.requests = options.urls.size();
  report.repeats = options.repeats;
  report.context.cores = usable_cores();
  report.context.per_host = options.per_host;

  auto sequential = measure_point(BenchMode::kSequential, 1, options, [&](CrawlStats& stats) -> Result<RunSample> {
    return run_sequential(options.urls, options.fetch, stats);
  });
  if (!sequential) return std::move(sequential).error();
  report.latency_ms = sequential->latency_mean_ms;
  report.context.sequential_latency_ms = report.latency_ms;
  const double baseline_s = sequential->wall_s.median;
  const double latency_s = report.latency_ms / 1000.0;
  report.points.push_back(std::move(*sequential));

  if (options.threads) {
    for (const auto n : sweep) {
      auto point = measure_point(BenchMode::kThreads, n, options, [&](CrawlStats& stats) -> Result<RunSample> {
        return run_threads(options, n, stats);
      });
      if (!point) return std::move(point).error();
      report.points.push_back(std::move(*point));
    }
  }
  if (options.processes) {
    for (const auto n : sweep) {
      auto point = measure_point(BenchMode::kProcesses, n, options,
                                 [&](CrawlStats& stats) { return run_processes(options, n, *launcher, stats); });
      if (!point) return std::move(point).error();
      report.points.push_back(std::move(*point));
    }
  }
  for (auto& point : report.points) complete_point(point, baseline_s, latency_s);
  for (const auto mode : {BenchMode::kThreads, BenchMode::kProcesses}) {
    if (auto knee = find_knee(report.points, mode, report.context)) report.knees.push_back(std::move(*knee));
  }
  return report;
}

}  // namespace fetchpool
