#include <curl/curl.h>

#include <csignal>

#include "crawl/worker_budget.hpp"
#include "fetchpool/fetcher.hpp"
#include "tools/cli/cli.hpp"

int main(int argc, char** argv) {
  // A closed stdout (`fetchpool get -i list | head -1`) must come back as
  // EPIPE from write(2), so the run can stop and still write its stats,
  // manifest and journal, rather than end at once with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  // libcurl's global init is not thread-safe: it must run before any thread
  // exists (libcurl-thread.md), so it lives here and nowhere else.
  if (!fetchpool::init_curl_global()) return fetchpool::cli::kExitInternal;
  // As servers do: every descriptor the hard limit allows, so that -j N is
  // cut down (see CrawlEngine::start) only where the hard limit says so.
  fetchpool::detail::raise_descriptor_limit();
  const int rc = fetchpool::cli::run_cli(argc, argv);
  curl_global_cleanup();
  return rc;
}
