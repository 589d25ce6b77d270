#include "tools/cli/serve_command.hpp"

#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <string>

#include "tools/cli/exit_codes.hpp"
#include "tools/cli/signals.hpp"

namespace fetchpool::cli {
namespace {

ServeSettings apply_serve_flags(const ServeCommandOptions& o, ServeSettings s) {
  if (o.pages_opt->count()) s.pages = o.flags.pages;
  if (o.links_opt->count()) s.links_per_page = o.flags.links_per_page;
  if (o.size_opt->count()) s.page_bytes = o.flags.page_bytes;
  if (o.latency_opt->count()) s.latency_ms = o.flags.latency_ms;
  if (o.jitter_opt->count()) s.jitter_ms = o.flags.jitter_ms;
  if (o.error_opt->count()) s.error_rate = o.flags.error_rate;
  if (o.threads_opt->count()) s.threads = o.flags.threads;
  return s;
}

int serve_until_signalled(const ServeSettings& settings, std::uint16_t port, const std::string& root) {
  // Thousands of concurrent clients need thousands of descriptors: take the
  // hard limit, which the soft default (often 1024) sits far below.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  block_termination_signals();  // before the server's threads exist, so they inherit it
  ServerOptions options = server_options(settings, port);
  options.root = root;
  LocalServer server(options);
  if (root.empty()) {
    std::printf(
        "fetchpool serve: %s/ (%u pages, %u links/page, latency %u ms + jitter %u ms, error rate %.2f); Ctrl-C "
        "stops\n",
        server.base_url().c_str(), settings.pages, settings.links_per_page, settings.latency_ms, settings.jitter_ms,
        settings.error_rate);
  } else {
    std::printf("fetchpool serve: %s/ (the files under %s); Ctrl-C stops\n", server.base_url().c_str(), root.c_str());
  }
  std::fflush(stdout);
  wait_for_termination_signal();
  server.stop();
  const auto counters = server.counters();
  std::printf("fetchpool serve: stopped after %llu requests\n", static_cast<unsigned long long>(counters.requests));
  return kExitOk;
}

}  // namespace

ServerOptions server_options(const ServeSettings& s, std::uint16_t port) {
  ServerOptions o;
  o.port = port;
  o.site.pages = s.pages;
  o.site.links_per_page = s.links_per_page;
  o.site.page_bytes = s.page_bytes;
  o.site.seed = s.seed;
  o.latency = std::chrono::milliseconds(s.latency_ms);
  o.jitter = std::chrono::milliseconds(s.jitter_ms);
  o.error_rate = s.error_rate;
  o.threads = s.threads;
  return o;
}

CLI::App* add_serve_command(CLI::App& app, ServeCommandOptions& o) {
  auto* serve = app.add_subcommand("serve", "Run the built-in test site on 127.0.0.1 until interrupted");
  serve->add_option("-p,--port", o.port, "Port to listen on (0 = pick a free one; the URL is printed)");
  o.pages_opt = serve->add_option("--pages", o.flags.pages, "Pages in the synthetic site [default 10000]")
                    ->check(CLI::Range(1u, 100000000u));
  o.links_opt = serve->add_option("--links", o.flags.links_per_page, "Links per page [default 8]");
  o.size_opt = serve->add_option("--page-bytes", o.flags.page_bytes, "Approximate page size in bytes [default 4096]");
  o.latency_opt = serve->add_option("--latency", o.flags.latency_ms, "Milliseconds added to every page response");
  o.jitter_opt = serve->add_option("--jitter", o.flags.jitter_ms, "Extra random 0..N milliseconds per response");
  o.error_opt = serve->add_option("--error-rate", o.flags.error_rate, "Fraction of pages answering 500")
                    ->check(CLI::Range(0.0, 1.0));
  o.threads_opt =
      serve->add_option("--threads", o.flags.threads, "Server event-loop threads")->check(CLI::Range(1u, 64u));
  serve
      ->add_option("--root", o.root,
                   "Serve the files under DIR instead of the site (one host's directory of a crawl --mirror, "
                   "e.g. MIRROR/127.0.0.1:8080); symbolic links inside are not followed")
      ->check(CLI::ExistingDirectory);
  return serve;
}

int run_serve(const ServeCommandOptions& options, const ServeSettings& base) {
  return serve_until_signalled(apply_serve_flags(options, base), options.port, options.root);
}

}  // namespace fetchpool::cli
