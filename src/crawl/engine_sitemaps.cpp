// CrawlEngine's sitemap steps (--sitemaps), kept apart from engine.cpp: the
// engine calls them from set_seeds, fetch_robots and handle_page.
#include "crawl/engine_sitemaps.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "fetchpool/robots.hpp"
#include "fetchpool/url.hpp"

namespace fetchpool {
namespace {

// sitemaps.org, "Sitemap file location": a sitemap may list only URLs under
// the directory it is in, on its own host; one named in a host's robots.txt
// may list any URL of that host ("cross submits").
bool may_list(const Url& entry, const Url& sitemap, const std::string& vouching_host) {
  if (!vouching_host.empty() && entry.host_key() == vouching_host) return true;
  if (entry.host_key() != sitemap.host_key()) return false;
  std::string_view directory = sitemap.path_and_query();
  directory = directory.substr(0, directory.find('?'));
  directory = directory.substr(0, directory.rfind('/') + 1);
  return entry.path_and_query().starts_with(directory);
}

constexpr std::size_t kDropsNamed = 20;      // dropped entries -v names per sitemap
constexpr std::uint64_t kRefusalsNamed = 5;  // sitemaps over the nesting or file bound named per run

const char* kind_name(SitemapKind kind) {
  switch (kind) {
    case SitemapKind::kIndex:
      return "sitemap index";
    case SitemapKind::kText:
      return "text sitemap";
    default:
      return "sitemap";
  }
}

}  // namespace

void CrawlEngine::Sitemaps::add_seed_host(std::string host_key) {
  MutexLock lock(mutex_);
  seed_hosts_.insert(std::move(host_key));
}

bool CrawlEngine::Sitemaps::is_seed_host(const std::string& host_key) const {
  MutexLock lock(mutex_);
  return seed_hosts_.contains(host_key);
}

bool CrawlEngine::Sitemaps::admit(const std::string& url, Known known) {
  const char* refused_for = nullptr;
  {
    MutexLock lock(mutex_);
    if (known_.contains(url)) return false;
    if (known.nesting > options_.max_nesting) {
      refused_for = "nested deeper than the sitemap nesting limit";
    } else if (known_.size() >= options_.max_files) {
      refused_for = "more sitemap files than the limit";
    } else {
      known_.emplace(url, std::move(known));
      return true;
    }
  }
  // A robots.txt may name thousands: the first few are named, all counted.
  if (refused.fetch_add(1, std::memory_order_relaxed) < kRefusalsNamed)
    spdlog::warn("sitemap {}: not read: {}", url, refused_for);
  return false;
}

std::optional<CrawlEngine::Sitemaps::Known> CrawlEngine::Sitemaps::find(const CrawlItem& item) const {
  MutexLock lock(mutex_);
  // A redirect hop of a sitemap is read as the sitemap.
  auto it = known_.find(item.redirects > 0 ? item.chain_start : item.url);
  if (it == known_.end()) return std::nullopt;
  return it->second;
}

void CrawlEngine::Sitemaps::set_lastmod(const std::string& url, std::string lastmod) {
  MutexLock lock(mutex_);
  lastmod_.insert_or_assign(url, std::move(lastmod));
}

std::string CrawlEngine::Sitemaps::lastmod_of(const CrawlItem& item) const {
  MutexLock lock(mutex_);
  if (lastmod_.empty()) return {};
  auto it = lastmod_.find(item.redirects > 0 ? item.chain_start : item.url);
  return it == lastmod_.end() ? std::string() : it->second;
}

SitemapCounts CrawlEngine::Sitemaps::counts() const {
  SitemapCounts c;
  c.enabled = true;
  c.files = files.load(std::memory_order_relaxed);
  c.listed = listed.load(std::memory_order_relaxed);
  c.queued = queued.load(std::memory_order_relaxed);
  c.out_of_scope = out_of_scope.load(std::memory_order_relaxed);
  c.over_limit = over_limit.load(std::memory_order_relaxed);
  c.invalid = invalid.load(std::memory_order_relaxed);
  c.refused = refused.load(std::memory_order_relaxed);
  return c;
}

Result<void> SitemapBodyWriter::begin(const ResponseHead& head) {
  head_ = head;
  parse_ = head.status >= 200 && head.status < 300;
  return {};
}

Result<void> SitemapBodyWriter::write(std::string_view chunk) {
  received_ += chunk.size();
  // A 3xx/4xx/5xx body is not read, but not taken without end either.
  if (!parse_) {
    if (received_ <= kSitemapMaxBytes) return {};
    stopped_ = true;
    return Error{ErrorCode::kTooLarge, "sitemap: error body too large"};
  }
  if (parser_.feed(chunk)) return {};
  // The parser has what it will take (a limit, an error): the transfer ends
  // here, and settle() reads that as the answer it was.
  stopped_ = true;
  return Error{ErrorCode::kTooLarge, "sitemap: reading stopped"};
}

void SitemapBodyWriter::settle(Result<FetchResponse>& response) const {
  if (response || !stopped_) return;
  FetchResponse ended;
  ended.head = head_;
  ended.body_bytes = received_;
  response = std::move(ended);
}

void CrawlEngine::start_sitemaps(const std::vector<std::string>& seeds) {
  for (const auto& seed : seeds)
    if (auto url = Url::parse(seed)) sitemaps_->add_seed_host(url->host_key());
  for (const auto& text : sitemaps_->options().urls) queue_sitemap(text, {}, SitemapSource{});
}

void CrawlEngine::queue_robots_sitemaps(const std::string& host, const RobotsRules& rules) {
  if (!sitemaps_->options().from_robots || !sitemaps_->is_seed_host(host)) return;
  for (const auto& text : rules.sitemaps()) queue_sitemap(text, host + "/robots.txt", SitemapSource{host, 0});
}

bool CrawlEngine::queue_sitemap(std::string_view text, const std::string& referrer, const SitemapSource& source) {
  auto url = Url::parse(text);
  if (!url) {
    sitemaps_->invalid.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("sitemap '{}' (named by {}): {}", text, referrer.empty() ? "--sitemap" : referrer,
                 url.error().message);
    return false;
  }
  if (!sitemaps_->admit(url->str(), source)) return false;
  CrawlItem item;
  item.url = url->str();
  item.host_key = url->host_key();
  item.referrer = referrer;
  return push_item(std::move(item)) == PushResult::kClosed;
}

bool CrawlEngine::read_sitemap(const CrawlItem& item, SitemapBodyWriter& body, ResultRecord& record) {
  const auto known = sitemaps_->find(item);
  const auto here = Url::parse(item.url);
  if (!known || !here) return false;
  SitemapResult result = body.finish();
  sitemaps_->files.fetch_add(1, std::memory_order_relaxed);
  record.parsed = true;
  record.links = static_cast<std::uint32_t>(result.entries.size());
  const char* kind = kind_name(result.kind);
  if (!result.over_limit.empty()) {
    sitemaps_->over_limit.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("{} {}: {}; read up to the limit ({} entries)", kind, item.url, result.over_limit,
                 result.entries.size());
  }
  if (result.error) {
    sitemaps_->invalid.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("{} {}: {}{}", kind, item.url, result.error->message,
                 result.entries.empty() ? "; no entry used"
                                        : "; the " + std::to_string(result.entries.size()) + " entries before it used");
    record.error = ErrorCode::kProtocol;
    record.error_message = std::string(kind) + ": " + result.error->message;
  }
  bool refused = false;
  std::size_t dropped = 0;
  for (auto& entry : result.entries) {
    sitemaps_->listed.fetch_add(1, std::memory_order_relaxed);
    auto url = Url::parse(entry.loc);
    const bool allowed = url && may_list(*url, *here, known->vouching_host) &&
                         (result.kind == SitemapKind::kIndex || !scope_ || scope_->allows(*url));
    if (!allowed) {
      sitemaps_->out_of_scope.fetch_add(1, std::memory_order_relaxed);
      // -v names the first few; 50,000 lines would drown the log.
      if (++dropped <= kDropsNamed)
        spdlog::debug("{} {}: {} dropped: {}", kind, item.url, entry.loc,
                      !url ? url.error().message : "outside the crawl scope or the sitemap's location");
      continue;
    }
    if (result.kind == SitemapKind::kIndex) {
      refused = queue_sitemap(url->str(), item.url, SitemapSource{known->vouching_host, known->nesting + 1}) || refused;
      continue;
    }
    // Kept before the push: a worker may lease the URL at once.
    if (!entry.lastmod.empty()) sitemaps_->set_lastmod(url->str(), std::move(entry.lastmod));
    CrawlItem listed;
    listed.url = url->str();
    listed.host_key = url->host_key();
    listed.referrer = item.url;
    switch (push_item(std::move(listed))) {
      case PushResult::kQueued:
        sitemaps_->queued.fetch_add(1, std::memory_order_relaxed);
        break;
      case PushResult::kClosed:
        refused = true;
        break;
      default:
        break;
    }
  }
  if (dropped > kDropsNamed)
    spdlog::debug("{} {}: {} more entries dropped (outside the crawl scope or the sitemap's location)", kind, item.url,
                  dropped - kDropsNamed);
  if (result.skipped > 0 || result.bad_lastmod > 0)
    spdlog::debug("{} {}: {} entries without a usable <loc>, {} <lastmod> values that are no W3C datetime", kind,
                  item.url, result.skipped, result.bad_lastmod);
  return refused;
}

}  // namespace fetchpool
