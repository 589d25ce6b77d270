// RedisFrontier: a Frontier kept in Redis, so that several fetchpool
// processes, on one machine or many, share one crawl.
//
// What is shared: the seen set (16-byte URL hashes, not the URLs: 80 bytes of
// Redis memory per URL, measured with 200,000), the per-host FIFOs, the per-host
// politeness state (in-flight count, minimum interval, robots.txt
// Crawl-delay, Retry-After backoff), the leases, the retry queue and the
// crawl's counters. Each URL is therefore leased to one process at a time
// and, unless a process dies holding it, fetched once across all of them.
//
// Design, and why:
// - Every state change that touches more than one key is one Lua script,
//   run with EVALSHA (EVAL when Redis answers NOSCRIPT, e.g. after a
//   restart). Redis runs a script atomically, so "seen? then queue" or
//   "pick a ready host, lease its head, start its interval" cannot
//   interleave with another process. The scripts read the clock with
//   Redis's TIME, so the clocks of the machines do not matter: one clock
//   decides every host's next allowed start and every lease's expiry.
// - A host is in the ":ready" sorted set exactly when it has queued pages
//   and a free slot under max_in_flight_per_host, scored by the first time
//   it may start a request (last start + interval, or the end of a
//   backoff). pop() takes the first host whose score is <= now. Hosts at
//   their cap are not in the set, so a scan never wades through them.
// - Leases expire. A lease is (id -> host, item) plus an expiry in the
//   ":lz" sorted set. A background thread renews this process's leases
//   every lease/3, so a long download is never taken away; the leases of a
//   process that died stop being renewed, and the next pop() by anyone
//   after their expiry puts them back at the front of their host's queue.
//   That is the one case in which a URL is fetched twice. A stopped process
//   (SIGINT) gives its leases back at once instead: the engine retry()s a
//   transfer the stop cut short (re-queued for any node), complete() still
//   marks a page fetched in full as done, and leases never given back are
//   returned by the destructor.
// - Termination: the crawl is finished when input was closed (by any
//   process; each closes after pushing its seeds) and nothing is queued,
//   waiting to be retried or leased. The script that sees this sets a
//   sticky "finished" flag that every process reads. Leases of a dead
//   process keep the crawl open until they expire and are fetched again.
// - pop() polls: when Redis has nothing for it, it waits on a local
//   condition variable for a bounded, growing time (2 ms doubling to 50 ms,
//   shorter if Redis says a host becomes due sooner). A push, complete or
//   retry in this process, stop() or the stop token wake it at once; work
//   made available by other processes is seen within 50 ms. No spinning.
// - robots.txt (robots_first): every process needs the rules in its own
//   memory, so the robots gate is per process, not shared. When a process
//   leases the first page of a host it has no rules for, it keeps that
//   page's lease (holding the host's slot and interval), hands its worker a
//   robots lease instead, and gives the page back to the shared queue when
//   robots.txt is done. So robots.txt is fetched once per host per process;
//   pages are still fetched once in all. Until its robots.txt is done the
//   process does not lease that host's pages.
// - Connections: a small pool of hiredis contexts; a mutex is held only to
//   take or return one, never across a round trip. A context that failed is
//   dropped and the call retried once on a new connection. Errors become one
//   log line each; if Redis stays unreachable for the grace period (30 s, or
//   ?grace=SECONDS), pop() stops the
//   frontier, so a crawl never hangs on a dead Redis.
//
// Deviations from MemoryFrontier: host scheduling is "earliest allowed
// start first" rather than strict round-robin; lease ids are unique across
// all processes of the crawl (Redis INCR), but a robots lease carries the
// id of the page it holds, also when retried; counts() is the whole crawl's
// (waiting alone is this process's) and its queued count has no robots
// leases, which are local; a max_pages limit is global. Retried
// items keep their place in Redis, so a retry outlives its process. A URL
// whose lease expired while its slow (not dead) owner still worked on it is
// fetched again; the owner's late complete() is logged and ignored.
//
// Requirements: one Redis server (not Redis Cluster: scripts build key
// names), Redis >= 5 (scripts that call TIME before writing). Every process
// of a crawl must use the same FrontierOptions and the same fetchpool
// version (the URL hash is shared). All keys start with the URI's prefix,
// so a new crawl needs a new prefix or clear_redis_crawl().
//
// Thread-safety: every member function may be called concurrently from any
// thread, as for every Frontier. The object must outlive all calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "fetchpool/error.hpp"
#include "fetchpool/frontier.hpp"
#include "fetchpool/redis_uri.hpp"

namespace fetchpool {

class RedisFrontier final : public Frontier {
 public:
  // Connects (2 s timeout), loads the scripts and returns a frontier on the
  // crawl named by uri.prefix; errors name host:port and what failed.
  static Result<std::unique_ptr<RedisFrontier>> connect(const RedisUri& uri, FrontierOptions options);
  // Gives back leases still held (another process may fetch them) and closes
  // the connections. Does not stop or finish the shared crawl.
  ~RedisFrontier() override;
  RedisFrontier(const RedisFrontier&) = delete;
  RedisFrontier& operator=(const RedisFrontier&) = delete;

  PushResult push(CrawlItem item) override;
  std::optional<Lease> pop(std::stop_token stop) override;
  void complete(const Lease& lease) override;
  void retry(Lease lease, std::chrono::milliseconds delay) override;
  void set_host_delay(std::string_view host_key, std::chrono::milliseconds delay) override;
  void backoff_host(std::string_view host_key, std::chrono::steady_clock::time_point until) override;
  void close_input() override;
  void mark_seen(std::string_view url) override;
  bool wait_for_room(std::uint64_t max_queued, std::stop_token stop) override;
  // Stops this process only: its pops return nullopt, and its leases go back
  // to the shared queue as they are retried (or at destruction). Other
  // processes go on.
  void stop() override;
  FrontierCounts counts() const override;
  // Set once Redis stayed unreachable for the address's grace period (30 s by
  // default): this process then stopped.
  std::optional<Error> failure() const override;

 private:
  struct State;
  explicit RedisFrontier(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The whole crawl as Redis holds it, for `fetchpool status` on any node.
struct RedisCrawlStatus {
  FrontierCounts counts;        // waiting is always 0 here
  std::uint64_t accepted = 0;   // URLs queued in total (what max_pages counts)
  std::uint64_t completed = 0;  // page leases completed (fetched or given up on)
  std::uint64_t retried = 0;    // retry() calls
  std::uint64_t expired = 0;    // leases of dead or stalled processes put back
  bool input_closed = false;
};

Result<RedisCrawlStatus> read_redis_crawl_status(const RedisUri& uri);

// Deletes every key of the crawl named by uri.prefix (SCAN + UNLINK), so the
// prefix can be used for a new crawl. Returns how many keys were deleted.
Result<std::uint64_t> clear_redis_crawl(const RedisUri& uri);

}  // namespace fetchpool
