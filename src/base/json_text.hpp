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

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/utf8.hpp"

namespace fetchpool::detail {

// A byte copied into a JSON string as it is: printable ASCII other than the
// quote and the backslash (DEL is escaped too, as nlohmann does). A table:
// one load per byte where four compares cost twice the instructions.
inline constexpr auto kJsonPlainBytes = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x7f; ++c) plain[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
  return plain;
}();
constexpr bool json_plain_byte(unsigned char c) noexcept { return kJsonPlainBytes[c]; }

// Appends the run of plain bytes at `p` in one append (URLs are nearly all
// plain: a byte at a time cost a record about 3,000 instructions) and
// returns where it stopped.
inline const unsigned char* append_json_plain_run(std::string& out, const unsigned char* p, const unsigned char* end) {
  const unsigned char* run = p;
  while (p < end && json_plain_byte(*p)) ++p;
  out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
  return p;
}

// The escape of a byte below 0x80 that is not plain.
inline void append_json_ascii_escape(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
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
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
  }
}

// Records are written once per URL on every worker, so their serialisation is
// on the hot path: building an nlohmann::json object per record cost about a
// fifth of all client CPU per request (callgrind). This writer appends
// straight into one string. JSON strings must be valid UTF-8 and pages are
// not obliged to be, so invalid sequences become U+FFFD, as nlohmann's
// error_handler_t::replace does; the sink tests parse every line back with
// nlohmann to hold this writer to the spec.
inline void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  const auto* begin = reinterpret_cast<const unsigned char*>(text.data());
  const auto* p = begin;
  const auto* end = p + text.size();
  while (p < end) {
    p = append_json_plain_run(out, p, end);
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      append_json_ascii_escape(out, c);
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
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    // Bytes from 0x80 up are copied as they are here.
    const unsigned char* run = p;
    while (p < end && (json_plain_byte(*p) || *p >= 0x80)) ++p;
    out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
    if (p == end) break;
    const unsigned char c = *p++;
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  out.push_back('"');
}

}  // namespace fetchpool::detail
