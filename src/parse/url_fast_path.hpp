// The two ways url.cpp reads a URL, side by side so that a test can check one
// against the other (tests/unit/url_fast_path_test.cpp).
//
// Url::parse and Url::resolve first try a path of their own for the URLs a
// crawl meets nearly all the time: "http(s)://" in lower case, a host of lower
// case letters, digits, '-' and '.' (an IPv4 address only in its canonical
// dotted form), an optional port, and a path and query made only of bytes RFC
// 3986 allows there unencoded, with no '%' at all; relative references of the
// same bytes. Such a URL is already in normal form apart from its dot segments
// (RFC 3986 5.2.4) and default port, so it needs neither libcurl's parser nor
// the part-by-part rebuild, which cost ~8 allocations and a formatted copy of
// the base per link. Anything else (upper case, userinfo, IDN, IPv6, escapes,
// bytes to encode, IPv4 shorthand, unusual ports) returns nullopt here and
// goes through libcurl as before, so errors and their messages never come
// from the fast path.
#pragma once

#include <optional>
#include <string_view>

#include "fetchpool/url.hpp"

namespace fetchpool::detail {

// The fast path alone: the Url, or nullopt when `text` is outside its class.
// `text` is the input as given (not trimmed); surrounding spaces put it outside.
std::optional<Url> parse_simple(std::string_view text);
std::optional<Url> resolve_simple(const Url& base, std::string_view reference);

// The libcurl path alone: what Url::parse / Url::resolve return without the fast path.
Result<Url> parse_with_curl(std::string_view text);
Result<Url> resolve_with_curl(const Url& base, std::string_view reference);

}  // namespace fetchpool::detail
