// The crawl frontier: which URL is fetched next, and when.
//
// A Frontier holds the URLs that are waiting, leases them to worker threads
// one at a time, and decides when the crawl is over. It implements the
// politeness rules that are about *time and hosts* (per-host concurrency cap,
// minimum interval between request starts to one host, robots.txt
// Crawl-delay, 429/503 Retry-After backoff) and the bookkeeping rules
// (dedup, depth and page limits, retries). It knows nothing of HTTP, HTML or
// URL syntax: URLs are opaque, already-normalised strings and the caller
// supplies each item's host key, as scrapy's scheduler gets a request's slot
// key from the downloader and wget2's host.c keys its queues by host.
//
// Robots.txt: with robots_first, the first accepted URL of a host queues a
// robots lease (url = host_key + "/robots.txt") that is leased before any page
// of that host, and the host's pages stay gated until that lease is
// complete()d (wget2's per-host robot_job). A retry() of the robots lease keeps
// the gate closed and re-queues the robots lease itself. Whether robots.txt
// *allows* a URL is the engine's business, not the frontier's.
//
// Scheduling: each host has a FIFO; hosts that may start a request now are
// served round-robin, so a host that is slow, capped or rate-limited never
// starves the others. Retried items go to the back of their host's FIFO once
// their delay has passed (scrapy also lowers retry priority).
//
// Termination: a frontier is finished exactly when close_input() has been
// called and nothing is queued, delayed (waiting to be retried) or in flight.
// A worker that holds a lease may still push, so "nothing queued" alone is
// not the end. Once finished, every pop() returns nullopt and push() returns
// kClosed. stop() is an abort: pops return nullopt at once, queued items are
// abandoned.
//
// Thread-safety: every member function of MemoryFrontier may be called
// concurrently from any thread. The object must outlive all calls; destroy it
// only after the threads that use it are joined.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fetchpool/error.hpp"

namespace fetchpool {

struct CrawlItem {
  std::string url;       // normalised absolute URL (dedup key)
  std::string host_key;  // "scheme://host:port"; host_key + "/robots.txt" is the robots URL
  std::uint32_t depth = 0;
  std::uint64_t origin = 0;  // input line number for list fetches, 0 for discovered links
  std::string referrer;
  std::uint32_t attempt = 0;  // retries so far
  // A redirect hop: the engine follows a 3xx by queueing its target as an
  // item of its own, so scope, robots.txt, host limits and dedup apply to it.
  std::uint32_t redirects = 0;  // hops from chain_start to url; 0 for a URL not reached by redirect
  std::string chain_start;      // the URL whose redirect led here ("" when redirects is 0)
};

enum class LeaseKind { kPage, kRobots };

// One unit of work handed to a worker. Every lease must be given back exactly
// once, through complete() or retry(); a lease that is never given back keeps
// its host slot and keeps the frontier from finishing.
// complete() and retry() find the host by item.host_key: leave it unchanged.
struct Lease {
  LeaseKind kind = LeaseKind::kPage;
  CrawlItem item;        // kRobots: item.url = item.host_key + "/robots.txt"
  std::uint64_t id = 0;  // unique per frontier, increasing in lease order
};

enum class PushResult {
  kQueued,        // accepted; counts toward max_pages
  kDuplicate,     // the URL was accepted before (dedup)
  kTooDeep,       // depth > max_depth
  kLimitReached,  // max_pages items were already accepted
  kClosed,        // stop() was called or the frontier has finished
};

struct FrontierOptions {
  std::uint64_t max_pages = 0;  // 0 = unlimited; counts items accepted (queued) in total
  std::uint32_t max_depth = UINT32_MAX;
  std::uint32_t max_in_flight_per_host = 0;        // 0 = unlimited; robots leases count too
  std::chrono::milliseconds min_host_interval{0};  // between request STARTS to one host (politeness)
  bool robots_first = false;                       // a kRobots lease per new host before any of its pages
  bool dedup = true;
};

struct FrontierCounts {
  std::uint64_t queued = 0;        // waiting in host queues, robots leases included
  std::uint64_t in_flight = 0;     // leased, not yet completed or retried
  std::uint64_t delayed = 0;       // retried items whose delay has not passed
  std::uint64_t hosts = 0;         // hosts ever seen
  std::uint64_t seen = 0;          // distinct URLs in the dedup set
  std::uint64_t leased_total = 0;  // leases handed out since construction
  bool finished = false;
  std::uint64_t waiting = 0;  // threads blocked in pop() (idle workers)
};

// One host's share of the frontier, for a status display.
struct HostQueue {
  std::string host_key;
  std::uint64_t queued = 0;  // pages waiting in its queue
  std::uint32_t in_flight = 0;
};

// The interface the engine programs against, so that a shared (Redis-backed)
// frontier can replace the in-memory one. Implementations MUST be thread-safe
// and MUST NOT call back into user code.
class Frontier {
 public:
  virtual ~Frontier() = default;

  // Offers a URL. Check order: kClosed, kTooDeep, kDuplicate, kLimitReached.
  // Only a kQueued item is remembered as seen and counted toward max_pages.
  virtual PushResult push(CrawlItem item) = 0;

  // push() of a discovered link (origin 0, first attempt), for frontiers
  // that can answer kClosed, kTooDeep or kDuplicate before an item exists:
  // most links a crawl finds are known already, and building a CrawlItem
  // for each costs three string copies. Same results as push(). The default
  // builds the item and pushes it.
  virtual PushResult push_link(std::string_view url, std::string_view host_key, std::uint32_t depth,
                               std::string_view referrer) {
    CrawlItem item;
    item.url = url;
    item.host_key = host_key;
    item.depth = depth;
    item.referrer = referrer;
    return push(std::move(item));
  }

  // Blocks until a lease is ready (its host is under its in-flight cap and its
  // interval, Crawl-delay, backoff or retry delay has passed) and returns it.
  // Returns nullopt once the frontier is finished, after stop(), or when
  // `stop` is requested (already, or while waiting).
  virtual std::optional<Lease> pop(std::stop_token stop) = 0;

  // The lease is done (whatever the outcome): frees its host slot; a robots
  // lease opens its host's pages. May finish the frontier.
  virtual void complete(const Lease& lease) = 0;

  // Gives the lease back to be tried again not before now + delay, with
  // attempt + 1, at the back of its host's queue. Bypasses dedup and
  // max_pages; the item stays pending, so the frontier does not finish while
  // it waits. Delays are clamped to [0, 24 h], as are host intervals.
  virtual void retry(Lease lease, std::chrono::milliseconds delay) = 0;

  // robots.txt Crawl-delay: the host's interval between request starts becomes
  // max(delay, min_host_interval). Replaces an earlier value for that host.
  virtual void set_host_delay(std::string_view host_key, std::chrono::milliseconds delay) = 0;

  // 429/503 Retry-After: no lease for the host before `until`. Never shortens
  // an earlier backoff (concurrent answers may carry different values).
  virtual void backoff_host(std::string_view host_key, std::chrono::steady_clock::time_point until) = 0;

  // No more external pushes will come. Workers holding leases may still push
  // the links they discover.
  virtual void close_input() = 0;

  // Resume: the URL was handled by an earlier run, so a later push of it is a
  // kDuplicate. Counts toward max_pages, as it did in that run.
  virtual void mark_seen(std::string_view url) = 0;

  // Backpressure for input feeders (a million-line list must not sit in the
  // queue): blocks while `max_queued` or more items are queued. Returns false
  // when the frontier stopped or finished, or `stop` was requested. Workers
  // never call it: their pushes must not wait on their own progress.
  virtual bool wait_for_room(std::uint64_t max_queued, std::stop_token stop) = 0;

  // Abort: every pop() returns nullopt from now on and blocked pops wake.
  virtual void stop() = 0;

  virtual FrontierCounts counts() const = 0;

  // The `limit` hosts with the most queued pages (ties: most in flight), for
  // a status display. A frontier that cannot list them cheaply returns none.
  virtual std::vector<HostQueue> host_queues(std::size_t limit) const {
    (void)limit;
    return {};
  }

  // Why the frontier stopped on its own (a shared one lost its Redis), or
  // nullopt: it did not. A run that ends this way did not finish its work.
  virtual std::optional<Error> failure() const { return std::nullopt; }
};

// The in-process frontier.
//
// Safety (the locking design, after curl's THRDPOOL-AND-QUEUE.md):
// - One std::mutex guards all of the frontier's state: the host table, the
//   per-host FIFOs, the ready-host deque, the timer heap of hosts waiting for
//   time, the retry heap, the seen set and the counters. There is no second
//   lock, so there is no lock order to get wrong.
// - No callback, no I/O, no logging and no user code ever runs under it. URL
//   hashing for dedup and building a lease's strings happen outside it; under
//   it happen only O(1) or O(log n) queue and heap operations and at most a
//   small allocation (host queues grow in 16-item chunks, never by moving a
//   whole queue). The one O(n) step is a seen-set rehash, and the set is
//   split into 64 shards that grow on their own, so a rehash moves 1/64 of
//   it (~0.5 MB at a million URLs).
// - pop() waits on a std::condition_variable_any with the caller's stop_token
//   and, when it keeps time (below), a deadline. Notifications are sent just
//   after unlocking: the waiter's predicate (an epoch counter) was changed
//   under the lock, so a waiter cannot miss the change, only wake for it.
// - No lost wake-ups: a thread blocks only after a full scan under the lock
//   found nothing leasable. Any later change that may make a lease available
//   (push, complete, retry, backoff or delay change) bumps an epoch under the
//   lock and wakes one waiter (notify_one) if any is blocked and there is
//   ready work or a new earliest deadline; that waiter rescans. A
//   thread that takes a lease and leaves ready work behind wakes the next
//   waiter (baton passing), so N ready hosts reach N idle workers. For time,
//   one waiter at a time is the "timekeeper" sleeping until the earliest
//   deadline; the others sleep without a deadline. Whenever the earliest
//   deadline moves before the timekeeper's (a waiter sleeping until T while a
//   push or retry makes a host due earlier), or the timekeeper leaves, a
//   waiter is woken to take that role.
// - Finishing and stop() wake every waiter (notify_all), and both are sticky.
// - Feeders blocked in wait_for_room() sleep on a second condition variable,
//   so a lease taken wakes them without disturbing the workers' baton; pop()
//   signals it only while a feeder waits and the queue is below its resume
//   mark (a feeder that found the queue full sleeps until a quarter drained).
class MemoryFrontier final : public Frontier {
 public:
  explicit MemoryFrontier(FrontierOptions options);
  ~MemoryFrontier() override;
  MemoryFrontier(const MemoryFrontier&) = delete;
  MemoryFrontier& operator=(const MemoryFrontier&) = delete;

  PushResult push(CrawlItem item) override;
  PushResult push_link(std::string_view url, std::string_view host_key, std::uint32_t depth,
                       std::string_view referrer) override;
  std::optional<Lease> pop(std::stop_token stop) override;
  void complete(const Lease& lease) override;
  void retry(Lease lease, std::chrono::milliseconds delay) override;
  void set_host_delay(std::string_view host_key, std::chrono::milliseconds delay) override;
  void backoff_host(std::string_view host_key, std::chrono::steady_clock::time_point until) override;
  void close_input() override;
  void mark_seen(std::string_view url) override;
  bool wait_for_room(std::uint64_t max_queued, std::stop_token stop) override;
  void stop() override;
  FrontierCounts counts() const override;
  std::vector<HostQueue> host_queues(std::size_t limit) const override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fetchpool
