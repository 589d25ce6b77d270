#include "fetchpool/url.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <idn2.h>
#include <libpsl.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <optional>
#include <string>

#include "base/ascii.hpp"
#include "base/curl_raii.hpp"
#include "base/percent_coding.hpp"
#include "parse/url_fast_path.hpp"

namespace fetchpool {
namespace {

using detail::append_percent_encoded;
using detail::ascii_lower;
using detail::hex_digit_value;
using detail::iequals;
using detail::trim_c0_control_or_space;

using detail::CurlStringPtr;
using detail::CurlUrlPtr;

// Error messages quote at most this much of the input.
constexpr std::size_t kQuoteLimit = 200;

// Character classes of RFC 3986 section 2 and 3.1, one bit each.
enum : std::uint8_t {
  kUnreserved = 1 << 0,  // ALPHA DIGIT - . _ ~
  kSubDelim = 1 << 1,    // ! $ & ' ( ) * + , ; =
  kColon = 1 << 2,
  kAt = 1 << 3,
  kSlash = 1 << 4,
  kQuestion = 1 << 5,
  kSchemeChar = 1 << 6,  // ALPHA DIGIT + - .
};

constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    std::uint8_t bits = 0;
    if (detail::is_uri_unreserved(ch)) bits |= kUnreserved;
    if (detail::is_ascii_alpha(ch) || detail::is_ascii_digit(ch) || c == '+' || c == '-' || c == '.')
      bits |= kSchemeChar;
    table[static_cast<std::size_t>(c)] = bits;
  }
  for (char c : std::string_view("!$&'()*+,;=")) table[static_cast<unsigned char>(c)] |= kSubDelim;
  table[':'] |= kColon;
  table['@'] |= kAt;
  table['/'] |= kSlash;
  table['?'] |= kQuestion;
  return table;
}
constexpr std::array<std::uint8_t, 256> kClasses = make_classes();

// What each component may contain unencoded (RFC 3986 3.2.1, 3.3, 3.4).
constexpr std::uint8_t kUserChars = kUnreserved | kSubDelim;
constexpr std::uint8_t kPasswordChars = kUnreserved | kSubDelim | kColon;
constexpr std::uint8_t kPathChars = kUnreserved | kSubDelim | kColon | kAt | kSlash;
constexpr std::uint8_t kQueryChars = kPathChars | kQuestion;

constexpr char kHexDigits[] = "0123456789ABCDEF";

std::uint8_t char_class(char c) noexcept { return kClasses[static_cast<unsigned char>(c)]; }

// The input as it may appear in a one-line, pure-ASCII error message (sinks
// write messages into JSON, which must be valid UTF-8).
std::string quote(std::string_view text) {
  std::string out = "\"";
  const std::size_t shown = std::min(text.size(), kQuoteLimit);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte >= 0x7F) {
      out += "\\x";
      out += kHexDigits[byte >> 4];
      out += kHexDigits[byte & 0xF];
    } else {
      if (byte == '"' || byte == '\\') out += '\\';
      out += static_cast<char>(byte);
    }
  }
  out += '"';
  if (shown < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

Error invalid(std::string_view input, std::string_view what) {
  return Error{ErrorCode::kInvalidUrl, "invalid URL " + quote(input) + ": " + std::string(what)};
}

Error unsupported(std::string_view scheme, std::string_view input) {
  return Error{ErrorCode::kUnsupportedScheme, "unsupported scheme " + quote(scheme) + " in URL " + quote(input) +
                                                  " (only http and https are followed)"};
}

Error from_curlu(CURLUcode code, std::string_view input) {
  if (code == CURLUE_OUT_OF_MEMORY) return Error{ErrorCode::kInternal, "out of memory parsing URL " + quote(input)};
  return invalid(input, curl_url_strerror(code));
}

// The scheme, if `text` starts with one (RFC 3986 3.1: ALPHA *( ALPHA / DIGIT
// / "+" / "-" / "." ) ":"). Only used to refuse other schemes before libcurl
// sees them: curl's CURLUE_UNSUPPORTED_SCHEME does not say which scheme it
// was, and mailto:/javascript: links are common enough to skip the work.
std::string_view leading_scheme(std::string_view text) noexcept {
  const char first = text.empty() ? '\0' : ascii_lower(text.front());
  if (first < 'a' || first > 'z') return {};
  for (std::size_t i = 1; i < text.size(); ++i) {
    if (text[i] == ':') return text.substr(0, i);
    if ((char_class(text[i]) & kSchemeChar) == 0) return {};
  }
  return {};
}

bool is_http_scheme(std::string_view scheme) noexcept { return iequals(scheme, "http") || iequals(scheme, "https"); }

// Copies trimmed input into `out` as a C string for libcurl: tab, CR and LF are
// removed (WHATWG), and spaces and other controls are percent-encoded. Doing
// it here rather than with CURLU_ALLOW_SPACE | CURLU_URLENCODE matters:
// libcurl would turn a space in the query into "+", which a server decodes as
// a space only in form data, and it would stop at an embedded NUL.
void prepare(std::string_view text, std::string& out) {
  const auto needs_work = [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7F;
  };
  if (std::none_of(text.begin(), text.end(), needs_work)) {
    out.assign(text);
    return;
  }
  out.clear();
  out.reserve(text.size() + 16);
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == '\t' || byte == '\n' || byte == '\r') continue;
    if (byte <= 0x20 || byte == 0x7F) {
      append_percent_encoded(out, byte);
    } else {
      out += c;
    }
  }
}

// Appends `in` normalised per RFC 3986 6.2.2.1-2: percent-encoded unreserved
// characters decoded, other escapes with upper-case hex, and any byte not in
// `allowed` (including a stray '%') encoded. Returns whether a "%2E" became a
// dot, which can create a new dot segment.
bool append_normalised(std::string_view in, std::uint8_t allowed, std::string& out) {
  bool decoded_dot = false;
  for (std::size_t i = 0; i < in.size(); ++i) {
    // Runs of characters that stay as they are are copied in one go.
    std::size_t run = i;
    while (run < in.size() && in[run] != '%' && (char_class(in[run]) & allowed)) ++run;
    if (run > i) {
      out.append(in, i, run - i);
      i = run - 1;
      continue;
    }
    const char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      const int high = hex_digit_value(in[i + 1]);
      const int low = hex_digit_value(in[i + 2]);
      if (high >= 0 && low >= 0) {
        const auto byte = static_cast<unsigned char>(high * 16 + low);
        if (char_class(static_cast<char>(byte)) & kUnreserved) {
          out += static_cast<char>(byte);
          decoded_dot = decoded_dot || byte == '.';
        } else {
          append_percent_encoded(out, byte);
        }
        i += 2;
        continue;
      }
    }
    if (char_class(c) & allowed) {
      out += c;
    } else {
      append_percent_encoded(out, static_cast<unsigned char>(c));
    }
  }
  return decoded_dot;
}

// Whether a normalised path has a "." or ".." segment.
bool has_dot_segment(std::string_view path) noexcept {
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    if (segment == "." || segment == "..") return true;
    start = end + 1;
  }
  return false;
}

CURLUcode get_part(CURLU* handle, CURLUPart part, CurlStringPtr& out, unsigned int flags = 0) {
  char* text = nullptr;
  const CURLUcode code = curl_url_get(handle, part, &text, flags);
  out.reset(text);
  return code;
}

bool has_non_ascii(std::string_view text) noexcept {
  return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// Host in canonical form: IDN to punycode, ASCII lower case, IPv6 per RFC 5952.
Result<std::string> normalise_host(const char* raw, std::string_view input) {
  std::string host;
  if (has_non_ascii(raw)) {
    // libidn2 directly rather than CURLU_PUNYCODE: libcurl 7.88 converts with
    // idn2_lookup_ul, which reads the host in the process locale and so
    // fails for every IDN in a program running in the "C" locale. The flags
    // and the transitional fallback are those curl uses.
    std::uint8_t* ascii = nullptr;
    const auto* utf8 = reinterpret_cast<const std::uint8_t*>(raw);
    int code = idn2_lookup_u8(utf8, &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (code == IDN2_DISALLOWED) code = idn2_lookup_u8(utf8, &ascii, IDN2_NFC_INPUT | IDN2_TRANSITIONAL);
    if (code != IDN2_OK) {
      return invalid(input, std::string("bad international host name: ") + idn2_strerror(code));
    }
    host = reinterpret_cast<const char*>(ascii);
    idn2_free(ascii);
  } else {
    host = raw;
  }
  std::transform(host.begin(), host.end(), host.begin(), ascii_lower);
  if (host.size() > 2 && host.front() == '[') {
    const std::string literal = host.substr(1, host.size() - 2);
    in6_addr address{};
    char canonical[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET6, literal.c_str(), &address) != 1 ||
        inet_ntop(AF_INET6, &address, canonical, sizeof canonical) == nullptr) {
      return invalid(input, "bad IPv6 address");
    }
    host = std::string("[") + canonical + "]";
  }
  return host;
}

std::uint16_t default_port(std::string_view scheme) noexcept { return scheme == "https" ? 443 : 80; }

}  // namespace

// Builds a Url from a handle that holds a parsed URL: the one place where
// libcurl's parts become our normal form.
struct UrlAccess {
  static Result<Url> build(CURLU* handle, std::string_view input, bool second_pass) {
    CurlStringPtr scheme_part, host_part, port_part, user_part, password_part, path_part, query_part, zone_part;
    if (get_part(handle, CURLUPART_SCHEME, scheme_part) != CURLUE_OK) return invalid(input, "no scheme");
    const std::string_view scheme = scheme_part.get();
    if (scheme != "http" && scheme != "https") return unsupported(scheme, input);
    if (get_part(handle, CURLUPART_ZONEID, zone_part) == CURLUE_OK) {
      return invalid(input, "IPv6 zone identifiers are not supported");
    }
    if (const CURLUcode code = get_part(handle, CURLUPART_HOST, host_part); code != CURLUE_OK) {
      return from_curlu(code, input);
    }
    Result<std::string> host = normalise_host(host_part.get(), input);
    if (!host) return std::move(host).error();
    if (host->empty()) return invalid(input, "empty host name");

    if (const CURLUcode code = get_part(handle, CURLUPART_PORT, port_part, CURLU_DEFAULT_PORT); code != CURLUE_OK) {
      return from_curlu(code, input);
    }
    const std::string_view port_text = port_part.get();
    unsigned int port = 0;
    const auto [end, parse_error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (parse_error != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      return invalid(input, "port must be between 1 and 65535");
    }
    const bool has_user = get_part(handle, CURLUPART_USER, user_part) == CURLUE_OK;
    const bool has_password = get_part(handle, CURLUPART_PASSWORD, password_part) == CURLUE_OK;
    const bool has_path = get_part(handle, CURLUPART_PATH, path_part) == CURLUE_OK;
    const bool has_query = get_part(handle, CURLUPART_QUERY, query_part) == CURLUE_OK && query_part.get()[0] != '\0';

    auto rep = std::make_shared<Url::Rep>();
    std::string& str = rep->str;
    str.reserve(input.size() + 16);
    str.append(scheme).append("://");
    if (has_user || has_password) {
      if (has_user) append_normalised(user_part.get(), kUserChars, str);
      if (has_password) {
        str += ':';
        append_normalised(password_part.get(), kPasswordChars, str);
      }
      str += '@';
    }
    str += *host;
    const bool explicit_port = port != default_port(scheme);
    // Written from the number: libcurl passes "0080" through as given.
    const std::string port_digits = std::to_string(port);
    if (explicit_port) str.append(":").append(port_digits);
    const std::size_t path_offset = str.size();
    bool decoded_dot = false;
    if (has_path && path_part.get()[0] == '/') {
      decoded_dot = append_normalised(path_part.get(), kPathChars, str);
    } else {
      str += '/';
    }
    if (decoded_dot && !second_pass && has_dot_segment(std::string_view(str).substr(path_offset))) {
      // "%2E%2E" became ".." only now; RFC 3986 6.2.2 removes dot segments
      // after percent-encoding normalisation, so let libcurl do that pass.
      if (has_query) {
        str += '?';
        append_normalised(query_part.get(), kQueryChars, str);
      }
      CurlUrlPtr again(curl_url());
      if (!again) return Error{ErrorCode::kInternal, "out of memory parsing URL " + quote(input)};
      if (const CURLUcode code = curl_url_set(again.get(), CURLUPART_URL, str.c_str(), 0); code != CURLUE_OK) {
        return from_curlu(code, input);
      }
      return build(again.get(), input, true);
    }
    if (has_query) {
      str += '?';
      append_normalised(query_part.get(), kQueryChars, str);
    }
    if (str.size() > Url::kMaxLength) {
      return invalid(input, "longer than " + std::to_string(Url::kMaxLength) + " bytes once normalised");
    }

    rep->host_key.reserve(scheme.size() + 3 + host->size() + 6);
    rep->host_key.append(scheme).append("://").append(*host).append(":").append(port_digits);
    rep->path_offset = static_cast<std::uint32_t>(path_offset);
    rep->port = static_cast<std::uint16_t>(port);
    rep->scheme_length = static_cast<std::uint16_t>(scheme.size());
    rep->host_length = static_cast<std::uint16_t>(host->size());
    return Url(std::move(rep));
  }

  // The fast path of url_fast_path.hpp for an absolute URL.
  static std::optional<Url> simple_absolute(std::string_view text);
  // ... and for a reference resolved against `base`.
  static std::optional<Url> simple_relative(const Url& base, std::string_view reference);
  // Url::parse and Url::resolve, with or without the fast path.
  static Result<Url> parse(std::string_view text, bool try_simple);
  static Result<Url> resolve(const Url& base, std::string_view reference, bool try_simple);
};

namespace {

// Input cleaned for libcurl; one buffer per thread saves an allocation per call.
std::string& scratch_buffer() {
  thread_local std::string buffer;
  return buffer;
}

// A fresh handle holding `base`. A page's links are resolved one after the
// other against one base, so each thread keeps its last base parsed and hands
// out copies (curl_url_dup), which cost less than parsing it again.
CurlUrlPtr parsed_base(const std::string& base) {
  struct Cache {
    std::string text;
    CurlUrlPtr handle;
  };
  thread_local Cache cache;
  if (!cache.handle || cache.text != base) {
    CurlUrlPtr handle(curl_url());
    if (!handle || curl_url_set(handle.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK) return nullptr;
    cache.handle = std::move(handle);
    cache.text = base;
  }
  return CurlUrlPtr(curl_url_dup(cache.handle.get()));
}

Result<std::string_view> checked_input(std::string_view text) {
  const std::string_view trimmed = trim_c0_control_or_space(text);  // WHATWG URL parsing
  if (trimmed.size() > Url::kMaxLength) {
    return invalid(text, "longer than " + std::to_string(Url::kMaxLength) + " bytes");
  }
  return trimmed;
}

}  // namespace

// ---------------------------------------------------------------------------
// The fast path (url_fast_path.hpp)

namespace {

constexpr auto kNpos = std::string_view::npos;

bool is_simple_host_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || detail::is_ascii_digit(c) || c == '-' || c == '.';
}

// "0" to "255" written the one way inet_ntop writes them.
bool is_canonical_octet(std::string_view label) noexcept {
  if (label.empty() || label.size() > 3 || (label.size() > 1 && label.front() == '0')) return false;
  unsigned int value = 0;
  const auto [end, ec] = std::from_chars(label.data(), label.data() + label.size(), value);
  return ec == std::errc() && end == label.data() + label.size() && value <= 255;
}

// A host (of is_simple_host_char bytes) that libcurl keeps byte for byte: no
// empty label, and no label starting with a digit unless the host is an IPv4
// address in dotted-decimal form, since libcurl rewrites every other
// number-like host ("127.1", "0x7f.0.0.1", "010.0.0.1").
bool is_simple_host(std::string_view host) noexcept {
  bool number_like = false;
  bool dotted_decimal = true;
  std::size_t labels = 0;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = host.find('.', start);
    const std::string_view label = host.substr(start, dot == kNpos ? kNpos : dot - start);
    if (label.empty()) return false;
    ++labels;
    number_like = number_like || detail::is_ascii_digit(label.front());
    dotted_decimal = dotted_decimal && is_canonical_octet(label);
    if (dot == kNpos) break;
    start = dot + 1;
  }
  return !number_like || (labels == 4 && dotted_decimal);
}

// Path and query of a URL's tail, when every byte of it (fragment included)
// is one RFC 3986 allows unencoded there, and there is no '%'.
struct SimpleTail {
  std::string_view path;
  std::string_view query;
  bool has_query = false;
};

std::optional<SimpleTail> split_simple_tail(std::string_view rest) noexcept {
  SimpleTail tail;
  std::size_t at = 0;
  while (at < rest.size() && (char_class(rest[at]) & kPathChars) != 0) ++at;
  tail.path = rest.substr(0, at);
  if (at < rest.size() && rest[at] == '?') {
    const std::size_t query = ++at;
    while (at < rest.size() && (char_class(rest[at]) & kQueryChars) != 0) ++at;
    tail.query = rest.substr(query, at - query);
    tail.has_query = true;
  }
  if (at < rest.size() && rest[at] == '#') {
    ++at;
    while (at < rest.size() && (char_class(rest[at]) & kQueryChars) != 0) ++at;
  }
  if (at != rest.size()) return std::nullopt;
  return tail;
}

// Appends an absolute path ("/...") without its "." and ".." segments (RFC
// 3986 5.2.4), segment by segment: ".." takes back the last one written.
void append_without_dot_segments(std::string_view path, std::string& out) {
  const std::size_t root = out.size();
  std::size_t start = 1;
  for (;;) {
    const std::size_t slash = path.find('/', start);
    const bool last = slash == kNpos;
    const std::string_view segment = path.substr(start, last ? kNpos : slash - start);
    if (segment == "..") {
      const std::size_t cut = out.rfind('/');
      out.resize(cut != std::string::npos && cut >= root ? cut : root);
      if (last) out += '/';
    } else if (segment == ".") {
      if (last) out += '/';
    } else {
      out += '/';
      out.append(segment);
    }
    if (last) break;
    start = slash + 1;
  }
  if (out.size() == root) out += '/';
}

void append_query(const SimpleTail& tail, std::string& out) {
  // An empty query is dropped, as libcurl does (see url.hpp).
  if (tail.has_query && !tail.query.empty()) out.append("?").append(tail.query);
}

}  // namespace

std::optional<Url> UrlAccess::simple_absolute(std::string_view text) {
  std::size_t scheme_length = 0;
  if (text.starts_with("http://")) {
    scheme_length = 4;
  } else if (text.starts_with("https://")) {
    scheme_length = 5;
  } else {
    return std::nullopt;
  }
  const std::string_view scheme = text.substr(0, scheme_length);
  const std::size_t host_start = scheme_length + 3;
  std::size_t at = host_start;
  while (at < text.size() && is_simple_host_char(text[at])) ++at;
  const std::string_view host = text.substr(host_start, at - host_start);
  if (!is_simple_host(host)) return std::nullopt;
  unsigned int port = default_port(scheme);
  if (at < text.size() && text[at] == ':') {
    const std::size_t digits = ++at;
    while (at < text.size() && detail::is_ascii_digit(text[at])) ++at;
    const std::string_view written = text.substr(digits, at - digits);
    if (written.empty() || written.size() > 5 || written.front() == '0') return std::nullopt;
    std::from_chars(written.data(), written.data() + written.size(), port);
    if (port > 65535) return std::nullopt;
  }
  const std::string_view rest = text.substr(at);
  if (!rest.empty() && rest.front() != '/' && rest.front() != '?' && rest.front() != '#') return std::nullopt;
  const std::optional<SimpleTail> tail = split_simple_tail(rest);
  if (!tail) return std::nullopt;

  char port_text[8];
  const std::string_view port_digits(
      port_text, static_cast<std::size_t>(std::to_chars(port_text, port_text + 8, port).ptr - port_text));
  auto rep = std::make_shared<Url::Rep>();
  std::string& str = rep->str;
  str.reserve(text.size() + 1);
  str.append(scheme).append("://").append(host);
  if (port != default_port(scheme)) str.append(":").append(port_digits);
  const std::size_t path_offset = str.size();
  if (tail->path.empty()) {
    str += '/';
  } else {
    append_without_dot_segments(tail->path, str);
  }
  append_query(*tail, str);
  if (str.size() > Url::kMaxLength) return std::nullopt;
  rep->host_key.reserve(host_start + host.size() + 6);
  rep->host_key.append(scheme).append("://").append(host).append(":").append(port_digits);
  rep->path_offset = static_cast<std::uint32_t>(path_offset);
  rep->port = static_cast<std::uint16_t>(port);
  rep->scheme_length = static_cast<std::uint16_t>(scheme.size());
  rep->host_length = static_cast<std::uint16_t>(host.size());
  return Url(std::move(rep));
}

std::optional<Url> UrlAccess::simple_relative(const Url& base, std::string_view reference) {
  if (reference.empty() || reference.front() == '#') return base;
  if (!leading_scheme(reference).empty()) return simple_absolute(reference);
  if (reference.starts_with("//")) return simple_absolute(std::string(base.scheme()) + ":" + std::string(reference));
  const std::optional<SimpleTail> tail = split_simple_tail(reference);
  if (!tail) return std::nullopt;
  // A ':' in the first segment makes it a scheme or an error (RFC 3986 4.2).
  if (tail->path.substr(0, tail->path.find('/')).find(':') != kNpos) return std::nullopt;
  // libcurl 7.88 takes a leading "./" and "../"s off the reference itself and
  // then joins what is left without a '/' when it starts with '/' or '?':
  // against "/b/c/d", "..//x" gives "/b//x" and "../?" gives "/b", where RFC
  // 3986 5.2.4 gives "/b///x" and "/b/". Those go to libcurl.
  std::size_t dots = reference.starts_with("./") ? 2 : 0;
  while (reference.substr(dots).starts_with("../")) dots += 3;
  if (dots > 0 && dots < reference.size() && (reference[dots] == '/' || reference[dots] == '?')) return std::nullopt;

  const Url::Rep& from = *base.rep_;
  const std::string_view base_path_query = std::string_view(from.str).substr(from.path_offset);
  const std::string_view base_path = base_path_query.substr(0, base_path_query.find('?'));
  auto rep = std::make_shared<Url::Rep>();
  std::string& str = rep->str;
  str.reserve(from.path_offset + base_path.size() + reference.size() + 1);
  str.append(from.str, 0, from.path_offset);
  if (tail->path.empty()) {
    str.append(base_path);  // a query alone (RFC 3986 5.2.2)
  } else if (tail->path.front() == '/') {
    append_without_dot_segments(tail->path, str);
  } else {
    thread_local std::string merged;  // RFC 3986 5.2.3: the base's directory, then the reference
    merged.assign(base_path, 0, base_path.rfind('/') + 1);
    merged.append(tail->path);
    append_without_dot_segments(merged, str);
  }
  append_query(*tail, str);
  if (str.size() > Url::kMaxLength) return std::nullopt;
  rep->host_key = from.host_key;
  rep->path_offset = from.path_offset;
  rep->port = from.port;
  rep->scheme_length = from.scheme_length;
  rep->host_length = from.host_length;
  return Url(std::move(rep));
}

Result<Url> UrlAccess::parse(std::string_view text, bool try_simple) {
  Result<std::string_view> trimmed = checked_input(text);
  if (!trimmed) return std::move(trimmed).error();
  if (trimmed->empty()) return invalid(text, "empty");
  const std::string_view scheme = leading_scheme(*trimmed);
  if (scheme.empty()) return invalid(text, "no scheme (expected http:// or https://)");
  if (!is_http_scheme(scheme)) return unsupported(scheme, text);
  if (try_simple) {
    if (std::optional<Url> url = simple_absolute(*trimmed)) return std::move(*url);
  }

  std::string& buffer = scratch_buffer();
  prepare(*trimmed, buffer);
  CurlUrlPtr handle(curl_url());
  if (!handle) return Error{ErrorCode::kInternal, "out of memory parsing URL " + quote(text)};
  if (const CURLUcode code = curl_url_set(handle.get(), CURLUPART_URL, buffer.c_str(), 0); code != CURLUE_OK) {
    return from_curlu(code, text);
  }
  return build(handle.get(), text, false);
}

Result<Url> UrlAccess::resolve(const Url& base, std::string_view reference, bool try_simple) {
  Result<std::string_view> trimmed = checked_input(reference);
  if (!trimmed) return std::move(trimmed).error();
  // RFC 3986 5.2.2: no path, query or authority means the base itself; the
  // fragment would be dropped anyway. libcurl 7.88 gets these two wrong
  // ("" and "#s" against "http://a/b/c/d;p?q" give "http://a/b/c/").
  if (trimmed->empty() || trimmed->front() == '#') return base;
  const std::string_view scheme = leading_scheme(*trimmed);
  if (!scheme.empty() && !is_http_scheme(scheme)) return unsupported(scheme, reference);
  if (try_simple) {
    if (std::optional<Url> url = simple_relative(base, *trimmed)) return std::move(*url);
  }

  CurlUrlPtr handle = parsed_base(base.str());
  if (!handle) return Error{ErrorCode::kInternal, "base URL " + quote(base.str()) + " no longer parses"};
  std::string& buffer = scratch_buffer();
  prepare(*trimmed, buffer);
  // Setting a relative URL on a handle that holds one resolves it (curl_url_set.md).
  const CURLUcode code = curl_url_set(handle.get(), CURLUPART_URL, buffer.c_str(), 0);
  Result<Url> resolved =
      code == CURLUE_OK ? build(handle.get(), reference, false) : Result<Url>(from_curlu(code, reference));
  if (!resolved && resolved.error().code == ErrorCode::kInvalidUrl) {
    Error error = std::move(resolved).error();
    error.message += " (resolved against " + quote(base.str()) + ")";
    return error;
  }
  return resolved;
}

Result<Url> Url::parse(std::string_view text) { return UrlAccess::parse(text, true); }

Result<Url> Url::resolve(std::string_view reference) const { return UrlAccess::resolve(*this, reference, true); }

namespace detail {

std::optional<Url> parse_simple(std::string_view text) { return UrlAccess::simple_absolute(text); }
std::optional<Url> resolve_simple(const Url& base, std::string_view reference) {
  return UrlAccess::simple_relative(base, reference);
}
Result<Url> parse_with_curl(std::string_view text) { return UrlAccess::parse(text, false); }
Result<Url> resolve_with_curl(const Url& base, std::string_view reference) {
  return UrlAccess::resolve(base, reference, false);
}

}  // namespace detail

std::string Url::robots_url() const {
  std::string url;
  const std::string_view scheme_text = scheme();
  url.reserve(host_key().size() + 12);
  url.append(scheme_text).append("://").append(host());
  if (port() != default_port(scheme_text)) url.append(":").append(std::to_string(port()));
  url.append("/robots.txt");
  return url;
}

std::string Url::registrable_domain() const {
  std::string name(host());
  if (name.front() == '[') return name;
  in_addr address{};
  if (inet_pton(AF_INET, name.c_str(), &address) == 1) return name;
  // psl_builtin() is immutable data compiled into libpsl: safe from any thread.
  const psl_ctx_t* list = psl_builtin();
  if (list == nullptr) return name;
  const char* domain = psl_registrable_domain(list, name.c_str());
  return domain != nullptr ? std::string(domain) : name;
}

}  // namespace fetchpool
