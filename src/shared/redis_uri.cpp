#include "fetchpool/redis_uri.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace fetchpool {

namespace {

Error bad(std::string_view text, std::string_view what) {
  std::string message = "--frontier '";
  message += text;
  message += "': ";
  message += what;
  return Error{ErrorCode::kConfig, std::move(message)};
}

bool parse_number(std::string_view digits, std::uint64_t low, std::uint64_t high, std::uint64_t& out) {
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
  return ec == std::errc() && end == digits.data() + digits.size() && out >= low && out <= high;
}

bool host_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_'; }
// ':' separates the prefix from the key names, so it may not appear in a
// prefix: `--clear` of crawl "a" (keys a:*) would also delete crawl "a:b".
bool prefix_char(char c) { return host_char(c); }

}  // namespace

Result<RedisUri> parse_redis_uri(std::string_view text) {
  constexpr std::string_view kScheme = "redis://";
  if (text.substr(0, kScheme.size()) != kScheme) return bad(text, "expected redis://HOST:PORT/PREFIX");
  std::string_view rest = text.substr(kScheme.size());

  std::string_view query;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view path;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (rest.find('@') != std::string_view::npos) return bad(text, "user names and passwords are not supported");
  if (!rest.empty() && rest.front() == '[')
    return bad(text, "IPv6 literals are not supported; use a host name or IPv4 address");

  RedisUri uri;
  std::string_view host = rest;
  if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    std::uint64_t port = 0;
    if (!parse_number(rest.substr(colon + 1), 1, 65535, port)) {
      return bad(text, "port '" + std::string(rest.substr(colon + 1)) + "' is not a number from 1 to 65535");
    }
    uri.port = static_cast<std::uint16_t>(port);
  }
  if (host.empty()) return bad(text, "no host");
  if (!std::all_of(host.begin(), host.end(), host_char))
    return bad(text, "host '" + std::string(host) + "' has characters a host name cannot have");
  uri.host = std::string(host);

  if (!path.empty()) {
    if (!std::all_of(path.begin(), path.end(), prefix_char)) {
      return bad(text, "key prefix '" + std::string(path) + "' may only have letters, digits and -_.");
    }
    uri.prefix = std::string(path);
  }

  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = param.find('=');
    const std::string_view name = param.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
    if (name != "lease" && name != "grace")
      return bad(text, "unknown parameter '" + std::string(name) + "' (only lease=SECONDS and grace=SECONDS)");
    std::uint64_t seconds = 0;
    if (!parse_number(value, 1, 86400, seconds))
      return bad(text, std::string(name) + " '" + std::string(value) + "' is not a number of seconds from 1 to 86400");
    (name == "lease" ? uri.lease : uri.grace) = std::chrono::seconds(seconds);
  }
  return uri;
}

std::string to_string(const RedisUri& uri) {
  std::string text = "redis://" + uri.host + ":" + std::to_string(uri.port) + "/" + uri.prefix;
  char separator = '?';
  if (uri.lease != kDefaultRedisLease) {
    text += "?lease=" + std::to_string(uri.lease.count());
    separator = '&';
  }
  if (uri.grace != kDefaultRedisGrace) text += separator + std::string("grace=") + std::to_string(uri.grace.count());
  return text;
}

}  // namespace fetchpool
