#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "base/percent_coding.hpp"

using namespace fetchpool::detail;
using namespace std::string_literals;

TEST_CASE("percent_decode decodes every valid triplet, either case", "[percent_coding]") {
  CHECK(percent_decode("a%20b") == "a b");
  CHECK(percent_decode("%2F%2f") == "//");  // a separator is decoded too: the caller splits first
  CHECK(percent_decode("%41") == "A");      // a triplet that ends the text
  CHECK(percent_decode("%00x") == "\0x"s);
  CHECK(percent_decode("%C3%A9") == "\xC3\xA9");
  CHECK(percent_decode("").empty());
}

TEST_CASE("percent_decode keeps a '%' without two hex digits", "[percent_coding]") {
  CHECK(percent_decode("%") == "%");
  CHECK(percent_decode("100%") == "100%");
  CHECK(percent_decode("%4") == "%4");
  CHECK(percent_decode("%zz") == "%zz");
  CHECK(percent_decode("%4g") == "%4g");
  CHECK(percent_decode("%%41") == "%A");    // the first '%' is literal, the second starts a triplet
  CHECK(percent_decode("%2541") == "%41");  // decoded once, not twice
}

TEST_CASE("append_percent_encoded writes upper-case triplets", "[percent_coding]") {
  std::string out = "x";
  append_percent_encoded(out, 0x2F);
  append_percent_encoded(out, 0x00);
  append_percent_encoded(out, 0xFF);
  append_percent_encoded(out, 0xAB);
  CHECK(out == "x%2F%00%FF%AB");
  for (int byte = 0; byte < 256; ++byte) {
    std::string encoded;
    append_percent_encoded(encoded, static_cast<unsigned char>(byte));
    REQUIRE(percent_decode(encoded) == std::string(1, static_cast<char>(byte)));
  }
}

TEST_CASE("is_uri_unreserved is RFC 3986 2.3 exactly", "[percent_coding]") {
  int count = 0;
  for (int byte = 0; byte < 256; ++byte) count += is_uri_unreserved(static_cast<char>(byte)) ? 1 : 0;
  CHECK(count == 26 + 26 + 10 + 4);
  for (char c : std::string_view("-._~azAZ09")) CHECK(is_uri_unreserved(c));
  for (char c : std::string_view("%/?#[]@!$&'()*+,;= \x7F\xE9")) CHECK_FALSE(is_uri_unreserved(c));
}
