// Lesson 2: many threads, one counter.
//
// Eight threads each fetch five pages and add what they got to shared totals.
//
// The race this program does NOT contain. Written naively,
//     total_pages = total_pages + 1;     // or ++total_pages on a plain integer
// is three steps: load the value, add one, store it back. Two threads can
// both load 41, both store 42, and one page is lost ("lost update"). In C++
// this is worse than a wrong number: two threads touching the same plain
// variable, one of them writing, without synchronisation, is a data race,
// and a data race is undefined behaviour. The compiler may keep the counter
// in a register for the whole loop, for example. ThreadSanitizer reports it,
// which is why this sample, run under TSan by ctest, leaves it out.
//
// Two correct versions follow:
// 1. A mutex around the update. Needed when several values must change
//    together: `pages` and `bytes` form one record, and a reader must never
//    see one updated without the other. The fetch itself happens before the
//    lock is taken: a lock held across network I/O would make every other
//    thread wait for this one's server.
// 2. std::atomic counters. One indivisible read-modify-write (fetch_add) per
//    counter, no lock. Right for independent counters (fetchpool's
//    CrawlStats works this way); wrong for values that must agree.
#include <curl/curl.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/fetcher.hpp"
#include "tools/testsite/local_server.hpp"

namespace {

constexpr int kThreads = 8;
constexpr int kPagesPerThread = 5;

// Version 1: the totals and the mutex that guards them, kept together.
class Totals {
 public:
  void add(std::uint64_t bytes) {
    std::lock_guard lock(mutex_);  // released at the end of the scope, also on an exception
    ++pages_;
    bytes_ += bytes;
  }
  std::pair<std::uint64_t, std::uint64_t> read() const {
    std::lock_guard lock(mutex_);
    return {pages_, bytes_};
  }

 private:
  mutable std::mutex mutex_;
  std::uint64_t pages_ = 0;  // guarded by mutex_
  std::uint64_t bytes_ = 0;  // guarded by mutex_
};

int run() {
  fetchpool::ServerOptions server_options;
  server_options.latency = std::chrono::milliseconds(20);
  fetchpool::LocalServer server(server_options);

  Totals totals;                               // version 1
  std::atomic<std::uint64_t> atomic_pages{0};  // version 2
  std::atomic<std::uint64_t> atomic_bytes{0};
  std::atomic<int> failures{0};

  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        try {
          fetchpool::Fetcher fetcher(fetchpool::FetchOptions{});
          for (int p = 0; p < kPagesPerThread; ++p) {
            fetchpool::FetchRequest request;
            request.url = server.base_url() + "/s/0/" + std::to_string(1 + t * kPagesPerThread + p) + ".html";
            auto response = fetcher.fetch(request);  // no lock held while waiting for the server
            if (!response || response->head.status != 200) {
              failures.fetch_add(1);
              continue;
            }
            totals.add(response->body_bytes);
            atomic_pages.fetch_add(1, std::memory_order_relaxed);  // relaxed: nothing else is ordered by it
            atomic_bytes.fetch_add(response->body_bytes, std::memory_order_relaxed);
          }
        } catch (const std::exception& e) {  // nothing may leave a thread
          std::fprintf(stderr, "thread %d: %s\n", t, e.what());
          failures.fetch_add(1);
        }
      });
    }
  }  // every jthread joined: all their writes are visible below

  const auto [pages, bytes] = totals.read();
  std::printf("mutex:  %llu pages, %llu bytes\n", static_cast<unsigned long long>(pages),
              static_cast<unsigned long long>(bytes));
  std::printf("atomic: %llu pages, %llu bytes\n", static_cast<unsigned long long>(atomic_pages.load()),
              static_cast<unsigned long long>(atomic_bytes.load()));
  const std::uint64_t expected = kThreads * kPagesPerThread;
  const bool agree = pages == expected && atomic_pages.load() == expected && bytes == atomic_bytes.load() && bytes > 0;
  std::printf("expected %llu pages: %s\n", static_cast<unsigned long long>(expected),
              agree ? "both counts exact" : "MISMATCH");
  return agree && failures.load() == 0 ? 0 : 1;
}

}  // namespace

int main() {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
  const int rc = run();
  curl_global_cleanup();
  return rc;
}
