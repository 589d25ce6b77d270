// Lesson 6: is it worth it? The same fetches, one by one and in parallel.
//
// 40 pages, each answered after 50 ms. One after another that is 40 x 50 ms,
// about 2 s, nearly all of it spent waiting. With 10 threads, 10 requests
// wait at once: ceil(40 / 10) = 4 rounds of 50 ms, about 0.2 s. The work is
// I/O-bound, so the speedup comes from overlapping waits, not from more CPU:
// even on one core it would be close to 10x.
//
// Little's law says the same: with N requests in flight, each taking L
// seconds, throughput is N / L requests per second.
//
// The opposite case, CPU-bound work (parsing, hashing), speeds up by at most
// the number of cores, however many threads run it. `fetchpool bench` measures
// both effects over a whole sweep of worker counts and names the point where
// the gain stops.
#include <curl/curl.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/fetcher.hpp"
#include "tools/testsite/local_server.hpp"

namespace {

constexpr int kPages = 40;
constexpr int kThreads = 10;
constexpr double kLatencyS = 0.05;
#ifdef FETCHPOOL_SANITIZED
constexpr double kLeastSpeedup = 1.0;  // sanitizers slow every CPU step 5-20x: threads need only win
#else
constexpr double kLeastSpeedup = 2.0;
#endif

std::string page_url(const fetchpool::LocalServer& server, int i) {
  return server.base_url() + "/s/0/" + std::to_string(i + 1) + ".html";
}

bool fetch_ok(fetchpool::Fetcher& fetcher, const std::string& url) {
  fetchpool::FetchRequest request;
  request.url = url;
  auto response = fetcher.fetch(request);
  return response && response->head.status == 200;
}

double seconds_since(std::chrono::steady_clock::time_point started) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

int run() {
  fetchpool::ServerOptions server_options;
  server_options.latency = std::chrono::milliseconds(static_cast<int>(kLatencyS * 1000));
  fetchpool::LocalServer server(server_options);
  int failures = 0;

  // Sequential: one Fetcher, a plain loop, no threads.
  auto started = std::chrono::steady_clock::now();
  {
    fetchpool::Fetcher fetcher(fetchpool::FetchOptions{});
    for (int i = 0; i < kPages; ++i)
      if (!fetch_ok(fetcher, page_url(server, i))) ++failures;
  }
  const double sequential_s = seconds_since(started);

  // Threaded: kThreads workers, each with its own Fetcher, taking pages by
  // an atomic index (the simplest correct work sharing for a fixed list).
  std::atomic<int> next{0};
  std::atomic<int> thread_failures{0};
  started = std::chrono::steady_clock::now();
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        try {
          fetchpool::Fetcher fetcher(fetchpool::FetchOptions{});
          for (int i = next.fetch_add(1); i < kPages; i = next.fetch_add(1))
            if (!fetch_ok(fetcher, page_url(server, i))) thread_failures.fetch_add(1);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "thread: %s\n", e.what());
          thread_failures.fetch_add(1);
        }
      });
    }
  }
  const double threaded_s = seconds_since(started);
  failures += thread_failures.load();

  const double speedup = sequential_s / threaded_s;
  const double ideal = static_cast<double>(kPages) / std::ceil(static_cast<double>(kPages) / kThreads);
  std::printf("sequential: %d pages in %.3f s (ideal %.2f s)\n", kPages, sequential_s, kPages * kLatencyS);
  std::printf("%d threads: %d pages in %.3f s (ideal %.2f s)\n", kThreads, kPages, threaded_s,
              std::ceil(static_cast<double>(kPages) / kThreads) * kLatencyS);
  std::printf("speedup %.1fx, ideal %.1fx, efficiency %.0f%%\n", speedup, ideal, 100 * speedup / kThreads);
  // A generous bound: busy machines add overhead, but overlapping the waits
  // must still win clearly.
  return failures == 0 && speedup > kLeastSpeedup ? 0 : 1;
}

}  // namespace

int main() {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
  const int rc = run();
  curl_global_cleanup();
  return rc;
}
