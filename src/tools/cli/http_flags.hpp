// The HTTP flags of `crawl` and `get`, spelled as curl and wget users know
// them (-H, --cookie, --user, --proxy, -k, --limit-rate ...), and how they
// become the fetcher's options. Credentials go to libcurl only: never to a
// log line, a record, the journal or the stats.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fetchpool/config.hpp"
#include "fetchpool/engine.hpp"
#include "fetchpool/error.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace fetchpool::cli {

struct HttpFlags {
  std::vector<std::string> headers;  // -H "Name: value"
  std::string referer;
  std::string cookie;        // --cookie "a=1; b=2", or a cookie file (no '=')
  std::string load_cookies;  // --load-cookies FILE (wget)
  std::string cookie_jar;    // --cookie-jar FILE: the jar written at the end
  std::string user;          // --user NAME[:PASSWORD]
  std::string password;
  std::string proxy, no_proxy;
  bool insecure = false;
  std::string ca_file;
  bool http1_1 = false, http2 = false;
  std::uint32_t max_redirect = 0;
  std::string limit_rate, limit_rate_total;  // "100k", "2M", bytes per second
  CLI::Option* max_redirect_opt = nullptr;
};

void add_http_flags(CLI::App& cmd, HttpFlags& f);

// The flags that have config keys (http.verify_tls, http.http2, http.max_redirects).
void apply_http_settings(const HttpFlags& f, Settings& s);

// The rest, onto the engine's fetch and shared-cache options. Fails (naming
// the flag and the value) on an unreadable cookie file or a bad rate.
Result<void> apply_http_flags(const HttpFlags& f, EngineOptions& o);

// "100k", "1.5M", "2048": bytes per second (k = 1024, as in wget and curl).
Result<std::uint64_t> parse_rate(const std::string& text);
// A size in bytes with the same units (500, 100k, 2M, 1G; k = 1024).
Result<std::uint64_t> parse_size(const std::string& text);

}  // namespace fetchpool::cli
