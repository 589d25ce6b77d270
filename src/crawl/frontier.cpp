#include "fetchpool/frontier.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "crawl/seen_set.hpp"
#include "fetchpool/thread_annotations.hpp"

namespace fetchpool {

// ---------------------------------------------------------------------------
// MemoryFrontier

namespace {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
constexpr TimePoint kNever = TimePoint::max();

// Delays and intervals are clamped to [0, 24 h]: a Crawl-delay or Retry-After
// beyond a day is a broken value, and the clamp keeps time arithmetic far
// from overflow.
std::chrono::milliseconds clamp_delay(std::chrono::milliseconds d) noexcept {
  return std::clamp<std::chrono::milliseconds>(d, std::chrono::milliseconds{0}, std::chrono::hours(24));
}

// A queued page without its host key: the host record holds that once, which
// saves a heap string per queued URL ("https://www.example.com:443" does not
// fit in the small-string buffer).
// A redirect hop's chain (CrawlItem::chain_start, redirects): behind a
// pointer, so the queued items that are no hop (nearly all) pay 8 bytes.
struct RedirectChain {
  std::string start;
  std::uint32_t hops = 0;
};

struct QueuedItem {
  std::string url;
  std::string referrer;
  std::uint64_t origin = 0;
  std::uint32_t depth = 0;
  std::uint32_t attempt = 0;
  std::unique_ptr<RedirectChain> chain;
};

// Moves all but the host key, which the caller still needs for the lookup.
QueuedItem take_queued(CrawlItem& item) {
  QueuedItem queued{std::move(item.url), std::move(item.referrer), item.origin, item.depth, item.attempt, nullptr};
  if (item.redirects > 0) {
    queued.chain = std::make_unique<RedirectChain>();
    queued.chain->start = std::move(item.chain_start);
    queued.chain->hops = item.redirects;
  }
  return queued;
}

// A host's FIFO: a linked list of fixed-size chunks. Unlike std::deque
// (which allocates ~600 bytes as soon as it exists) an empty queue owns no
// memory, which matters with many hosts; unlike a vector, a long queue never
// reallocates and moves everything under the frontier's lock: a push
// allocates at most one chunk, and a pop frees at most one.
class ItemFifo {
 public:
  ItemFifo() = default;
  ItemFifo(ItemFifo&& other) noexcept
      : head_(std::move(other.head_)),
        tail_(std::exchange(other.tail_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  ItemFifo& operator=(ItemFifo&&) = delete;
  // Iterative: the default destructor would recurse once per chunk.
  ~ItemFifo() {
    while (head_ != nullptr) head_ = std::move(head_->next);
  }

  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }

  void push(QueuedItem item) {
    ++size_;
    if (tail_ == nullptr || tail_->end == kChunkItems) {
      auto chunk = std::make_unique<Chunk>();
      Chunk* raw = chunk.get();
      if (tail_ == nullptr) {
        head_ = std::move(chunk);
      } else {
        tail_->next = std::move(chunk);
      }
      tail_ = raw;
    }
    tail_->items[tail_->end++] = std::move(item);
  }

  QueuedItem pop() {
    assert(!empty());
    --size_;
    QueuedItem out = std::move(head_->items[head_->begin++]);
    if (head_->begin == head_->end) {
      head_ = std::move(head_->next);  // frees the drained chunk
      if (head_ == nullptr) tail_ = nullptr;
    }
    return out;
  }

 private:
  static constexpr std::size_t kChunkItems = 16;
  struct Chunk {
    std::array<QueuedItem, kChunkItems> items;
    std::size_t begin = 0;
    std::size_t end = 0;
    std::unique_ptr<Chunk> next;
  };
  std::unique_ptr<Chunk> head_;
  Chunk* tail_ = nullptr;
  std::size_t size_ = 0;
};

// kNone: robots_first is off, or nothing was accepted for the host yet.
// Pages flow in kNone and kDone only.
enum class RobotsState { kNone, kQueued, kLeased, kDelayed, kDone };

struct Host {
  const std::string* key = nullptr;  // the host table's key: immutable, and the node is never erased
  ItemFifo pages;
  std::uint32_t in_flight = 0;
  RobotsState robots = RobotsState::kNone;
  std::uint32_t robots_attempt = 0;
  std::chrono::milliseconds interval{0};  // between request starts: max(min_host_interval, Crawl-delay)
  bool started = false;                   // last_start is meaningful
  TimePoint last_start{};
  TimePoint backoff_until = TimePoint::min();
  bool in_ready = false;        // has an entry in the ready deque
  std::uint64_t timer_seq = 0;  // seq of its live timer-heap entry, 0 if none
  TimePoint timer_at{};         // time of that entry
};

struct TimerEntry {
  TimePoint at;
  std::uint64_t seq;
  Host* host;
};

struct RetryEntry {
  TimePoint due;
  std::uint64_t seq;
  Host* host;
  LeaseKind kind;
  QueuedItem item;  // pages only
};

// std heap functions build max-heaps; "later" first puts the earliest on top,
// and seq keeps equal times in FIFO order.
struct Later {
  bool operator()(const TimerEntry& a, const TimerEntry& b) const noexcept {
    return a.at != b.at ? a.at > b.at : a.seq > b.seq;
  }
  bool operator()(const RetryEntry& a, const RetryEntry& b) const noexcept {
    return a.due != b.due ? a.due > b.due : a.seq > b.seq;
  }
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

enum class Wake { kNone, kOne, kAll };

// What pop() takes under the lock; the Lease's strings are built after it.
struct Taken {
  LeaseKind kind = LeaseKind::kPage;
  QueuedItem item;
  std::uint64_t id = 0;
  const std::string* host_key = nullptr;
};

}  // namespace

struct MemoryFrontier::State {
  explicit State(FrontierOptions o) : options(o) {}

  const FrontierOptions options;
  mutable Mutex mutex;
  std::condition_variable_any cv;
  std::condition_variable_any room_cv;  // feeders in wait_for_room()

  // The frontier's state; the helpers below run with the mutex held.
  std::unordered_map<std::string, Host, StringHash, std::equal_to<>> hosts
      FETCHPOOL_GUARDED_BY(mutex);                      // never erased: nodes are stable
  std::deque<Host*> ready FETCHPOOL_GUARDED_BY(mutex);  // hosts that may start a request now, round-robin
  std::vector<TimerEntry> timers
      FETCHPOOL_GUARDED_BY(mutex);  // min-heap: hosts with work waiting for a time (lazy deletion by seq)
  std::vector<RetryEntry> retries FETCHPOOL_GUARDED_BY(mutex);  // min-heap: retried items waiting for their delay
  detail::SeenSet seen FETCHPOOL_GUARDED_BY(mutex);
  std::uint64_t timer_seq FETCHPOOL_GUARDED_BY(mutex) = 0;
  std::uint64_t retry_seq FETCHPOOL_GUARDED_BY(mutex) = 0;
  std::uint64_t accepted FETCHPOOL_GUARDED_BY(mutex) = 0;  // kQueued pushes, for max_pages
  std::uint64_t queued FETCHPOOL_GUARDED_BY(mutex) = 0;    // items in host FIFOs plus queued robots leases
  std::uint64_t in_flight FETCHPOOL_GUARDED_BY(mutex) = 0;
  std::uint64_t leased_total FETCHPOOL_GUARDED_BY(mutex) = 0;
  std::uint64_t epoch FETCHPOOL_GUARDED_BY(mutex) = 0;    // bumped with every notification; waiters wait for a change
  std::uint64_t waiters FETCHPOOL_GUARDED_BY(mutex) = 0;  // threads inside cv.wait
  std::uint64_t room_waiters FETCHPOOL_GUARDED_BY(mutex) = 0;  // feeders inside room_cv.wait
  std::uint64_t room_limit FETCHPOOL_GUARDED_BY(mutex) =
      0;  // the largest resume mark a feeder waits for: waking too often is harmless
  TimePoint keeper_deadline FETCHPOOL_GUARDED_BY(mutex) = kNever;  // the deadline the timekeeping waiter sleeps until
  bool input_closed FETCHPOOL_GUARDED_BY(mutex) = false;
  bool finished FETCHPOOL_GUARDED_BY(mutex) = false;
  bool stopped FETCHPOOL_GUARDED_BY(mutex) = false;

  Host& host_for(std::string_view key) FETCHPOOL_REQUIRES(mutex) {
    auto it = hosts.find(key);
    if (it == hosts.end()) {
      it = hosts.emplace(std::string(key), Host{}).first;
      it->second.key = &it->first;
      it->second.interval = clamp_delay(options.min_host_interval);
    }
    return it->second;
  }

  Host* find_host(std::string_view key) FETCHPOOL_REQUIRES(mutex) {
    auto it = hosts.find(key);
    return it == hosts.end() ? nullptr : &it->second;
  }

  // Whether the host has something it may lease, time aside.
  bool has_work(const Host& h) const noexcept FETCHPOOL_REQUIRES(mutex) {
    if (options.max_in_flight_per_host != 0 && h.in_flight >= options.max_in_flight_per_host) return false;
    switch (h.robots) {
      case RobotsState::kQueued:
        return true;
      case RobotsState::kLeased:
      case RobotsState::kDelayed:
        return false;
      case RobotsState::kNone:
      case RobotsState::kDone:
        return !h.pages.empty();
    }
    return false;
  }

  static TimePoint ready_at(const Host& h) noexcept {
    return h.started ? std::max(h.backoff_until, h.last_start + h.interval) : h.backoff_until;
  }

  // Puts a host that has work where it belongs: the ready deque if it may
  // start now, else the timer heap. A host without work is in neither; the
  // event that gives it work (push, complete, retry due) calls this again.
  // A host already in the ready deque stays there even if it is no longer
  // ready: pop() re-checks every host it takes from the deque.
  void schedule(Host& h, TimePoint now) FETCHPOOL_REQUIRES(mutex) {
    if (h.in_ready || !has_work(h)) return;
    const TimePoint at = ready_at(h);
    if (at <= now) {
      h.timer_seq = 0;  // retires any timer entry
      h.in_ready = true;
      ready.push_back(&h);
      return;
    }
    if (h.timer_seq != 0 && h.timer_at == at) return;
    h.timer_seq = ++timer_seq;
    h.timer_at = at;
    timers.push_back(TimerEntry{at, h.timer_seq, &h});
    std::push_heap(timers.begin(), timers.end(), Later{});
  }

  // Moves retries whose delay has passed back into their host queues, and
  // hosts whose time has come into the ready deque.
  void promote(TimePoint now) FETCHPOOL_REQUIRES(mutex) {
    while (!retries.empty() && retries.front().due <= now) {
      std::pop_heap(retries.begin(), retries.end(), Later{});
      RetryEntry e = std::move(retries.back());
      retries.pop_back();
      if (e.kind == LeaseKind::kRobots) {
        e.host->robots = RobotsState::kQueued;
      } else {
        e.host->pages.push(std::move(e.item));
      }
      ++queued;
      schedule(*e.host, now);
    }
    while (!timers.empty() && timers.front().at <= now) {
      std::pop_heap(timers.begin(), timers.end(), Later{});
      const TimerEntry e = timers.back();
      timers.pop_back();
      if (e.host->timer_seq != e.seq) continue;  // superseded
      e.host->timer_seq = 0;
      schedule(*e.host, now);
    }
  }

  // The earliest time at which waiting work may become leasable; kNever if none.
  TimePoint earliest() FETCHPOOL_REQUIRES(mutex) {
    while (!timers.empty() && timers.front().host->timer_seq != timers.front().seq) {
      std::pop_heap(timers.begin(), timers.end(), Later{});
      timers.pop_back();
    }
    TimePoint t = kNever;
    if (!timers.empty()) t = timers.front().at;
    if (!retries.empty()) t = std::min(t, retries.front().due);
    return t;
  }

  Taken take(Host& h, TimePoint now) FETCHPOOL_REQUIRES(mutex) {
    Taken t;
    t.host_key = h.key;
    t.id = ++leased_total;
    if (h.robots == RobotsState::kQueued) {
      t.kind = LeaseKind::kRobots;
      t.item.attempt = h.robots_attempt;
      h.robots = RobotsState::kLeased;
    } else {
      t.kind = LeaseKind::kPage;
      t.item = h.pages.pop();
    }
    --queued;
    ++in_flight;
    ++h.in_flight;
    h.started = true;
    h.last_start = now;
    return t;
  }

  // After a state change: wake a waiter if work is ready now, or if the
  // earliest deadline is before the one the timekeeper sleeps until (or no
  // waiter keeps time). The woken waiter rescans, so one is enough; it passes
  // the baton on if it leaves more behind.
  Wake wake_after_change() FETCHPOOL_REQUIRES(mutex) {
    if (waiters == 0) return Wake::kNone;
    if (!ready.empty() || earliest() < keeper_deadline) {
      ++epoch;
      return Wake::kOne;
    }
    return Wake::kNone;
  }

  // Finished is sticky: once nothing is pending and input is closed, nobody
  // holds a lease that could push more.
  bool finish_if_done() FETCHPOOL_REQUIRES(mutex) {
    if (finished || !input_closed || queued != 0 || in_flight != 0 || !retries.empty()) return false;
    finished = true;
    ++epoch;
    return true;
  }

  void notify(Wake wake) {
    if (wake == Wake::kOne) {
      cv.notify_one();
    } else if (wake == Wake::kAll) {
      cv.notify_all();
    }
  }
};

MemoryFrontier::MemoryFrontier(FrontierOptions options) : state_(std::make_unique<State>(options)) {}

MemoryFrontier::~MemoryFrontier() = default;

PushResult MemoryFrontier::push(CrawlItem item) {
  State& s = *state_;
  // Hashing and moving the strings happen before taking the lock.
  const detail::Hash128 hash = s.options.dedup ? detail::hash_url(item.url) : detail::Hash128{};
  QueuedItem queued_item = take_queued(item);
  const TimePoint now = Clock::now();

  MutexLock lock(s.mutex);
  if (s.stopped || s.finished) return PushResult::kClosed;
  if (queued_item.depth > s.options.max_depth) return PushResult::kTooDeep;
  if (s.options.max_pages != 0 && s.accepted >= s.options.max_pages) {
    return s.options.dedup && s.seen.contains(hash) ? PushResult::kDuplicate : PushResult::kLimitReached;
  }
  if (s.options.dedup && !s.seen.insert(hash)) return PushResult::kDuplicate;
  ++s.accepted;

  Host& host = s.host_for(item.host_key);
  if (s.options.robots_first && host.robots == RobotsState::kNone) {
    host.robots = RobotsState::kQueued;
    ++s.queued;
  }
  host.pages.push(std::move(queued_item));
  ++s.queued;
  s.schedule(host, now);
  const Wake wake = s.wake_after_change();
  lock.unlock();
  s.notify(wake);
  return PushResult::kQueued;
}

PushResult MemoryFrontier::push_link(std::string_view url, std::string_view host_key, std::uint32_t depth,
                                     std::string_view referrer) {
  State& s = *state_;
  {
    // The answers push() would give before it looks at the item's strings.
    const detail::Hash128 hash = s.options.dedup ? detail::hash_url(url) : detail::Hash128{};
    MutexLock lock(s.mutex);
    if (s.stopped || s.finished) return PushResult::kClosed;
    if (depth > s.options.max_depth) return PushResult::kTooDeep;
    if (s.options.dedup && s.seen.contains(hash)) return PushResult::kDuplicate;
  }
  return Frontier::push_link(url, host_key, depth, referrer);
}

std::optional<Lease> MemoryFrontier::pop(std::stop_token stop) {
  State& s = *state_;
  MutexLock lock(s.mutex);
  for (;;) {
    if (s.stopped || s.finished || stop.stop_requested()) {
      // Leaving on our own token: if we kept time, another waiter must take over.
      const Wake wake = (s.stopped || s.finished) ? Wake::kNone : s.wake_after_change();
      lock.unlock();
      s.notify(wake);
      return std::nullopt;
    }

    const TimePoint now = Clock::now();
    s.promote(now);
    while (!s.ready.empty()) {
      Host& host = *s.ready.front();
      s.ready.pop_front();
      host.in_ready = false;
      if (!s.has_work(host) || State::ready_at(host) > now) {
        s.schedule(host, now);  // stale entry: backoff, delay or gate changed while it waited
        continue;
      }
      Taken taken = s.take(host, now);
      s.schedule(host, now);  // back of the deque if it still may: round-robin
      const Wake wake = s.wake_after_change();
      const bool room = s.room_waiters != 0 && s.queued < s.room_limit;
      lock.unlock();
      s.notify(wake);
      if (room) s.room_cv.notify_all();

      // Reading *taken.host_key unlocked is safe: host keys are immutable and
      // never erased, and this thread saw the key's creation through the lock.
      Lease lease;
      lease.kind = taken.kind;
      lease.id = taken.id;
      lease.item.host_key = *taken.host_key;
      lease.item.attempt = taken.item.attempt;
      if (taken.kind == LeaseKind::kRobots) {
        lease.item.url = *taken.host_key + "/robots.txt";
      } else {
        lease.item.url = std::move(taken.item.url);
        lease.item.referrer = std::move(taken.item.referrer);
        lease.item.depth = taken.item.depth;
        lease.item.origin = taken.item.origin;
        if (taken.item.chain) {
          lease.item.chain_start = std::move(taken.item.chain->start);
          lease.item.redirects = taken.item.chain->hops;
        }
      }
      return lease;
    }

    const TimePoint deadline = s.earliest();
    const bool keeper = deadline < s.keeper_deadline;
    if (keeper) s.keeper_deadline = deadline;
    const std::uint64_t seen_epoch = s.epoch;
    const auto changed = [&s, seen_epoch]()
                             FETCHPOOL_REQUIRES(s.mutex) { return s.stopped || s.finished || s.epoch != seen_epoch; };
    ++s.waiters;
    if (keeper) {
      s.cv.wait_until(lock, stop, deadline, changed);
    } else {
      s.cv.wait(lock, stop, changed);  // someone else keeps time; a change wakes us
    }
    --s.waiters;
    if (keeper && s.keeper_deadline == deadline) s.keeper_deadline = kNever;
  }
}

void MemoryFrontier::complete(const Lease& lease) {
  State& s = *state_;
  const TimePoint now = Clock::now();
  MutexLock lock(s.mutex);
  Host* host = s.find_host(lease.item.host_key);
  assert(host != nullptr && host->in_flight > 0 && "complete() of a lease this frontier did not hand out");
  if (host == nullptr || host->in_flight == 0) return;  // a lease given back twice must not corrupt the counts
  --host->in_flight;
  --s.in_flight;
  if (lease.kind == LeaseKind::kRobots && host->robots == RobotsState::kLeased) host->robots = RobotsState::kDone;
  s.schedule(*host, now);
  const Wake wake = s.finish_if_done() ? Wake::kAll : s.wake_after_change();
  lock.unlock();
  s.notify(wake);
  if (wake == Wake::kAll) s.room_cv.notify_all();
}

void MemoryFrontier::retry(Lease lease, std::chrono::milliseconds delay) {
  State& s = *state_;
  const TimePoint now = Clock::now();
  const TimePoint due = now + clamp_delay(delay);
  const std::uint32_t attempt = lease.item.attempt + 1;
  QueuedItem item = take_queued(lease.item);
  item.attempt = attempt;

  MutexLock lock(s.mutex);
  Host* host = s.find_host(lease.item.host_key);
  assert(host != nullptr && host->in_flight > 0 && "retry() of a lease this frontier did not hand out");
  if (host == nullptr || host->in_flight == 0) return;
  --host->in_flight;
  --s.in_flight;
  if (lease.kind == LeaseKind::kRobots) {
    host->robots = RobotsState::kDelayed;  // the gate stays closed until the retried robots lease completes
    host->robots_attempt = attempt;
  }
  s.retries.push_back(RetryEntry{due, ++s.retry_seq, host, lease.kind, std::move(item)});
  std::push_heap(s.retries.begin(), s.retries.end(), Later{});
  s.schedule(*host, now);  // the freed slot may let the host's other pages go
  const Wake wake = s.wake_after_change();
  lock.unlock();
  s.notify(wake);
}

void MemoryFrontier::set_host_delay(std::string_view host_key, std::chrono::milliseconds delay) {
  State& s = *state_;
  const TimePoint now = Clock::now();
  MutexLock lock(s.mutex);
  Host& host = s.host_for(host_key);
  host.interval = clamp_delay(std::max(delay, s.options.min_host_interval));
  s.schedule(host, now);
  const Wake wake = s.wake_after_change();
  lock.unlock();
  s.notify(wake);
}

void MemoryFrontier::backoff_host(std::string_view host_key, TimePoint until) {
  State& s = *state_;
  const TimePoint now = Clock::now();
  MutexLock lock(s.mutex);
  Host& host = s.host_for(host_key);
  host.backoff_until = std::max(host.backoff_until, until);
  s.schedule(host, now);
  const Wake wake = s.wake_after_change();
  lock.unlock();
  s.notify(wake);
}

void MemoryFrontier::close_input() {
  State& s = *state_;
  MutexLock lock(s.mutex);
  s.input_closed = true;
  const Wake wake = s.finish_if_done() ? Wake::kAll : Wake::kNone;
  lock.unlock();
  s.notify(wake);
  if (wake == Wake::kAll) s.room_cv.notify_all();
}

void MemoryFrontier::mark_seen(std::string_view url) {
  State& s = *state_;
  const detail::Hash128 hash = detail::hash_url(url);
  MutexLock lock(s.mutex);
  if (s.options.dedup && s.seen.insert(hash)) ++s.accepted;
}

bool MemoryFrontier::wait_for_room(std::uint64_t max_queued, std::stop_token stop) {
  State& s = *state_;
  MutexLock lock(s.mutex);
  if (s.stopped || s.finished || s.queued < max_queued) return !s.stopped && !s.finished;
  // Full: sleep until a quarter of the queue has drained, not just one item,
  // so a long list costs one wake-up of its feeder per max_queued/4 URLs
  // rather than one per URL. The queue still never holds more than max_queued.
  const std::uint64_t resume_below = max_queued - max_queued / 4;
  ++s.room_waiters;
  s.room_limit = s.room_waiters == 1 ? resume_below : std::max(s.room_limit, resume_below);
  const bool room = s.room_cv.wait(lock, stop, [&s, resume_below]() FETCHPOOL_REQUIRES(s.mutex) {
    return s.stopped || s.finished || s.queued < resume_below;
  });
  --s.room_waiters;
  return room && !s.stopped && !s.finished;
}

void MemoryFrontier::stop() {
  State& s = *state_;
  MutexLock lock(s.mutex);
  s.stopped = true;
  ++s.epoch;
  lock.unlock();
  s.cv.notify_all();
  s.room_cv.notify_all();
}

FrontierCounts MemoryFrontier::counts() const {
  const State& s = *state_;
  MutexLock lock(s.mutex);
  FrontierCounts c;
  c.queued = s.queued;
  c.in_flight = s.in_flight;
  c.delayed = s.retries.size();
  c.hosts = s.hosts.size();
  c.seen = s.seen.size();
  c.leased_total = s.leased_total;
  c.finished = s.finished;
  c.waiting = s.waiters;
  return c;
}

// O(hosts) under the lock, but no string is copied there: host keys are
// immutable and their nodes never erased, so they are read after unlocking.
std::vector<HostQueue> MemoryFrontier::host_queues(std::size_t limit) const {
  struct Busy {
    const std::string* key;
    std::uint64_t queued;
    std::uint32_t in_flight;
  };
  std::vector<Busy> busy;
  {
    const State& s = *state_;
    MutexLock lock(s.mutex);
    busy.reserve(s.hosts.size());
    for (const auto& [key, host] : s.hosts)
      if (!host.pages.empty() || host.in_flight > 0) busy.push_back(Busy{&key, host.pages.size(), host.in_flight});
  }
  const auto busier = [](const Busy& a, const Busy& b) {
    return a.queued != b.queued ? a.queued > b.queued : a.in_flight > b.in_flight;
  };
  const std::size_t kept = std::min(limit, busy.size());
  std::partial_sort(busy.begin(), busy.begin() + static_cast<std::ptrdiff_t>(kept), busy.end(), busier);
  std::vector<HostQueue> out;
  out.reserve(kept);
  for (std::size_t i = 0; i < kept; ++i) out.push_back(HostQueue{*busy[i].key, busy[i].queued, busy[i].in_flight});
  return out;
}

}  // namespace fetchpool
