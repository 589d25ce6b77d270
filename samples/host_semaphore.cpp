// Lesson 5: a counting semaphore caps how many requests go to one host.
//
// Politeness: however many workers there are, a crawler should keep only a
// few requests in flight to any one server. A std::counting_semaphore holds
// a number of permits; acquire() takes one (waiting while there are none),
// release() gives it back. One semaphore per host with K permits means at
// most K requests to that host at once.
//
// Two built-in servers stand for two hosts (a host is host:port here, as in
// fetchpool). Eight threads fetch 12 pages from each, with at most 2 in
// flight per host. Each thread counts itself in and out around its request,
// and the highest count seen is printed: it never exceeds the cap.
//
// What to notice:
// - The map of semaphores is built before the threads start and never
//   changes afterwards, so the threads may read it without a lock.
// - The permit is returned by a guard's destructor, so an exception or an
//   early return cannot leak it (a leaked permit shrinks the cap for good).
// - The cost: a thread holding a URL of a busy host sleeps in acquire()
//   although the other host may have free permits. fetchpool's frontier
//   avoids that by keeping per-host limits in the queue itself: it hands a
//   worker a URL of a host that has room, so no worker sleeps on one host.
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/fetcher.hpp"
#include "tools/testsite/local_server.hpp"

namespace {

constexpr int kPerHostCap = 2;
constexpr int kThreads = 8;
constexpr int kPagesPerHost = 12;

struct Host {
  std::counting_semaphore<kPerHostCap> permits{kPerHostCap};
  std::atomic<int> in_flight{0};
  std::atomic<int> peak{0};
};

// Holds one permit of a host for its lifetime and keeps the in-flight count.
class Permit {
 public:
  explicit Permit(Host& host) : host_(host) {
    host_.permits.acquire();
    const int now = host_.in_flight.fetch_add(1) + 1;
    int seen = host_.peak.load();
    while (now > seen && !host_.peak.compare_exchange_weak(seen, now)) {
    }
  }
  ~Permit() {
    host_.in_flight.fetch_sub(1);  // out before the permit is back, so the count never exceeds the permits
    host_.permits.release();
  }
  Permit(const Permit&) = delete;
  Permit& operator=(const Permit&) = delete;

 private:
  Host& host_;
};

int run() {
  fetchpool::ServerOptions server_options;
  server_options.latency = std::chrono::milliseconds(50);
  fetchpool::LocalServer server_a(server_options);
  fetchpool::LocalServer server_b(server_options);

  std::map<std::string, std::unique_ptr<Host>> hosts;  // filled before the threads, read-only after
  hosts[server_a.base_url()] = std::make_unique<Host>();
  hosts[server_b.base_url()] = std::make_unique<Host>();

  struct Job {
    std::string base;
    std::string url;
  };
  std::vector<Job> jobs;
  for (int i = 1; i <= kPagesPerHost; ++i) {
    for (const auto* server : {&server_a, &server_b}) {
      jobs.push_back({server->base_url(), server->base_url() + "/s/0/" + std::to_string(i) + ".html"});
    }
  }

  std::atomic<std::size_t> next{0};
  std::atomic<int> failures{0};
  const auto started = std::chrono::steady_clock::now();
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        try {
          fetchpool::Fetcher fetcher(fetchpool::FetchOptions{});
          for (auto i = next.fetch_add(1); i < jobs.size(); i = next.fetch_add(1)) {
            Permit permit(*hosts.at(jobs[i].base));
            fetchpool::FetchRequest request;
            request.url = jobs[i].url;
            auto response = fetcher.fetch(request);
            if (!response || response->head.status != 200) failures.fetch_add(1);
          }
        } catch (const std::exception& e) {
          std::fprintf(stderr, "thread: %s\n", e.what());
          failures.fetch_add(1);
        }
      });
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  bool within_cap = true;
  for (const auto& [base, host] : hosts) {
    const int peak = host->peak.load();
    std::printf("%s: peak %d requests in flight (cap %d)\n", base.c_str(), peak, kPerHostCap);
    if (peak > kPerHostCap || peak < 1) within_cap = false;
  }
  std::printf("%zu pages with %d threads in %.3f s; with the cap the floor is %d rounds of 50 ms = %.2f s\n",
              jobs.size(), kThreads, seconds, kPagesPerHost / kPerHostCap, kPagesPerHost / kPerHostCap * 0.05);
  return within_cap && failures.load() == 0 ? 0 : 1;
}

}  // namespace

int main() {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
  const int rc = run();
  curl_global_cleanup();
  return rc;
}
