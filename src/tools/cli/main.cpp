#include <curl/curl.h>

#include "tools/cli/cli.hpp"

int main(int argc, char** argv) {
  // libcurl's global init is not thread-safe: it must run before any thread
  // exists (libcurl-thread.md), so it lives here and nowhere else.
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return fetchpool::cli::kExitInternal;
  const int rc = fetchpool::cli::run_cli(argc, argv);
  curl_global_cleanup();
  return rc;
}
