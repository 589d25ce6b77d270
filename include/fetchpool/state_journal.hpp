// StateJournal: the crash-safe record of a run, for `--state DIR` resume.
//
// One append-only text file, DIR/journal, is the run's source of truth:
//   fetchpool-state 1 <command>          header: format version, "crawl" or "get"
//   Q <depth> <origin> "url" "referrer"  a URL the frontier accepted (kQueued)
//   R {...}                              a finished record (sinks' to_json_line)
// A rerun with the same DIR reads it back: records whose key has an R line
// are done, Q lines without one are pending and are queued again. The key of
// a record is its input line number when it has one (a list line or a seed:
// `get` gives one record per line, duplicates included) and its URL
// otherwise (a discovered link).
//
// Durability (what survives what):
// - Every R line reaches the kernel with one write(2) as soon as the record
//   exists, so SIGKILL loses no finished URL: only those in flight at the
//   kill are fetched again. Q lines are buffered and written with the next R
//   line (or the next sync): a lost Q line is harmless, because its parent's R
//   line comes after it (links are pushed before the parent's record), so a
//   parent whose children's Q lines are lost is itself not done and is
//   fetched again; an input line whose Q line is lost is simply not "known"
//   and is queued again by the feeder.
// - fdatasync(2) runs in batches on a flusher thread (every sync_interval, or
//   sooner when sync_records records wait), never on a worker.
// - Group commit: the results sink gets a record only after the sync that made
//   its R line durable, so after a power loss the results file is still a
//   subset of the durable journal. Records reach the results file about one
//   sync_interval late.
// - The results file is a view derived from the journal: a resumed run opens
//   it afresh (sinks truncate) and, with replay, first writes every done
//   record once, in journal order, then the new ones. This repairs a torn last
//   line, records lost in stdio buffers at a SIGKILL and anything beyond the
//   last sync after a power loss, for JSONL and CSV alike, without parsing the
//   results file (CSV fields may hold quoted newlines). Replay is off when
//   results go to stdout: an earlier run already printed those records,
//   except those of its last sync round (~50 ms) when it was SIGKILLed: they
//   are journalled as done but were never handed out, and stdout cannot be
//   rewritten. The sink is flushed after every round, so nothing older waits
//   in a stdio buffer.
// - A journal whose last line is torn (no newline, or unparsable, or NUL
//   bytes as a power loss can leave) is truncated to its last whole line. A
//   bad line with whole lines after it is corruption: open() fails.
// - Records with error kAborted (in flight when the run was stopped by SIGINT
//   or SIGTERM) are neither journalled nor written: the URL stays pending and
//   the rerun fetches it, so each URL still ends with exactly one record. The
//   engine also marks aborted a page that finished after the stop but whose
//   links the stopped frontier refused, so those links are not lost.
//
// Speed: Q lines and the keys of R lines are read by a small hand parser for
// the exact layout written here (a 1M-line journal would spend seconds in a
// general JSON parser); full JSON parsing happens only to replay records.
//
// Memory: the done and known sets are sorted vectors of 64-bit values (line
// numbers, and std::hash of URLs), 8 bytes per entry; pending items are
// streamed from the file into the caller's frontier, not kept here.
//
// Thread-safety: queued(), write() and flush() may be called from any thread
// concurrently; knows_line() is read-only after open(). restore() must be
// called once, before any other thread uses the journal. One mutex guards the
// line buffer and the records awaiting sync (held for one write(2), never for
// an fsync); a second one serialises sync rounds so records reach the results
// sink in order. The journal file is flock()ed: two runs cannot share a DIR.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "fetchpool/error.hpp"
#include "fetchpool/frontier.hpp"
#include "fetchpool/sinks.hpp"
#include "fetchpool/thread_annotations.hpp"

namespace fetchpool {

struct StateOptions {
  std::chrono::milliseconds sync_interval{50};  // longest wait between a record and its fdatasync
  std::size_t sync_records = 1024;              // sync sooner when this many records wait
  bool replay = true;                           // restore() writes the done records to the results sink
};

// What open() found in the journal of earlier runs.
struct ResumeInfo {
  bool resumed = false;          // the journal held a header from an earlier run
  std::uint64_t done = 0;        // distinct keys with an R line
  std::uint64_t queued = 0;      // Q lines
  std::uint64_t torn_bytes = 0;  // bytes cut from a torn tail
};

// Parses one `R` payload (a to_json_line object) back into a record.
Result<ResultRecord> record_from_json_line(std::string_view text);

class StateJournal final : public ResultSink {
 public:
  // Creates DIR if needed and opens (or creates) DIR/journal for `command`
  // ("crawl" or "get"). Errors (one line, naming the file): unwritable
  // directory, a journal of another command or format version, corruption
  // beyond a torn tail, a journal locked by another run. `results` receives
  // the records and must outlive the journal.
  static Result<std::unique_ptr<StateJournal>> open(const std::filesystem::path& dir, std::string_view command,
                                                    ResultSink& results, StateOptions options = {});
  ~StateJournal() override;  // syncs, hands the last records to the results sink, joins the flusher
  StateJournal(const StateJournal&) = delete;
  StateJournal& operator=(const StateJournal&) = delete;

  const ResumeInfo& resume_info() const noexcept { return info_; }
  const std::filesystem::path& path() const noexcept { return path_; }

  // True when an earlier run already queued or finished input line `line`
  // (line != 0): the feeder must not add it again.
  bool knows_line(std::uint64_t line) const;

  // Hands the earlier runs' state to a new frontier, in this order: `push`
  // for every queued item that is not done (host_key empty: the caller derives
  // it), then, with replay, every done record once to the results sink, then
  // `mark_seen` for the URL of every done record that had been queued (so a
  // rediscovered link is a duplicate). Pending items come before mark_seen so
  // a pending line is never shadowed by a done duplicate of its URL.
  Result<void> restore(const std::function<void(CrawlItem)>& push,
                       const std::function<void(std::string_view)>& mark_seen);

  // A URL the frontier accepted (kQueued). Buffered until the next write() or sync.
  void queued(const CrawlItem& item);

  // Journals the record now (one write(2)); it reaches the results sink after
  // the next fdatasync. kAborted records are dropped (see above).
  void write(const ResultRecord& record) override;

  // Syncs now, hands every waiting record to the results sink and flushes it.
  // Returns the first error of the journal or the results sink.
  Result<void> flush() override;

  std::uint64_t syncs() const;  // fdatasync calls made, for tests and stats

 private:
  StateJournal(std::filesystem::path path, int fd, ResultSink& results, StateOptions options);
  Result<void> load(std::string_view command);
  void flusher_main(std::stop_token stop);
  void sync_round() FETCHPOOL_EXCLUDES(mutex_);
  void write_buffer_locked() FETCHPOOL_REQUIRES(mutex_);

  const std::filesystem::path path_;
  const int fd_;
  ResultSink& results_;
  const StateOptions options_;
  ResumeInfo info_;
  std::vector<std::uint64_t> known_lines_;  // sorted: input lines with a Q or R line
  std::vector<std::uint64_t> done_lines_;   // sorted: R keys that are line numbers
  std::vector<std::uint64_t> done_urls_;    // sorted: R keys that are URLs (hashes)
  // Redirect chains queued (Q lines of hops): the chain's key (its input line,
  // or the hash of its first URL, tagged) -> most hops queued. An item of a
  // chain with fewer hops was carried on by a later hop, so it is not pushed.
  std::map<std::pair<bool, std::uint64_t>, std::uint32_t> chain_hops_;

  Mutex sync_mutex_ FETCHPOOL_ACQUIRED_BEFORE(mutex_);  // held for a whole sync round
  mutable Mutex mutex_;
  std::condition_variable_any wake_;
  std::string buffer_ FETCHPOOL_GUARDED_BY(mutex_);              // lines not yet written
  std::vector<ResultRecord> held_ FETCHPOOL_GUARDED_BY(mutex_);  // journalled, awaiting sync
  bool dirty_ FETCHPOOL_GUARDED_BY(mutex_) = false;              // written since the last sync
  std::uint64_t syncs_ FETCHPOOL_GUARDED_BY(mutex_) = 0;
  std::string first_error_ FETCHPOOL_GUARDED_BY(mutex_);
  std::jthread flusher_;  // last: started after everything above
};

}  // namespace fetchpool
