#include "fetchpool/engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <list>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <unordered_map>

#include "base/sized_thread.hpp"
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
    std::unique_lock lock(mutex_);
    rules_[host_key] = std::move(shared);
  }
  std::shared_ptr<const RobotsRules> find(const std::string& host_key) const {
    std::shared_lock lock(mutex_);
    const auto it = rules_.find(host_key);
    return it == rules_.end() ? nullptr : it->second;
  }

 private:
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const RobotsRules>> rules_;  // guarded by mutex_
};

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

  Result<std::filesystem::path> path_for(const Url& url, std::string_view content_disposition) {
    const auto relative = safe_relative_path(url.host(), url.path_and_query(), content_disposition, options_.naming);
    std::lock_guard lock(mutex_);
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
    std::lock_guard lock(mutex_);
    results_.push_back(std::move(result));
  }
  std::vector<DownloadResult> results() const {
    std::lock_guard lock(mutex_);
    return results_;
  }

  Active* begin_transfer(std::string name) {
    std::lock_guard lock(mutex_);
    active_.emplace_front();
    active_.front().name = std::move(name);
    return &active_.front();
  }
  void end_transfer(Active* transfer) {
    std::lock_guard lock(mutex_);
    active_.remove_if([transfer](const Active& a) { return &a == transfer; });
  }
  std::vector<std::pair<std::string, std::uint64_t>> largest(std::size_t count) const {
    std::vector<std::pair<std::string, std::uint64_t>> all;
    {
      std::lock_guard lock(mutex_);
      for (const auto& a : active_) all.emplace_back(a.name, a.bytes.load(std::memory_order_relaxed));
    }
    std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
    if (all.size() > count) all.resize(count);
    return all;
  }

 private:
  OutputDirectory directory_;
  const DownloadOptions options_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::filesystem::path> reserved_;  // guarded by mutex_
  std::vector<DownloadResult> results_;                              // guarded by mutex_
  std::list<Active> active_;                                         // guarded by mutex_; nodes never move
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

  DownloadBodyWriter(Resolve resolve, std::optional<std::filesystem::path> known_path, bool resume,
                     std::atomic<std::uint64_t>& progress)
      : resolve_(std::move(resolve)), progress_(progress) {
    if (known_path) {
      path_ = *known_path;
      file_.emplace(path_, resume);
    }
  }

  Result<void> begin(const ResponseHead& head) override {
    passthrough_ = head.status >= 200 && head.status < 300;
    if (!passthrough_) return {};
    if (!file_) {
      auto path = resolve_(head.content_disposition);
      if (!path) return std::move(path).error();
      path_ = *path;
      file_.emplace(path_, false);
    }
    return file_->begin(head);
  }

  Result<void> write(std::string_view chunk) override {
    if (!passthrough_) return {};
    progress_.fetch_add(chunk.size(), std::memory_order_relaxed);
    return file_->write(chunk);
  }

  FileWriter* file() { return file_ ? &*file_ : nullptr; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  Resolve resolve_;
  std::atomic<std::uint64_t>& progress_;
  std::optional<FileWriter> file_;
  bool passthrough_ = false;
};

bool ends_with_nocase(std::string_view text, std::string_view suffix) {
  if (text.size() < suffix.size()) return false;
  for (std::size_t i = 0; i < suffix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[text.size() - suffix.size() + i])) !=
        std::tolower(static_cast<unsigned char>(suffix[i])))
      return false;
  }
  return true;
}

// Failures worth another try: the next attempt may well succeed.
bool is_transient(ErrorCode code) {
  return code == ErrorCode::kConnect || code == ErrorCode::kTimeout || code == ErrorCode::kNetwork ||
         code == ErrorCode::kTruncated;
}

bool is_transient_status(long status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

bool is_html(std::string_view content_type) {
  auto starts_with_nocase = [content_type](std::string_view prefix) {
    if (content_type.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(content_type[i])) != prefix[i]) return false;
    return true;
  };
  return starts_with_nocase("text/html") || starts_with_nocase("application/xhtml+xml");
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

}  // namespace

CrawlEngine::CrawlEngine(EngineOptions options, ResultSink& sink, std::unique_ptr<Frontier> frontier)
    : options_(std::move(options)),
      sink_(sink),
      frontier_(frontier ? std::move(frontier) : std::make_unique<MemoryFrontier>(options_.frontier)),
      robots_(std::make_unique<RobotsCache>()),
      curl_cache_(std::make_unique<SharedCurlCache>()) {
  if (options_.workers == 0) options_.workers = 1;
}

Result<void> CrawlEngine::prepare() {
  if (options_.state != nullptr && !restored_) {
    restored_ = true;
    auto restored = options_.state->restore(
        [this](CrawlItem item) {
          auto url = Url::parse(item.url);
          if (!url) return;
          item.host_key = url->host_key();
          frontier_->push(std::move(item));
        },
        [this](std::string_view url) { frontier_->mark_seen(url); });
    if (!restored) return restored;
  }
  if (!options_.download || downloads_) return {};
  auto directory = OutputDirectory::open(options_.download->directory);
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
    if (ends_with_nocase(bare, extension)) return true;
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
  input_total_.fetch_add(1, std::memory_order_relaxed);
  // Resumed: an earlier run queued or finished this line; prepare() restored it.
  if (options_.state != nullptr && options_.state->knows_line(line)) return true;
  auto url = Url::parse(text);
  if (!url) {
    ResultRecord record;
    record.url = std::string(text);
    record.line = line;
    record.error = url.error().code;
    record.error_message =
        line != 0 ? "line " + std::to_string(line) + ": " + url.error().message : url.error().message;
    emit(record, {});
    return false;
  }
  // Before start() nothing drains the queue, so only a running engine waits.
  if (options_.max_queued_input != 0 && started_.load(std::memory_order_acquire) &&
      !frontier_->wait_for_room(options_.max_queued_input, stop_.get_token())) {
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
  started_.store(true, std::memory_order_release);
  spawner_ = std::jthread([this] {
    workers_.reserve(options_.workers);
    for (std::uint32_t i = 0;
         i < options_.workers && !stop_.stop_requested() && !work_ended_.load(std::memory_order_relaxed); ++i) {
      workers_.push_back(std::make_unique<detail::SizedThread>(options_.worker_stack_bytes,
                                                               [this] { worker_main(stop_.get_token()); }));
    }
  });
}

void CrawlEngine::finish_input() { frontier_->close_input(); }

RunSummary CrawlEngine::wait() {
  if (spawner_.joinable()) spawner_.join();
  for (auto& worker : workers_) worker->join();
  workers_.clear();
  RunSummary summary;
  summary.stats = stats_.snapshot();
  summary.records = records_.load();
  summary.interrupted = stop_.stop_requested();
  if (downloads_) summary.downloads = downloads_->results();
  return summary;
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

StatsSnapshot CrawlEngine::stats() const { return stats_.snapshot(); }

ProgressView CrawlEngine::progress_view() const {
  const auto snapshot = stats_.snapshot();
  const auto counts = frontier_->counts();
  ProgressView view;
  view.done = snapshot.done;
  view.failed = snapshot.failed;
  view.bytes = snapshot.bytes;
  view.retries = snapshot.retries;
  view.queued = counts.queued + counts.delayed;
  view.in_flight = counts.in_flight;
  if (!options_.follow_links) view.total = input_total_.load(std::memory_order_relaxed);
  if (downloads_) view.largest_transfers = downloads_->largest(3);
  return view;
}

void CrawlEngine::emit(const ResultRecord& record, std::chrono::microseconds elapsed) {
  sink_.write(record);
  stats_.record(Outcome{record.status, record.error, record.bytes, elapsed});
  records_.fetch_add(1, std::memory_order_relaxed);
}

void CrawlEngine::worker_main(std::stop_token stop) {
  Fetcher fetcher(options_.fetch, curl_cache_.get());
  while (auto lease = frontier_->pop(stop)) {
    // Nothing may escape a worker: an unexpected exception becomes the URL's
    // record, and the lease is still completed so the run can finish.
    try {
      if (lease->kind == LeaseKind::kRobots) {
        handle_robots(fetcher, *lease, stop);
      } else {
        handle_page(fetcher, *lease, stop);
      }
    } catch (const std::exception& e) {
      spdlog::error("worker: {}: {}", lease->item.url, e.what());
      if (lease->kind == LeaseKind::kPage) {
        ResultRecord record;
        record.url = lease->item.url;
        record.line = lease->item.origin;
        record.error = ErrorCode::kInternal;
        record.error_message = e.what();
        emit(record, {});
      }
      frontier_->complete(*lease);
    }
  }
  // pop() ends only when the frontier finished or stopped: no worker spawned
  // from now on would find work, so the spawner stops adding them.
  work_ended_.store(true, std::memory_order_relaxed);
}

bool CrawlEngine::retry_later(const Lease& lease, std::chrono::milliseconds at_least) {
  if (lease.item.attempt >= options_.retry.max_retries || stopping_.load()) return false;
  const auto delay = std::max(at_least, backoff_delay(options_.retry, lease.item.attempt));
  stats_.record_retry();
  frontier_->retry(lease, delay);
  return true;
}

void CrawlEngine::handle_robots(Fetcher& fetcher, const Lease& lease, std::stop_token stop) {
  const auto& host = lease.item.host_key;
  FetchRequest request;
  request.url = lease.item.url;
  auto response = fetcher.fetch(request, stop);
  std::optional<RobotsRules> rules;
  if (!response) {
    if (is_transient(response.error().code) && retry_later(lease, {})) return;
    // RFC 9309 2.3.1.4: an unreachable robots.txt means "assume complete disallow".
    spdlog::warn("robots.txt: {}: {}; disallowing the host", request.url, response.error().message);
    rules = RobotsRules::disallow_all();
  } else {
    const long status = response->head.status;
    if (status >= 200 && status < 300) {
      rules = RobotsRules::parse(response->body, options_.fetch.user_agent);
    } else if (status >= 500 || status == 429) {
      if (retry_later(lease, {})) return;
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
  robots_->put(host, std::move(*rules));
  frontier_->complete(lease);
}

void CrawlEngine::handle_page(Fetcher& fetcher, const Lease& lease, std::stop_token stop) {
  const CrawlItem& item = lease.item;
  ResultRecord record;
  record.url = item.url;
  record.line = item.origin;
  record.depth = item.depth;
  record.referrer = item.referrer;
  record.attempts = item.attempt + 1;

  if (options_.robots) {
    const auto rules = robots_->find(item.host_key);
    if (rules && !rules->allowed(path_and_query_of(item.url))) {
      record.attempts = 0;
      record.error = ErrorCode::kRobotsDisallowed;
      record.error_message = "disallowed by " + item.host_key + "/robots.txt";
      emit(record, {});
      frontier_->complete(lease);
      return;
    }
  }

  FetchRequest request;
  request.url = item.url;

  // Download mode: the body streams to "<name>.part" instead of memory.
  std::optional<DownloadBodyWriter> writer;
  Downloads::Active* transfer = nullptr;
  std::optional<Url> parsed_url;
  if (wants_file(item.url)) {
    auto parsed = Url::parse(item.url);
    if (!parsed) throw std::runtime_error("queued URL does not parse: " + item.url);
    parsed_url.emplace(std::move(*parsed));
    std::optional<std::filesystem::path> known_path;
    const bool by_disposition = downloads_->options().naming.content_disposition;
    if (!by_disposition) {
      auto path = downloads_->path_for(*parsed_url, {});
      if (!path) {
        record.attempts = 0;
        record.error = path.error().code;
        record.error_message = path.error().message;
        emit(record, {});
        frontier_->complete(lease);
        return;
      }
      known_path = *path;
    }
    transfer = downloads_->begin_transfer(known_path ? known_path->filename().string() : parsed_url->str());
    writer.emplace(
        [this, &parsed_url](std::string_view disposition) { return downloads_->path_for(*parsed_url, disposition); },
        known_path, downloads_->options().resume && !by_disposition, transfer->bytes);
    if (FileWriter* file = writer->file(); file != nullptr && file->existing_size() > 0) {
      request.resume_from = file->existing_size();
      if (auto validator = file->if_range_validator(); !validator.empty())
        request.extra_headers.push_back("If-Range: " + validator);
    }
    request.writer = &*writer;
  }
  // Nothing reads the body of a plain list fetch: count it, do not keep it.
  DiscardBodyWriter discard;
  if (request.writer == nullptr && !options_.parse_html && !options_.follow_links) request.writer = &discard;
  struct TransferGuard {
    Downloads* downloads;
    Downloads::Active* transfer;
    ~TransferGuard() {
      if (transfer != nullptr) downloads->end_transfer(transfer);
    }
  } transfer_guard{downloads_.get(), transfer};

  const auto started = std::chrono::steady_clock::now();
  auto response = fetcher.fetch(request, stop);
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
  record.elapsed_ms = static_cast<double>(elapsed.count()) / 1000.0;
  // A failed or non-2xx transfer keeps its .part for --continue.
  if (writer && writer->file() != nullptr && (!response || response->head.status < 200 || response->head.status >= 300))
    writer->file()->abandon();

  if (!response && response.error().code == ErrorCode::kAborted) {
    record.error = ErrorCode::kAborted;
    record.error_message = response.error().message;
    emit(record, elapsed);
    // Cut short by a stop, so not done: given back rather than completed, a
    // shared frontier lets another node fetch it (a local one is stopped anyway).
    frontier_->retry(lease, std::chrono::milliseconds(0));
    return;
  }
  if (!response) {
    if (is_transient(response.error().code) && retry_later(lease, {})) return;
    record.error = response.error().code;
    record.error_message = response.error().message;
    if (record.attempts > 1)
      record.error_message += " (gave up after " + std::to_string(record.attempts) + " attempts)";
    emit(record, elapsed);
    frontier_->complete(lease);
    return;
  }

  const FetchResponse& r = *response;
  bool links_refused = false;  // the frontier refused a discovered link (kClosed)
  const long status = r.head.status;
  if (is_transient_status(status)) {
    std::chrono::milliseconds server_wait{0};
    if (auto wait = parse_retry_after(r.head.retry_after, std::chrono::system_clock::now())) {
      server_wait = *wait;
      // Retry-After speaks for the whole host, not just this URL.
      if (status == 429 || status == 503)
        frontier_->backoff_host(item.host_key, std::chrono::steady_clock::now() + server_wait);
    }
    if (retry_later(lease, server_wait)) return;
  }

  record.final_url = r.final_url;
  record.status = status;
  record.content_type = r.head.content_type;
  record.bytes = r.body_bytes;
  if (status >= 400) {
    record.error = ErrorCode::kHttpStatus;
    record.error_message = "HTTP " + std::to_string(status);
    if (record.attempts > 1) record.error_message += " after " + std::to_string(record.attempts) + " attempts";
  }

  if (writer && writer->file() != nullptr && status >= 200 && status < 300) {
    const auto expected = downloads_->expected_sha256(item.url, writer->path());
    auto saved = writer->file()->commit(expected);
    if (!saved) {
      if (saved.error().code == ErrorCode::kTruncated && retry_later(lease, {})) return;
      record.error = saved.error().code;
      record.error_message = saved.error().message;
    } else {
      record.path = std::filesystem::relative(saved->path, downloads_->root()).string();
      record.sha256 = saved->sha256_hex;
      record.bytes = saved->bytes;
      downloads_->add_result(*saved);
    }
  } else if ((options_.parse_html || options_.follow_links) && status >= 200 && status < 300 &&
             is_html(r.head.content_type)) {
    // Parsing happens here, on the worker, with no lock held: gumbo costs far
    // more than everything else a worker does per page.
    auto base = Url::parse(r.final_url.empty() ? item.url : r.final_url);
    if (base) {
      const PageInfo page = extract_page_info(r.body, *base, options_.links);
      record.title = page.title;
      record.links = static_cast<std::uint32_t>(page.links.size());
      if (options_.follow_links && !page.meta_nofollow) {
        for (const auto& link : page.links) {
          if (scope_ && !scope_->allows(link)) continue;
          CrawlItem child;
          child.url = link.str();
          child.host_key = link.host_key();
          child.depth = item.depth + 1;
          child.referrer = item.url;
          if (push_item(std::move(child)) == PushResult::kClosed) links_refused = true;
        }
      }
    }
  }
  if (links_refused) {
    // Refused without a stop, the frontier failed (a shared one lost Redis):
    // completing would lose the links for good, so the page is tried again.
    const bool stopping = stopping_.load();
    if (!stopping && retry_later(lease, {})) return;
    // After request_stop() the frontier refuses links. A journal must then
    // not call the page done, or a resumed run would never queue them: as an
    // aborted record it is dropped and fetched again.
    if (options_.state != nullptr || !stopping) {
      record.error = stopping ? ErrorCode::kAborted : ErrorCode::kInternal;
      record.error_message = stopping ? "stopped before its links were queued" : "the frontier refused its links";
    }
  }
  emit(record, elapsed);
  frontier_->complete(lease);
}

}  // namespace fetchpool
