// `fetchpool demo`: the built-in site crawled offline with 1, 4 and N
// workers, to show what a thread pool gains on I/O-bound work.
#pragma once

#include <cstdint>

namespace CLI {
class App;
}

namespace fetchpool::cli {

struct DemoOptions {
  std::uint32_t pages = 200;
  std::uint32_t latency_ms = 25;
  std::uint32_t workers = 32;
};

// Registers the subcommand and its flags on `app`; the values land in `options`.
CLI::App* add_demo_command(CLI::App& app, DemoOptions& options);

// Crawls the built-in site with 1, 4 and N workers and prints wall time and
// speedup beside the ideal, so the I/O-bound benefit of threads is visible.
int run_demo(const DemoOptions& options);

}  // namespace fetchpool::cli
