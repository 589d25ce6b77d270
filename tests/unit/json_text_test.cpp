#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "base/json_text.hpp"

using fetchpool::detail::append_json_string;
using fetchpool::detail::append_json_string_bytes;

namespace {

std::string json(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

std::string json_bytes(std::string_view text) {
  std::string out;
  append_json_string_bytes(out, text);
  return out;
}

const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

TEST_CASE("append_json_string escapes quotes, backslashes and controls", "[json_text]") {
  CHECK(json("a\"b\\c") == R"("a\"b\\c")");
  CHECK(json("\n\r\t") == R"("\n\r\t")");
  CHECK(json(std::string_view("\0\x01\x1F\x7F", 4)) == R"("\u0000\u0001\u001f\u007f")");
  CHECK(json("") == R"("")");
  std::string out = "prefix:";
  append_json_string(out, "x");
  CHECK(out == R"(prefix:"x")");
}

TEST_CASE("append_json_string keeps valid UTF-8 and replaces each bad byte with U+FFFD", "[json_text]") {
  CHECK(json("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  CHECK(json("\xFF") == "\"" + kReplacement + "\"");
  CHECK(json("\xC0\xAF") == "\"" + kReplacement + kReplacement + "\"");                     // overlong '/'
  CHECK(json("\xED\xA0\x80") == "\"" + kReplacement + kReplacement + kReplacement + "\"");  // a surrogate
  CHECK(json("\xE2\x82") == "\"" + kReplacement + kReplacement + "\"");                     // cut short
  CHECK(json("\xF4\x90\x80\x80").find('\xF4') == std::string::npos);                        // beyond U+10FFFF
  CHECK(json("a\x80z") == "\"a" + kReplacement + "z\"");                                    // stray continuation
  // Whatever the input, the output parses back as JSON, to the input where it was valid.
  for (const std::string_view text : {"plain", "\xFF\xFE", "x\xC3", "\"\\\n\x01", "caf\xC3\xA9"}) {
    CHECK_NOTHROW(nlohmann::json::parse(json(text)));
  }
  CHECK(nlohmann::json::parse(json("caf\xC3\xA9\n\"")).get<std::string>() == "caf\xC3\xA9\n\"");
}

TEST_CASE("append_json_string_bytes keeps every byte and escapes controls as u00XX", "[json_text]") {
  CHECK(json_bytes("a\"b\\c") == R"("a\"b\\c")");
  CHECK(json_bytes("\xFF\xC3") == "\"\xFF\xC3\"");  // not replaced: the journal must get the bytes back
  CHECK(json_bytes(std::string_view("\0\x7F", 2)) == R"("\u0000\u007f")");
  CHECK(nlohmann::json::parse(json_bytes("http://a/?q=\"x\"\t")).get<std::string>() == "http://a/?q=\"x\"\t");
}

TEST_CASE("the two writers differ exactly on line breaks and invalid UTF-8", "[json_text]") {
  CHECK(json("\n") == R"("\n")");
  CHECK(json_bytes("\n") == R"("\u000a")");
  CHECK(json("\t") == R"("\t")");
  CHECK(json_bytes("\t") == R"("\u0009")");
  CHECK(json("\xFF") != json_bytes("\xFF"));
  CHECK(json("plain \xC3\xA9 \\ \"") == json_bytes("plain \xC3\xA9 \\ \""));
}

TEST_CASE("every byte value, alone and inside runs of plain bytes, escapes as one byte at a time would",
          "[json_text]") {
  // The writers copy runs of plain bytes at once; a byte that needs an escape
  // must be caught at the start, middle and end of a run alike.
  for (int value = 0; value < 256; ++value) {
    const char byte = static_cast<char>(value);
    const std::string alone(1, byte);
    const std::string inner_json = json(alone).substr(1, json(alone).size() - 2);
    const std::string inner_bytes = json_bytes(alone).substr(1, json_bytes(alone).size() - 2);
    for (const std::string_view plain : {"", "a", "http://example.test/path?q=1"}) {
      const std::string p(plain);
      INFO("byte " << value << " beside \"" << p << "\"");
      CHECK(json(p + alone) == "\"" + p + inner_json + "\"");
      CHECK(json(alone + p) == "\"" + inner_json + p + "\"");
      CHECK(json(p + alone + p) == "\"" + p + inner_json + p + "\"");
      CHECK(json_bytes(p + alone + p) == "\"" + p + inner_bytes + p + "\"");
      CHECK(json_bytes(alone + alone + p) == "\"" + inner_bytes + inner_bytes + p + "\"");
    }
    if (value < 0x80) CHECK_NOTHROW(nlohmann::json::parse(json("x" + alone + "y")));
    CHECK(nlohmann::json::parse(json("ab" + alone)).is_string());
    if (value >= 0x20 && value < 0x7f && byte != '"' && byte != '\\') {
      CHECK(inner_json == alone);
    }
  }
}
