// `fetchpool demo` and `fetchpool serve`: the built-in site, used offline.
#pragma once

#include <cstdint>

#include "fetchpool/config.hpp"

namespace fetchpool::cli {

struct DemoOptions {
  std::uint32_t pages = 200;
  std::uint32_t latency_ms = 25;
  std::uint32_t workers = 32;
};

// Serves the synthetic site until SIGINT/SIGTERM; prints its URL first.
int run_serve(const ServeSettings& settings, std::uint16_t port);

// Crawls the built-in site with 1, 4 and N workers and prints wall time and
// speedup beside the ideal, so the I/O-bound benefit of threads is visible.
int run_demo(const DemoOptions& options);

}  // namespace fetchpool::cli
