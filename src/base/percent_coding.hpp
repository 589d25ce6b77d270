// Percent-encoding (RFC 3986 2.1), the two halves every URL-handling layer
// needs. Which bytes to encode or decode is each caller's own rule (URL
// normalisation, robots.txt paths, file names, query strings); these only
// read and write the "%XX" triplets.
#pragma once

#include <string>
#include <string_view>

#include "base/ascii.hpp"

namespace fetchpool::detail {

// RFC 3986 2.3 unreserved: ALPHA DIGIT "-" "." "_" "~", the bytes that never
// need encoding and whose encoded form decodes to the same URI.
constexpr bool is_uri_unreserved(char c) noexcept {
  return is_ascii_alpha(c) || is_ascii_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

// Appends "%XX" with upper-case hex, the form RFC 3986 6.2.2.1 calls normal.
inline void append_percent_encoded(std::string& out, unsigned char byte) {
  constexpr std::string_view kHexDigits = "0123456789ABCDEF";
  out += '%';
  out += kHexDigits[byte >> 4];
  out += kHexDigits[byte & 0xF];
}

// Decodes every "%XX" (hex of either case) into its byte; a '%' not followed
// by two hex digits stays as it is. Decodes all bytes, '/' and NUL included:
// the caller decides what a decoded byte may mean.
inline std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int high = hex_digit_value(text[i + 1]);
      const int low = hex_digit_value(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

}  // namespace fetchpool::detail
