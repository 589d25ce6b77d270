// The benchmark's processes mode: ProcessLauncher (benchmark.hpp), the
// helper process it forks while the program is single-threaded, and the
// worker processes the helper forks for each run. Why a helper is needed is
// in benchmark.hpp's header comment.
//
// Protocol on the launcher-helper channel (a socketpair): each message is an
// 8-byte length, then JSON text. The launcher sends one command per run
// ({urls, workers, fetch, deadline_s}) and reads one reply ({wall_s, cpu_s,
// timed_out, children, error}). Each worker writes one JSON report
// ({ok, failed, latency_us, peak_rss_kib} or {error}) to its own socket and
// _exit()s; EOF ends the report.
#include <poll.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX kill and sigset_t, not in <csignal>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "tools/bench/bench_common.hpp"
#include "tools/bench/benchmark.hpp"
#include "tools/bench/proc_probe.hpp"

namespace fetchpool {

namespace {

using bench::Clock;
using bench::cpu_seconds;
using bench::is_ok;
using bench::read_proc_status;
using bench::strprintf;
using nlohmann::json;

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

// A worker process as the helper sees it: its report arrives on `fd` until EOF.
struct Child {
  pid_t pid = -1;
  int fd = -1;
  std::string out;
  int status = 0;
};

// Forks `workers` children, each fetching every workers-th URL and reporting
// on its own socket. On a failure the children already started are killed
// (their sockets still end in EOF) and the reason is returned; "" otherwise.
std::string fork_workers(const std::vector<std::string>& urls, std::size_t workers, const FetchOptions& fetch,
                         int channel, std::vector<Child>& children) {
  std::string failure;
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
  return failure;
}

// Reads every child at once: one that writes more than a socket buffer
// holds must not wait for us to finish reading another. Children still
// open at `deadline` are killed (`timed_out`); a poll error kills the rest
// and is returned.
std::optional<std::string> read_reports(std::vector<Child>& children, Clock::time_point deadline, bool& timed_out) {
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
      return std::nullopt;
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
      std::string failure = strprintf("poll: %s", std::strerror(errno));
      for (auto* child : owners) {
        ::kill(child->pid, SIGKILL);
        ::close(child->fd);
        child->fd = -1;
      }
      return failure;
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
  return std::nullopt;
}

// Every child has closed its socket (by _exit) or was killed: waitpid returns promptly.
void reap_workers(std::vector<Child>& children) {
  for (auto& child : children) {
    while (::waitpid(child.pid, &child.status, 0) < 0 && errno == EINTR) {
    }
  }
}

// The children's reports, in worker order, while nothing has failed; the
// first report that is an error, or a child that died without one, sets
// `failure` and ends the list.
json collect_reports(const std::vector<Child>& children, bool timed_out, std::string& failure) {
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
  return results;
}

// One processes-mode run, inside the helper.
json helper_run(const json& command, int channel) {
  const auto urls = command.at("urls").get<std::vector<std::string>>();
  const auto workers = command.at("workers").get<std::size_t>();
  const auto fetch = fetch_options_from_json(command.at("fetch"));
  const auto deadline = Clock::now() + std::chrono::seconds(command.at("deadline_s").get<long long>());

  std::vector<Child> children;
  children.reserve(workers);
  bool timed_out = false;
  const double self_before = cpu_seconds(RUSAGE_SELF);
  const double children_before = cpu_seconds(RUSAGE_CHILDREN);
  const auto started = Clock::now();
  std::string failure = fork_workers(urls, workers, fetch, channel, children);
  if (auto poll_failure = read_reports(children, deadline, timed_out)) failure = std::move(*poll_failure);
  reap_workers(children);
  const double wall_s = std::chrono::duration<double>(Clock::now() - started).count();
  const double cpu_s = (cpu_seconds(RUSAGE_SELF) - self_before) + (cpu_seconds(RUSAGE_CHILDREN) - children_before);

  json reply;
  reply["wall_s"] = wall_s;
  reply["cpu_s"] = cpu_s;
  reply["timed_out"] = timed_out;
  json results = collect_reports(children, timed_out, failure);
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

}  // namespace

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

}  // namespace fetchpool
