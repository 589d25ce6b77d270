#include "tools/cli/http_flags.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <fstream>

namespace fetchpool::cli {
namespace {

// Whether libcurl's cookie engine must run (any cookie flag turns it on).
bool wants_cookies(const HttpFlags& f) {
  return !f.load_cookies.empty() || !f.cookie_jar.empty() ||
         (!f.cookie.empty() && f.cookie.find('=') == std::string::npos);
}

Result<void> check_readable(const std::string& flag, const std::string& path) {
  if (std::ifstream(path)) return {};
  return Error{ErrorCode::kConfig, flag + " '" + path + "': cannot read this cookie file"};
}

}  // namespace

void add_http_flags(CLI::App& cmd, HttpFlags& f) {
  const std::string group = "HTTP options";
  cmd.add_option("-H,--header", f.headers,
                 "Extra request header 'Name: value' (repeatable); replaces fetchpool's own of that name "
                 "('Name:' removes it)")
      ->group(group);
  cmd.add_option("--referer,--referrer", f.referer, "Referer header sent with every request")->group(group);
  cmd.add_option("-b,--cookie", f.cookie,
                 "Cookies to send: 'name=value; n2=v2', or a Netscape cookie file to load (as curl -b)")
      ->group(group);
  cmd.add_option("--load-cookies", f.load_cookies, "Netscape cookie file to start from (as wget)")
      ->group(group)
      ->check(CLI::ExistingFile);
  cmd.add_option("--cookie-jar,--save-cookies", f.cookie_jar,
                 "Write every cookie (set by servers and loaded) to this file at the end, Netscape format, mode 0600. "
                 "Any cookie flag keeps the cookies servers set, shared by all workers")
      ->group(group);
  cmd.add_option("-u,--user", f.user,
                 "HTTP basic auth NAME or NAME:PASSWORD, sent with every request (never logged or recorded)")
      ->group(group);
  cmd.add_option("--password", f.password, "Password for --user (wget's spelling)")->group(group);
  cmd.add_option("--proxy", f.proxy,
                 "Proxy for every request, http://HOST:PORT [default: the environment's http_proxy, https_proxy, "
                 "all_proxy; HTTP_PROXY is ignored as by curl]")
      ->group(group);
  cmd.add_option("--noproxy", f.no_proxy,
                 "Comma-separated hosts reached without the proxy ('*' = all) [default: no_proxy]")
      ->group(group);
  cmd.add_flag("-k,--insecure,--no-check-certificate", f.insecure,
               "Do not verify TLS certificates [config "
               "http.verify_tls]")
      ->group(group);
  cmd.add_option("--cacert,--ca-certificate", f.ca_file, "Verify servers with this PEM CA bundle")
      ->group(group)
      ->check(CLI::ExistingFile);
  auto* h11 = cmd.add_flag("--http1.1", f.http1_1, "HTTP/1.1 only [config http.http2 = false]")->group(group);
  cmd.add_flag("--http2", f.http2, "HTTP/2 over TLS when the server offers it (the default)")
      ->group(group)
      ->excludes(h11);
  f.max_redirect_opt = cmd.add_option("--max-redirect,--max-redirs", f.max_redirect,
                                      "Most redirects followed per URL [config http.max_redirects, default 10]")
                           ->group(group);
  const CLI::Validator rate(
      [](const std::string& text) {
        auto parsed = parse_rate(text);
        return parsed ? std::string() : parsed.error().message;
      },
      "RATE");
  cmd.add_option("--limit-rate", f.limit_rate, "Most bytes per second for each transfer: 100k, 2M, 500 (k = 1024)")
      ->group(group)
      ->check(rate);
  cmd.add_option("--limit-rate-total,--max-overall-download-limit", f.limit_rate_total,
                 "Most bytes per second for all transfers together (aria2's overall limit)")
      ->group(group)
      ->check(rate);
}

void apply_http_settings(const HttpFlags& f, Settings& s) {
  if (f.insecure) s.http.verify_tls = false;
  if (f.http1_1) s.http.http2 = false;
  if (f.http2) s.http.http2 = true;
  if (f.max_redirect_opt->count()) s.http.max_redirects = f.max_redirect;
}

Result<void> apply_http_flags(const HttpFlags& f, EngineOptions& o) {
  FetchOptions& fetch = o.fetch;
  fetch.headers = f.headers;
  if (!f.referer.empty()) fetch.headers.push_back("Referer: " + f.referer);
  if (const auto colon = f.user.find(':'); colon != std::string::npos) {
    fetch.username = f.user.substr(0, colon);
    fetch.password = f.user.substr(colon + 1);
  } else {
    fetch.username = f.user;
  }
  if (!f.password.empty()) fetch.password = f.password;
  fetch.proxy = f.proxy;
  fetch.no_proxy = f.no_proxy;
  fetch.ca_file = f.ca_file;
  if (!f.limit_rate.empty()) fetch.max_bytes_per_second = parse_rate(f.limit_rate).value();
  if (!f.limit_rate_total.empty()) o.shared_curl.total_bytes_per_second = parse_rate(f.limit_rate_total).value();

  if (!f.cookie.empty() && f.cookie.find('=') != std::string::npos) fetch.cookie = f.cookie;
  if (wants_cookies(f)) {
    fetch.cookies = true;
    o.shared_curl.cookies = true;
    if (!f.load_cookies.empty()) o.shared_curl.cookie_file = f.load_cookies;
    if (!f.cookie.empty() && f.cookie.find('=') == std::string::npos) {
      if (!f.load_cookies.empty())
        return Error{ErrorCode::kConfig, "--cookie FILE and --load-cookies FILE: give one cookie file"};
      if (auto readable = check_readable("--cookie", f.cookie); !readable) return readable;
      o.shared_curl.cookie_file = f.cookie;
    }
  }
  return {};
}

Result<std::uint64_t> parse_size(const std::string& text) {
  auto bytes = parse_rate(text);
  if (!bytes) return Error{ErrorCode::kConfig, "'" + text + "' is not a size (bytes: 500, 100k, 2M, 1G)"};
  return bytes;
}

Result<std::uint64_t> parse_rate(const std::string& text) {
  double number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  double scale = 0;
  if (unit.empty()) {
    scale = 1;
  } else if (unit == "k" || unit == "K") {
    scale = 1024;
  } else if (unit == "m" || unit == "M") {
    scale = 1024.0 * 1024;
  } else if (unit == "g" || unit == "G") {
    scale = 1024.0 * 1024 * 1024;
  }
  const double bytes = number * scale;
  if (ec != std::errc{} || scale == 0 || !std::isfinite(bytes) || bytes < 1 || bytes > 1e15)
    return Error{ErrorCode::kConfig, "'" + text + "' is not a rate (bytes per second: 500, 100k, 2M)"};
  return static_cast<std::uint64_t>(bytes);
}

}  // namespace fetchpool::cli
