// Lesson 1: create threads, give them work, join them.
//
// Four pages, each answered after 100 ms by the built-in server. One thread
// per page fetches them at the same time, so the whole takes about 100 ms
// instead of 400 ms: while a thread waits for the network it needs no CPU,
// and the others wait alongside it.
//
// What to notice:
// - Each thread gets its arguments by value (the index) and its own Fetcher:
//   a libcurl handle must never be used by two threads at once.
// - Each thread writes only its own slot of `results`, sized before the
//   threads start, so no two threads touch the same memory and no lock is
//   needed. (Growing the vector from the threads would be a data race.)
// - join() waits for a thread to finish; a std::thread that is still
//   joinable when destroyed calls std::terminate. std::jthread joins in its
//   destructor, which the second half shows.
// - An exception cannot cross from a thread to the one that joins it: catch
//   it inside the thread and hand back a value instead.
#include <curl/curl.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/fetcher.hpp"
#include "tools/testsite/local_server.hpp"

namespace {

struct PageResult {
  long status = 0;
  std::string error;
};

// The body of every thread: fetch one URL, never throw.
PageResult fetch_one(const std::string& url) {
  try {
    fetchpool::Fetcher fetcher(fetchpool::FetchOptions{});
    fetchpool::FetchRequest request;
    request.url = url;
    auto response = fetcher.fetch(request);
    if (!response) return {0, response.error().message};
    return {response->head.status, {}};
  } catch (const std::exception& e) {
    return {0, e.what()};
  }
}

int run() {
  fetchpool::ServerOptions server_options;
  server_options.latency = std::chrono::milliseconds(100);
  fetchpool::LocalServer server(server_options);
  const std::vector<std::string> urls{server.base_url() + "/", server.base_url() + "/s/0/1.html",
                                      server.base_url() + "/s/0/2.html", server.base_url() + "/s/0/3.html"};

  // std::thread: started by the constructor, joined by hand.
  std::vector<PageResult> results(urls.size());  // sized first: threads never resize it
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < urls.size(); ++i) {
    threads.emplace_back([i, &urls, &results] { results[i] = fetch_one(urls[i]); });
  }
  for (auto& thread : threads) thread.join();  // after this, every result is visible here
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  int failures = 0;
  for (std::size_t i = 0; i < urls.size(); ++i) {
    std::printf("%-40s %ld %s\n", urls[i].c_str(), results[i].status, results[i].error.c_str());
    if (results[i].status != 200) ++failures;
  }
  std::printf("4 pages of 100 ms each on 4 threads: %.3f s (one after another: about 0.4 s)\n", seconds);

  // std::jthread: the destructor joins, so leaving the scope waits for it.
  PageResult last;
  {
    std::jthread worker([&last, &urls] { last = fetch_one(urls.back()); });
  }  // joined here
  std::printf("std::jthread fetched %s: %ld\n", urls.back().c_str(), last.status);
  if (last.status != 200) ++failures;

  return failures == 0 ? 0 : 1;
}

}  // namespace

int main() {
  // libcurl's global set-up is not thread-safe: once, before any thread.
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
  const int rc = run();
  curl_global_cleanup();
  return rc;
}
