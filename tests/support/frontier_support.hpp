// Shared by the tests of every Frontier implementation (memory, Redis), so
// both are driven the same way.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>

#include "fetchpool/frontier.hpp"

namespace fetchpool::testing {

inline CrawlItem page(const std::string& host, const std::string& path, std::uint32_t depth = 0) {
  CrawlItem item;
  item.url = host + path;
  item.host_key = host;
  item.depth = depth;
  return item;
}

// pop() that gives up after `limit` by requesting its stop token, so that a
// bug shows as a failed check instead of a hung test. The default only ends a
// pop that would never return: a minute, far above any interval the tests
// set, so a loaded machine cannot make a due lease miss it.
inline std::optional<Lease> pop_within(Frontier& frontier,
                                       std::chrono::milliseconds limit = std::chrono::milliseconds(60'000)) {
  std::stop_source give_up;
  std::jthread timer([&give_up, limit](std::stop_token popped) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait_for(lock, popped, limit, [] { return false; });
    if (!popped.stop_requested()) give_up.request_stop();
  });
  return frontier.pop(give_up.get_token());
}

}  // namespace fetchpool::testing
