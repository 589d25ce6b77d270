// utf8_sequence_at (src/base/utf8.hpp): well-formed sequences by RFC 3629
// table 3-7 ("Well-Formed UTF-8 Byte Sequences" of Unicode 15, 3.9), and the
// maximal subpart the WHATWG Encoding Standard replaces with one U+FFFD.
#include <catch2/catch.hpp>

#include <string_view>

#include "base/utf8.hpp"

using fetchpool::detail::utf8_sequence_at;

namespace {

bool valid(std::string_view text) {
  const auto sequence = utf8_sequence_at(text, 0);
  return sequence.valid && sequence.length == text.size();
}

std::size_t subpart(std::string_view text) {
  const auto sequence = utf8_sequence_at(text, 0);
  return sequence.valid ? 0 : sequence.length;
}

}  // namespace

TEST_CASE("utf8: well-formed sequences of every length and at every range edge", "[utf8]") {
  CHECK(valid("\xC2\x80"));          // U+0080
  CHECK(valid("\xDF\xBF"));          // U+07FF
  CHECK(valid("\xE0\xA0\x80"));      // U+0800: E0 needs A0..BF
  CHECK(valid("\xED\x9F\xBF"));      // U+D7FF: ED stops at 9F
  CHECK(valid("\xEE\x80\x80"));      // U+E000
  CHECK(valid("\xF0\x90\x80\x80"));  // U+10000: F0 needs 90..BF
  CHECK(valid("\xF4\x8F\xBF\xBF"));  // U+10FFFF: F4 stops at 8F
  CHECK(valid("\xE2\x82\xAC"));      // U+20AC
}

TEST_CASE("utf8: ill-formed sequences and the maximal subpart one U+FFFD stands for", "[utf8]") {
  CHECK(subpart("\x80") == 1);      // stray continuation byte
  CHECK(subpart("\xC0\x80") == 1);  // overlong lead: never valid, alone
  CHECK(subpart("\xC1\xBF") == 1);
  CHECK(subpart("\xE0\x80\x80") == 1);      // overlong: second byte out of E0's range
  CHECK(subpart("\xED\xA0\x80") == 1);      // surrogate U+D800
  CHECK(subpart("\xF4\x90\x80\x80") == 1);  // above U+10FFFF
  CHECK(subpart("\xF5\x80\x80\x80") == 1);  // lead beyond F4
  CHECK(subpart("\xE2\x82") == 2);          // cut short by the end: both bytes one subpart
  CHECK(subpart("\xE2\x82"
                "A") == 2);  // cut short by ASCII
  CHECK(subpart("\xF0\x9F\x98") == 3);
  CHECK(subpart("\xF0\x9F\x98"
                "\xF0") == 3);
}

TEST_CASE("utf8: a sequence is read where it starts, not from the string's beginning", "[utf8]") {
  const std::string_view text = "a\xC3\xA9z\xC3";
  const auto inner = utf8_sequence_at(text, 1);
  CHECK(inner.valid);
  CHECK(inner.length == 2);
  const auto last = utf8_sequence_at(text, 4);
  CHECK_FALSE(last.valid);
  CHECK(last.length == 1);
}
