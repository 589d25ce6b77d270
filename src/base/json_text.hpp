// Writing JSON string literals without building a JSON value, for the two
// line formats written per URL (result records, the state journal). They
// differ in what they promise about bytes that are not valid UTF-8:
//   append_json_string        valid JSON (RFC 8259) for any input: invalid
//                             UTF-8 becomes U+FFFD, as nlohmann's
//                             error_handler_t::replace does
//   append_json_string_bytes  every byte survives a round trip through the
//                             journal's own reader; not valid JSON when the
//                             input is not valid UTF-8
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/utf8.hpp"

namespace fetchpool::detail {

// Records are written once per URL on every worker, so their serialisation is
// on the hot path: building an nlohmann::json object per record cost about a
// fifth of all client CPU per request (callgrind). This writer appends
// straight into one string. JSON strings must be valid UTF-8 and pages are
// not obliged to be, so invalid sequences become U+FFFD, as nlohmann's
// error_handler_t::replace does; the sink tests parse every line back with
// nlohmann to hold this writer to the spec.
inline void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  const auto* begin = reinterpret_cast<const unsigned char*>(text.data());
  const auto* p = begin;
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++p;
      continue;
    }
    const Utf8Sequence sequence = utf8_sequence_at(text, static_cast<std::size_t>(p - begin));
    const bool valid = sequence.valid;
    const std::size_t length = sequence.length;
    if (valid) {
      out.append(reinterpret_cast<const char*>(p), length);
      p += length;
    } else {
      out += "\xef\xbf\xbd";  // U+FFFD for this one bad byte, then resynchronise
      ++p;
    }
  }
  out.push_back('"');
}

// Escapes '"', '\\' and the control characters (as \u00XX) and copies every
// other byte as it is.
inline void append_json_string_bytes(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

}  // namespace fetchpool::detail
