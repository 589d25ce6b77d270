// fetch_cpu: client CPU time per request of fetchpool::Fetcher against a
// naive worker (one easy handle created once with default options, looped
// through curl_easy_perform), both keeping their connection alive to nginx on
// 127.0.0.1 serving one small static page.
//
// CPU is getrusage(RUSAGE_THREAD) (user + system) of the client threads only,
// summed, divided by the requests they made; nginx runs in its own process, so
// none of its time is counted. Warm-up requests (connect, first DNS answer)
// are excluded. Rounds alternate between the modes so that drift in machine
// load hits all of them alike; the median round is reported.
//
// Usage: fetch_cpu [--threads N] [--requests R] [--rounds K] [--body BYTES] [--url URL] [--only MODE]
// Without --url, starts `nginx` (must be on PATH) with a temporary config and
// stops it at the end.
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/fetcher.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Config {
  int threads = 2;
  int requests = 5000;  // per thread per round
  int rounds = 3;
  std::size_t body = 2048;
  std::string url;
  std::string only;  // run one mode only (for profiling): naive, fetcher, fetcher-stop
};

Config parse_args(int argc, char** argv) {
  Config config;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--threads") {
      config.threads = std::stoi(next());
    } else if (arg == "--requests") {
      config.requests = std::stoi(next());
    } else if (arg == "--rounds") {
      config.rounds = std::stoi(next());
    } else if (arg == "--body") {
      config.body = static_cast<std::size_t>(std::stoul(next()));
    } else if (arg == "--url") {
      config.url = next();
    } else if (arg == "--only") {
      config.only = next();
    } else {
      throw std::invalid_argument(
          "unknown argument " + arg +
          " (usage: fetch_cpu [--threads N] [--requests R] [--rounds K] [--body BYTES] [--url URL] [--only MODE])");
    }
  }
  if (config.threads < 1 || config.requests < 1 || config.rounds < 1) {
    throw std::invalid_argument("--threads, --requests and --rounds must be positive");
  }
  return config;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port on 127.0.0.1");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

bool accepts_connections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

// nginx in the foreground (daemon off) as a child process, one worker,
// keep-alive without a request limit, no access log.
class Nginx {
 public:
  explicit Nginx(std::size_t body_bytes) {
    char dir_template[] = "/tmp/fetch_cpu.XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = dir_template;
    // mkdtemp makes it 0700; nginx started as root serves as "nobody".
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    fs::create_directories(dir_ / "www");
    fs::create_directories(dir_ / "tmp");
    std::string page = "<!doctype html><html><head><title>bench</title></head><body>";
    while (page.size() + 14 < body_bytes) page += "<p>fetchpool</p>";
    page.resize(std::max(page.size(), body_bytes - std::min<std::size_t>(body_bytes, 14)));
    page += "</body></html>";
    std::ofstream(dir_ / "www" / "index.html") << page;
    port_ = free_port();
    const std::string d = dir_.string();
    std::ofstream(dir_ / "nginx.conf")
        << "daemon off;\nworker_processes 1;\npid " << d << "/nginx.pid;\nerror_log " << d << "/error.log;\n"
        << "events { worker_connections 1024; }\n"
        << "http {\n  access_log off;\n  keepalive_requests 100000000;\n  keepalive_timeout 120s;\n"
        << "  client_body_temp_path " << d << "/tmp;\n  proxy_temp_path " << d << "/tmp;\n"
        << "  fastcgi_temp_path " << d << "/tmp;\n  uwsgi_temp_path " << d << "/tmp;\n  scgi_temp_path " << d
        << "/tmp;\n  default_type text/html;\n"
        << "  server {\n    listen 127.0.0.1:" << port_ << ";\n    root " << d << "/www;\n  }\n}\n";
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // nginx goes with us even if we are killed before the destructor runs.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      const std::string conf = d + "/nginx.conf";
      ::execlp("nginx", "nginx", "-c", conf.c_str(), "-p", d.c_str(), "-e", (d + "/error.log").c_str(),
               static_cast<char*>(nullptr));
      std::perror("exec nginx");
      std::_Exit(127);
    }
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!accepts_connections(port_)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("nginx exited at start; see " + d + "/error.log");
      }
      if (Clock::now() > deadline) throw std::runtime_error("nginx did not listen within 10 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~Nginx() {
    if (pid_ > 0) {
      ::kill(pid_, SIGQUIT);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/index.html"; }

 private:
  fs::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

double thread_cpu_us() {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  auto us = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec); };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

// One mode of fetching: make_worker() runs on each client thread and returns
// the function that performs one request (true = a 200 with the page).
using Worker = std::function<bool()>;
using WorkerFactory = std::function<Worker(std::stop_token)>;

struct RoundResult {
  double cpu_us_per_request = 0;
  double requests_per_second = 0;
  int failures = 0;
};

RoundResult run_round(const Config& config, const WorkerFactory& factory) {
  constexpr int kWarmup = 50;
  std::vector<double> cpu(static_cast<std::size_t>(config.threads), 0.0);
  // Wall time from each thread's own clock: the main thread may well not be
  // scheduled when the threads start or finish.
  std::vector<Clock::time_point> began(cpu.size()), ended(cpu.size());
  std::atomic<int> failures{0};
  std::barrier start(config.threads + 1);
  // A source nobody stops: the tokens are "stop possible", as a crawler's are.
  std::stop_source never_stopped;
  std::vector<std::thread> threads;
  for (int t = 0; t < config.threads; ++t) {
    threads.emplace_back([&, t, stop = never_stopped.get_token()] {
      Worker fetch_one = factory(stop);
      for (int i = 0; i < kWarmup; ++i) {
        if (!fetch_one()) failures.fetch_add(1);
      }
      start.arrive_and_wait();
      const auto index = static_cast<std::size_t>(t);
      began[index] = Clock::now();
      const double before = thread_cpu_us();
      for (int i = 0; i < config.requests; ++i) {
        if (!fetch_one()) failures.fetch_add(1);
      }
      cpu[index] = thread_cpu_us() - before;
      ended[index] = Clock::now();
    });
  }
  start.arrive_and_wait();
  for (auto& thread : threads) thread.join();  // the main thread sleeps, not spins, meanwhile
  const double seconds = std::chrono::duration<double>(*std::max_element(ended.begin(), ended.end()) -
                                                       *std::min_element(began.begin(), began.end()))
                             .count();
  double total = 0;
  for (const double c : cpu) total += c;
  const double requests = static_cast<double>(config.threads) * config.requests;
  return {total / requests, requests / seconds, failures.load()};
}

size_t append_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// The baseline: what a first attempt at a worker looks like.
WorkerFactory naive(const std::string& url) {
  return [url](std::stop_token) -> Worker {
    struct State {
      CURL* easy = curl_easy_init();
      std::string body;
      ~State() { curl_easy_cleanup(easy); }
    };
    auto state = std::make_shared<State>();
    curl_easy_setopt(state->easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(state->easy, CURLOPT_WRITEFUNCTION, &append_body);
    curl_easy_setopt(state->easy, CURLOPT_WRITEDATA, &state->body);
    return [state] {
      state->body.clear();
      if (curl_easy_perform(state->easy) != CURLE_OK) return false;
      long status = 0;
      curl_easy_getinfo(state->easy, CURLINFO_RESPONSE_CODE, &status);
      return status == 200 && !state->body.empty();
    };
  };
}

WorkerFactory fetcher(const std::string& url, fetchpool::SharedCurlCache& shared, bool with_stop) {
  return [url, &shared, with_stop](std::stop_token stop) -> Worker {
    auto worker = std::make_shared<fetchpool::Fetcher>(fetchpool::FetchOptions{}, &shared);
    return [worker, url, stop, with_stop] {
      fetchpool::FetchRequest request;
      request.url = url;
      auto result = worker->fetch(request, with_stop ? stop : std::stop_token{});
      return result.ok() && result->head.status == 200 && !result->body.empty();
    };
  };
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Config config = parse_args(argc, argv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    std::unique_ptr<Nginx> nginx;
    std::string url = config.url;
    if (url.empty()) {
      nginx = std::make_unique<Nginx>(config.body);
      url = nginx->url();
    }
    fetchpool::SharedCurlCache shared;
    struct Mode {
      const char* key;
      const char* name;
      WorkerFactory factory;
      std::vector<RoundResult> rounds;
    };
    std::vector<Mode> modes = {
        {"naive", "naive curl_easy_perform", naive(url), {}},
        {"fetcher", "Fetcher", fetcher(url, shared, false), {}},
        {"fetcher-stop", "Fetcher + stop_token", fetcher(url, shared, true), {}},
    };
    if (!config.only.empty()) {
      std::erase_if(modes, [&](const Mode& mode) { return config.only != mode.key; });
      if (modes.empty()) throw std::invalid_argument("--only takes naive, fetcher or fetcher-stop");
    }
    std::printf("fetch_cpu: %d threads x %d requests x %d rounds, GET %s\n", config.threads, config.requests,
                config.rounds, url.c_str());
    for (int round = 0; round < config.rounds; ++round) {
      for (auto& mode : modes) mode.rounds.push_back(run_round(config, mode.factory));
    }
    std::printf("%-26s %14s %12s %9s   (per round: us/req)\n", "client", "cpu us/req", "req/s", "failures");
    int failures = 0;
    for (auto& mode : modes) {
      auto sorted = mode.rounds;
      std::sort(sorted.begin(), sorted.end(),
                [](const RoundResult& a, const RoundResult& b) { return a.cpu_us_per_request < b.cpu_us_per_request; });
      const RoundResult& median = sorted[sorted.size() / 2];
      int mode_failures = 0;
      for (const auto& r : mode.rounds) mode_failures += r.failures;
      failures += mode_failures;
      std::printf("%-26s %14.1f %12.0f %9d   (", mode.name, median.cpu_us_per_request, median.requests_per_second,
                  mode_failures);
      for (const auto& r : mode.rounds) std::printf(" %.1f", r.cpu_us_per_request);
      std::printf(" )\n");
    }
    curl_global_cleanup();
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fetch_cpu: %s\n", error.what());
    return 2;
  }
}
