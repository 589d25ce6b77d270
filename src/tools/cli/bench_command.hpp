// `fetchpool bench`: the speedup benchmark (include/fetchpool/benchmark.hpp)
// on the built-in site, started in this process, or on a user's URL list.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace fetchpool::cli {

struct BenchCommandOptions {
  std::uint32_t latency_ms = 50;
  std::uint32_t jitter_ms = 0;
  std::uint32_t page_bytes = 4096;
  std::uint32_t requests = 400;
  std::string input_file;  // a URL list instead of the built-in site
  std::vector<std::uint32_t> workers{1, 2, 4, 8, 16, 32, 64};
  std::uint32_t repeats = 3;
  std::vector<std::string> modes{"threads", "processes"};
  std::uint32_t per_host = 0;
  unsigned server_threads = 1;
  double timeout_s = 30;
  std::string csv, json, svg;
  bool requests_given = false;  // with -i: --requests then limits the list
};

// Registers the subcommand and its flags on `app`; the values land in `options`.
CLI::App* add_bench_command(CLI::App& app, BenchCommandOptions& options);

// Runs the sweep, prints the table on stdout (progress on stderr unless
// quiet) and writes the requested files. Exit codes as run_cli's.
int run_bench(BenchCommandOptions options, bool quiet);

}  // namespace fetchpool::cli
