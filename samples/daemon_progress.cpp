// Lesson 4: a background ("daemon") thread that reports progress.
//
// In Python a daemon thread is simply abandoned when the program exits. C++
// has no such thing: a std::thread must be joined or detached before it is
// destroyed, and a detached thread that still runs while main returns may
// touch objects already destroyed. So "daemon" here means: a helper thread
// that does no work of its own, only watches, and whose owner stops and
// joins it. fetchpool's ProgressReporter is exactly that:
// - it wakes every interval, asks a source for a snapshot and prints a line;
// - the source reads atomic counters only, so the reporter never blocks a
//   worker and never waits for one;
// - stop() wakes it at once (a condition variable, not a sleep), prints the
//   final line and joins, so stopping never waits out an interval.
//
// Four workers fetch 40 pages of 50 ms (about half a second); the reporter
// prints every 100 ms to stderr.
#include <curl/curl.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/fetcher.hpp"
#include "fetchpool/progress.hpp"
#include "tools/testsite/local_server.hpp"

namespace {

int run() {
  constexpr int kWorkers = 4;
  constexpr std::uint64_t kPages = 40;
  fetchpool::ServerOptions server_options;
  server_options.latency = std::chrono::milliseconds(50);
  fetchpool::LocalServer server(server_options);

  // What the workers publish and the reporter reads: atomics, no lock.
  std::atomic<std::uint64_t> next{0};  // the next page to take: a lock-free work queue for a fixed list
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> in_flight{0};

  fetchpool::ProgressOptions progress_options;
  progress_options.interval = std::chrono::milliseconds(100);
  progress_options.interactive = false;  // log lines, also when ctest captures the output
  progress_options.label = "daemon_progress";
  fetchpool::ProgressReporter reporter(
      [&] {
        fetchpool::ProgressView view;
        view.done = done.load();
        view.failed = failed.load();
        view.bytes = bytes.load();
        view.in_flight = in_flight.load();
        view.total = kPages;
        return view;
      },
      progress_options);

  {
    std::vector<std::jthread> workers;
    for (int w = 0; w < kWorkers; ++w) {
      workers.emplace_back([&] {
        try {
          fetchpool::Fetcher fetcher(fetchpool::FetchOptions{});
          for (auto page = next.fetch_add(1); page < kPages; page = next.fetch_add(1)) {
            fetchpool::FetchRequest request;
            request.url = server.base_url() + "/s/0/" + std::to_string(page + 1) + ".html";
            in_flight.fetch_add(1);
            auto response = fetcher.fetch(request);
            in_flight.fetch_sub(1);
            if (response && response->head.status == 200) {
              bytes.fetch_add(response->body_bytes);
            } else {
              failed.fetch_add(1);
            }
            done.fetch_add(1);
          }
        } catch (const std::exception& e) {
          std::fprintf(stderr, "worker: %s\n", e.what());
          failed.fetch_add(1);
        }
      });
    }
  }  // workers joined

  reporter.stop();  // final line now, thread joined; the destructor would do the same
  const auto reports = reporter.reports_printed();
  std::printf("%llu of %llu pages fetched, %llu failed; the reporter printed %llu lines while they ran\n",
              static_cast<unsigned long long>(done.load()), static_cast<unsigned long long>(kPages),
              static_cast<unsigned long long>(failed.load()), static_cast<unsigned long long>(reports));
  // At least the final report; on a loaded machine the interval lines may be fewer than 5.
  return done.load() == kPages && failed.load() == 0 && reports >= 1 ? 0 : 1;
}

}  // namespace

int main() {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
  const int rc = run();
  curl_global_cleanup();
  return rc;
}
