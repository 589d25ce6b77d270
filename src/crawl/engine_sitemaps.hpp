// The engine's sitemaps (--sitemaps): which queued URLs are sitemaps to read
// rather than pages, where each came from, the <lastmod> of the URLs they
// list, and the counts for --stats-json. Private to the engine component.
//
// A sitemap is fetched as a page lease like any URL (robots.txt, politeness,
// host caps, seen set, redirects), but its body streams into a SitemapParser
// (SitemapBodyWriter) instead of the HTML parser. A URL is a sitemap when it
// was admitted here: given with --sitemap, listed in a seed host's robots.txt
// (Sitemap: lines), or listed by an admitted sitemap index; a redirect hop is
// one when its chain started at one.
//
// Thread-safety: every member may be called from any worker; the maps are
// guarded by one mutex, held only for a lookup or an insert.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "fetchpool/body_writer.hpp"
#include "fetchpool/engine.hpp"
#include "fetchpool/sitemap.hpp"
#include "fetchpool/thread_annotations.hpp"

namespace fetchpool {

// Where a sitemap came from.
struct SitemapSource {
  // The host ("scheme://host:port") whose robots.txt named the sitemap (or
  // the index it came from): sitemaps.org lets such a sitemap list any URL
  // of that host. "" for a --sitemap URL.
  std::string vouching_host;
  std::uint32_t nesting = 0;  // 0: named directly; n: listed by an index n levels up
};

class CrawlEngine::Sitemaps {
 public:
  using Known = SitemapSource;

  explicit Sitemaps(SitemapOptions options) : options_(std::move(options)) {}

  const SitemapOptions& options() const noexcept { return options_; }
  void add_seed_host(std::string host_key);
  bool is_seed_host(const std::string& host_key) const;
  // Registers a sitemap to read; false when the nesting or file bound refuses
  // it (counted, logged) or it is known already.
  bool admit(const std::string& url, Known known);
  std::optional<Known> find(const CrawlItem& item) const;
  void set_lastmod(const std::string& url, std::string lastmod);
  std::string lastmod_of(const CrawlItem& item) const;  // "" when the URL was listed without one

  SitemapCounts counts() const;
  std::atomic<std::uint64_t> files{0}, listed{0}, queued{0}, out_of_scope{0}, over_limit{0}, invalid{0}, refused{0};

 private:
  const SitemapOptions options_;
  mutable Mutex mutex_;
  std::unordered_set<std::string> seed_hosts_ FETCHPOOL_GUARDED_BY(mutex_);
  std::unordered_map<std::string, Known> known_ FETCHPOOL_GUARDED_BY(mutex_);
  std::unordered_map<std::string, std::string> lastmod_ FETCHPOOL_GUARDED_BY(mutex_);
};

// A sitemap's body, parsed as it arrives (nothing kept but the entries). Once
// the parser stops (a limit, malformed XML) write() ends the transfer;
// settle() then turns that deliberate end back into the response it was.
class SitemapBodyWriter final : public BodyWriter {
 public:
  Result<void> begin(const ResponseHead& head) override;
  Result<void> write(std::string_view chunk) override;
  // After Fetcher::fetch: a transfer this writer ended becomes a response.
  void settle(Result<FetchResponse>& response) const;
  SitemapResult finish() { return parser_.finish(); }
  bool parsed() const noexcept { return parse_; }

 private:
  SitemapParser parser_;
  ResponseHead head_;
  std::uint64_t received_ = 0;
  bool parse_ = false;
  bool stopped_ = false;
};

}  // namespace fetchpool
