// Parsing of the `--frontier redis://HOST:PORT/PREFIX?lease=SECONDS` address
// of a shared Redis frontier.
//
// The syntax follows the redis:// URI scheme registered with IANA
// (https://www.iana.org/assignments/uri-schemes/prov/redis) for host and
// port. Deviations: the path is a key prefix, not a database number (every
// fetchpool key is "PREFIX:..." in database 0, so several crawls share one
// Redis by using different prefixes); user info (passwords) and IPv6
// literals are refused, and the only query parameters are `lease` and `grace`.
//
// This component does not need hiredis, so the CLI can reject a bad address
// with the same message whether or not Redis support is built in.
//
// Thread-safety: pure functions on values.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "fetchpool/error.hpp"

namespace fetchpool {

inline constexpr std::uint16_t kDefaultRedisPort = 6379;
inline constexpr std::string_view kDefaultRedisPrefix = "fetchpool";
inline constexpr std::chrono::seconds kDefaultRedisLease{60};
inline constexpr std::chrono::seconds kDefaultRedisGrace{30};

struct RedisUri {
  std::string host;  // name or IPv4 literal
  std::uint16_t port = kDefaultRedisPort;
  std::string prefix{kDefaultRedisPrefix};  // every key is prefix + ":..."
  // How long a leased URL stays with a process that stops renewing it (a
  // crashed node) before it goes back to the queue.
  std::chrono::seconds lease = kDefaultRedisLease;
  // How long Redis may stay unreachable before this process gives up on the
  // crawl (the lost dependency ends the run with its own exit code).
  std::chrono::seconds grace = kDefaultRedisGrace;
};

// "redis://HOST[:PORT][/PREFIX][?lease=SECONDS][&grace=SECONDS]". PORT
// 1-65535, PREFIX made of letters, digits and "-_.:", lease and grace 1-86400. Errors are one line naming
// the input and the part that is wrong (ErrorCode::kConfig).
Result<RedisUri> parse_redis_uri(std::string_view text);

// The canonical text of a parsed address ("redis://127.0.0.1:6379/fetchpool").
std::string to_string(const RedisUri& uri);

}  // namespace fetchpool
