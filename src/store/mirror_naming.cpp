// The naming part of mirror_store.hpp: URLs as file names under the mirror
// directory, and relative links between those files.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/ascii.hpp"
#include "base/percent_coding.hpp"
#include "base/utf8.hpp"
#include "store/mirror_store.hpp"

namespace fetchpool {

namespace {

using detail::append_percent_encoded;
using detail::hex_digit_value;

constexpr std::size_t kMaxExtensionBytes = 16;
constexpr std::string_view kIndexName = "index.html";

// RFC 3986 gen-delims and sub-delims, and '\\': an escape of one of these
// means something else than the plain character, so it stays "%XX".
bool is_delimiter(unsigned char byte) {
  return std::string_view(":/?#[]@!$&'()*+,;=\\").find(static_cast<char>(byte)) != std::string_view::npos;
}

bool never_plain(unsigned char byte) { return byte < 0x20 || byte == 0x7F || byte == '%' || byte == '/'; }

struct Unit {
  unsigned char byte;
  bool escaped;
};

std::vector<Unit> units_of(std::string_view text) {
  std::vector<Unit> units;
  units.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '%' && i + 2 < text.size() && hex_digit_value(text[i + 1]) >= 0 &&
        hex_digit_value(text[i + 2]) >= 0) {
      units.push_back(
          {static_cast<unsigned char>(hex_digit_value(text[i + 1]) * 16 + hex_digit_value(text[i + 2])), true});
      i += 3;
    } else {
      units.push_back({static_cast<unsigned char>(text[i]), false});
      ++i;
    }
  }
  return units;
}

// A component in URL form as the bytes of a file name, before any length
// limit: escapes of plain characters decoded, everything else "%XX".
std::string escape_component(std::string_view text) {
  const std::vector<Unit> units = units_of(text);
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < units.size();) {
    const Unit unit = units[i];
    if (unit.byte >= 0x80) {
      // A run of high bytes: valid UTF-8 (but no C1 control) is written as
      // it is, any other byte stays escaped.
      std::size_t end = i;
      std::string run;
      while (end < units.size() && units[end].byte >= 0x80) run.push_back(static_cast<char>(units[end++].byte));
      for (std::size_t at = 0; at < run.size();) {
        const auto sequence = detail::utf8_sequence_at(run, at);
        const bool c1 = sequence.valid && sequence.length == 2 && static_cast<unsigned char>(run[at]) == 0xC2 &&
                        static_cast<unsigned char>(run[at + 1]) <= 0x9F;
        if (sequence.valid && !c1) {
          out.append(run, at, sequence.length);
          at += sequence.length;
        } else {
          append_percent_encoded(out, static_cast<unsigned char>(run[at]));
          ++at;
        }
      }
      i = end;
      continue;
    }
    if (never_plain(unit.byte) || (unit.escaped && is_delimiter(unit.byte))) {
      append_percent_encoded(out, unit.byte);
    } else {
      out.push_back(static_cast<char>(unit.byte));
    }
    ++i;
  }
  if (out == ".") return "%2E";
  if (out == "..") return "%2E%2E";
  // No URL component escapes to a lone '%' (every other '%' starts "%XX"),
  // so an empty segment ("/a//b") keeps a name of its own.
  if (out.empty()) return "%";
  return out;
}

std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t h = 0xCBF29CE484222325ULL;
  for (const char c : text) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ULL;
  return h;
}

// Cuts a name over kMirrorMaxNameBytes to a prefix, "~", 16 hex digits of
// the whole name's hash and its extension; never inside a UTF-8 sequence or
// a "%XX".
std::string fit_name(std::string name) {
  if (name.size() <= kMirrorMaxNameBytes) return name;
  std::string extension;
  if (name.find('?') == std::string::npos) {
    const std::size_t dot = name.rfind('.');
    if (dot != std::string::npos && dot > 0 && name.size() - dot <= kMaxExtensionBytes) extension = name.substr(dot);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string suffix = "~";
  const std::uint64_t hash = fnv1a(name);
  for (int shift = 60; shift >= 0; shift -= 4) suffix.push_back(kHex[(hash >> shift) & 0xF]);
  suffix += extension;
  std::size_t cut = kMirrorMaxNameBytes - suffix.size();
  while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
  if (cut >= 1 && name[cut - 1] == '%') cut -= 1;
  if (cut >= 2 && name[cut - 2] == '%') cut -= 2;
  return name.substr(0, cut) + suffix;
}

bool is_link_plain(char c) {
  // ':' is escaped too, so that no first segment reads as a scheme ("a:b").
  return detail::is_uri_unreserved(c) || std::string_view("!$()*+,;=@").find(c) != std::string_view::npos;
}

void append_link_component(std::string& out, std::string_view name) {
  for (const char c : name) {
    if (is_link_plain(c)) {
      out.push_back(c);
    } else {
      append_percent_encoded(out, static_cast<unsigned char>(c));
    }
  }
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t slash = path.find('/', start);
    parts.push_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) return parts;
    start = slash + 1;
  }
}

}  // namespace

std::string mirror_file_name(std::string_view component) { return fit_name(escape_component(component)); }

std::string mirror_site_path(std::string_view path_and_query) {
  path_and_query = path_and_query.substr(0, path_and_query.find('#'));
  const std::size_t question = path_and_query.find('?');
  std::string_view path = path_and_query.substr(0, question);
  if (path.starts_with('/')) path.remove_prefix(1);
  std::string out;
  const std::vector<std::string_view> segments = split_path(path);
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    out += mirror_file_name(segments[i]);
    out += '/';
  }
  std::string leaf = segments.back().empty() ? std::string(kIndexName) : escape_component(segments.back());
  if (question != std::string_view::npos) {
    leaf += '?';
    leaf += escape_component(path_and_query.substr(question + 1));
  }
  out += fit_name(std::move(leaf));
  return out;
}

std::string mirror_relative_path(std::string_view host_directory, std::string_view path_and_query) {
  return mirror_file_name(host_directory) + "/" + mirror_site_path(path_and_query);
}

std::string mirror_relative_path(const Url& url) {
  std::string host(url.host());
  const bool default_port =
      (url.scheme() == "http" && url.port() == 80) || (url.scheme() == "https" && url.port() == 443);
  if (!default_port) {
    host.push_back(':');
    host.append(std::to_string(url.port()));
  }
  return mirror_relative_path(host, url.path_and_query());
}

std::string mirror_relative_link(std::string_view from, std::string_view to) {
  const std::vector<std::string_view> source = split_path(from);
  const std::vector<std::string_view> target = split_path(to);
  // Directories shared by both files (all but the last part of each).
  std::size_t common = 0;
  while (common + 1 < source.size() && common + 1 < target.size() && source[common] == target[common]) ++common;
  std::string link;
  for (std::size_t i = common; i + 1 < source.size(); ++i) link += "../";
  for (std::size_t i = common; i < target.size(); ++i) {
    if (i > common) link += '/';
    append_link_component(link, target[i]);
  }
  return link;
}

}  // namespace fetchpool
