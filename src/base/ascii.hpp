// ASCII character tests, case folding and trimming, independent of the C
// locale (std::tolower and std::isspace follow it; protocols do not).
//
// Protocols disagree on what "whitespace" is, so each set has its own name
// and none is a default:
//   is_http_ows            SP HTAB                 RFC 9110 5.6.3 OWS
//   is_ows_or_newline      SP HTAB CR LF           a header line as libcurl hands it over
//   is_html_space          SP HTAB LF FF CR        WHATWG "ASCII whitespace" (HTML)
//   trim_c0_control_or_space  every byte <= 0x20   WHATWG URL "C0 control or space"
// Only ASCII letters fold; bytes >= 0x80 compare as they are.
#pragma once

#include <string>
#include <string_view>

namespace fetchpool::detail {

constexpr bool is_ascii_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_ascii_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_ascii_alnum(char c) noexcept { return is_ascii_alpha(c) || is_ascii_digit(c); }
constexpr bool is_ascii_hex_digit(char c) noexcept {
  return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// 0..15 for a hex digit of either case, else -1.
constexpr int hex_digit_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string to_ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// Equal ignoring ASCII case on both sides.
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Equal ignoring the ASCII case of `text` only: `lower` must already be lower
// case (our protocol constants are), and an upper-case letter in it matches
// nothing. Saves folding the constant on every comparison.
constexpr bool iequals_lower(std::string_view text, std::string_view lower) noexcept {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (ascii_lower(text[i]) != lower[i]) return false;
  }
  return true;
}

// `text` starts with `lower_prefix`, ignoring the ASCII case of `text` only
// (as iequals_lower).
constexpr bool istarts_with_lower(std::string_view text, std::string_view lower_prefix) noexcept {
  return text.size() >= lower_prefix.size() && iequals_lower(text.substr(0, lower_prefix.size()), lower_prefix);
}

// `text` ends with `suffix`, ignoring ASCII case on both sides.
constexpr bool iends_with(std::string_view text, std::string_view suffix) noexcept {
  return text.size() >= suffix.size() && iequals(text.substr(text.size() - suffix.size()), suffix);
}

constexpr bool is_http_ows(char c) noexcept { return c == ' ' || c == '\t'; }
constexpr bool is_ows_or_newline(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
constexpr bool is_html_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }
constexpr bool is_c0_control_or_space(char c) noexcept { return static_cast<unsigned char>(c) <= 0x20; }

// `text` without leading and trailing characters for which is_trimmed(c) holds.
template <typename IsTrimmed>
constexpr std::string_view trim_if(std::string_view text, IsTrimmed is_trimmed) noexcept {
  while (!text.empty() && is_trimmed(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_trimmed(text.back())) text.remove_suffix(1);
  return text;
}

constexpr std::string_view trim_http_ows(std::string_view text) noexcept { return trim_if(text, is_http_ows); }
constexpr std::string_view trim_ows_and_newlines(std::string_view text) noexcept {
  return trim_if(text, is_ows_or_newline);
}
constexpr std::string_view trim_html_space(std::string_view text) noexcept { return trim_if(text, is_html_space); }
constexpr std::string_view trim_c0_control_or_space(std::string_view text) noexcept {
  return trim_if(text, is_c0_control_or_space);
}
// For a format-specific set, such as robots.txt's " \t\v\f".
constexpr std::string_view trim_any_of(std::string_view text, std::string_view chars) noexcept {
  return trim_if(text, [chars](char c) { return chars.find(c) != std::string_view::npos; });
}

}  // namespace fetchpool::detail
