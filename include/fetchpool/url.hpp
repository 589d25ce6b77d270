// Url: an absolute http/https URL in normalised form, the unit the crawler
// queues, deduplicates and fetches.
//
// Parsing and reference resolution are libcurl's URL API (curl_url_set), not
// our own parser. On top of what libcurl returns we apply the normalisations of
// RFC 3986 section 6.2.2, so that two spellings of one resource compare equal:
//   - scheme and host in lower case (6.2.2.1), IDN hosts as punycode (IDNA2008
//     with UTS #46 mapping, via libidn2), IPv6 literals in RFC 5952 form;
//   - percent-encoding: hex digits upper case (6.2.2.1), encoded unreserved
//     characters decoded (6.2.2.2), and every byte RFC 3986 does not allow in
//     the component (space, "<>\"{}|\\^`[]", controls, non-ASCII, a '%' not
//     followed by two hex digits) percent-encoded;
//   - dot segments removed (6.2.2.3, section 5.2.4), also those that only
//     appear after decoding "%2E";
//   - default port dropped, empty path written "/" (6.2.3);
//   - the fragment dropped: it never reaches the server.
// The query is otherwise kept byte for byte: parameters are not sorted.
//
// Deviations, each on purpose:
//   - Surrounding C0 controls and spaces are trimmed, and tab, CR and LF inside
//     the text are removed, as the WHATWG URL Standard and browsers do with
//     href values. Backslashes are NOT treated as slashes (WHATWG does): they
//     are encoded as %5C, as RFC 3986 requires.
//   - An empty query ("http://a/?") is dropped, because libcurl 7.88 does.
//   - Reference "http:g" (RFC 3986 5.4.2) is resolved the strict way: it is
//     an http URL without a host, so an error.
//   - Userinfo ("user:pw@") is kept in str() but never in host_key() or
//     robots_url(). IPv6 zone identifiers ("%25eth0") are refused.
//   - Port 0 is refused; URLs longer than kMaxLength bytes, as given or once
//     normalised, are refused.
//   - As libcurl (and WHATWG) do, "http:/host/x" is accepted and IPv4
//     shorthand is normalised ("http://0x7f.1/" is http://127.0.0.1/).
//
// Thread-safety: Url is an immutable value. Copies share one reference-
// counted representation, so copying is one atomic increment and any number
// of threads may read (or copy) the same Url. parse() and resolve() are
// thread-safe: they share nothing but libpsl's immutable built-in list (each
// thread keeps its own scratch buffer and its last parsed base URL).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "fetchpool/error.hpp"

namespace fetchpool {

class Url {
 public:
  // Longest URL accepted, in bytes. Browsers accept more, but a crawler link
  // that long is almost always a trap, and sinks store the URL in every row.
  static constexpr std::size_t kMaxLength = 8192;

  // Parses an absolute http or https URL. Errors: kUnsupportedScheme for any
  // other scheme, kInvalidUrl for everything else (no scheme, no host, bad
  // port, malformed, too long). Messages quote the input.
  static Result<Url> parse(std::string_view text);

  // Resolves a reference (an href) against this URL per RFC 3986 section 5.2.
  // "", "#f" and "?q" work; "//host/x" takes this URL's scheme. References
  // with a scheme other than http/https (javascript:, mailto:, data:, tel:)
  // give kUnsupportedScheme.
  Result<Url> resolve(std::string_view reference) const;

  // The normalised URL without fragment: "https://example.com/a?x=1".
  const std::string& str() const noexcept { return rep_->str; }
  // "http" or "https".
  std::string_view scheme() const noexcept { return std::string_view(rep_->str).substr(0, rep_->scheme_length); }
  // Lower case, punycode for IDN, "[::1]" for IPv6.
  std::string_view host() const noexcept {
    return std::string_view(rep_->host_key).substr(rep_->scheme_length + 3, rep_->host_length);
  }
  // The port connected to: 80 or 443 when the URL names none.
  std::uint16_t port() const noexcept { return rep_->port; }
  // "/a/b?x=1": what goes on the request line. Always starts with "/".
  std::string_view path_and_query() const noexcept { return std::string_view(rep_->str).substr(rep_->path_offset); }
  // "https://example.com:443": scheme, host and always the port. The key for
  // per-host politeness and robots.txt caching; host_key() + "/robots.txt"
  // parses as a URL.
  const std::string& host_key() const noexcept { return rep_->host_key; }
  // "https://example.com/robots.txt" (port only when not the default).
  std::string robots_url() const;
  // The registrable domain from the Public Suffix List (libpsl's built-in
  // copy): "www.example.co.uk" -> "example.co.uk". IP literals, and hosts that
  // have none (localhost, a public suffix itself), give the host.
  std::string registrable_domain() const;

  friend bool operator==(const Url& a, const Url& b) noexcept { return a.rep_ == b.rep_ || a.rep_->str == b.rep_->str; }

  // A Url always holds a valid URL, so there is no default constructor, and a
  // move copies the shared pointer instead of leaving an empty husk behind.
  Url(const Url&) = default;
  Url& operator=(const Url&) = default;
  Url(Url&& other) noexcept : rep_(other.rep_) {}  // NOLINT(performance-move-constructor-init): see above
  Url& operator=(Url&& other) noexcept {
    rep_ = other.rep_;
    return *this;
  }
  ~Url() = default;

 private:
  friend struct UrlAccess;  // url.cpp builds Reps

  struct Rep {
    std::string str;            // normalised URL
    std::string host_key;       // scheme "://" host ":" port
    std::uint32_t path_offset;  // where the path starts in str
    std::uint16_t port;
    std::uint16_t scheme_length;
    std::uint16_t host_length;
  };

  explicit Url(std::shared_ptr<const Rep> rep) noexcept : rep_(std::move(rep)) {}

  std::shared_ptr<const Rep> rep_;
};

}  // namespace fetchpool
