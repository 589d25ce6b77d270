// WARC/1.1 archives of a run's HTTP exchanges (`--warc-file NAME`), with a
// CDXJ index beside them.
//
// Every exchange a Fetcher reports (ExchangeObserver) becomes a `request`
// and a `response` record, linked both ways by WARC-Concurrent-To, each
// record one gzip member (NAME.warc.gz, or NAME-00000.warc.gz, -00001 ...
// when max_file_bytes rolls files over; every file opens with a `warcinfo`
// record). close() writes NAME.cdxj: one "SURT timestamp {json}" line per
// response record, sorted, in the format pywb and warcio's indexer write.
//
// What a response record holds: the response head exactly as received,
// except that a Transfer-Encoding field is renamed
// X-Archive-Orig-Transfer-Encoding, and the body as received after libcurl
// removed the chunked framing, content coding (gzip ...) untouched. So the
// head agrees with the bytes that follow it, and WARC-Payload-Digest (sha1
// of the entity body, base32) is the same whichever reading of the spec a
// reader takes on chunked payloads (warcio issue #74). A body cut short, or
// stopped by a limit, is kept with WARC-Truncated (disconnect, length, time,
// unspecified); an exchange whose response head never ended is not archived
// (counted in WarcCounts::refused). Request heads are recorded exactly as
// sent.
//
// Concurrency and memory: one WarcWriter serves every worker; each worker's
// observer builds and compresses its records on its own thread and takes the
// writer's lock only to append them (and roll over). A body beyond
// WarcOptions::memory_bytes spills to an unlinked temporary file beside the
// archive, so a big download is never held whole in memory.
//
// Crash safety: a request/response pair is appended with one write(2) when it
// is in memory. Opened with `append` (a resumed --state run), the last file is
// read member by member and cut back to the end of its last whole pair, so a
// record is whole or absent; URLs whose answer is already archived (any
// status but 429 and 5xx, which the run retries) are not archived again.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "fetchpool/error.hpp"
#include "fetchpool/exchange_observer.hpp"
#include "fetchpool/thread_annotations.hpp"

namespace fetchpool {

struct WarcOptions {
  std::filesystem::path name;        // NAME, without .warc.gz
  std::uint64_t max_file_bytes = 0;  // 0: one file; else start a new file before one would grow past it
  bool append = false;               // keep the existing files' whole records and append (resume)
  std::string software = "fetchpool";
  std::vector<std::string> info_fields;             // more "name: value" lines for each warcinfo record
  std::size_t memory_bytes = std::size_t{1} << 20;  // body bytes held in memory per exchange before spilling
};

struct WarcCounts {
  std::uint64_t exchanges = 0;      // request/response pairs written
  std::uint64_t skipped_known = 0;  // not written: an earlier run archived the URL's answer
  std::uint64_t refused = 0;        // not written: no whole response head
};

// The SURT form of a URL as CDXJ indexes key it: "http://www.Example.com:8080/a?b=1&a=2"
// -> "com,example:8080)/a?a=2&b=1" (scheme, "www." and the fragment dropped, host
// labels reversed unless an IP address, default port dropped, lower case, query
// arguments sorted).
std::string surt_key(std::string_view url);

class WarcWriter final : public ExchangeObserverFactory {
 public:
  // Creates (or with options.append, resumes) the archive. Errors name the file.
  static Result<std::unique_ptr<WarcWriter>> open(WarcOptions options);
  ~WarcWriter() override;
  WarcWriter(const WarcWriter&) = delete;
  WarcWriter& operator=(const WarcWriter&) = delete;

  // One observer per Fetcher; thread-safe.
  std::unique_ptr<ExchangeObserver> make_observer() override;

  // After the last exchange: flushes the archive to disk and writes the
  // sorted CDXJ index. Returns the first error of the run (a failed write
  // stops archiving, not the run).
  Result<void> close();

  WarcCounts counts() const;
  std::vector<std::filesystem::path> files() const;
  std::filesystem::path index_path() const;

  struct Pair;  // a request and response record, compressed, ready to append

 private:
  explicit WarcWriter(WarcOptions options);
  friend class WarcExchange;
  Result<void> resume();
  Result<void> start_file(std::size_t index) FETCHPOOL_REQUIRES(mutex_);
  std::filesystem::path file_path(std::size_t index) const;
  bool known(const std::string& url) const { return known_.contains(url); }
  void append(Pair& pair);
  void count_refused() { refused_.fetch_add(1, std::memory_order_relaxed); }
  void count_skipped() { skipped_.fetch_add(1, std::memory_order_relaxed); }
  const WarcOptions& options() const { return options_; }

  struct IndexEntry {
    std::string key;  // "SURT timestamp"
    std::string url, mime, status, digest;
    std::uint64_t offset = 0, length = 0;
    std::size_t file = 0;
  };

  const WarcOptions options_;
  std::unordered_set<std::string> known_;  // filled by resume(), read-only afterwards
  std::atomic<std::uint64_t> exchanges_{0}, skipped_{0}, refused_{0};
  mutable Mutex mutex_;
  int fd_ FETCHPOOL_GUARDED_BY(mutex_) = -1;
  std::size_t file_index_ FETCHPOOL_GUARDED_BY(mutex_) = 0;
  std::uint64_t file_size_ FETCHPOOL_GUARDED_BY(mutex_) = 0;
  std::uint64_t file_records_ FETCHPOOL_GUARDED_BY(mutex_) = 0;  // pairs in the current file
  std::vector<IndexEntry> index_ FETCHPOOL_GUARDED_BY(mutex_);
  std::string error_ FETCHPOOL_GUARDED_BY(mutex_);  // the first failure; archiving stops
  bool closed_ FETCHPOOL_GUARDED_BY(mutex_) = false;
};

}  // namespace fetchpool
