#include "tools/cli/bench_command.hpp"

#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <unordered_set>

#include "base/ascii.hpp"
#include "tools/bench/benchmark.hpp"
#include "tools/cli/cli.hpp"
#include "tools/testsite/local_server.hpp"

namespace fetchpool::cli {
namespace {

// Written to a temporary name and renamed, so a reader never sees half a file.
Result<void> write_text_file(const std::filesystem::path& path, const std::string& text) {
  const auto temp = path.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc | std::ios::binary);
    out << text;
    if (!out) return Error{ErrorCode::kIo, path.string() + ": cannot write"};
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) return Error{ErrorCode::kIo, path.string() + ": " + ec.message()};
  return {};
}

// Blank lines and '#' comments skipped, surrounding blanks trimmed, repeats
// dropped: the benchmark fetches each distinct URL once per run.
Result<std::vector<std::string>> read_url_list(const std::string& path, std::optional<std::uint32_t> limit) {
  std::ifstream in(path);
  if (!in) return Error{ErrorCode::kIo, path + ": cannot open URL list"};
  std::vector<std::string> urls;
  std::unordered_set<std::string> seen;
  for (std::string line; std::getline(in, line);) {
    const std::string_view trimmed = detail::trim_ows_and_newlines(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    std::string url(trimmed);
    if (seen.insert(url).second) urls.push_back(std::move(url));
    if (limit && urls.size() >= *limit) break;
  }
  if (in.bad()) return Error{ErrorCode::kIo, path + ": read error"};
  if (urls.empty()) return Error{ErrorCode::kConfig, path + ": no URLs in the list"};
  return urls;
}

void raise_descriptor_limit() {
  // Many workers hold many sockets at once, and the in-process server holds
  // the other end of each: take the hard limit, as `serve` does.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
}

BenchOptions bench_options(const BenchCommandOptions& o, bool threads, bool processes, bool quiet) {
  BenchOptions options;
  options.workers = o.workers;
  options.repeats = o.repeats;
  options.threads = threads;
  options.processes = processes;
  options.per_host = o.per_host;
  options.fetch.total_timeout = std::chrono::milliseconds(static_cast<long long>(o.timeout_s * 1000.0));
  options.fetch.connect_timeout = std::min(options.fetch.connect_timeout, options.fetch.total_timeout);
  if (!quiet) options.on_run = [](const std::string& line) { std::fprintf(stderr, "bench: %s\n", line.c_str()); };
  return options;
}

// -i FILE: the user's URLs are the workload. Returns an exit code (kExitOk: loaded).
int use_url_list(const BenchCommandOptions& o, BenchOptions& options) {
  auto urls = read_url_list(o.input_file, o.requests_given ? std::optional(o.requests) : std::nullopt);
  if (!urls) {
    std::cerr << "fetchpool bench: " << urls.error().message << "\n";
    return kExitUsage;
  }
  options.urls = std::move(*urls);
  options.workload = "URL list " + o.input_file + " (" + std::to_string(options.urls.size()) + " distinct URLs)";
  return kExitOk;
}

// Without -i: the built-in site, served by this process, is the workload.
std::unique_ptr<LocalServer> start_builtin_site(const BenchCommandOptions& o, BenchOptions& options) {
  ServerOptions site;
  site.site.pages = o.requests;
  site.site.page_bytes = o.page_bytes;
  site.latency = std::chrono::milliseconds(o.latency_ms);
  site.jitter = std::chrono::milliseconds(o.jitter_ms);
  site.threads = o.server_threads;
  auto server = std::make_unique<LocalServer>(site);
  for (const auto& path : site_page_paths(site.site)) options.urls.push_back(server->base_url() + path);
  options.workload = "built-in site " + server->base_url() + "/ in this process, latency " +
                     std::to_string(o.latency_ms) + " ms + jitter 0.." + std::to_string(o.jitter_ms) + " ms, ~" +
                     std::to_string(o.page_bytes) + "-byte pages, " + std::to_string(o.server_threads) +
                     " server thread(s)";
  return server;
}

// --csv, --json, --svg; every failure is reported, any one makes the run an internal error.
int write_report_files(const BenchCommandOptions& o, const BenchReport& report) {
  int rc = kExitOk;
  const std::pair<const std::string*, std::string (*)(const BenchReport&)> outputs[] = {
      {&o.csv, report_csv}, {&o.json, report_json}, {&o.svg, render_svg}};
  for (const auto& [path, render] : outputs) {
    if (path->empty()) continue;
    if (auto written = write_text_file(*path, render(report)); !written) {
      std::cerr << "fetchpool bench: " << written.error().message << "\n";
      rc = kExitInternal;
    }
  }
  return rc;
}

}  // namespace

CLI::App* add_bench_command(CLI::App& app, BenchCommandOptions& o) {
  auto* bench = app.add_subcommand(
      "bench",
      "Measure and explain the speedup of N workers (threads, processes) over one, on the built-in site or a URL list");
  bench->add_option("--latency", o.latency_ms, "Built-in site: milliseconds added to every response [default 50]")
      ->check(CLI::Range(0u, 60'000u));
  bench->add_option("--jitter", o.jitter_ms, "Built-in site: extra 0..N milliseconds per response [default 0]")
      ->check(CLI::Range(0u, 60'000u));
  bench->add_option("--page-bytes", o.page_bytes, "Built-in site: approximate page size [default 4096]")
      ->check(CLI::Range(0u, 64u << 20));
  bench
      ->add_option_function<std::uint32_t>(
          "--requests",
          [&o](const std::uint32_t& n) {
            o.requests = n;
            o.requests_given = true;
          },
          "Distinct URLs per run: site pages, or the first N of -i's list [default 400 / the whole list]")
      ->check(CLI::Range(1u, 1'000'000u));
  bench
      ->add_option("-i,--input-file", o.input_file,
                   "Fetch this URL list instead of the built-in site (the hosts are yours to choose)")
      ->check(CLI::ExistingFile);
  bench->add_option("--workers", o.workers, "Worker counts to sweep, comma-separated [default 1,2,4,8,16,32,64]")
      ->delimiter(',')
      ->check(CLI::Range(1u, 4096u));
  bench->add_option("--repeats", o.repeats, "Runs per point; wall time is their median [default 3]")
      ->check(CLI::Range(1u, 1000u));
  bench->add_option("--modes", o.modes, "Parallel modes to run besides sequential: threads, processes [default both]")
      ->delimiter(',')
      ->check(CLI::IsMember({"threads", "processes"}));
  bench->add_option("--per-host", o.per_host,
                    "Threads mode: most requests in flight per host (0 = unlimited) [default 0]");
  bench->add_option("--server-threads", o.server_threads, "Built-in site: event-loop threads [default 1]")
      ->check(CLI::Range(1u, 64u));
  bench->add_option("-T,--timeout", o.timeout_s, "Whole-transfer timeout per request in seconds [default 30]")
      ->check(CLI::PositiveNumber);
  bench->add_option("--csv", o.csv, "Also write one CSV row per point to this file");
  bench->add_option("--json", o.json, "Also write the whole report, every run included, as JSON to this file");
  bench->add_option("--svg", o.svg, "Also draw speedup vs workers (threads, processes, ideal) as SVG to this file");
  return bench;
}

int run_bench(BenchCommandOptions o, bool quiet) {
  const bool want_threads = std::find(o.modes.begin(), o.modes.end(), "threads") != o.modes.end();
  const bool want_processes = std::find(o.modes.begin(), o.modes.end(), "processes") != o.modes.end();
  raise_descriptor_limit();

  // First, while this process still has one thread: the helper that will
  // fork the worker processes (see benchmark.hpp for why).
  std::unique_ptr<ProcessLauncher> launcher;
  if (want_processes) {
    auto started = ProcessLauncher::start();
    if (!started) {
      std::cerr << "fetchpool bench: " << started.error().message << "\n";
      return kExitInternal;
    }
    launcher = std::move(*started);
  }

  BenchOptions options = bench_options(o, want_threads, want_processes, quiet);
  std::unique_ptr<LocalServer> server;
  if (!o.input_file.empty()) {
    if (const int rc = use_url_list(o, options); rc != kExitOk) return rc;
  } else {
    server = start_builtin_site(o, options);
  }

  auto report = run_benchmark(options, launcher.get());
  if (server) server->stop();
  if (!report) {
    std::cerr << "fetchpool bench: " << report.error().message << "\n";
    return report.error().code == ErrorCode::kConfig ? kExitUsage : kExitInternal;
  }
  std::fputs(format_table(*report).c_str(), stdout);
  std::fflush(stdout);

  if (const int rc = write_report_files(o, *report); rc != kExitOk) return rc;
  for (const auto& point : report->points)
    if (point.failed > 0) return kExitSomeFailed;
  return kExitOk;
}

}  // namespace fetchpool::cli
