// UTF-8 well-formedness, one sequence at a time (RFC 3629; the same bytes the
// WHATWG Encoding Standard's UTF-8 decoder accepts). Callers choose what an
// ill-formed sequence becomes: the HTML scanner emits one U+FFFD per maximal
// subpart (as the Encoding Standard does), the results writer one per byte,
// download names '_'.
#pragma once

#include <cstddef>
#include <string_view>

namespace fetchpool::detail {

struct Utf8Sequence {
  // Well-formed: the sequence's length (2 to 4). Ill-formed: the length of
  // its maximal subpart, that is the lead byte and the continuation bytes
  // that could still have belonged to it (at least 1).
  std::size_t length = 1;
  bool valid = false;
};

// The sequence that starts at text[at], a byte >= 0x80 (ASCII needs no call).
// Overlong forms, UTF-16 surrogates, code points above U+10FFFF, stray
// continuation bytes and sequences cut short by the end are ill-formed.
constexpr Utf8Sequence utf8_sequence_at(std::string_view text, std::size_t at) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  std::size_t need = 0;
  unsigned char lower = 0x80;  // bounds of the first continuation byte
  unsigned char upper = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2;
    if (lead == 0xE0) lower = 0xA0;  // overlong
    if (lead == 0xED) upper = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3;
    if (lead == 0xF0) lower = 0x90;  // overlong
    if (lead == 0xF4) upper = 0x8F;  // above U+10FFFF
  } else {
    return {1, false};
  }
  std::size_t i = 1;
  for (; i <= need; ++i) {
    if (at + i >= text.size()) break;
    const unsigned char next = byte(at + i);
    if (next < lower || next > upper) break;
    lower = 0x80;
    upper = 0xBF;
  }
  if (i > need) return {need + 1, true};
  return {i, false};
}

}  // namespace fetchpool::detail
