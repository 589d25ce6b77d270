// server_capacity: does LocalServer keep up with 1,000 concurrent delayed
// requests, or does it become the bottleneck?
//
// (a) zero latency: `clients` keep-alive connections fetch site pages as fast
//     as they can; that is the server's (and this client's) ceiling.
// (b) `connections` keep-alive connections against latency L: the ideal is
//     connections / L requests per second, unless (a) is lower.
// The ratio measured(b) / min(connections / L, measured(a)) should be >= 0.9.
//
// The client is libcurl's multi interface driven by epoll
// (curl_multi_socket_action) in --client-threads threads of this same
// process, so client and server share the machine; process CPU and the
// server loops' own CPU are reported to show who is busy. Measured from a
// client's point of view, so on a loaded machine scheduling delays of either
// side show up as request time above L. Each phase starts a fresh server and
// warms its connections up before the window opens.
//
// --threads: server event loops; --per-multi: transfers per curl multi handle.
// Usage: server_capacity [--threads=1] [--clients=64] [--connections=1000]
//                        [--latency-ms=100] [--seconds-a=2] [--seconds-b=3] [--per-multi=125]
//                        [--client-threads=2]
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>

#include <dirent.h>
#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tools/testsite/local_server.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Settings {
  unsigned threads = 1;
  int clients = 64;
  int connections = 1000;
  int latency_ms = 100;
  double seconds_a = 2.0;
  double seconds_b = 3.0;
  int per_multi = 125;
  int client_threads = 2;
};

Settings parse_args(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const std::size_t eq = arg.find('=');
    const std::string_view key = arg.substr(0, eq);
    const std::string value(eq == std::string_view::npos ? "" : arg.substr(eq + 1));
    if (key == "--threads")
      s.threads = static_cast<unsigned>(std::stoul(value));
    else if (key == "--clients")
      s.clients = std::stoi(value);
    else if (key == "--connections")
      s.connections = std::stoi(value);
    else if (key == "--latency-ms")
      s.latency_ms = std::stoi(value);
    else if (key == "--seconds-a")
      s.seconds_a = std::stod(value);
    else if (key == "--seconds-b")
      s.seconds_b = std::stod(value);
    else if (key == "--per-multi")
      s.per_multi = std::max(1, std::stoi(value));
    else if (key == "--client-threads")
      s.client_threads = std::max(1, std::stoi(value));
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      std::exit(2);
    }
  }
  return s;
}

void raise_fd_limit(int needed) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur < static_cast<rlim_t>(needed)) {
    std::fprintf(stderr, "warning: RLIMIT_NOFILE %llu < %d descriptors needed\n",
                 static_cast<unsigned long long>(limit.rlim_cur), needed);
  }
}

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// CPU seconds of this process's threads named "fetchpool-loop".
double server_cpu_seconds() {
  double total = 0;
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return 0;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const std::string task = std::string("/proc/self/task/") + entry->d_name;
    std::string comm;
    std::getline(std::ifstream(task + "/comm") >> std::ws, comm);
    if (comm != "fetchpool-loop") continue;
    std::string stat;
    std::getline(std::ifstream(task + "/stat"), stat);
    // Fields after the ")" closing the name: state is field 3, utime 14, stime 15.
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string skip;
    for (int f = 3; f < 14; ++f) fields >> skip;
    double utime = 0, stime = 0;
    fields >> utime >> stime;
    total += (utime + stime) / tick;
  }
  closedir(dir);
  return total;
}

// A closed-loop load generator: `concurrency` transfers always in flight,
// each finished one immediately replaced by the next page. The transfers are
// spread over several multi handles of at most `per_multi` each, all driven
// by one epoll: libcurl 7.88 walks a multi's whole connection cache on some
// per-transfer steps, so one multi with 1,000 connections makes the client,
// not the server, the bottleneck.
class LoadClient {
 public:
  LoadClient(std::string base_url, std::vector<std::string> paths, int concurrency, int per_multi)
      : base_url_(std::move(base_url)), paths_(std::move(paths)), epoll_(epoll_create1(EPOLL_CLOEXEC)) {
    const int multis = std::max(1, (concurrency + per_multi - 1) / per_multi);
    shards_.resize(static_cast<std::size_t>(multis));
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      Shard& shard = shards_[i];
      shard.owner = this;
      shard.index = static_cast<std::uint32_t>(i);
      shard.multi = curl_multi_init();
      curl_multi_setopt(shard.multi, CURLMOPT_SOCKETFUNCTION, &LoadClient::on_socket);
      curl_multi_setopt(shard.multi, CURLMOPT_SOCKETDATA, &shard);
      curl_multi_setopt(shard.multi, CURLMOPT_TIMERFUNCTION, &LoadClient::on_timer);
      curl_multi_setopt(shard.multi, CURLMOPT_TIMERDATA, &shard);
    }
    for (int i = 0; i < concurrency; ++i) {
      CURL* h = curl_easy_init();
      curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
      curl_easy_setopt(
          h, CURLOPT_WRITEFUNCTION, +[](char*, std::size_t s, std::size_t n, void*) { return s * n; });
      Shard& shard = shards_[static_cast<std::size_t>(i % multis)];
      curl_easy_setopt(h, CURLOPT_PRIVATE, &shard);
      handles_.push_back(h);
      start(shard, h);
    }
  }
  ~LoadClient() {
    for (CURL* h : handles_) {
      Shard* shard = nullptr;
      curl_easy_getinfo(h, CURLINFO_PRIVATE, &shard);
      curl_multi_remove_handle(shard->multi, h);
      curl_easy_cleanup(h);
    }
    for (Shard& shard : shards_) curl_multi_cleanup(shard.multi);
    close(epoll_);
  }
  LoadClient(const LoadClient&) = delete;
  LoadClient& operator=(const LoadClient&) = delete;

  struct Window {
    std::uint64_t ok = 0;
    std::uint64_t failed = 0;
    double total_seconds = 0;  // summed request times of the ok ones
  };

  // Drives transfers for `duration` seconds; counts the completions.
  Window run(double duration) {
    Window window;
    const auto end =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration));
    std::vector<epoll_event> events(512);
    int running = 0;
    for (auto now = Clock::now(); now < end; now = Clock::now()) {
      int wait = 50;
      for (const Shard& shard : shards_) {
        if (!shard.timer_set) continue;
        wait = std::min<long long>(
            wait, std::max<long long>(0, std::chrono::ceil<std::chrono::milliseconds>(shard.deadline - now).count()));
      }
      const int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), wait);
      for (int i = 0; i < n; ++i) {
        const epoll_event& e = events[static_cast<std::size_t>(i)];
        int flags = 0;
        if (e.events & EPOLLIN) flags |= CURL_CSELECT_IN;
        if (e.events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
        if (e.events & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
        const auto fd = static_cast<curl_socket_t>(e.data.u64 & 0xFFFFFFFFu);
        curl_multi_socket_action(shards_[e.data.u64 >> 32].multi, fd, flags, &running);
      }
      now = Clock::now();
      for (Shard& shard : shards_) {
        if (shard.timer_set && now >= shard.deadline) {
          shard.timer_set = false;
          curl_multi_socket_action(shard.multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
      }
      for (Shard& shard : shards_) {
        int queued = 0;
        while (CURLMsg* msg = curl_multi_info_read(shard.multi, &queued)) {
          if (msg->msg != CURLMSG_DONE) continue;
          long status = 0;
          curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
          if (msg->data.result == CURLE_OK && status == 200) {
            ++window.ok;
            curl_off_t micros = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_TOTAL_TIME_T, &micros);
            window.total_seconds += static_cast<double>(micros) / 1e6;
          } else {
            ++window.failed;
          }
          CURL* h = msg->easy_handle;
          curl_multi_remove_handle(shard.multi, h);
          start(shard, h);
        }
      }
    }
    return window;
  }

 private:
  struct Shard {
    LoadClient* owner = nullptr;
    std::uint32_t index = 0;
    CURLM* multi = nullptr;
    bool timer_set = false;
    Clock::time_point deadline;
  };

  void start(Shard& shard, CURL* h) {
    const std::string url = base_url_ + paths_[next_++ % paths_.size()];
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_multi_add_handle(shard.multi, h);
  }

  static int on_socket(CURL*, curl_socket_t s, int what, void* shard_ptr, void* socket_ptr) {
    auto& shard = *static_cast<Shard*>(shard_ptr);
    const int epoll = shard.owner->epoll_;
    if (what == CURL_POLL_REMOVE) {
      epoll_ctl(epoll, EPOLL_CTL_DEL, s, nullptr);
      return 0;
    }
    epoll_event e{};
    e.data.u64 = (static_cast<std::uint64_t>(shard.index) << 32) | static_cast<std::uint32_t>(s);
    e.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    if (socket_ptr == nullptr) {
      epoll_ctl(epoll, EPOLL_CTL_ADD, s, &e);
      curl_multi_assign(shard.multi, s, &shard);  // any non-null marks "registered"
    } else {
      epoll_ctl(epoll, EPOLL_CTL_MOD, s, &e);
    }
    return 0;
  }

  static int on_timer(CURLM*, long timeout_ms, void* shard_ptr) {
    auto& shard = *static_cast<Shard*>(shard_ptr);
    shard.timer_set = timeout_ms >= 0;
    if (timeout_ms >= 0) shard.deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    return 0;
  }

  std::string base_url_;
  std::vector<std::string> paths_;
  std::size_t next_ = 0;
  int epoll_;
  std::vector<Shard> shards_;
  std::vector<CURL*> handles_;
};

struct Phase {
  double rate = 0;  // successful requests per second in the window
  std::uint64_t failed = 0;
  double mean_ms = 0;        // mean request time seen by the client
  double process_cores = 0;  // process CPU seconds per wall second
  double server_cores = 0;   // event-loop threads' CPU seconds per wall second
  std::uint64_t peak_open = 0;
};

// Runs `concurrency` closed-loop transfers, split over s.client_threads
// threads each with its own LoadClient, against a fresh server.
Phase measure(const Settings& s, int concurrency, std::chrono::milliseconds latency, double warmup, double duration) {
  fetchpool::ServerOptions options;
  options.threads = s.threads;
  options.latency = latency;
  fetchpool::LocalServer server(options);
  const auto paths = fetchpool::site_page_paths(options.site);
  const int threads = std::max(1, std::min(s.client_threads, concurrency));

  std::vector<LoadClient::Window> windows(static_cast<std::size_t>(threads));
  std::barrier measuring(threads + 1);  // all connected and warm; then the window starts
  std::barrier finished(threads + 1);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    const int share = concurrency / threads + (t < concurrency % threads ? 1 : 0);
    workers.emplace_back([&, t, share] {
      LoadClient client(server.base_url(), paths, share, s.per_multi);
      client.run(warmup);
      measuring.arrive_and_wait();
      windows[static_cast<std::size_t>(t)] = client.run(duration);
      finished.arrive_and_wait();
    });
  }
  measuring.arrive_and_wait();
  const double cpu0 = process_cpu_seconds();
  const double server0 = server_cpu_seconds();
  const auto t0 = Clock::now();
  finished.arrive_and_wait();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  Phase phase;
  phase.process_cores = (process_cpu_seconds() - cpu0) / wall;
  phase.server_cores = (server_cpu_seconds() - server0) / wall;
  for (auto& w : workers) w.join();
  double total_seconds = 0;
  std::uint64_t ok = 0;
  for (const auto& w : windows) {
    ok += w.ok;
    phase.failed += w.failed;
    total_seconds += w.total_seconds;
  }
  phase.rate = static_cast<double>(ok) / wall;
  phase.mean_ms = ok > 0 ? 1000.0 * total_seconds / static_cast<double>(ok) : 0.0;
  phase.peak_open = server.counters().peak_open_connections;
  return phase;
}

double load_average() {
  double one_minute = 0;
  std::ifstream("/proc/loadavg") >> one_minute;
  return one_minute;
}

}  // namespace

int main(int argc, char** argv) {
  const Settings s = parse_args(argc, argv);
  raise_fd_limit(2 * s.connections + 64);
  curl_global_init(CURL_GLOBAL_DEFAULT);

  std::printf(
      "server_capacity: LocalServer with %u event-loop thread(s); client: curl multi + epoll in %d "
      "thread(s) of the same process; %ld CPUs online, load average %.2f\n",
      s.threads, s.client_threads, sysconf(_SC_NPROCESSORS_ONLN), load_average());
  const Phase a = measure(s, s.clients, std::chrono::milliseconds(0), 0.3, s.seconds_a);
  std::printf(
      "(a) latency 0, %d keep-alive clients, %.1f s: %.0f req/s (failed %llu, mean %.2f ms); CPU: process "
      "%.2f cores, server loops %.2f cores\n",
      s.clients, s.seconds_a, a.rate, static_cast<unsigned long long>(a.failed), a.mean_ms, a.process_cores,
      a.server_cores);

  const Phase b = measure(s, s.connections, std::chrono::milliseconds(s.latency_ms), 1.0, s.seconds_b);
  std::printf(
      "(b) latency %d ms, %d connections, %.1f s: %.0f req/s (failed %llu, mean %.1f ms, peak open %llu); "
      "CPU: process %.2f cores, server loops %.2f cores\n",
      s.latency_ms, s.connections, s.seconds_b, b.rate, static_cast<unsigned long long>(b.failed), b.mean_ms,
      static_cast<unsigned long long>(b.peak_open), b.process_cores, b.server_cores);

  const double ideal = s.connections * 1000.0 / s.latency_ms;
  const double expected = std::min(ideal, a.rate);
  const double ratio = b.rate / expected;
  std::printf(
      "expected (b) = min(%d / %.3f s = %.0f, (a) %.0f) = %.0f req/s; measured / expected = %.3f "
      "(target >= 0.90): %s\n",
      s.connections, s.latency_ms / 1000.0, ideal, a.rate, expected, ratio, ratio >= 0.9 ? "met" : "NOT met");
  curl_global_cleanup();
  return 0;
}
