// The naming part of download.hpp: URL paths and Content-Disposition values made into
// safe relative paths.
#include "fetchpool/download.hpp"

#include <string>
#include <vector>

#include "base/ascii.hpp"
#include "base/percent_coding.hpp"
#include "base/utf8.hpp"
#include "store/download_internal.hpp"

namespace fetchpool {

namespace fs = std::filesystem;

using detail::is_dot_name;
using detail::is_http_ows;
using detail::percent_decode;
using detail::to_ascii_lower;
using detail::trim_http_ows;
using detail::utf8_sequence_at;
using detail::Utf8Sequence;

namespace {

constexpr std::size_t kMaxExtensionBytes = 16;

// One path component made safe: separators, control characters and invalid UTF-8
// become '_'; valid UTF-8 is kept as it is.
std::string sanitize_component(std::string_view decoded) {
  std::string out;
  out.reserve(decoded.size());
  for (std::size_t i = 0; i < decoded.size();) {
    auto c = static_cast<unsigned char>(decoded[i]);
    if (c < 0x80) {
      bool bad = c < 0x20 || c == 0x7F || c == '/' || c == '\\';
      out.push_back(bad ? '_' : static_cast<char>(c));
      ++i;
      continue;
    }
    const Utf8Sequence sequence = utf8_sequence_at(decoded, i);
    std::size_t length = sequence.valid ? sequence.length : 0;
    bool c1_control = length == 2 && c == 0xC2 && static_cast<unsigned char>(decoded[i + 1]) <= 0x9F;
    if (length == 0 || c1_control) {
      out.push_back('_');
      i += length == 0 ? 1 : length;
      continue;
    }
    out.append(decoded.substr(i, length));
    i += length;
  }
  return out;
}

// The longest prefix of `text` of at most `bytes` bytes that does not split a UTF-8
// sequence (text is valid UTF-8 after sanitize_component).
std::string_view utf8_prefix(std::string_view text, std::size_t bytes) {
  if (text.size() <= bytes) return text;
  std::size_t cut = bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

std::string truncate_component(std::string name, std::size_t max_bytes) {
  if (name.size() <= max_bytes) return name;
  std::string_view view = name;
  std::string_view extension;
  std::size_t dot = view.rfind('.');
  if (dot != std::string_view::npos && dot > 0 && view.size() - dot <= kMaxExtensionBytes &&
      view.size() - dot < max_bytes) {
    extension = view.substr(dot);
  }
  std::string stem(utf8_prefix(view.substr(0, view.size() - extension.size()), max_bytes - extension.size()));
  if (stem.empty()) stem.push_back('_');  // the budget fell inside one multi-byte character
  return stem + std::string(extension);
}

std::string latin1_to_utf8(std::string_view text) {
  std::string out;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

// RFC 8187 ext-value: charset "'" [ language ] "'" value-chars.
std::optional<std::string> decode_ext_value(std::string_view value) {
  std::size_t first = value.find('\'');
  if (first == std::string_view::npos) return std::nullopt;
  std::size_t second = value.find('\'', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  std::string charset = to_ascii_lower(value.substr(0, first));
  std::string decoded = percent_decode(value.substr(second + 1));
  if (charset == "utf-8") return decoded;
  if (charset == "iso-8859-1") return latin1_to_utf8(decoded);
  return std::nullopt;
}

std::optional<std::string> last_component(std::string_view name) {
  std::size_t slash = name.find_last_of("/\\");
  std::string base(trim_http_ows(slash == std::string_view::npos ? name : name.substr(slash + 1)));
  if (is_dot_name(base)) return std::nullopt;
  return base;
}

}  // namespace

std::optional<std::string> filename_from_content_disposition(std::string_view header) {
  std::optional<std::string> plain;
  std::optional<std::string> extended;
  std::size_t i = header.find(';');  // skip the disposition type
  while (i != std::string_view::npos && i < header.size()) {
    ++i;  // past ';'
    std::size_t name_end = header.find_first_of("=;", i);
    if (name_end == std::string_view::npos) break;
    std::string name = to_ascii_lower(trim_http_ows(header.substr(i, name_end - i)));
    if (header[name_end] == ';') {  // a parameter without a value
      i = name_end;
      continue;
    }
    std::size_t v = name_end + 1;
    while (v < header.size() && is_http_ows(header[v])) ++v;
    std::string value;
    if (v < header.size() && header[v] == '"') {
      // quoted-string with quoted-pairs; an unterminated one runs to the end.
      for (++v; v < header.size() && header[v] != '"'; ++v) {
        if (header[v] == '\\' && v + 1 < header.size()) ++v;
        value.push_back(header[v]);
      }
      i = header.find(';', v);
    } else {
      std::size_t end = header.find(';', v);
      value = trim_http_ows(header.substr(v, end == std::string_view::npos ? std::string_view::npos : end - v));
      i = end;
    }
    if (name == "filename") {
      plain = std::move(value);
    } else if (name == "filename*") {
      if (auto decoded = decode_ext_value(value)) extended = std::move(decoded);
    }
  }
  if (extended) {
    if (auto base = last_component(*extended)) return base;
  }
  if (plain) return last_component(*plain);
  return std::nullopt;
}

fs::path safe_relative_path(std::string_view host, std::string_view url_path, std::string_view content_disposition,
                            const NamingOptions& options) {
  std::size_t max_bytes = std::max<std::size_t>(options.max_name_bytes, 1);
  std::string_view path = url_path.substr(0, url_path.find_first_of("?#"));

  std::vector<std::string> directories;
  std::size_t slash = path.rfind('/');
  std::string_view last_segment = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (options.use_directories) {
    std::string safe_host = sanitize_component(host);
    if (!is_dot_name(safe_host)) directories.push_back(std::move(safe_host));
    std::string_view dir_part = slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
    while (!dir_part.empty()) {
      std::size_t next = dir_part.find('/');
      std::string segment = sanitize_component(percent_decode(dir_part.substr(0, next)));
      if (!is_dot_name(segment)) directories.push_back(std::move(segment));
      dir_part = next == std::string_view::npos ? std::string_view() : dir_part.substr(next + 1);
    }
  }

  std::string file_name = sanitize_component(percent_decode(last_segment));
  if (is_dot_name(file_name)) file_name = kDefaultFileName;
  if (options.content_disposition && !content_disposition.empty()) {
    if (auto suggested = filename_from_content_disposition(content_disposition)) {
      std::string safe = sanitize_component(*suggested);
      if (!is_dot_name(safe)) file_name = std::move(safe);
    }
  }

  fs::path result;
  for (auto& directory : directories) {
    std::string name = truncate_component(std::move(directory), max_bytes);
    if (!is_dot_name(name)) result /= name;
  }
  file_name = truncate_component(std::move(file_name), max_bytes);
  if (is_dot_name(file_name)) file_name.assign(1, '_');  // a cut "..x" could leave "."
  result /= file_name;
  return result;
}

}  // namespace fetchpool
