#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "base/ascii.hpp"

using namespace fetchpool::detail;
using namespace std::string_view_literals;

TEST_CASE("character classes are ASCII only", "[ascii]") {
  CHECK(is_ascii_digit('0'));
  CHECK(is_ascii_digit('9'));
  CHECK_FALSE(is_ascii_digit('/'));
  CHECK_FALSE(is_ascii_digit(':'));
  CHECK(is_ascii_alpha('a'));
  CHECK(is_ascii_alpha('Z'));
  CHECK_FALSE(is_ascii_alpha('@'));
  CHECK_FALSE(is_ascii_alpha('['));
  CHECK_FALSE(is_ascii_alpha('`'));
  CHECK_FALSE(is_ascii_alpha('{'));
  CHECK_FALSE(is_ascii_alpha('\xE9'));  // Latin-1 e-acute is not a letter here
  static_assert(is_ascii_digit('5') && is_ascii_alpha('q'));
}

TEST_CASE("hex_digit_value reads either case and refuses the neighbours", "[ascii]") {
  CHECK(hex_digit_value('0') == 0);
  CHECK(hex_digit_value('9') == 9);
  CHECK(hex_digit_value('a') == 10);
  CHECK(hex_digit_value('f') == 15);
  CHECK(hex_digit_value('A') == 10);
  CHECK(hex_digit_value('F') == 15);
  for (char c : "/:@G`g \xFF"sv) CHECK(hex_digit_value(c) == -1);
}

TEST_CASE("lower-casing folds A-Z only", "[ascii]") {
  CHECK(ascii_lower('A') == 'a');
  CHECK(ascii_lower('Z') == 'z');
  CHECK(ascii_lower('@') == '@');
  CHECK(ascii_lower('[') == '[');
  CHECK(ascii_lower('\xC0') == '\xC0');  // no Latin-1 folding, whatever the C locale says
  CHECK(to_ascii_lower("Content-TYPE: Text/HTML \xC3\x89") == "content-type: text/html \xC3\x89");
  CHECK(to_ascii_lower("").empty());
}

TEST_CASE("iequals folds both sides, iequals_lower only the text", "[ascii]") {
  CHECK(iequals("Content-Length", "CONTENT-length"));
  CHECK(iequals("", ""));
  CHECK_FALSE(iequals("etag", "etags"));
  CHECK_FALSE(iequals("\xC4", "\xE4"));  // Latin-1 A/a umlaut differ: bytes >= 0x80 do not fold
  CHECK(iequals_lower("ETag", "etag"));
  CHECK(iequals_lower("etag", "etag"));
  // The edge that tells them apart: an upper-case letter in the constant.
  CHECK(iequals("etag", "ETag"));
  CHECK_FALSE(iequals_lower("etag", "ETag"));
  CHECK_FALSE(iequals_lower("etag", "eta"));
  static_assert(iequals("A", "a") && iequals_lower("A", "a"));
}

TEST_CASE("prefix and suffix tests", "[ascii]") {
  CHECK(istarts_with_lower("Text/HTML; charset=utf-8", "text/html"));
  CHECK(istarts_with_lower("text/html", "text/html"));
  CHECK_FALSE(istarts_with_lower("text/htm", "text/html"));
  CHECK_FALSE(istarts_with_lower("text/plain", "text/html"));
  CHECK_FALSE(istarts_with_lower("TEXT/HTML", "TEXT/HTML"));  // the prefix must be lower case
  CHECK(istarts_with_lower("anything", ""));
  CHECK(iends_with("/files/REPORT.PDF", ".pdf"));
  CHECK(iends_with("/files/report.pdf", ".PDF"));  // both sides fold
  CHECK_FALSE(iends_with("pdf", ".pdf"));
  CHECK_FALSE(iends_with("/a.pdfx", ".pdf"));
  CHECK(iends_with("x", ""));
}

TEST_CASE("each whitespace set holds exactly its protocol's characters", "[ascii]") {
  // The characters that tell the four sets apart.
  struct Row {
    char c;
    bool ows, ows_or_newline, html, c0_or_space;
  };
  const Row rows[] = {
      {' ', true, true, true, true},        {'\t', true, true, true, true},      {'\r', false, true, true, true},
      {'\n', false, true, true, true},      {'\f', false, false, true, true},    {'\v', false, false, false, true},
      {'\0', false, false, false, true},    {'\x1F', false, false, false, true}, {'\x7F', false, false, false, false},
      {'\xA0', false, false, false, false}, {'x', false, false, false, false},
  };
  for (const Row& row : rows) {
    INFO("byte " << static_cast<int>(static_cast<unsigned char>(row.c)));
    CHECK(is_http_ows(row.c) == row.ows);
    CHECK(is_ows_or_newline(row.c) == row.ows_or_newline);
    CHECK(is_html_space(row.c) == row.html);
    CHECK(is_c0_control_or_space(row.c) == row.c0_or_space);
  }
}

TEST_CASE("trimming uses only its own set and keeps the inside", "[ascii]") {
  CHECK(trim_http_ows(" \t a b \t ") == "a b");
  CHECK(trim_http_ows("\r\nvalue\r\n") == "\r\nvalue\r\n");
  CHECK(trim_ows_and_newlines(" value\r\n") == "value");
  CHECK(trim_ows_and_newlines("\fvalue") == "\fvalue");
  CHECK(trim_html_space("\f robots \n") == "robots");
  CHECK(trim_html_space("\vrobots") == "\vrobots");
  CHECK(trim_c0_control_or_space("\x01\x1F http://a/ \0"sv) == "http://a/");
  CHECK(trim_c0_control_or_space("\x7Fhttp://a/\xA0") == "\x7Fhttp://a/\xA0");
  CHECK(trim_any_of("\v\f allow \t", " \t\v\f") == "allow");
  CHECK(trim_any_of("\nallow", " \t\v\f") == "\nallow");
  CHECK(trim_http_ows("").empty());
  CHECK(trim_http_ows(" \t ").empty());
  CHECK(trim_any_of("   ", " ").empty());
}
