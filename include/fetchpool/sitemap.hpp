// Sitemaps (sitemaps.org protocol 0.9): XML <urlset> and <sitemapindex>
// files, plain-text sitemaps (one URL per line), each optionally gzipped.
// Pure: bytes in, entries out; no I/O, no threads.
//
// The body is fed in pieces as it arrives, so a 50 MiB sitemap never sits in
// memory whole: a gzip stream (recognised by its magic bytes, whatever the
// name or Content-Type) is inflated by zlib as it comes, and XML goes through
// libxml2's SAX push parser. What the parser reads is bounded:
//  - the protocol's limits (kSitemapMaxUrls entries, kSitemapMaxBytes
//    uncompressed bytes): at either one the file stops being read, the
//    entries before are kept and `over_limit` says which limit it was (a gzip
//    bomb stops at kSitemapMaxBytes of output);
//  - libxml2 runs with XML_PARSE_NONET and without XML_PARSE_NOENT,
//    XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR or XML_PARSE_HUGE, and a file with
//    a DOCTYPE is refused as soon as it is seen: sitemaps need no DTD, so no
//    entity is ever declared, expanded or fetched (no billion laughs, no
//    XXE, no external DTD).
// Malformed XML, invalid UTF-8 or a gzip stream cut short end the file with
// `error` set; the entries completed before the error are kept (as Scrapy's
// recovering parser keeps them), so a sitemap cut in transit still counts.
//
// Namespaces: the root must be <urlset> or <sitemapindex> in the sitemaps.org
// namespace (http://www.sitemaps.org/schemas/sitemap/0.9), Google's older
// 0.84 namespace, or no namespace at all (many generators omit it); any other
// root is not a sitemap (error). Elements of other namespaces inside (image:,
// video:, news:, xhtml:link) are skipped with their content.
//
// Thread-safety: a SitemapParser is used by one thread at a time; distinct
// parsers may run on any number of threads once init_sitemap_parsing() has
// run (on one thread, before the others start).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fetchpool/error.hpp"

namespace fetchpool {

// sitemaps.org: "no more than 50,000 URLs and must be no larger than 50MB
// (52,428,800 bytes)" uncompressed; the same for an index's sitemaps.
inline constexpr std::size_t kSitemapMaxUrls = 50'000;
inline constexpr std::uint64_t kSitemapMaxBytes = std::uint64_t{50} << 20;
// sitemaps.org: a <loc> is "less than 2,048 characters"; longer ones are skipped.
inline constexpr std::size_t kSitemapMaxLocBytes = 2048;

enum class SitemapKind {
  kUnknown,  // nothing recognisable was read (empty, refused, or not a sitemap)
  kUrlset,   // <urlset>: page URLs
  kIndex,    // <sitemapindex>: further sitemaps
  kText,     // plain text, one URL per line
};

struct SitemapEntry {
  std::string loc;      // as written, whitespace trimmed; not yet checked to be a URL
  std::string lastmod;  // a valid W3C datetime as written, or "" (none, or not a valid one)
};

struct SitemapLimits {
  std::size_t max_urls = kSitemapMaxUrls;
  std::uint64_t max_bytes = kSitemapMaxBytes;  // uncompressed
};

struct SitemapResult {
  SitemapKind kind = SitemapKind::kUnknown;
  std::vector<SitemapEntry> entries;  // page URLs (urlset, text) or sitemap URLs (index), in file order
  std::string over_limit;             // "" or why reading stopped early ("more than 50000 URLs", ...)
  std::optional<Error> error;         // malformed, refused or cut short (entries before it are kept)
  std::uint64_t bytes = 0;            // uncompressed bytes parsed
  std::size_t skipped = 0;            // entries without a usable <loc> (empty, too long, not UTF-8)
  std::size_t bad_lastmod = 0;        // <lastmod> values that are no W3C datetime (kept as "")
};

// Whether `value` is a W3C datetime (https://www.w3.org/TR/NOTE-datetime):
// YYYY, YYYY-MM, YYYY-MM-DD, or YYYY-MM-DDThh:mm[:ss[.s+]]TZD with TZD = Z or
// +hh:mm / -hh:mm; fields in range (month 01-12, day 01-31, hour 00-23, ...).
bool is_w3c_datetime(std::string_view value);

// Initialises libxml2 once; call before parsers run on several threads.
void init_sitemap_parsing();

class SitemapParser {
 public:
  explicit SitemapParser(SitemapLimits limits = {});
  ~SitemapParser();
  SitemapParser(const SitemapParser&) = delete;
  SitemapParser& operator=(const SitemapParser&) = delete;

  // The next bytes of the body, as received. False once reading has stopped
  // (a limit, an error): the rest of the body need not be sent.
  bool feed(std::string_view bytes);
  // The end of the body; call once. A body that stopped early is not an error
  // by itself; a gzip stream or an XML document left unfinished is.
  SitemapResult finish();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The whole body at once.
SitemapResult parse_sitemap(std::string_view body, SitemapLimits limits = {});

}  // namespace fetchpool
