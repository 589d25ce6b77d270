// Lesson 3: a thread pool fed by a queue.
//
// Starting one thread per URL does not scale to a list of a million URLs.
// A pool starts a fixed number of workers once; each loops "take the next
// URL from the queue, fetch it, store the result" until the queue is closed
// and empty. This is the shape of fetchpool's CrawlEngine, reduced to its
// core (the engine's frontier adds per-host queues, politeness and retries).
//
// What to notice:
// - The queue is the only shared state besides the results, and both are
//   guarded by a mutex. A worker holds the lock only to pop or to store, never
//   while it fetches.
// - Idle workers sleep on a condition variable instead of spinning. Waiting
//   re-checks the condition in a loop (spurious wake-ups are allowed), which
//   condition_variable::wait with a predicate does for us.
// - "Done" needs two facts: no more input will come (close) and the queue is
//   empty. Closing wakes every waiting worker so none sleeps forever.
// - Each worker owns its Fetcher, so its connection to the server is reused
//   from one URL to the next (keep-alive): 40 URLs, 4 connections.
#include <curl/curl.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/fetcher.hpp"
#include "tools/testsite/local_server.hpp"

namespace {

class UrlQueue {
 public:
  void push(std::string url) {
    {
      std::lock_guard lock(mutex_);
      urls_.push_back(std::move(url));
    }
    ready_.notify_one();  // after unlocking, so the woken worker does not block on the mutex at once
  }
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }
  // Blocks until a URL is available; nullopt once closed and drained.
  std::optional<std::string> pop() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [this] { return !urls_.empty() || closed_; });
    if (urls_.empty()) return std::nullopt;
    std::string url = std::move(urls_.front());
    urls_.pop_front();
    return url;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::string> urls_;  // guarded by mutex_
  bool closed_ = false;           // guarded by mutex_
};

int run() {
  constexpr int kWorkers = 4;
  constexpr int kUrls = 40;
  fetchpool::ServerOptions server_options;
  server_options.latency = std::chrono::milliseconds(25);
  fetchpool::LocalServer server(server_options);

  UrlQueue queue;
  std::mutex results_mutex;
  std::map<std::string, long> status_by_url;  // guarded by results_mutex
  std::map<int, int> fetched_by_worker;       // guarded by results_mutex

  const auto started = std::chrono::steady_clock::now();
  {
    std::vector<std::jthread> pool;
    for (int w = 0; w < kWorkers; ++w) {
      pool.emplace_back([&, w] {
        try {
          fetchpool::Fetcher fetcher(fetchpool::FetchOptions{});
          while (auto url = queue.pop()) {
            fetchpool::FetchRequest request;
            request.url = *url;
            auto response = fetcher.fetch(request);
            const long status = response ? response->head.status : 0;
            std::lock_guard lock(results_mutex);
            status_by_url[*url] = status;
            ++fetched_by_worker[w];
          }
        } catch (const std::exception& e) {
          std::fprintf(stderr, "worker %d: %s\n", w, e.what());
        }
      });
    }
    // The producer: here a loop, in fetchpool a file read line by line while
    // the workers already fetch.
    for (int i = 1; i <= kUrls; ++i) queue.push(server.base_url() + "/s/0/" + std::to_string(i) + ".html");
    queue.close();
  }  // the pool's jthreads join here, once the queue is drained
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  int ok = 0;
  for (const auto& [url, status] : status_by_url)
    if (status == 200) ++ok;
  for (const auto& [worker, count] : fetched_by_worker) std::printf("worker %d fetched %d URLs\n", worker, count);
  const auto counters = server.counters();
  std::printf("%d of %d URLs ok in %.3f s with %d workers (one by one: about %.1f s); %llu connections opened\n", ok,
              kUrls, seconds, kWorkers, kUrls * 0.025, static_cast<unsigned long long>(counters.connections_accepted));
  // Every URL exactly once, all fine, and connections were reused.
  return ok == kUrls && static_cast<int>(status_by_url.size()) == kUrls && counters.requests == kUrls &&
                 counters.connections_accepted <= kWorkers
             ? 0
             : 1;
}

}  // namespace

int main() {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
  const int rc = run();
  curl_global_cleanup();
  return rc;
}
