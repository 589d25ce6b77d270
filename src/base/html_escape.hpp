// Text placed into HTML or SVG (the status page, the benchmark's charts):
// the four characters that could end an element, an attribute value or an
// entity are written as references.
#pragma once

#include <string>
#include <string_view>

namespace fetchpool::detail {

inline std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace fetchpool::detail
