#include "fetchpool/engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <unordered_map>

#include "base/ascii.hpp"
#include "base/rfc3339.hpp"
#include "base/sized_thread.hpp"
#include "crawl/engine_sitemaps.hpp"
#include "crawl/worker_budget.hpp"
#include "fetchpool/robots.hpp"
#include "fetchpool/state_journal.hpp"
#include "fetchpool/url.hpp"

namespace fetchpool {

// Rules per host, written once by the worker that fetched robots.txt and read
// by every worker before each page of that host: a shared_mutex so readers do
// not serialise.
class CrawlEngine::RobotsCache {
 public:
  void put(const std::string& host_key, RobotsRules rules) {
    auto shared = std::make_shared<const RobotsRules>(std::move(rules));
    WriterLock lock(mutex_);
    rules_[host_key] = std::move(shared);
  }
  std::shared_ptr<const RobotsRules> find(const std::string& host_key) const {
    ReaderLock lock(mutex_);
    const auto it = rules_.find(host_key);
    return it == rules_.end() ? nullptr : it->second;
  }

 private:
  mutable SharedMutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const RobotsRules>> rules_ FETCHPOOL_GUARDED_BY(mutex_);
};

// The leases workers hold now and since when, for status displays. One
// short lock per lease taken and given back: nothing beside a fetch.
class CrawlEngine::InFlightTable {
 public:
  struct Entry {
    std::string url;
    bool robots = false;
    std::chrono::steady_clock::time_point since;
  };
  using Handle = std::list<Entry>::iterator;

  Handle begin(const Lease& lease) {
    Entry entry{lease.item.url, lease.kind == LeaseKind::kRobots, std::chrono::steady_clock::now()};
    MutexLock lock(mutex_);
    entries_.push_back(std::move(entry));
    return std::prev(entries_.end());
  }
  void end(Handle handle) {
    std::list<Entry> gone;  // freed after unlocking
    MutexLock lock(mutex_);
    gone.splice(gone.end(), entries_, handle);
  }
  std::size_t size() const {
    MutexLock lock(mutex_);
    return entries_.size();
  }
  std::vector<InFlightUrl> longest(std::size_t limit) const {
    const auto now = std::chrono::steady_clock::now();
    std::vector<InFlightUrl> out;
    MutexLock lock(mutex_);
    // Oldest first: the list is in start order.
    for (auto it = entries_.begin(); it != entries_.end() && out.size() < limit; ++it)
      out.push_back(InFlightUrl{it->url, it->robots, now - it->since});
    return out;
  }

 private:
  mutable Mutex mutex_;
  std::list<Entry> entries_ FETCHPOOL_GUARDED_BY(mutex_);  // nodes never move: handles stay valid
};

namespace {

// A file name as a URL path, so that safe_relative_path sanitises it as it
// does a URL's ('%', '?' and '#' are escaped: they would mean something
// there); as for a URL, only its last segment names the file unless -x.
std::string percent_escape_name(std::string_view name) {
  std::string out;
  for (const char c : name) {
    if (c == '%' || c == '?' || c == '#') {
      constexpr std::string_view kHex = "0123456789ABCDEF";
      out += '%';
      out += kHex[static_cast<unsigned char>(c) >> 4];
      out += kHex[static_cast<unsigned char>(c) & 15];
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

// The download side of the engine: one reserved file name per URL (kept
// across retries, so a retry resumes its own .part instead of taking a new
// name), expected checksums, the files saved, and the transfers in flight
// for the progress display. Thread-safe: one mutex for the maps; the byte
// counters of active transfers are atomics the writers bump without it.
class CrawlEngine::Downloads {
 public:
  struct Active {
    std::string name;
    std::atomic<std::uint64_t> bytes{0};
  };

  Downloads(OutputDirectory directory, DownloadOptions options)
      : directory_(std::move(directory)), options_(std::move(options)) {}

  const DownloadOptions& options() const { return options_; }
  const std::filesystem::path& root() const { return directory_.root(); }

  // `out` (an input line's out=NAME) replaces the name the URL would give.
  Result<std::filesystem::path> path_for(const Url& url, std::string_view content_disposition,
                                         const std::string& out = {}) {
    const auto relative =
        out.empty() ? safe_relative_path(url.host(), url.path_and_query(), content_disposition, options_.naming)
                    : safe_relative_path(url.host(), "/" + percent_escape_name(out), {}, options_.naming);
    MutexLock lock(mutex_);
    if (const auto it = reserved_.find(url.str()); it != reserved_.end()) return it->second;
    auto reserved = directory_.reserve(relative, options_.clobber);
    if (reserved) reserved_.emplace(url.str(), *reserved);
    return reserved;
  }

  std::optional<std::string> expected_sha256(const std::string& url, const std::filesystem::path& path) const {
    const auto& sums = options_.checksums;
    if (sums.empty()) return std::nullopt;
    for (const std::string& key :
         {url, std::filesystem::relative(path, directory_.root()).string(), path.filename().string()}) {
      if (const auto it = sums.find(key); it != sums.end()) return it->second;
    }
    return std::nullopt;
  }

  void add_result(DownloadResult result) {
    MutexLock lock(mutex_);
    results_.push_back(std::move(result));
  }
  std::vector<DownloadResult> results() const {
    MutexLock lock(mutex_);
    return results_;
  }

  Active* begin_transfer(std::string name) {
    MutexLock lock(mutex_);
    active_.emplace_front();
    active_.front().name = std::move(name);
    return &active_.front();
  }
  void end_transfer(Active* transfer) {
    MutexLock lock(mutex_);
    active_.remove_if([transfer](const Active& a) { return &a == transfer; });
  }
  std::uint64_t bytes_in_flight() const {
    MutexLock lock(mutex_);
    std::uint64_t sum = 0;
    for (const auto& a : active_) sum += a.bytes.load(std::memory_order_relaxed);
    return sum;
  }
  std::vector<std::pair<std::string, std::uint64_t>> largest(std::size_t count) const {
    std::vector<std::pair<std::string, std::uint64_t>> all;
    {
      MutexLock lock(mutex_);
      for (const auto& a : active_) all.emplace_back(a.name, a.bytes.load(std::memory_order_relaxed));
    }
    std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
    if (all.size() > count) all.resize(count);
    return all;
  }

 private:
  OutputDirectory directory_;
  const DownloadOptions options_;
  mutable Mutex mutex_;
  std::unordered_map<std::string, std::filesystem::path> reserved_ FETCHPOOL_GUARDED_BY(mutex_);
  std::vector<DownloadResult> results_ FETCHPOOL_GUARDED_BY(mutex_);
  std::list<Active> active_ FETCHPOOL_GUARDED_BY(mutex_);  // nodes never move
};

namespace {

// Streams a 2xx body into a FileWriter. Any other status's body is an error
// page, not the file: it is discarded so that the engine sees the status and
// applies its usual retry and record rules, and the .part stays untouched.
// With --content-disposition the file name is only known from the response
// head, so the file is opened in begin().
class DownloadBodyWriter final : public BodyWriter {
 public:
  using Resolve = std::function<Result<std::filesystem::path>(std::string_view content_disposition)>;

  DownloadBodyWriter(Resolve resolve, std::optional<std::filesystem::path> known_path, bool resume, bool hash,
                     std::atomic<std::uint64_t>& progress, std::uint64_t max_bytes)
      : resolve_(std::move(resolve)), progress_(progress), max_bytes_(max_bytes), hash_(hash) {
    if (known_path) {
      path_ = *known_path;
      file_.emplace(path_, resume, hash_);
    }
  }

  Result<void> begin(const ResponseHead& head) override {
    passthrough_ = head.status >= 200 && head.status < 300;
    if (!passthrough_) return {};
    // A declared size over the cap fails before a byte is written; the
    // bytes themselves are counted in write() (chunked, close-delimited or
    // decoded bodies declare nothing usable).
    const bool identity = head.content_encoding.empty();
    if (head.content_length && identity && *head.content_length > max_bytes_) return too_large();
    if (!file_) {
      auto path = resolve_(head.content_disposition);
      if (!path) return std::move(path).error();
      path_ = *path;
      file_.emplace(path_, false, hash_);
    }
    return file_->begin(head);
  }

  Result<void> write(std::string_view chunk) override {
    if (!passthrough_) return {};
    if (chunk.size() > max_bytes_ - written_) return too_large();
    written_ += chunk.size();
    progress_.fetch_add(chunk.size(), std::memory_order_relaxed);
    return file_->write(chunk);
  }

  FileWriter* file() { return file_ ? &*file_ : nullptr; }
  const std::filesystem::path& path() const { return path_; }

 private:
  Error too_large() const {
    return Error{ErrorCode::kTooLarge, (path_.empty() ? std::string("the file") : path_.string()) +
                                           " would exceed the largest file size (--max-filesize " +
                                           std::to_string(max_bytes_) + " bytes)"};
  }

  std::filesystem::path path_;
  Resolve resolve_;
  std::atomic<std::uint64_t>& progress_;
  const std::uint64_t max_bytes_;
  std::uint64_t written_ = 0;  // bytes of this response (a resumed prefix is not counted)
  std::optional<FileWriter> file_;
  const bool hash_;
  bool passthrough_ = false;
};

// Failures worth another try: the next attempt may well succeed.
bool is_transient(ErrorCode code) {
  return code == ErrorCode::kConnect || code == ErrorCode::kTimeout || code == ErrorCode::kNetwork ||
         code == ErrorCode::kTruncated;
}

bool is_transient_status(long status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

bool is_html(std::string_view content_type) {
  return detail::istarts_with_lower(content_type, "text/html") ||
         detail::istarts_with_lower(content_type, "application/xhtml+xml");
}

// The path and query of a normalised absolute URL ("http://h:1/a?b" -> "/a?b").
std::string_view path_and_query_of(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "/";
  const auto path = url.find('/', scheme_end + 3);
  return path == std::string_view::npos ? std::string_view("/") : url.substr(path);
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, std::uint32_t attempt) {
  // Exponential backoff with "equal jitter": half fixed, half random, so
  // retries from many workers spread out instead of arriving in lockstep.
  thread_local std::minstd_rand rng(static_cast<unsigned>(std::hash<std::thread::id>{}(std::this_thread::get_id())));
  const auto exponent = std::min<std::uint32_t>(attempt, 20);
  const auto full = std::min<std::int64_t>(policy.base_delay.count() << exponent, policy.max_delay.count());
  const auto half = full / 2;
  std::uniform_int_distribution<std::int64_t> jitter(0, std::max<std::int64_t>(half, 0));
  return std::chrono::milliseconds(half + jitter(rng));
}

bool is_2xx(long status) { return status >= 200 && status < 300; }

// The statuses whose Location names the resource's new place (RFC 9110
// section 15.4); 300 and 304 are not followed, as in curl and browsers.
bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// The first C0 control or DEL in an input line, which no URL may hold
// (RFC 3986 section 2; WHATWG strips only tabs and newlines, and a NUL
// passed on would be percent-encoded and fetched).
std::optional<std::size_t> control_character_at(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) return i;
  }
  return std::nullopt;
}

// A record's fetch time, RFC 3339 with milliseconds. Stamps within one
// second share all but their milliseconds: each thread keeps its last stamp,
// so gmtime_r and the date digits run about once a second instead of once a
// record.
void stamp_fetch_time(std::string& out) {
  const auto now = std::chrono::system_clock::now();
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  constexpr std::size_t kMillisAt = 20;  // "2026-12-06T23:01:02.345Z"
  thread_local std::int64_t cached_second = -1;
  thread_local std::string cached;
  const std::int64_t second = millis / 1000;
  if (millis < 0 || second != cached_second || cached.size() != kMillisAt + 4) {
    out = detail::rfc3339(now);
    cached = out;
    cached_second = millis < 0 ? -1 : second;
    return;
  }
  out = cached;
  auto rest = static_cast<int>(millis % 1000);
  for (std::size_t i = kMillisAt + 3; i-- > kMillisAt; rest /= 10) out[i] = static_cast<char>('0' + rest % 10);
}

// The record a page starts with; the steps of handle_page fill in the rest.
ResultRecord first_record(const CrawlItem& item) {
  ResultRecord record;
  // A redirect hop's record is its chain's: named by the URL the chain
  // started from, ending (so far) on this one.
  if (item.redirects > 0) {
    record.url = item.chain_start;
    record.final_url = item.url;
    record.redirects = item.redirects;
  } else {
    record.url = item.url;
  }
  record.line = item.origin;
  record.depth = item.depth;
  record.referrer = item.referrer;
  record.attempts = item.attempt + 1;
  return record;
}

// What the answer says about the page; 4xx and 5xx make it an error record.
void describe_response(ResultRecord& record, const FetchResponse& response) {
  const long status = response.head.status;
  if (!response.final_url.empty()) record.final_url = response.final_url;
  record.status = status;
  record.content_type = response.head.content_type;
  record.bytes = response.body_bytes;
  if (status >= 400) {
    record.error = ErrorCode::kHttpStatus;
    record.error_message = "HTTP " + std::to_string(status);
    if (record.attempts > 1) record.error_message += " after " + std::to_string(record.attempts) + " attempts";
  }
}

// A page is parsed for its title and links only when someone reads them (a
// crawl, or `get --titles`) and the answer is a 2xx HTML document.
bool wants_page_info(const EngineOptions& options, const ResponseHead& head) {
  return (options.parse_html || options.follow_links) && is_2xx(head.status) && is_html(head.content_type);
}

}  // namespace

// Download mode, one page: the body streams to "<name>.part" instead of
// memory. The name was reserved by the caller, unless Content-Disposition
// names the file (then it is reserved once the response head arrives). The
// transfer is listed for the progress display while this object lives; it
// does not move, since the writer resolves names through it.
class CrawlEngine::PageDownload {
 public:
  PageDownload(Downloads& downloads, Url url, std::optional<std::filesystem::path> known_path)
      : downloads_(downloads),
        url_(std::move(url)),
        transfer_(downloads.begin_transfer(known_path ? known_path->filename().string() : url_.str())),
        writer_([this](std::string_view disposition) { return downloads_.path_for(url_, disposition); }, known_path,
                downloads.options().resume && !downloads.options().naming.content_disposition, downloads.options().hash,
                transfer_->bytes, downloads.options().max_file_bytes) {}
  ~PageDownload() { downloads_.end_transfer(transfer_); }
  PageDownload(const PageDownload&) = delete;
  PageDownload& operator=(const PageDownload&) = delete;

  // Points the request at the writer and, when an earlier run left a .part,
  // asks for the rest of it (If-Range: a changed file is sent whole).
  void prepare(FetchRequest& request) {
    if (FileWriter* file = writer_.file(); file != nullptr && file->existing_size() > 0) {
      request.resume_from = file->existing_size();
      if (auto validator = file->if_range_validator(); !validator.empty())
        request.extra_headers.push_back("If-Range: " + validator);
    }
    request.writer = &writer_;
    request.receive_buffer_bytes = kDownloadReceiveBufferBytes;
    request.decode = downloads_.options().decode;
  }

  // A failed or non-2xx transfer keeps its .part for --continue.
  void keep_part_unless_2xx(const Result<FetchResponse>& response) {
    if (writer_.file() != nullptr && (!response || !is_2xx(response->head.status))) writer_.file()->abandon();
  }

  FileWriter* file() { return writer_.file(); }  // null while Content-Disposition has yet to name the file
  const std::filesystem::path& path() const { return writer_.path(); }

 private:
  Downloads& downloads_;
  const Url url_;
  Downloads::Active* const transfer_;
  DownloadBodyWriter writer_;
};

namespace {

// Whether `url` is on the origin `host_key` ("scheme://host:port") names.
bool same_origin(const std::string& url, const std::string& host_key) {
  const auto parsed = Url::parse(url);
  return parsed && parsed->host_key() == host_key;
}

// The rules of a crawl that must hold whatever the caller set: obeying
// robots.txt gates the built-in frontier's pages behind it.
EngineOptions with_crawl_rules(EngineOptions options) {
  if (options.workers == 0) options.workers = 1;
  if (options.robots) options.frontier.robots_first = true;
  return options;
}

}  // namespace

CrawlEngine::CrawlEngine(EngineOptions options, ResultSink& sink, std::unique_ptr<Frontier> frontier)
    : options_(with_crawl_rules(std::move(options))),
      // The journal stands in front of the results: a record it has not
      // logged would be lost to a resumed run, so with --state every record
      // goes through it, whichever of the two the caller handed in.
      sink_(options_.state != nullptr ? static_cast<ResultSink&>(*options_.state) : sink),
      frontier_(frontier ? std::move(frontier) : std::make_unique<MemoryFrontier>(options_.frontier)),
      robots_(std::make_unique<RobotsCache>()),
      in_flight_(std::make_unique<InFlightTable>()),
      curl_cache_(std::make_unique<SharedCurlCache>(options_.shared_curl)),
      shared_frontier_(frontier_ != nullptr && dynamic_cast<MemoryFrontier*>(frontier_.get()) == nullptr) {
  // Here, not in start(): the caller usually has no other thread yet (the
  // signal watcher, the progress reporter and the status server start
  // later), so the table grows at once instead of after a grace period.
  detail::reserve_descriptor_table(options_.workers);
  // Another node records an input URL it queued first: no `duplicate` here.
  if (shared_frontier_) options_.record_duplicate_input = false;
  // Every hop goes through the frontier (follow_redirect), never inside libcurl.
  options_.fetch.follow_redirects = false;
  if (options_.sitemaps.enabled()) {
    init_sitemap_parsing();  // libxml2's globals, before any worker exists
    sitemaps_ = std::make_unique<Sitemaps>(options_.sitemaps);
  }
}

Result<void> CrawlEngine::prepare() {
  // The journal syncs a record after the shared frontier already counts its
  // URL done for every node, so a crash between the two would lose it.
  if (options_.state != nullptr && shared_frontier_)
    return Error{ErrorCode::kConfig,
                 "a state journal (--state) cannot be combined with a shared frontier (it keeps the crawl's state)"};
  if (options_.state != nullptr && !restored_) {
    restored_ = true;
    auto restored = options_.state->restore(
        [this](CrawlItem item) {
          auto url = Url::parse(item.url);
          if (!url) return;
          item.host_key = url->host_key();
          // An input line this run records: part of the progress total.
          if (item.origin != 0 && item.depth == 0) input_total_.fetch_add(1, std::memory_order_relaxed);
          frontier_->push(std::move(item));
        },
        [this](std::string_view url) { frontier_->mark_seen(url); });
    if (!restored) return restored;
  }
  if (!options_.download || downloads_) return {};
  auto directory = OutputDirectory::open(options_.download->directory, options_.download->reserved);
  if (!directory) return std::move(directory).error();
  downloads_ = std::make_unique<Downloads>(std::move(*directory), *options_.download);
  return {};
}

bool CrawlEngine::wants_file(const std::string& url) const {
  if (!downloads_) return false;
  if (!options_.follow_links) return true;  // a list fetch saves every URL
  const auto path = path_and_query_of(url);
  const auto end = path.find_first_of("?#");
  const auto bare = path.substr(0, end);
  for (const auto& extension : downloads_->options().extensions)
    if (detail::iends_with(bare, extension)) return true;
  return false;
}

CrawlEngine::~CrawlEngine() {
  if (spawner_.joinable()) {
    request_stop();
    spawner_.join();
  }
  if (!workers_.empty()) {
    request_stop();
    workers_.clear();  // joins
  }
}

Result<void> CrawlEngine::set_seeds(const std::vector<std::string>& seeds) {
  if (sitemaps_) start_sitemaps(seeds);
  if (!options_.scope) return {};
  std::vector<Url> parsed;
  for (const auto& seed : seeds) {
    if (auto url = Url::parse(seed)) parsed.push_back(std::move(*url));
  }
  auto scope = Scope::create(*options_.scope, parsed);
  if (!scope) return std::move(scope).error();
  scope_.emplace(std::move(*scope));
  return {};
}

PushResult CrawlEngine::push_item(CrawlItem item) {
  if (options_.state == nullptr) return frontier_->push(std::move(item));
  const auto pushed = frontier_->push(item);
  if (pushed == PushResult::kQueued) options_.state->queued(item);
  return pushed;
}

bool CrawlEngine::add(std::string_view text, std::uint64_t line) {
  // Resumed: an earlier run queued or finished this line; prepare() restored
  // it (and counted it, if this run is to record it).
  if (options_.state != nullptr && options_.state->knows_line(line)) return true;
  input_total_.fetch_add(1, std::memory_order_relaxed);
  Result<Url> url = Error{ErrorCode::kInvalidUrl, {}};
  if (const auto bad = control_character_at(text)) {
    char code[8];
    std::snprintf(code, sizeof code, "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(text[*bad])));
    url = Error{ErrorCode::kInvalidUrl,
                "control character " + std::string(code) + " at column " + std::to_string(*bad + 1) + "; not fetched"};
  } else {
    url = Url::parse(text);
  }
  if (!url) {
    ResultRecord record;
    record.url = std::string(text);
    // A control character would corrupt a results line or a terminal: shown as \xHH.
    if (control_character_at(text)) {
      record.url.clear();
      for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte != 0x7F) {
          record.url.push_back(c);
        } else {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\x%02X", static_cast<unsigned>(byte));
          record.url += escaped;
        }
      }
    }
    record.line = line;
    record.error = url.error().code;
    record.error_message =
        line != 0 ? "line " + std::to_string(line) + ": " + url.error().message : url.error().message;
    emit(record, {});
    return false;
  }
  // Before start() nothing drains the queue, so only a running engine waits.
  if (options_.max_queued_input != 0 && started_.load(std::memory_order_acquire) &&
      !frontier_->wait_for_room(std::max<std::uint64_t>(options_.max_queued_input, 2ULL * planned_workers_),
                                stop_.get_token())) {
    ResultRecord record;
    record.url = url->str();
    record.line = line;
    record.error = ErrorCode::kAborted;
    record.error_message = "not fetched: the run was stopped";
    emit(record, {});
    return false;
  }
  CrawlItem item;
  item.url = url->str();
  item.host_key = url->host_key();
  item.origin = line;
  const auto pushed = push_item(std::move(item));
  if (pushed == PushResult::kQueued) return true;
  if (pushed == PushResult::kDuplicate && !options_.record_duplicate_input) return true;
  ResultRecord record;
  record.url = url->str();
  record.line = line;
  switch (pushed) {
    case PushResult::kDuplicate:
      record.error = ErrorCode::kDuplicate;
      record.error_message = "same URL as an earlier input line; fetched once";
      break;
    case PushResult::kLimitReached:
      record.error = ErrorCode::kOutOfScope;
      record.error_message = "not fetched: the page limit (--max-pages) was reached";
      break;
    default:
      record.error = ErrorCode::kAborted;
      record.error_message = "not fetched: the run was stopped";
      break;
  }
  emit(record, {});
  return false;
}

void CrawlEngine::start() {
  const auto budget = detail::plan_workers(options_.workers);
  planned_workers_ = budget.workers;
  if (!budget.limited_by.empty())
    note_worker_limit(budget.limited_by + "; running " + std::to_string(budget.workers) + " workers");
  stop_wakeup_ = std::make_unique<StopWakeup>(stop_.get_token());
  stacks_ = std::make_unique<detail::StackArena>(planned_workers_, options_.worker_stack_bytes);
  // spdlog builds its registry on first use, inside the (uninstrumented)
  // shared library: built here, before any thread of ours exists, the
  // spawner's and the workers' first log lines only read it.
  spdlog::default_logger_raw();
  try {
    spawner_ = std::jthread([this] { spawn_workers(); });
  } catch (const std::system_error& e) {
    // Not one thread: the caller's thread does the work in wait(), so add()
    // must not wait for room that no worker would make.
    note_worker_limit(std::string("thread creation failed (") + e.what() + "); working on the calling thread");
    work_in_wait_ = true;
    return;
  }
  started_.store(true, std::memory_order_release);
}

void CrawlEngine::note_worker_limit(std::string why) {
  spdlog::warn("fewer workers than -j {}: {}", options_.workers, why);
  MutexLock lock(workers_mutex_);
  if (!workers_limited_by_.empty()) workers_limited_by_ += "; ";
  workers_limited_by_ += why;
}

// Runs on spawner_. A worker is started when queued work finds no idle
// worker, so short lists start few threads and the threads that do start
// find work at once; a shared frontier's counts() is a network round trip,
// so its workers all start at once.
void CrawlEngine::spawn_workers() {
  const auto began = std::chrono::steady_clock::now();
  workers_.reserve(planned_workers_);
  // Queued work that no idle or starting worker will take. Looked up once per
  // batch of threads, not per thread: the counts take the frontier's lock,
  // which the workers just started contend for in pop().
  const auto demand = [this]() -> std::uint64_t {
    if (shared_frontier_) return UINT64_MAX;
    const auto counts = frontier_->counts();
    const std::uint64_t taken = counts.waiting + workers_starting_.load(std::memory_order_relaxed);
    return counts.queued > taken ? counts.queued - taken : 0;
  };
  std::uint64_t owed = 0;  // workers the last demand() asked for, not yet created
  std::chrono::milliseconds idle_wait{1};
  for (std::uint32_t index = 0;
       index < planned_workers_ && !stop_.stop_requested() && !work_ended_.load(std::memory_order_relaxed);) {
    // The first worker starts at once: it is the one that sees the frontier
    // finish (work_ended_), also when a resumed run has nothing left to do.
    if (index > 0 && owed == 0 && (owed = demand()) == 0) {
      // No demand: look again soon, less often the longer none comes (a
      // crawl of a slow site must not cost a wake-up per millisecond).
      {
        MutexLock lock(workers_mutex_);
        spawner_wake_.wait_for(lock, stop_.get_token(), idle_wait,
                               [this] { return work_ended_.load(std::memory_order_relaxed); });
      }
      idle_wait = std::min(idle_wait * 2, std::chrono::milliseconds(16));
      continue;
    }
    idle_wait = std::chrono::milliseconds(1);
    if (owed > 0) --owed;
    {
      MutexLock lock(workers_mutex_);
      ++workers_live_;
    }
    workers_starting_.fetch_add(1, std::memory_order_relaxed);
    try {
      if (options_.spawn_hook) options_.spawn_hook(index);
      workers_.push_back(std::make_unique<detail::SizedThread>(*stacks_, [this] { worker_main(stop_.get_token()); }));
    } catch (const std::exception& e) {  // std::system_error from pthread_create; bad_alloc
      workers_starting_.fetch_sub(1, std::memory_order_relaxed);
      {
        MutexLock lock(workers_mutex_);
        --workers_live_;
      }
      note_worker_limit("thread creation failed after " + std::to_string(index) + " workers (" + e.what() + "); " +
                        (index == 0 ? "the spawner thread works alone" : "running those"));
      break;
    }
    ++index;
  }
  // -v shows it: the start-up figure of issue 14 (all workers within one latency).
  spdlog::debug("spawner: {} worker threads created in {:.1f} ms", workers_.size(),
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count());
  bool none_alive = false;
  {
    MutexLock lock(workers_mutex_);
    spawning_done_ = true;
    none_alive = workers_live_ == 0;
  }
  // No worker could be created (or every one failed to start): this thread
  // exists, so it works, rather than leave the URLs without records.
  if (none_alive && !stop_.stop_requested()) {
    {
      MutexLock lock(workers_mutex_);
      ++workers_live_;
    }
    workers_starting_.fetch_add(1, std::memory_order_relaxed);
    worker_main(stop_.get_token());
  }
}

void CrawlEngine::finish_input() {
  frontier_->close_input();
  input_closed_.store(true, std::memory_order_relaxed);
}

// A list fetch whose input is all read, with nothing queued or delayed, has
// every remaining URL in some worker's hands, and a retry goes back through
// the worker that held it: a worker without a lease can only wait for the
// end. Leaving now, one by one as the last wave finishes, spares the end of
// the run a wake-up of every idle worker at once, which queue for the
// frontier's lock one by one (~30 ms from the last record to the last join
// at -j 500). A crawl keeps its workers: the pages in flight may bring links.
bool CrawlEngine::idle_worker_may_leave() const {
  if (options_.follow_links || shared_frontier_ || !input_closed_.load(std::memory_order_relaxed)) return false;
  const auto counts = frontier_->counts();
  return counts.queued == 0 && counts.delayed == 0 && counts.in_flight > 0 && !counts.finished;
}

RunSummary CrawlEngine::wait() {
  if (work_in_wait_) {
    work_in_wait_ = false;
    {
      MutexLock lock(workers_mutex_);
      ++workers_live_;
      spawning_done_ = true;
    }
    workers_starting_.fetch_add(1, std::memory_order_relaxed);
    worker_main(stop_.get_token());
  }
  if (spawner_.joinable()) spawner_.join();
  for (auto& worker : workers_) worker->join();
  workers_.clear();
  stacks_.reset();  // every thread on them is joined
  RunSummary summary;
  summary.stats = stats();
  {
    MutexLock lock(workers_mutex_);
    summary.stats.workers_limited_by = workers_limited_by_;
  }
  summary.records = records_.load();
  summary.interrupted = stop_.stop_requested();
  summary.lost_dependency = frontier_->failure();
  if (downloads_) summary.downloads = downloads_->results();
  return summary;
}

Result<void> CrawlEngine::save_cookies(const std::filesystem::path& path) const {
  return curl_cache_->save_cookies(path);
}

void CrawlEngine::request_stop() {
  // stopping_ first, so a push the stopping frontier refuses is read as the
  // stop, not as a frontier failure. Frontier before the token: a transfer
  // the token aborts is given back with retry(), and no worker may lease it
  // again (and record it twice) in between.
  stopping_.store(true);
  frontier_->stop();
  stop_.request_stop();
}

StatsSnapshot CrawlEngine::stats() const {
  auto snapshot = stats_.snapshot();
  snapshot.workers_requested = options_.workers;
  snapshot.workers_started = workers_started_.load(std::memory_order_relaxed);
  if (sitemaps_) snapshot.sitemaps = sitemaps_->counts();
  return snapshot;
}

ProgressView CrawlEngine::progress_view() const {
  const auto snapshot = stats_.snapshot();
  const auto counts = frontier_->counts();
  ProgressView view;
  view.done = snapshot.done;
  view.failed = snapshot.failed;
  view.bytes = snapshot.bytes;
  if (downloads_) view.bytes += downloads_->bytes_in_flight();  // a big file counts while it arrives
  view.retries = snapshot.retries;
  view.queued = counts.queued + counts.delayed;
  view.in_flight = counts.in_flight;
  if (!options_.follow_links) view.total = input_total_.load(std::memory_order_relaxed);
  if (downloads_) view.largest_transfers = downloads_->largest(3);
  return view;
}

std::vector<InFlightUrl> CrawlEngine::in_flight(std::size_t limit) const { return in_flight_->longest(limit); }
std::size_t CrawlEngine::in_flight_count() const { return in_flight_->size(); }

void CrawlEngine::emit(ResultRecord& record, std::chrono::microseconds elapsed) {
  // Stamped here, before any sink (the --state journal first of all), so every
  // sink and a resumed run's rewrite keep the time. Records are emitted as
  // their fetch ends, so now is the fetch's time; a URL never fetched (a
  // duplicate, an invalid line) has none. Stamped in place: a copy of the
  // record to stamp cost a request about 1,500 instructions (callgrind).
  if (record.attempts > 0 && record.fetched_at.empty()) stamp_fetch_time(record.fetched_at);
  stats_.record(Outcome{record.status, record.error, record.bytes, elapsed});
  if (shared_frontier_) {
    // A transfer cut short by a stop is given back to the shared crawl, and
    // the node that fetches it records it.
    if (record.error == ErrorCode::kAborted) return;
    // Every node considers the URL done once this lease completes, so its
    // record reaches the kernel first: a node killed with SIGKILL loses no
    // record of a URL it completed (one write(2) per record, small next to a
    // fetch). A flush error is sticky: the caller's final flush() reports it.
    sink_.write(record);
    (void)sink_.flush();
  } else {
    sink_.write(record);
  }
  records_.fetch_add(1, std::memory_order_relaxed);
}

void CrawlEngine::worker_main(std::stop_token stop) {
  // A worker that cannot start costs only itself (its Fetcher needs memory
  // for a curl handle); the others, or the last one, handle the URLs.
  std::unique_ptr<ExchangeObserver> observer;  // declared first: outlives the Fetcher reporting to it
  std::optional<Fetcher> made;
  try {
    made.emplace(options_.fetch, curl_cache_.get(), stop_wakeup_.get());
    if (options_.exchanges != nullptr) {
      observer = options_.exchanges->make_observer();
      made->set_observer(observer.get());
    }
  } catch (const std::exception& e) {
    workers_starting_.fetch_sub(1, std::memory_order_relaxed);
    worker_failed_to_start(e.what());
    return;
  }
  workers_started_.fetch_add(1, std::memory_order_relaxed);
  // From its first pop() on, the frontier counts this worker as waiting.
  workers_starting_.fetch_sub(1, std::memory_order_relaxed);
  Fetcher& fetcher = *made;
  for (;;) {
    if (idle_worker_may_leave()) {
      MutexLock lock(workers_mutex_);
      --workers_live_;
      return;
    }
    auto lease = frontier_->pop(stop);
    if (!lease) break;
    struct Showing {  // in the in-flight table while this lease is worked on
      InFlightTable& table;
      InFlightTable::Handle handle;
      ~Showing() { table.end(handle); }
    } showing{*in_flight_, in_flight_->begin(*lease)};
    // Nothing may escape a worker: an unexpected exception becomes the URL's
    // record, and the lease is still completed so the run can finish.
    try {
      if (lease->kind == LeaseKind::kRobots) {
        handle_robots(fetcher, *lease, stop);
      } else {
        handle_page(fetcher, *lease, stop);
      }
    } catch (const std::exception& e) {
      settle_after_exception(*lease, e.what());
    }
  }
  // pop() ends only when the frontier finished or stopped: no worker spawned
  // from now on would find work, so the spawner stops adding them.
  set_work_ended();
}

void CrawlEngine::settle_after_exception(const Lease& lease, const char* what) {
  spdlog::error("worker: {}: {}", lease.item.url, what);
  if (lease.kind == LeaseKind::kPage) {
    ResultRecord record = first_record(lease.item);
    record.attempts = 0;
    record.error = ErrorCode::kInternal;
    record.error_message = what;
    emit(record, {});
  }
  frontier_->complete(lease);
}

void CrawlEngine::set_work_ended() {
  // Every worker comes here as the run ends: only the first takes the lock.
  if (work_ended_.load(std::memory_order_relaxed)) return;
  {
    // Stored under the spawner's mutex, so its wait cannot miss it between
    // checking and sleeping.
    MutexLock lock(workers_mutex_);
    work_ended_.store(true, std::memory_order_relaxed);
  }
  spawner_wake_.notify_all();
}

void CrawlEngine::worker_failed_to_start(const std::string& why) {
  bool last = false;
  {
    MutexLock lock(workers_mutex_);
    last = --workers_live_ == 0 && spawning_done_;
  }
  spdlog::error("worker: could not start: {}", why);
  if (!last) return;
  // No worker is left to fetch: every remaining URL gets its record here.
  while (auto lease = frontier_->pop(stop_.get_token())) {
    if (lease->kind == LeaseKind::kPage) {
      ResultRecord record = first_record(lease->item);  // a redirect hop's record is its chain's
      record.attempts = 0;
      record.error = ErrorCode::kInternal;
      record.error_message = "not fetched: no worker could start (" + why + ")";
      emit(record, {});
    }
    frontier_->complete(*lease);
  }
  set_work_ended();
}

bool CrawlEngine::retry_later(const Lease& lease, std::chrono::milliseconds at_least) {
  if (lease.item.attempt >= options_.retry.max_retries || stopping_.load()) return false;
  const auto delay =
      std::min(std::max(at_least, backoff_delay(options_.retry, lease.item.attempt)), options_.retry.max_retry_wait);
  stats_.record_retry();
  frontier_->retry(lease, delay);
  return true;
}

void CrawlEngine::handle_robots(Fetcher& fetcher, const Lease& lease, std::stop_token stop) {
  if (fetch_robots(fetcher, lease, lease.item.url, stop)) frontier_->complete(lease);
}

// Fetches and stores a host's rules; false when `lease` was given back to
// try again later instead (a transient failure).
bool CrawlEngine::fetch_robots(Fetcher& fetcher, const Lease& lease, const std::string& robots_url,
                               std::stop_token stop) {
  const auto& host = lease.item.host_key;
  FetchRequest request;
  request.url = robots_url;
  auto response = fetcher.fetch(request, stop);
  // RFC 9309 section 2.3.1.2: follow at least five redirects, across
  // origins too (the rules still apply to this host); after that the file
  // counts as unavailable, which the 3xx below reads as "no rules".
  constexpr int kRobotsRedirects = 5;
  for (int hop = 0;
       hop < kRobotsRedirects && response && is_redirect(response->head.status) && !response->head.location.empty();
       ++hop) {
    const auto here = Url::parse(request.url);
    auto next = here ? here->resolve(response->head.location) : Result<Url>(here.error());
    if (!next) break;
    request.url = next->str();
    response = fetcher.fetch(request, stop);
  }
  std::optional<RobotsRules> rules;
  if (!response) {
    if (is_transient(response.error().code) && retry_later(lease, {})) return false;
    // RFC 9309 2.3.1.4: an unreachable robots.txt means "assume complete disallow".
    spdlog::warn("robots.txt: {}: {}; disallowing the host", request.url, response.error().message);
    rules = RobotsRules::disallow_all();
  } else {
    const long status = response->head.status;
    if (status >= 200 && status < 300) {
      rules = RobotsRules::parse(response->body, options_.fetch.user_agent);
    } else if (status >= 500 || status == 429) {
      if (retry_later(lease, {})) return false;
      spdlog::warn("robots.txt: {}: HTTP {}; disallowing the host", request.url, status);
      rules = RobotsRules::disallow_all();
    } else {
      // 4xx (and redirect chains that end nowhere): RFC 9309 2.3.1.3, no rules.
      rules = RobotsRules::allow_all();
    }
  }
  if (auto delay = rules->crawl_delay(); delay && delay->count() > 0) {
    frontier_->set_host_delay(host, std::min(*delay, options_.max_crawl_delay));
  }
  if (sitemaps_) queue_robots_sitemaps(host, *rules);
  robots_->put(host, std::move(*rules));
  return true;
}

// One page lease, start to end. Each step that can settle the lease (write
// the record and complete it, or give it back for a retry) returns whether
// it did; the lease is settled exactly once on every path.
void CrawlEngine::handle_page(Fetcher& fetcher, const Lease& lease, std::stop_token stop) {
  ResultRecord record = first_record(lease.item);
  if (sitemaps_) record.lastmod = sitemaps_->lastmod_of(lease.item);
  // A frontier that does not gate pages behind robots.txt (one built by the
  // caller without robots_first) still gets robots before pages: the page's
  // worker fetches the host's rules first.
  if (options_.robots && robots_->find(lease.item.host_key) == nullptr &&
      !fetch_robots(fetcher, lease, lease.item.host_key + "/robots.txt", stop))
    return;
  if (options_.robots && disallowed_by_robots(lease, record)) return;

  FetchRequest request;
  request.url = lease.item.url;
  InputLineOptions line_options;
  if (options_.line_options && lease.item.origin != 0 && lease.item.depth == 0)
    line_options = options_.line_options(lease.item.origin);
  std::optional<PageDownload> download;
  // A sitemap (--sitemaps) streams into its parser: not kept, not saved. On
  // the heap: this frame is on every worker's deepest path (under fetch(),
  // libcurl's printf), and each byte of it is stack every worker touches.
  std::unique_ptr<SitemapBodyWriter> sitemap;
  if (sitemaps_ && sitemaps_->find(lease.item)) {
    sitemap = std::make_unique<SitemapBodyWriter>();
    request.writer = sitemap.get();
  }
  // A hop of a redirect chain is saved under its chain's name (curl -O and
  // wget name a file after the URL asked for, not where it moved).
  if (!sitemap && wants_file(record.url) && !start_download(lease, record, request, download, line_options.out)) return;
  // A hop to another origin than the URL the user named gets none of the
  // user's credentials or headers: any server could otherwise collect them
  // with a redirect (curl drops them too, unless --location-trusted).
  request.user_credentials = lease.item.redirects == 0 || same_origin(lease.item.chain_start, lease.item.host_key);
  if (request.user_credentials)
    request.extra_headers.insert(request.extra_headers.end(), line_options.headers.begin(), line_options.headers.end());
  if (options_.pages != nullptr && !download)
    options_.pages->add_request_headers(lease.item.url, request.extra_headers);
  // Nothing reads the body of a plain list fetch: count it, do not keep it.
  DiscardBodyWriter discard;
  if (request.writer == nullptr && !options_.parse_html && !options_.follow_links && options_.pages == nullptr)
    request.writer = &discard;

  const auto started = std::chrono::steady_clock::now();
  auto response = fetcher.fetch(request, stop);
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
  record.elapsed_ms = static_cast<double>(elapsed.count()) / 1000.0;
  if (download) download->keep_part_unless_2xx(response);
  if (sitemap) sitemap->settle(response);
  if (!response) {
    settle_failed_fetch(lease, record, response.error(), elapsed);
    return;
  }
  std::optional<Error> gave_up;
  if (retry_for_status(lease, response->head, gave_up)) return;
  if (!gave_up && is_redirect(response->head.status) && !response->head.location.empty() &&
      follow_redirect(lease, *response, record, elapsed)) {
    return;
  }

  describe_response(record, *response);
  if (gave_up) {
    record.error = gave_up->code;
    record.error_message = std::move(gave_up->message);
  }
  bool links_refused = false;  // the frontier refused a discovered link (kClosed)
  if (download && download->file() != nullptr && is_2xx(response->head.status)) {
    if (save_download(lease, *download, record)) return;
  } else if (sitemap && sitemap->parsed()) {
    links_refused = read_sitemap(lease.item, *sitemap, record);
  } else {
    const bool kept_copy = options_.pages != nullptr && keep_page(lease.item, *response, record);
    if (kept_copy || wants_page_info(options_, response->head))
      links_refused = read_page(lease.item, *response, record);
  }
  fetcher.recycle_body(std::move(response->body));  // nothing reads it from here on
  if (links_refused && retry_for_refused_links(lease, record)) return;
  emit(record, elapsed);
  frontier_->complete(lease);
}

// Settled before any transfer (robots.txt said no, no file name could be
// reserved): the record counts no attempt.
void CrawlEngine::settle_unfetched(const Lease& lease, ResultRecord& record, Error error) {
  record.attempts = 0;
  record.error = error.code;
  record.error_message = std::move(error.message);
  emit(record, {});
  frontier_->complete(lease);
}

bool CrawlEngine::disallowed_by_robots(const Lease& lease, ResultRecord& record) {
  const CrawlItem& item = lease.item;
  const auto rules = robots_->find(item.host_key);
  if (!rules || rules->allowed(path_and_query_of(item.url))) return false;
  settle_unfetched(lease, record,
                   Error{ErrorCode::kRobotsDisallowed, "disallowed by " + item.host_key + "/robots.txt"});
  return true;
}

// Reserves the file name up front unless Content-Disposition is to name
// it, so a retry resumes its own .part. False when no name could be
// reserved: the page is settled with that error.
bool CrawlEngine::start_download(const Lease& lease, ResultRecord& record, FetchRequest& request,
                                 std::optional<PageDownload>& download, const std::string& out) {
  auto url = Url::parse(record.url);
  if (!url) throw std::runtime_error("queued URL does not parse: " + record.url);
  std::optional<std::filesystem::path> known_path;
  if (!out.empty() || !downloads_->options().naming.content_disposition) {
    auto path = downloads_->path_for(*url, {}, out);
    if (!path) {
      settle_unfetched(lease, record, std::move(path).error());
      return false;
    }
    known_path = *path;
  }
  download.emplace(*downloads_, std::move(*url), std::move(known_path));
  download->prepare(request);
  return true;
}

// No answer: aborted by a stop (given back), transient (retried while
// attempts remain), or final (the error is the record).
void CrawlEngine::settle_failed_fetch(const Lease& lease, ResultRecord& record, const Error& error,
                                      std::chrono::microseconds elapsed) {
  if (error.code == ErrorCode::kAborted) {
    record.error = ErrorCode::kAborted;
    record.error_message = error.message;
    emit(record, elapsed);
    // Cut short by a stop, so not done: given back rather than completed, a
    // shared frontier lets another node fetch it (a local one is stopped anyway).
    frontier_->retry(lease, std::chrono::milliseconds(0));
    return;
  }
  if (is_transient(error.code) && retry_later(lease, {})) return;
  record.error = error.code;
  record.error_message = error.message;
  if (record.attempts > 1) record.error_message += " (gave up after " + std::to_string(record.attempts) + " attempts)";
  emit(record, elapsed);
  frontier_->complete(lease);
}

// 429 and 5xx answers are retried while attempts remain, no sooner than
// the server's Retry-After. A Retry-After beyond max_retry_wait is not
// waited for: the URL gives up at once (`gave_up` says why) and the host is
// not backed off either, since the user chose not to wait that long: each
// other URL of the host asks for itself and gives up or is served.
bool CrawlEngine::retry_for_status(const Lease& lease, const ResponseHead& head, std::optional<Error>& gave_up) {
  const long status = head.status;
  if (!is_transient_status(status)) return false;
  std::chrono::milliseconds server_wait{0};
  if (auto wait = parse_retry_after(head.retry_after, std::chrono::system_clock::now())) {
    server_wait = *wait;
    const auto cap = options_.retry.max_retry_wait;
    // Retry-After speaks for the whole host, not just this URL.
    if ((status == 429 || status == 503) && server_wait <= cap)
      frontier_->backoff_host(lease.item.host_key, std::chrono::steady_clock::now() + server_wait);
    if (server_wait > cap) {
      gave_up =
          Error{ErrorCode::kRetryWaitTooLong,
                "HTTP " + std::to_string(status) + " with Retry-After " +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(server_wait).count()) +
                    " s, longer than --max-retry-wait " +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(cap).count()) + " s; not retried"};
      return false;
    }
  }
  return retry_later(lease, server_wait);
}

// A 3xx with a Location. The next hop is queued as an item of its own (same
// input line, depth and referrer, one more hop), so the frontier applies
// robots.txt (fetched first for a new origin), per-host caps and delays and
// the seen set to it exactly as to a link; this lease ends without a record,
// and the hop that ends the chain writes the chain's one record. True when
// the lease was settled; false leaves the 3xx to be recorded as it is (a
// Location that does not resolve).
bool CrawlEngine::follow_redirect(const Lease& lease, const FetchResponse& response, ResultRecord& record,
                                  std::chrono::microseconds elapsed) {
  const CrawlItem& item = lease.item;
  const std::string& location = response.head.location;
  auto here = Url::parse(item.url);
  if (!here) return false;
  auto target = here->resolve(location);
  describe_response(record, response);
  auto end_chain = [&](ErrorCode code, std::string message) {
    record.error = code;
    record.error_message = std::move(message);
    emit(record, elapsed);
    frontier_->complete(lease);
    return true;
  };
  if (!target) {
    const ErrorCode code =
        target.error().code == ErrorCode::kUnsupportedScheme ? ErrorCode::kRedirectRefused : ErrorCode::kProtocol;
    // Url's message names the scheme and says only http and https are taken.
    return end_chain(code, "redirect to " + location + " refused: " + target.error().message);
  }
  record.final_url = target->str();
  const std::uint32_t hops = item.redirects + 1;
  record.redirects = hops;
  if (hops > static_cast<std::uint64_t>(std::max<long>(options_.fetch.max_redirects, 0))) {
    return end_chain(ErrorCode::kTooManyRedirects, "more than " + std::to_string(options_.fetch.max_redirects) +
                                                       " redirects; the next was to " + target->str());
  }
  if (scope_ && !scope_->allows(*target)) {
    return end_chain(ErrorCode::kOutOfScope, "redirect to " + target->str() + " is outside the crawl scope");
  }
  CrawlItem next;
  next.url = target->str();
  next.host_key = target->host_key();
  next.depth = item.depth;
  next.origin = item.origin;
  next.referrer = item.referrer;
  next.redirects = hops;
  next.chain_start = item.redirects > 0 ? item.chain_start : item.url;
  switch (push_item(std::move(next))) {
    case PushResult::kQueued:
      frontier_->complete(lease);
      return true;
    case PushResult::kDuplicate:
      return end_chain(ErrorCode::kDuplicate,
                       "redirect to " + target->str() + ", which was already fetched or queued; not fetched again");
    case PushResult::kLimitReached:
      return end_chain(ErrorCode::kOutOfScope,
                       "redirect to " + target->str() + " not followed: the page limit (--max-pages) was reached");
    case PushResult::kTooDeep:
      return end_chain(ErrorCode::kOutOfScope, "redirect to " + target->str() + " not followed: too deep");
    case PushResult::kClosed:
      if (retry_for_refused_links(lease, record)) return true;
      emit(record, elapsed);
      frontier_->complete(lease);
      return true;
  }
  return false;
}

// Commits the .part under its final name (checksum checked when listed). A
// body cut short is retried; other failures become the record's error.
bool CrawlEngine::save_download(const Lease& lease, PageDownload& download, ResultRecord& record) {
  const auto expected = downloads_->expected_sha256(record.url, download.path());
  auto saved = download.file()->commit(expected);
  if (!saved) {
    if (saved.error().code == ErrorCode::kTruncated && retry_later(lease, {})) return true;
    record.error = saved.error().code;
    record.error_message = saved.error().message;
    return false;
  }
  record.path = std::filesystem::relative(saved->path, downloads_->root()).string();
  record.sha256 = saved->sha256_hex;
  record.bytes = saved->bytes;
  downloads_->add_result(*saved);
  return false;
}

// --mirror: a 2xx body is kept (a failure to save it is the record's
// error); a 304 brings back the copy kept earlier in place of the empty
// body, so that its links are followed as if it had been sent again. True
// when that copy is HTML to parse.
bool CrawlEngine::keep_page(const CrawlItem& item, FetchResponse& response, ResultRecord& record) {
  const long status = response.head.status;
  if (is_2xx(status)) {
    if (auto kept = options_.pages->store(item.url, response.head, response.body)) {
      record.path = std::move(*kept);
    } else {
      record.error = kept.error().code;
      record.error_message = std::move(kept).error().message;
    }
    return false;
  }
  if (status != 304) return false;
  auto stored = options_.pages->stored(item.url);
  if (!stored) {
    record.error = stored.error().code;
    record.error_message = std::move(stored).error().message;
    return false;
  }
  record.path = std::move(stored->path);
  record.content_type = stored->content_type;
  response.body = std::move(stored->body);
  return (options_.parse_html || options_.follow_links) && is_html(stored->content_type);
}

bool CrawlEngine::read_page(const CrawlItem& item, const FetchResponse& response, ResultRecord& record) {
  // Parsing happens here, on the worker, with no lock held: gumbo costs far
  // more than everything else a worker does per page.
  auto base = Url::parse(response.final_url.empty() ? item.url : response.final_url);
  if (!base) return false;
  PageInfo page = extract_page_info(response.body, *base, options_.links);
  record.title = std::move(page.title);
  record.links = static_cast<std::uint32_t>(page.links.size());
  record.parsed = true;
  if (!options_.follow_links || page.meta_nofollow) return false;
  return queue_links(item, page.links);
}

// Queues the in-scope links one level deeper; true when the frontier refused one.
bool CrawlEngine::queue_links(const CrawlItem& parent, const std::vector<Url>& links) {
  bool refused = false;
  for (const auto& link : links) {
    if (scope_ && !scope_->allows(link)) continue;
    PushResult pushed = PushResult::kQueued;
    if (options_.state == nullptr) {
      // Nothing but the frontier needs the item: it builds one only for a new URL.
      pushed = frontier_->push_link(link.str(), link.host_key(), parent.depth + 1, parent.url);
    } else {
      CrawlItem child;
      child.url = link.str();
      child.host_key = link.host_key();
      child.depth = parent.depth + 1;
      child.referrer = parent.url;
      pushed = push_item(std::move(child));
    }
    if (pushed == PushResult::kClosed) refused = true;
  }
  return refused;
}

bool CrawlEngine::retry_for_refused_links(const Lease& lease, ResultRecord& record) {
  // Refused without a stop, the frontier failed (a shared one lost Redis):
  // completing would lose the links for good, so the page is tried again.
  const bool stopping = stopping_.load();
  if (!stopping && retry_later(lease, {})) return true;
  // After request_stop() the frontier refuses links. A journal must then
  // not call the page done, or a resumed run would never queue them: as an
  // aborted record it is dropped and fetched again.
  if (options_.state != nullptr || !stopping) {
    record.error = stopping ? ErrorCode::kAborted : ErrorCode::kInternal;
    record.error_message = stopping ? "stopped before its links were queued" : "the frontier refused its links";
  }
  return false;
}

}  // namespace fetchpool
