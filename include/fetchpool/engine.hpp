// CrawlEngine: the frontier -> worker pool -> result store pipeline.
//
// The engine is the only component that sees all the others (scrapy's engine):
// it owns the frontier, the worker threads, the shared curl cache, the robots
// cache and the statistics, and writes one ResultRecord per URL to the sink it
// is given. Each worker is a detail::SizedThread (a joining thread with a small
// stack, started by the spawner thread as queued work outgrows the idle
// workers) with its own Fetcher (one reused curl easy handle, so connections
// stay alive), looping
//     pop lease -> fetch (no lock held) -> parse HTML (no lock held)
//               -> push discovered links -> write record -> complete lease
// Links are pushed before the lease completes, so the frontier can never
// report "finished" while a page's children are still on their way.
//
// Stop policy: request_stop() aborts. Waiting pops return at once; in-flight
// transfers end at once because every Fetcher polls one shared StopWakeup
// eventfd beside its sockets, which a stop_callback writes; each aborted URL
// still gets a record ("aborted"), and wait() joins every thread.
//
// Thread-safety: add(), finish_input(), request_stop(), stats() and
// progress_view() may be called from any thread; start() and wait() from the
// owning thread only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fetchpool/download.hpp"
#include "fetchpool/fetcher.hpp"
#include "fetchpool/frontier.hpp"
#include "fetchpool/html_links.hpp"
#include "fetchpool/page_store.hpp"
#include "fetchpool/progress.hpp"
#include "fetchpool/scope.hpp"
#include "fetchpool/sinks.hpp"
#include "fetchpool/stats.hpp"
#include "fetchpool/thread_annotations.hpp"

namespace fetchpool {

class RobotsRules;
class SitemapBodyWriter;
struct SitemapSource;
class StateJournal;

namespace detail {
class SizedThread;
class StackArena;
}  // namespace detail

// A worker's deepest stack use is libcurl plus gumbo's iterative parse, far
// below glibc's 8 MiB default, and smaller stacks make 500 workers start
// about twice as fast. Sanitizers inflate every frame (ASan's redzones), so
// sanitized builds give workers four times as much.
#ifdef FETCHPOOL_SANITIZED
inline constexpr std::size_t kDefaultWorkerStackBytes = 2 * 1024 * 1024;
#else
inline constexpr std::size_t kDefaultWorkerStackBytes = std::size_t{512} * 1024;
#endif

// 16 GiB: above any DVD image, and a bound on what a decompression bomb can
// write with --compressed.
inline constexpr std::uint64_t kDefaultMaxFileBytes = std::uint64_t{16} << 30;

struct RetryPolicy {
  std::uint32_t max_retries = 2;              // extra attempts for transient failures
  std::chrono::milliseconds base_delay{500};  // delay before retry k is ~base * 2^k, jittered
  std::chrono::milliseconds max_delay{30'000};
  // The longest wait for a retry, Retry-After included (a 429/503's host
  // backoff too). A server asking for longer makes the URL give up at once
  // (retry_after_too_long), so a run always ends.
  std::chrono::milliseconds max_retry_wait{300'000};
};

// Saving bodies as files (list fetch with -o DIR, or a crawl's downloads).
struct DownloadOptions {
  std::filesystem::path directory;
  NamingOptions naming;
  ClobberPolicy clobber = ClobberPolicy::kNoClobber;
  bool resume = false;                           // --continue: resume .part files with Range
  std::map<std::string, std::string> checksums;  // URL, relative path or file name -> sha256 hex
  std::vector<std::string> extensions;           // crawl only: save just these (".pdf"); empty = all non-HTML
  // The run's own files (results, journal, database side files, stats,
  // manifest): a download never takes these names, --overwrite or not.
  std::vector<std::filesystem::path> reserved;
  // Largest file saved, in bytes as written (decoded bytes with `decode`);
  // larger = too_large, checked against Content-Length before any byte.
  std::uint64_t max_file_bytes = kDefaultMaxFileBytes;
  bool decode = false;  // --compressed: offer gzip etc. and save the decoded bytes; off = the entity as sent
  // SHA-256 of every file saved, into ResultRecord::sha256 (FileWriter's hash). Costs
  // about as much CPU as the download itself; files with an entry in `checksums`
  // are verified either way.
  bool hash = true;
};

// aria2-style options for one line of an input list (indented lines after
// its URL in `get -i`): the file name and extra request headers.
struct InputLineOptions {
  std::string out;                   // file name in the download directory (sanitised as a URL's name)
  std::vector<std::string> headers;  // "Name: value", after the run's own
};

// --sitemaps: sitemap files seed a crawl. The URLs they list are queued as
// seeds (depth 0, referrer = the sitemap), within the crawl scope and the
// sitemap's own location (sitemaps.org); <lastmod> goes into their records.
struct SitemapOptions {
  bool from_robots = false;        // read the Sitemap: lines of the seed hosts' robots.txt (needs robots)
  std::vector<std::string> urls;   // --sitemap URL: read these sitemaps too
  std::uint32_t max_nesting = 2;   // index -> index -> sitemap at most
  std::uint64_t max_files = 1000;  // sitemap files read in one run, all sources together
  bool enabled() const noexcept { return from_robots || !urls.empty(); }
};

struct EngineOptions {
  std::uint32_t workers = 16;
  std::size_t worker_stack_bytes = kDefaultWorkerStackBytes;  // libcurl + gumbo's iterative parse need far less
  FetchOptions fetch;
  // --warc-file: each worker's Fetcher reports its exchanges to an observer
  // made here (null: none). Must outlive the engine's workers.
  ExchangeObserverFactory* exchanges = nullptr;
  SharedCurlOptions shared_curl;  // cookie jar and total rate limit of all workers
  FrontierOptions frontier;
  RetryPolicy retry;
  bool follow_links = false;  // crawl: true; list fetch: false
  bool parse_html = true;     // titles and link counts for HTML pages; implied by follow_links
  LinkExtractOptions links;
  std::optional<ScopeOptions> scope;  // crawl: which discovered links to follow
  // Obey robots.txt: a host's rules are fetched before any of its pages
  // (the engine turns on frontier.robots_first for its own frontier).
  bool robots = false;
  std::chrono::milliseconds max_crawl_delay{30'000};
  std::optional<DownloadOptions> download;
  // --mirror: every 2xx page (not the files `download` saves) is handed to
  // it, its validators go out with the fetch, and a 304 is answered from its
  // copy (record status 304, path set; the copy's links are followed). Must
  // outlive the engine. Null: no extra work per page.
  PageStore* pages = nullptr;
  // add() blocks while this many URLs wait in the frontier, or twice the
  // workers when that is more, so that no worker waits for the feeder (0 =
  // never): a streamed list of millions costs memory for its seen set, not
  // its queue. Reading a list refills a thousand lines in about a millisecond;
  // a window of 10,000 was 1 MiB of a 20,000-URL get's peak RSS.
  std::uint64_t max_queued_input = 1'024;
  // --state: every URL the frontier accepts is journalled here, prepare()
  // restores the earlier runs' pending and done URLs, and add() skips input
  // lines the journal already knows. Every record goes through the journal
  // (to the results sink it was opened with), whichever sink the engine is
  // given. It must outlive the engine; it cannot be combined with a shared
  // frontier (prepare() refuses).
  StateJournal* state = nullptr;
  // false: a duplicate input URL is skipped without a `duplicate` record.
  // A shared frontier (any Frontier but MemoryFrontier) always skips: the
  // node that queued the URL first records it.
  bool record_duplicate_input = true;
  SitemapOptions sitemaps;  // crawl only; set_seeds() queues the given ones
  // Per-line options of input URLs (depth 0, line != 0), asked once per
  // attempt from worker threads, so it must be thread-safe. Empty: none.
  std::function<InputLineOptions(std::uint64_t line)> line_options;
  // Test seam: called on the spawner thread before worker `index` (0-based)
  // is created; throwing std::system_error there acts as a failed thread
  // creation, so tests can make spawning fail part-way. Empty in production.
  std::function<void(std::uint32_t index)> spawn_hook;
};

// A URL being fetched now, for a status display.
struct InFlightUrl {
  std::string url;
  bool robots = false;  // a robots.txt fetch
  std::chrono::steady_clock::duration elapsed{};
};

struct RunSummary {
  StatsSnapshot stats;
  std::uint64_t records = 0;              // records written to the sink
  std::vector<DownloadResult> downloads;  // files saved, for the SHA-256 manifest
  bool interrupted = false;               // request_stop() was called before the work finished
  std::optional<Error> lost_dependency;   // the frontier stopped on its own (Frontier::failure)
};

class CrawlEngine {
 public:
  // `frontier` replaces the in-memory one (a shared Redis frontier); it must
  // have been built with options.frontier. With a shared frontier the engine
  // keeps the rules of a shared crawl itself: each record is written and
  // flushed before its lease completes (so a killed node loses no record of
  // a URL the others consider done), and `aborted` records are not written
  // (the URL goes back to the shared crawl).
  CrawlEngine(EngineOptions options, ResultSink& sink, std::unique_ptr<Frontier> frontier = nullptr);
  ~CrawlEngine();  // request_stop() and join, if wait() was not called
  CrawlEngine(const CrawlEngine&) = delete;
  CrawlEngine& operator=(const CrawlEngine&) = delete;

  // Queues one input URL (a seed, or a list line). Text that is not a valid
  // http(s) URL, and duplicates, are recorded at once with their line number.
  // Returns false when the URL was not queued. Once start()ed, blocks while
  // the frontier holds max_queued_input URLs (see EngineOptions).
  bool add(std::string_view text, std::uint64_t line);
  // Seeds define the crawl scope: call set_seeds before start() for a crawl.
  Result<void> set_seeds(const std::vector<std::string>& seeds);
  // Opens the download directory (when options.download is set) and restores
  // options.state; call once, before add() and start().
  Result<void> prepare();

  // Spawns the workers, as work appears (a list of 3 URLs starts 3 threads),
  // up to options.workers or what the open-files limit carries. Fewer
  // workers than asked (that limit, or a failed thread creation) is logged
  // once as a warning and reported in stats(); the run goes on with those
  // that started, and every URL still gets its record.
  void start();
  void finish_input();  // no more add() calls; the run ends when the frontier drains
  RunSummary wait();    // blocks until finished or stopped; joins every worker
  void request_stop();  // abort (see the header comment); safe from any thread, not from a signal handler

  StatsSnapshot stats() const;
  ProgressView progress_view() const;
  // For a status display; any thread, any time (each takes one short lock).
  const CrawlStats& live_stats() const { return stats_; }
  FrontierCounts frontier_counts() const { return frontier_->counts(); }
  std::vector<HostQueue> host_queues(std::size_t limit) const { return frontier_->host_queues(limit); }
  std::vector<InFlightUrl> in_flight(std::size_t limit) const;  // longest-running first
  std::size_t in_flight_count() const;                          // this process's, also with a shared frontier
  bool shared_frontier() const noexcept { return shared_frontier_; }
  std::uint64_t input_total() const noexcept { return input_total_.load(std::memory_order_relaxed); }
  bool follows_links() const noexcept { return options_.follow_links; }
  // The workers' shared cookie jar, in the Netscape format; after wait().
  Result<void> save_cookies(const std::filesystem::path& path) const;

 private:
  class RobotsCache;
  class InFlightTable;
  class Downloads;
  class PageDownload;
  class Sitemaps;  // crawl/engine_sitemaps.hpp
  void spawn_workers();
  void worker_main(std::stop_token stop);
  // An exception out of a lease's handling: the URL's record says what, and
  // the lease is completed. Out of line: its ResultRecord would otherwise sit
  // in worker_main's frame, on every worker's deepest stack path (issue 14).
  [[gnu::cold, gnu::noinline]] void settle_after_exception(const Lease& lease, const char* what);
  void worker_failed_to_start(const std::string& why);
  void note_worker_limit(std::string why);
  void handle_page(Fetcher& fetcher, const Lease& lease, std::stop_token stop);
  // handle_page's steps, in order. A bool is true when the step settled the
  // lease (record written and lease completed, or lease given back for a
  // retry), so handle_page stops there; read_page and queue_links return
  // whether the frontier refused a link instead.
  bool disallowed_by_robots(const Lease& lease, ResultRecord& record);
  bool start_download(const Lease& lease, ResultRecord& record, FetchRequest& request,
                      std::optional<PageDownload>& download,
                      const std::string& out);  // false: settled (no file name)
  void settle_failed_fetch(const Lease& lease, ResultRecord& record, const Error& error,
                           std::chrono::microseconds elapsed);
  bool retry_for_status(const Lease& lease, const ResponseHead& head, std::optional<Error>& gave_up);
  bool follow_redirect(const Lease& lease, const FetchResponse& response, ResultRecord& record,
                       std::chrono::microseconds elapsed);
  bool save_download(const Lease& lease, PageDownload& download, ResultRecord& record);
  bool keep_page(const CrawlItem& item, FetchResponse& response, ResultRecord& record);  // true: parse the kept copy
  bool read_page(const CrawlItem& item, const FetchResponse& response, ResultRecord& record);
  bool queue_links(const CrawlItem& parent, const std::vector<Url>& links);
  bool retry_for_refused_links(const Lease& lease, ResultRecord& record);
  void settle_unfetched(const Lease& lease, ResultRecord& record, Error error);  // attempts 0, no fetch
  void handle_robots(Fetcher& fetcher, const Lease& lease, std::stop_token stop);
  bool fetch_robots(Fetcher& fetcher, const Lease& lease, const std::string& robots_url, std::stop_token stop);
  bool retry_later(const Lease& lease, std::chrono::milliseconds at_least);
  PushResult push_item(CrawlItem item);  // journals a kQueued item
  // --sitemaps (crawl/engine_sitemaps.cpp). The bools: a push was refused (kClosed).
  void start_sitemaps(const std::vector<std::string>& seeds);
  void queue_robots_sitemaps(const std::string& host, const RobotsRules& rules);
  bool queue_sitemap(std::string_view text, const std::string& referrer, const SitemapSource& source);
  bool read_sitemap(const CrawlItem& item, SitemapBodyWriter& body, ResultRecord& record);
  void emit(ResultRecord& record, std::chrono::microseconds elapsed);  // stamps record.fetched_at
  void set_work_ended();
  bool idle_worker_may_leave() const;
  bool wants_file(const std::string& url) const;

  EngineOptions options_;
  ResultSink& sink_;
  CrawlStats stats_;
  std::unique_ptr<Frontier> frontier_;
  std::unique_ptr<RobotsCache> robots_;
  std::unique_ptr<InFlightTable> in_flight_;
  std::unique_ptr<SharedCurlCache> curl_cache_;
  std::unique_ptr<Downloads> downloads_;
  std::unique_ptr<Sitemaps> sitemaps_;  // null unless options_.sitemaps.enabled()
  std::optional<Scope> scope_;
  std::stop_source stop_;
  std::atomic<std::uint64_t> records_{0};
  std::atomic<std::uint64_t> input_total_{0};
  std::atomic<bool> started_{false};
  std::atomic<bool> input_closed_{false};  // finish_input() was called
  std::atomic<bool> work_ended_{false};    // a worker saw pop() end: short runs need no more workers
  std::atomic<bool> stopping_{false};      // set first thing in request_stop()
  bool restored_ = false;                  // options_.state was restored (prepare() runs before any thread)
  // The workers' stacks, one reservation made in start(); declared before
  // workers_ so that it is unmapped only after they are joined.
  std::unique_ptr<detail::StackArena> stacks_;
  // Workers are created by spawner_, so the caller can feed input while 500
  // threads start. Both are joined in wait() or the destructor.
  std::vector<std::unique_ptr<detail::SizedThread>> workers_;  // written by spawner_ only until it is joined
  std::unique_ptr<StopWakeup> stop_wakeup_;                    // one stop eventfd for every worker's Fetcher
  bool shared_frontier_ = false;                               // counts() is a round trip: spawn all at once
  bool work_in_wait_ = false;  // not even the spawner thread started: wait() works on the caller's thread
  std::uint32_t planned_workers_ = 0;
  std::atomic<std::uint32_t> workers_started_{0};
  std::atomic<std::uint32_t> workers_starting_{0};  // created, not yet in their first pop(): work they will take
  // Workers alive or about to start, and whether the spawner is done: the
  // last worker that cannot start its Fetcher records the remaining URLs.
  Mutex workers_mutex_;
  std::uint32_t workers_live_ FETCHPOOL_GUARDED_BY(workers_mutex_) = 0;
  bool spawning_done_ FETCHPOOL_GUARDED_BY(workers_mutex_) = false;
  std::string workers_limited_by_ FETCHPOOL_GUARDED_BY(workers_mutex_);
  // The spawner's idle wait, cut short when the work ends (set_work_ended) or
  // a stop comes: the run ends when its last record is written, not on the
  // spawner's next poll of the frontier (up to 16 ms later).
  std::condition_variable_any spawner_wake_;
  std::jthread spawner_;  // last: joined first on destruction
};

}  // namespace fetchpool
