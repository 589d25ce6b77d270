#include "fetchpool/redis_frontier.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/murmur_hash3.hpp"
#include "base/termination_signals_blocked.hpp"
#include "fetchpool/thread_annotations.hpp"
#include "shared/lua/scripts.hpp"

namespace fetchpool {

namespace {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using std::chrono::milliseconds;

constexpr milliseconds kMaxDelay = std::chrono::hours(24);
constexpr milliseconds kFirstPoll{2};
constexpr milliseconds kLastPoll{50};
constexpr std::chrono::seconds kErrorLogEvery{5};  // one log line per streak, then this often
constexpr std::size_t kRenewBatch = 512;           // lease ids per renew script call
constexpr timeval kConnectTimeout{2, 0};
constexpr timeval kCommandTimeout{10, 0};

// ---------------------------------------------------------------------------
// Lua scripts, one file each in src/shared/lua/, embedded at build time
// (cmake/EmbedText.cmake). KEYS[1] is the prefix; every key is built from it.
// The shared helpers (prelude.lua) come first in every script (Redis caches
// each script whole).

enum ScriptId {
  kPushId,
  kPopId,
  kCompleteId,
  kRetryId,
  kGiveBackId,
  kRenewId,
  kSetDelayId,
  kBackoffId,
  kCloseId,
  kMarkSeenId,
  kCountsId,
  kScriptCount
};

struct ScriptText {
  const char* name;
  std::string_view body;
};

constexpr std::array<ScriptText, kScriptCount> kScripts{{
    {"push", lua::kPush},
    {"pop", lua::kPop},
    {"complete", lua::kComplete},
    {"retry", lua::kRetry},
    {"give-back", lua::kGiveBack},
    {"renew", lua::kRenew},
    {"set-delay", lua::kSetDelay},
    {"backoff", lua::kBackoff},
    {"close", lua::kClose},
    {"mark-seen", lua::kMarkSeen},
    {"counts", lua::kCounts},
}};

struct ContextFree {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;

struct ReplyFree {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

std::string endpoint(const RedisUri& uri) { return uri.host + ":" + std::to_string(uri.port); }

Result<Context> open_context(const RedisUri& uri) {
  Context c(redisConnectWithTimeout(uri.host.c_str(), uri.port, kConnectTimeout));
  if (!c) return Error{ErrorCode::kConnect, "redis " + endpoint(uri) + ": cannot allocate a connection"};
  if (c->err != 0) return Error{ErrorCode::kConnect, "redis " + endpoint(uri) + ": " + c->errstr};
  if (redisSetTimeout(c.get(), kCommandTimeout) != REDIS_OK) {
    return Error{ErrorCode::kConnect, "redis " + endpoint(uri) + ": cannot set the command timeout"};
  }
  return c;
}

// One command on one connection. A null reply means the connection is
// broken (c->err says why) and must not be reused.
Reply command(redisContext* c, const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

std::string reply_text(const redisReply& r) { return r.str != nullptr ? std::string(r.str, r.len) : std::string(); }

std::uint64_t to_u64(std::string_view text) {
  std::uint64_t v = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') break;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

std::string ms_text(milliseconds ms) { return std::to_string(std::clamp(ms, milliseconds(0), kMaxDelay).count()); }

// An item as stored in Redis: its fields joined by US (0x1f); normalised
// URLs never contain control characters.
constexpr char kSep = '\x1f';

std::string encode_item(const CrawlItem& item, std::uint32_t attempt) {
  std::string out = std::to_string(item.depth);
  out += kSep;
  out += std::to_string(item.origin);
  out += kSep;
  out += std::to_string(attempt);
  out += kSep;
  out += item.url;
  out += kSep;
  out += item.referrer;
  if (item.redirects > 0) {  // a redirect hop (older payloads stop at the referrer)
    out += kSep;
    out += std::to_string(item.redirects);
    out += kSep;
    out += item.chain_start;
  }
  return out;
}

CrawlItem decode_item(std::string_view text, std::string host) {
  std::array<std::string_view, 7> f;
  for (std::size_t i = 0; i < f.size(); ++i) {
    const auto sep = i + 1 < f.size() ? text.find(kSep) : std::string_view::npos;
    f[i] = text.substr(0, sep);
    text = sep == std::string_view::npos ? std::string_view() : text.substr(sep + 1);
  }
  CrawlItem item;
  item.depth = static_cast<std::uint32_t>(to_u64(f[0]));
  item.origin = to_u64(f[1]);
  item.attempt = static_cast<std::uint32_t>(to_u64(f[2]));
  item.url = std::string(f[3]);
  item.referrer = std::string(f[4]);
  item.redirects = static_cast<std::uint32_t>(to_u64(f[5]));
  if (item.redirects > 0) item.chain_start = std::string(f[6]);
  item.host_key = std::move(host);
  return item;
}

std::string url_hash(std::string_view url) {
  const detail::Hash128 h = detail::hash_url(url);
  std::string out(16, '\0');
  std::memcpy(out.data(), &h.lo, 8);
  std::memcpy(out.data() + 8, &h.hi, 8);
  return out;
}

// The per-process robots.txt gate of one host (see the header).
struct RobotsGate {
  enum class State { kLeased, kDelayed, kDone };
  State state = State::kLeased;
  TimePoint due{};  // kDelayed: when the robots lease may be retried
  std::uint32_t attempt = 0;
  std::uint64_t lease_id = 0;  // the robots lease reuses the id of the first parked page
  std::vector<Lease> parked;   // page leases held while the gate is closed
};

FrontierCounts parse_counts(const redisReply& r, RedisCrawlStatus* status) {
  FrontierCounts c;
  if (r.type != REDIS_REPLY_ARRAY || r.elements < 12) return c;
  std::array<std::uint64_t, 12> v{};
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = to_u64(reply_text(*r.element[i]));
  c.queued = v[0];
  c.in_flight = v[1];
  c.leased_total = v[2];
  c.delayed = v[7];
  c.hosts = v[8];
  c.seen = v[9];
  c.finished = v[11] != 0;
  if (status != nullptr) {
    status->counts = c;
    status->accepted = v[3];
    status->completed = v[4];
    status->retried = v[5];
    status->expired = v[6];
    status->input_closed = v[10] != 0;
  }
  return c;
}

}  // namespace

struct RedisFrontier::State {
  State(RedisUri u, FrontierOptions o)
      : uri(std::move(u)), options(o), lease_ms(std::to_string(milliseconds(uri.lease).count())) {}

  const RedisUri uri;
  const FrontierOptions options;
  const std::string lease_ms;
  std::array<std::string, kScriptCount> shas;  // written by connect() only

  // Connection pool: the mutex guards only the vector.
  Mutex pool_mutex;
  std::vector<Context> pool FETCHPOOL_GUARDED_BY(pool_mutex);

  // Local state: the robots gates, the leases this process holds (renewed),
  // and the wake-up machinery of pop() and wait_for_room().
  mutable Mutex mutex;
  std::condition_variable_any cv;
  std::unordered_map<std::string, RobotsGate> gates FETCHPOOL_GUARDED_BY(mutex);
  std::unordered_set<std::uint64_t> held FETCHPOOL_GUARDED_BY(mutex);  // page lease ids to renew
  std::uint64_t epoch FETCHPOOL_GUARDED_BY(mutex) = 0;                 // bumped by local changes
  std::uint64_t waiters FETCHPOOL_GUARDED_BY(mutex) = 0;
  bool stopped FETCHPOOL_GUARDED_BY(mutex) = false;
  bool finished FETCHPOOL_GUARDED_BY(mutex) = false;
  std::optional<TimePoint> failing_since FETCHPOOL_GUARDED_BY(mutex);
  std::optional<Error> lost FETCHPOOL_GUARDED_BY(mutex);  // set once Redis stayed unreachable past uri.grace
  TimePoint last_error_log FETCHPOOL_GUARDED_BY(mutex){};

  std::jthread renewer;  // last: stopped and joined first

  std::string cap() const { return std::to_string(options.max_in_flight_per_host); }

  Result<Context> take() {
    {
      MutexLock lock(pool_mutex);
      if (!pool.empty()) {
        Context c = std::move(pool.back());
        pool.pop_back();
        return c;
      }
    }
    return open_context(uri);
  }

  void give(Context c) {
    MutexLock lock(pool_mutex);
    pool.push_back(std::move(c));
  }

  // Runs a script; on a broken connection retries once on a new one.
  Result<Reply> run(ScriptId id, const std::vector<std::string_view>& args) {
    for (int attempt = 0;; ++attempt) {
      auto c = take();
      if (!c) return std::move(c).error();
      std::vector<std::string_view> argv{"EVALSHA", shas[id], "1", uri.prefix};
      argv.insert(argv.end(), args.begin(), args.end());
      Reply r = command(c->get(), argv);
      if (r && r->type == REDIS_REPLY_ERROR && reply_text(*r).rfind("NOSCRIPT", 0) == 0) {
        std::string body(lua::kPrelude);
        body += kScripts[id].body;
        argv[0] = "EVAL";
        argv[1] = body;
        r = command(c->get(), argv);
      }
      if (!r) {
        std::string why = (*c)->errstr;
        if (attempt == 0) continue;  // the Context is dropped: a new connection next time
        return Error{ErrorCode::kNetwork, "redis " + endpoint(uri) + ": " + kScripts[id].name + ": " + why};
      }
      give(std::move(*c));
      if (r->type == REDIS_REPLY_ERROR) {
        return Error{ErrorCode::kInternal,
                     "redis " + endpoint(uri) + ": " + kScripts[id].name + " script: " + reply_text(*r)};
      }
      return r;
    }
  }

  // Logs a failed call: the first of a streak, then every kErrorLogEvery.
  // Returns true when Redis has failed for uri.grace without a success; the
  // loss is then kept for failure().
  bool note_failure(const Error& error) {
    const TimePoint now = Clock::now();
    MutexLock lock(mutex);
    if (!failing_since) failing_since = now;
    const bool log = now - last_error_log >= kErrorLogEvery;
    if (log) last_error_log = now;
    const bool give_up = now - *failing_since >= uri.grace;
    if (give_up && !lost) {
      lost = Error{ErrorCode::kNetwork, "redis " + endpoint(uri) + ": unreachable for " +
                                            std::to_string(uri.grace.count()) +
                                            " s; this process stopped (the URLs it held go back to the shared queue "
                                            "once their lease expires)"};
    }
    lock.unlock();
    if (log) spdlog::error("{}", error.message);
    return give_up;
  }

  void note_success() {
    MutexLock lock(mutex);
    failing_since.reset();
    last_error_log = {};
  }

  // Wakes one local waiter: something it may lease may have appeared.
  void poke() {
    {
      MutexLock lock(mutex);
      ++epoch;
    }
    cv.notify_one();
  }

  void mark_finished() {
    {
      MutexLock lock(mutex);
      finished = true;
      ++epoch;
    }
    cv.notify_all();
  }

  void give_back(std::uint64_t id, std::string_view url) {
    const std::string id_text = std::to_string(id);
    const std::string cap_text = cap();
    if (auto r = run(kGiveBackId, {id_text, cap_text}); !r) {
      spdlog::error("{}; {} goes back to the queue when its lease expires", r.error().message, url);
    }
  }

  void renew_loop(std::stop_token stop) {
    const auto period = std::max(milliseconds(uri.lease) / 3, milliseconds(100));
    Mutex m;
    std::condition_variable_any sleeper;
    for (;;) {
      {
        MutexLock lock(m);
        if (sleeper.wait_for(lock, stop, period, [] { return false; }) || stop.stop_requested()) return;
      }
      std::vector<std::string> ids;
      {
        MutexLock lock(mutex);
        ids.reserve(held.size());
        for (const auto id : held) ids.push_back(std::to_string(id));
      }
      for (std::size_t begin = 0; begin < ids.size(); begin += kRenewBatch) {
        std::vector<std::string_view> args{lease_ms};
        const std::size_t end = std::min(ids.size(), begin + kRenewBatch);
        args.insert(args.end(), ids.begin() + static_cast<std::ptrdiff_t>(begin),
                    ids.begin() + static_cast<std::ptrdiff_t>(end));
        if (auto r = run(kRenewId, args); !r) {
          spdlog::error("{}; leases may expire and their URLs be fetched again", r.error().message);
          break;
        }
      }
    }
  }
};

Result<std::unique_ptr<RedisFrontier>> RedisFrontier::connect(const RedisUri& uri, FrontierOptions options) {
  auto state = std::make_unique<State>(uri, options);
  auto c = open_context(uri);
  if (!c) return std::move(c).error();
  for (std::size_t i = 0; i < kScripts.size(); ++i) {
    std::string body(lua::kPrelude);
    body += kScripts[i].body;
    Reply r = command(c->get(), {"SCRIPT", "LOAD", body});
    if (!r) return Error{ErrorCode::kConnect, "redis " + endpoint(uri) + ": " + (*c)->errstr};
    if (r->type != REDIS_REPLY_STRING) {
      return Error{ErrorCode::kConfig,
                   "redis " + endpoint(uri) + ": cannot load the " + kScripts[i].name + " script: " + reply_text(*r)};
    }
    state->shas[i] = reply_text(*r);
  }
  state->give(std::move(*c));
  State* s = state.get();
  const detail::TerminationSignalsBlocked no_signals;  // the renewer inherits the mask
  state->renewer = std::jthread([s](std::stop_token stop) { s->renew_loop(stop); });
  return std::unique_ptr<RedisFrontier>(new RedisFrontier(std::move(state)));
}

RedisFrontier::RedisFrontier(std::unique_ptr<State> state) : state_(std::move(state)) {}

RedisFrontier::~RedisFrontier() {
  State& s = *state_;
  s.renewer.request_stop();
  if (s.renewer.joinable()) s.renewer.join();
  std::vector<std::uint64_t> ids;
  {
    MutexLock lock(s.mutex);
    ids.assign(s.held.begin(), s.held.end());
    s.held.clear();
  }
  for (const auto id : ids) s.give_back(id, "lease " + std::to_string(id));
}

PushResult RedisFrontier::push(CrawlItem item) {
  State& s = *state_;
  {
    MutexLock lock(s.mutex);
    if (s.stopped || s.finished) return PushResult::kClosed;
  }
  const std::string hash = s.options.dedup ? url_hash(item.url) : std::string();
  const std::string payload = encode_item(item, item.attempt);
  const std::string too_deep = item.depth > s.options.max_depth ? "1" : "0";
  const std::string max_pages = std::to_string(s.options.max_pages);
  const std::string dedup = s.options.dedup ? "1" : "0";
  const std::string cap = s.cap();
  const std::string interval = ms_text(s.options.min_host_interval);
  auto r = s.run(kPushId, {hash, item.host_key, payload, too_deep, max_pages, dedup, cap, interval});
  if (!r) {
    spdlog::error("{}; {} was not queued", r.error().message, item.url);
    return PushResult::kClosed;
  }
  const std::string answer = reply_text(**r);
  if (answer == "queued") {
    s.poke();
    return PushResult::kQueued;
  }
  if (answer == "dup") return PushResult::kDuplicate;
  if (answer == "deep") return PushResult::kTooDeep;
  if (answer == "limit") return PushResult::kLimitReached;
  return PushResult::kClosed;
}

std::optional<Lease> RedisFrontier::pop(std::stop_token stop) {
  State& s = *state_;
  milliseconds poll = kFirstPoll;
  for (;;) {
    std::vector<std::string> excluded;
    std::optional<TimePoint> gate_due;
    std::uint64_t seen_epoch = 0;
    {
      MutexLock lock(s.mutex);
      if (s.stopped || s.finished || stop.stop_requested()) return std::nullopt;
      const TimePoint now = Clock::now();
      for (auto& [host, gate] : s.gates) {
        if (gate.state == RobotsGate::State::kDelayed && gate.due <= now) {
          gate.state = RobotsGate::State::kLeased;
          Lease lease;
          lease.kind = LeaseKind::kRobots;
          lease.id = gate.lease_id;
          lease.item.host_key = host;
          lease.item.url = host + "/robots.txt";
          lease.item.attempt = gate.attempt;
          return lease;
        }
        if (gate.state != RobotsGate::State::kDone) excluded.push_back(host);
        if (gate.state == RobotsGate::State::kDelayed) gate_due = gate_due ? std::min(*gate_due, gate.due) : gate.due;
      }
      seen_epoch = s.epoch;
    }

    const std::string cap = s.cap();
    std::vector<std::string_view> args{cap, s.lease_ms};
    args.insert(args.end(), excluded.begin(), excluded.end());
    auto r = s.run(kPopId, args);
    milliseconds wait = poll;
    if (!r) {
      if (s.note_failure(r.error())) {
        this->stop();
        return std::nullopt;
      }
    } else {
      s.note_success();
      const redisReply& reply = **r;
      const std::string kind =
          reply.type == REDIS_REPLY_ARRAY && reply.elements > 0 ? reply_text(*reply.element[0]) : "";
      if (kind == "finished") {
        s.mark_finished();
        return std::nullopt;
      }
      if (kind == "lease" && reply.elements == 4) {
        Lease page;
        page.kind = LeaseKind::kPage;
        page.id = to_u64(reply_text(*reply.element[1]));
        page.item = decode_item(reply_text(*reply.element[3]), reply_text(*reply.element[2]));
        MutexLock lock(s.mutex);
        s.held.insert(page.id);
        if (!s.options.robots_first) return page;
        auto [it, created] = s.gates.try_emplace(page.item.host_key);
        RobotsGate& gate = it->second;
        if (gate.state == RobotsGate::State::kDone) return page;
        gate.parked.push_back(std::move(page));
        if (!created) continue;  // another thread of this process leased the host's robots.txt
        gate.lease_id = gate.parked.back().id;
        Lease robots;
        robots.kind = LeaseKind::kRobots;
        robots.id = gate.lease_id;
        robots.item.host_key = it->first;
        robots.item.url = it->first + "/robots.txt";
        return robots;
      }
      if (kind == "wait" && reply.elements == 2) {
        wait = std::clamp(milliseconds(to_u64(reply_text(*reply.element[1]))), milliseconds(1), poll);
      } else {
        spdlog::error("redis {}: pop script: unexpected answer; stopping this process's crawl", endpoint(s.uri));
        this->stop();
        return std::nullopt;
      }
    }
    poll = std::min(poll * 2, kLastPoll);

    MutexLock lock(s.mutex);
    TimePoint deadline = Clock::now() + wait;
    if (gate_due) deadline = std::min(deadline, *gate_due);
    ++s.waiters;
    s.cv.wait_until(lock, stop, deadline, [&s, seen_epoch]() FETCHPOOL_REQUIRES(s.mutex) {
      return s.stopped || s.finished || s.epoch != seen_epoch;
    });
    --s.waiters;
  }
}

void RedisFrontier::complete(const Lease& lease) {
  State& s = *state_;
  if (lease.kind == LeaseKind::kRobots) {
    std::vector<Lease> parked;
    {
      MutexLock lock(s.mutex);
      auto it = s.gates.find(lease.item.host_key);
      if (it == s.gates.end()) return;
      it->second.state = RobotsGate::State::kDone;
      parked = std::exchange(it->second.parked, {});
      for (const Lease& p : parked) s.held.erase(p.id);
    }
    // The parked pages go back to the shared queue, where the host's
    // interval (started by the page that carried robots.txt) applies.
    for (const Lease& p : parked) s.give_back(p.id, p.item.url);
    s.poke();
    return;
  }
  {
    MutexLock lock(s.mutex);
    s.held.erase(lease.id);
  }
  const std::string id = std::to_string(lease.id);
  const std::string cap = s.cap();
  // Also after stop(): a page fetched in full is done for every node. The
  // engine gives transfers a stop cut short back through retry().
  auto r = s.run(kCompleteId, {id, cap});
  if (!r) {
    spdlog::error("{}; {} will be fetched again when its lease expires", r.error().message, lease.item.url);
    return;
  }
  const std::string answer = reply_text(**r);
  if (answer == "stale") {
    spdlog::warn("redis frontier: the lease of {} had expired and was given to another worker; it may be fetched twice",
                 lease.item.url);
  }
  if (answer == "finished") {
    s.mark_finished();
  } else {
    s.poke();
  }
}

void RedisFrontier::retry(Lease lease, std::chrono::milliseconds delay) {
  State& s = *state_;
  const milliseconds clamped = std::clamp(delay, milliseconds(0), kMaxDelay);
  if (lease.kind == LeaseKind::kRobots) {
    {
      MutexLock lock(s.mutex);
      auto it = s.gates.find(lease.item.host_key);
      if (it == s.gates.end()) return;
      it->second.state = RobotsGate::State::kDelayed;  // the parked pages stay held, the gate closed
      it->second.due = Clock::now() + clamped;
      it->second.attempt = lease.item.attempt + 1;
    }
    s.poke();  // a waiter must now also wait for this gate's time
    return;
  }
  {
    MutexLock lock(s.mutex);
    s.held.erase(lease.id);
  }
  const std::string id = std::to_string(lease.id);
  const std::string cap = s.cap();
  const std::string delay_text = ms_text(clamped);
  const std::string payload = encode_item(lease.item, lease.item.attempt + 1);
  auto r = s.run(kRetryId, {id, cap, delay_text, payload});
  if (!r) {
    spdlog::error("{}; {} will be fetched again when its lease expires", r.error().message, lease.item.url);
    return;
  }
  if (reply_text(**r) == "stale") {
    spdlog::warn("redis frontier: the lease of {} had expired and was given to another worker before its retry",
                 lease.item.url);
  }
  s.poke();
}

void RedisFrontier::set_host_delay(std::string_view host_key, std::chrono::milliseconds delay) {
  State& s = *state_;
  const std::string host(host_key);
  const std::string interval = ms_text(std::max(delay, s.options.min_host_interval));
  const std::string cap = s.cap();
  if (auto r = s.run(kSetDelayId, {host, interval, cap}); !r)
    spdlog::error("{}; Crawl-delay of {} not shared", r.error().message, host);
}

void RedisFrontier::backoff_host(std::string_view host_key, std::chrono::steady_clock::time_point until) {
  State& s = *state_;
  const std::string host(host_key);
  const std::string ms = ms_text(std::chrono::ceil<milliseconds>(until - Clock::now()));
  const std::string cap = s.cap();
  if (auto r = s.run(kBackoffId, {host, ms, cap}); !r)
    spdlog::error("{}; Retry-After of {} not shared", r.error().message, host);
}

void RedisFrontier::close_input() {
  State& s = *state_;
  auto r = s.run(kCloseId, {});
  if (!r) {
    spdlog::error("{}; input stays open until another process closes it", r.error().message);
    return;
  }
  if (reply_text(**r) == "finished") s.mark_finished();
}

void RedisFrontier::mark_seen(std::string_view url) {
  State& s = *state_;
  if (!s.options.dedup) return;
  const std::string hash = url_hash(url);
  if (auto r = s.run(kMarkSeenId, {hash}); !r) spdlog::error("{}; {} may be fetched again", r.error().message, url);
}

bool RedisFrontier::wait_for_room(std::uint64_t max_queued, std::stop_token stop) {
  State& s = *state_;
  milliseconds poll = kFirstPoll;
  for (;;) {
    std::uint64_t seen_epoch = 0;
    {
      MutexLock lock(s.mutex);
      if (s.stopped || s.finished || stop.stop_requested()) return false;
      seen_epoch = s.epoch;
    }
    if (auto r = s.run(kCountsId, {}); r) {
      const FrontierCounts c = parse_counts(**r, nullptr);
      if (c.finished) {
        s.mark_finished();
        return false;
      }
      if (c.queued < max_queued) return true;
    } else if (s.note_failure(r.error())) {
      this->stop();
      return false;
    }
    MutexLock lock(s.mutex);
    s.cv.wait_for(lock, stop, poll, [&s, seen_epoch]() FETCHPOOL_REQUIRES(s.mutex) {
      return s.stopped || s.finished || s.epoch != seen_epoch;
    });
    poll = std::min(poll * 2, kLastPoll);
  }
}

std::optional<Error> RedisFrontier::failure() const {
  MutexLock lock(state_->mutex);
  return state_->lost;
}

void RedisFrontier::stop() {
  State& s = *state_;
  std::vector<Lease> parked;
  {
    MutexLock lock(s.mutex);
    s.stopped = true;
    ++s.epoch;
    for (auto& [host, gate] : s.gates) {
      for (Lease& p : gate.parked) {
        s.held.erase(p.id);
        parked.push_back(std::move(p));
      }
      gate.parked.clear();
    }
  }
  s.cv.notify_all();
  for (const Lease& p : parked) s.give_back(p.id, p.item.url);
}

FrontierCounts RedisFrontier::counts() const {
  State& s = *state_;
  FrontierCounts c;
  if (auto r = s.run(kCountsId, {}); r) {
    c = parse_counts(**r, nullptr);
  } else {
    spdlog::debug("{}", r.error().message);
  }
  MutexLock lock(s.mutex);
  c.waiting = s.waiters;
  c.finished = c.finished || s.finished;
  return c;
}

Result<RedisCrawlStatus> read_redis_crawl_status(const RedisUri& uri) {
  auto c = open_context(uri);
  if (!c) return std::move(c).error();
  std::string body(lua::kPrelude);
  body += lua::kCounts;
  Reply r = command(c->get(), {"EVAL", body, "1", uri.prefix});
  if (!r) return Error{ErrorCode::kNetwork, "redis " + endpoint(uri) + ": " + (*c)->errstr};
  if (r->type == REDIS_REPLY_ERROR)
    return Error{ErrorCode::kInternal, "redis " + endpoint(uri) + ": " + reply_text(*r)};
  RedisCrawlStatus status;
  parse_counts(*r, &status);
  return status;
}

Result<std::uint64_t> clear_redis_crawl(const RedisUri& uri) {
  auto c = open_context(uri);
  if (!c) return std::move(c).error();
  // SCAN's MATCH is a glob: escape the prefix's glob characters.
  std::string pattern;
  for (const char ch : uri.prefix) {
    if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') pattern += '\\';
    pattern += ch;
  }
  pattern += ":*";
  std::uint64_t deleted = 0;
  std::string cursor = "0";
  do {
    Reply r = command(c->get(), {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    if (!r) return Error{ErrorCode::kNetwork, "redis " + endpoint(uri) + ": " + (*c)->errstr};
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
      return Error{ErrorCode::kInternal, "redis " + endpoint(uri) + ": SCAN: " + reply_text(*r)};
    cursor = reply_text(*r->element[0]);
    const redisReply& keys = *r->element[1];
    if (keys.elements == 0) continue;
    std::vector<std::string_view> args{"UNLINK"};
    for (std::size_t i = 0; i < keys.elements; ++i) args.emplace_back(keys.element[i]->str, keys.element[i]->len);
    Reply d = command(c->get(), args);
    if (!d) return Error{ErrorCode::kNetwork, "redis " + endpoint(uri) + ": " + (*c)->errstr};
    if (d->type == REDIS_REPLY_INTEGER) deleted += static_cast<std::uint64_t>(d->integer);
  } while (cursor != "0");
  return deleted;
}

}  // namespace fetchpool
