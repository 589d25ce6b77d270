#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "crawl/seen_set.hpp"
#include "fetchpool/frontier.hpp"
#include "support/frontier_support.hpp"

using fetchpool::CrawlItem;
using fetchpool::Frontier;
using fetchpool::FrontierOptions;
using fetchpool::Lease;
using fetchpool::LeaseKind;
using fetchpool::MemoryFrontier;
using fetchpool::PushResult;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

using fetchpool::testing::page;
using fetchpool::testing::pop_within;

namespace {

constexpr auto kHostA = "http://a.test:80";
constexpr auto kHostB = "http://b.test:80";
constexpr auto kHostC = "http://c.test:80";

// True once `n` threads are blocked in pop(); false after 10 s. Observes the
// frontier's own count, so no sleep stands in for synchronisation.
bool wait_for_waiters(const Frontier& frontier, std::uint64_t n) {
  const auto limit = Clock::now() + std::chrono::seconds(10);
  while (frontier.counts().waiting < n) {
    if (Clock::now() > limit) return false;
    std::this_thread::yield();
  }
  return true;
}

// prefix + n, built by appending (GCC 12 warns falsely about "literal" + std::string).
std::string numbered(const char* prefix, int n) {
  std::string text(prefix);
  text += std::to_string(n);
  return text;
}

std::string url_of(const std::optional<Lease>& lease) { return lease ? lease->item.url : std::string("<none>"); }

// A one-shot event for test threads (abseil's Notification).
class Event {
 public:
  void set() {
    {
      std::lock_guard lock(m_);
      set_ = true;
    }
    cv_.notify_all();
  }
  bool wait_for(milliseconds limit) {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, limit, [this] { return set_; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool set_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------
// Admission: dedup, depth, max_pages

TEST_CASE("a URL is queued once, and with dedup off every time", "[frontier]") {
  MemoryFrontier dedup({});
  REQUIRE(dedup.push(page(kHostA, "/x")) == PushResult::kQueued);
  REQUIRE(dedup.push(page(kHostA, "/x")) == PushResult::kDuplicate);
  REQUIRE(dedup.push(page(kHostA, "/y")) == PushResult::kQueued);
  REQUIRE(dedup.counts().seen == 2);
  REQUIRE(dedup.counts().queued == 2);

  FrontierOptions options;
  options.dedup = false;
  MemoryFrontier no_dedup(options);
  REQUIRE(no_dedup.push(page(kHostA, "/x")) == PushResult::kQueued);
  REQUIRE(no_dedup.push(page(kHostA, "/x")) == PushResult::kQueued);
  REQUIRE(no_dedup.counts().queued == 2);
  REQUIRE(no_dedup.counts().seen == 0);
}

TEST_CASE("items deeper than max_depth are refused and not remembered", "[frontier]") {
  FrontierOptions options;
  options.max_depth = 2;
  MemoryFrontier frontier(options);
  REQUIRE(frontier.push(page(kHostA, "/deep", 3)) == PushResult::kTooDeep);
  REQUIRE(frontier.push(page(kHostA, "/ok", 2)) == PushResult::kQueued);
  // The refused URL was not marked seen: found again at a shallower depth, it is taken.
  REQUIRE(frontier.push(page(kHostA, "/deep", 1)) == PushResult::kQueued);
  REQUIRE(frontier.counts().queued == 2);
}

TEST_CASE("max_pages counts accepted items, not duplicates, robots leases or retries", "[frontier]") {
  FrontierOptions options;
  options.max_pages = 3;
  options.robots_first = true;
  MemoryFrontier frontier(options);
  REQUIRE(frontier.push(page(kHostA, "/1")) == PushResult::kQueued);
  REQUIRE(frontier.push(page(kHostA, "/1")) == PushResult::kDuplicate);
  REQUIRE(frontier.push(page(kHostA, "/2")) == PushResult::kQueued);
  REQUIRE(frontier.push(page(kHostB, "/3")) == PushResult::kQueued);
  REQUIRE(frontier.push(page(kHostB, "/4")) == PushResult::kLimitReached);
  REQUIRE(frontier.push(page(kHostA, "/2")) == PushResult::kDuplicate);
  // 3 pages + one robots lease per host.
  REQUIRE(frontier.counts().queued == 5);

  // Retries are not new items: they go through even at the limit.
  frontier.close_input();
  int pages = 0;
  int robots = 0;
  bool retried = false;
  while (auto lease = pop_within(frontier)) {
    if (lease->kind == LeaseKind::kRobots) {
      ++robots;
    } else if (!retried) {
      retried = true;
      frontier.retry(*lease, milliseconds(0));
      continue;
    } else {
      ++pages;
    }
    frontier.complete(*lease);
  }
  REQUIRE(robots == 2);
  REQUIRE(pages == 3);
  REQUIRE(frontier.counts().finished);
}

// ---------------------------------------------------------------------------
// Order

// A URL on kHostA.
std::string on_a(std::string_view path) {
  std::string url(kHostA);
  url.append(path);
  return url;
}

TEST_CASE("push_link answers as push() does, and queues the item push() would", "[frontier]") {
  FrontierOptions options;
  options.max_depth = 2;
  options.max_pages = 3;
  MemoryFrontier frontier(options);
  REQUIRE(frontier.push_link(on_a("/x"), kHostA, 1, "http://ref.test/") == PushResult::kQueued);
  REQUIRE(frontier.push_link(on_a("/x"), kHostA, 1, "http://ref.test/") == PushResult::kDuplicate);
  REQUIRE(frontier.push_link(on_a("/deep"), kHostA, 3, "") == PushResult::kTooDeep);
  REQUIRE(frontier.push_link(on_a("/y"), kHostA, 2, "") == PushResult::kQueued);
  REQUIRE(frontier.push(page(kHostA, "/z")) == PushResult::kQueued);
  // max_pages reached: a known URL is still a duplicate, a new one over the limit.
  REQUIRE(frontier.push_link(on_a("/x"), kHostA, 1, "") == PushResult::kDuplicate);
  REQUIRE(frontier.push_link(on_a("/w"), kHostA, 1, "") == PushResult::kLimitReached);
  REQUIRE(frontier.counts().queued == 3);

  auto lease = pop_within(frontier);
  REQUIRE(lease);
  CHECK(lease->item.url == on_a("/x"));
  CHECK(lease->item.host_key == kHostA);
  CHECK(lease->item.depth == 1);
  CHECK(lease->item.referrer == "http://ref.test/");
  CHECK(lease->item.origin == 0);
  CHECK(lease->item.attempt == 0);
  frontier.complete(*lease);

  frontier.stop();
  CHECK(frontier.push_link(on_a("/x"), kHostA, 1, "") == PushResult::kClosed);
  CHECK(frontier.push_link(on_a("/v"), kHostA, 1, "") == PushResult::kClosed);
}

TEST_CASE("pages of one host are leased in FIFO order", "[frontier]") {
  MemoryFrontier frontier({});
  for (int i = 0; i < 100; ++i) REQUIRE(frontier.push(page(kHostA, numbered("/", i))) == PushResult::kQueued);
  for (int i = 0; i < 100; ++i) {
    auto lease = pop_within(frontier);
    REQUIRE(url_of(lease) == kHostA + numbered("/", i));
    frontier.complete(*lease);
  }
}

TEST_CASE("a redirect hop keeps its chain through lease and retry", "[frontier]") {
  MemoryFrontier frontier({});
  CrawlItem hop = page(kHostA, "/b", 2);
  hop.origin = 7;
  hop.chain_start = std::string(kHostA) + "/a";
  hop.redirects = 3;
  REQUIRE(frontier.push(hop) == PushResult::kQueued);
  REQUIRE(frontier.push(page(kHostA, "/plain")) == PushResult::kQueued);
  frontier.close_input();
  auto lease = pop_within(frontier);
  REQUIRE(lease);
  frontier.retry(*lease, milliseconds(0));
  auto plain = pop_within(frontier);
  REQUIRE(url_of(plain) == std::string(kHostA) + "/plain");
  CHECK(plain->item.redirects == 0);
  CHECK(plain->item.chain_start.empty());
  frontier.complete(*plain);
  auto again = pop_within(frontier);
  REQUIRE(url_of(again) == std::string(kHostA) + "/b");
  CHECK(again->item.chain_start == std::string(kHostA) + "/a");
  CHECK(again->item.redirects == 3);
  CHECK(again->item.origin == 7);
  CHECK(again->item.depth == 2);
  CHECK(again->item.attempt == 1);
  frontier.complete(*again);
  CHECK_FALSE(pop_within(frontier));
}

TEST_CASE("a long queue on one host keeps its order and is freed without deep recursion", "[frontier]") {
  constexpr int kItems = 100'000;
  MemoryFrontier frontier({});
  for (int i = 0; i < kItems; ++i) frontier.push(page(kHostA, numbered("/", i)));
  int out_of_order = 0;
  for (int i = 0; i < kItems / 2; ++i) {
    auto lease = frontier.pop(std::stop_token{});
    if (!lease || lease->item.url != kHostA + numbered("/", i)) ++out_of_order;
  }
  REQUIRE(out_of_order == 0);
  REQUIRE(frontier.counts().queued == kItems / 2);
  // The destructor frees the other half here.
}

TEST_CASE("ready hosts are served round-robin", "[frontier]") {
  MemoryFrontier frontier({});
  for (const char* path : {"/1", "/2", "/3"}) frontier.push(page(kHostA, path));
  for (const char* path : {"/1", "/2"}) frontier.push(page(kHostB, path));
  frontier.push(page(kHostC, "/1"));

  std::vector<std::string> order;
  order.reserve(6);
  for (int i = 0; i < 6; ++i) order.push_back(url_of(pop_within(frontier)));
  const std::vector<std::string> expected{"http://a.test:80/1", "http://b.test:80/1", "http://c.test:80/1",
                                          "http://a.test:80/2", "http://b.test:80/2", "http://a.test:80/3"};
  REQUIRE(order == expected);
  REQUIRE(frontier.counts().in_flight == 6);
  REQUIRE(frontier.counts().leased_total == 6);
}

TEST_CASE("a host at its in-flight cap does not starve another host", "[frontier]") {
  FrontierOptions options;
  options.max_in_flight_per_host = 1;
  MemoryFrontier frontier(options);
  for (int i = 0; i < 50; ++i) frontier.push(page(kHostA, numbered("/", i)));
  frontier.push(page(kHostB, "/only"));

  SECTION("while A's lease is held, B is leased at once") {
    auto a0 = pop_within(frontier);
    REQUIRE(url_of(a0) == "http://a.test:80/0");
    REQUIRE(url_of(pop_within(frontier)) == "http://b.test:80/only");
    // A is at its cap: nothing else may go until a0 comes back.
    REQUIRE_FALSE(pop_within(frontier, milliseconds(100)));
    REQUIRE(frontier.counts().queued == 49);
    frontier.complete(*a0);
    REQUIRE(url_of(pop_within(frontier)) == "http://a.test:80/1");
  }
  SECTION("completing each lease at once, B still comes long before A drains") {
    std::vector<std::string> order;
    for (int i = 0; i < 3; ++i) {
      auto lease = pop_within(frontier);
      order.push_back(url_of(lease));
      frontier.complete(*lease);
    }
    REQUIRE(order == std::vector<std::string>{"http://a.test:80/0", "http://b.test:80/only", "http://a.test:80/1"});
  }
}

// ---------------------------------------------------------------------------
// Time: politeness interval, Crawl-delay, backoff, retry delay

TEST_CASE("min_host_interval spaces request starts to one host, not to others", "[frontier]") {
  const auto interval = milliseconds(150);
  FrontierOptions options;
  options.min_host_interval = interval;
  MemoryFrontier frontier(options);
  frontier.push(page(kHostA, "/1"));
  frontier.push(page(kHostA, "/2"));
  frontier.push(page(kHostB, "/1"));

  const auto before_first = Clock::now();
  REQUIRE(url_of(pop_within(frontier)) == "http://a.test:80/1");
  REQUIRE(url_of(pop_within(frontier)) == "http://b.test:80/1");  // B does not wait for A's interval
  REQUIRE(url_of(pop_within(frontier)) == "http://a.test:80/2");
  const auto gap = Clock::now() - before_first;
  REQUIRE(gap >= interval);  // no upper bound: B's lease coming between A's shows B did not wait
}

TEST_CASE("with min_host_interval 0 one host's leases come back to back", "[frontier]") {
  // 500 leases of one host: any interval of 60 ms or more between them would
  // add 30 s, the bound below; back to back they take milliseconds, so a
  // loaded machine has all the slack it needs.
  constexpr int kLeases = 500;
  MemoryFrontier frontier({});
  for (int i = 0; i < kLeases; ++i) frontier.push(page(kHostA, "/" + std::to_string(i)));
  const auto start = Clock::now();
  for (int i = 0; i < kLeases; ++i) REQUIRE(url_of(pop_within(frontier)) == "http://a.test:80/" + std::to_string(i));
  REQUIRE(Clock::now() - start < std::chrono::seconds(30));
}

TEST_CASE("set_host_delay sets one host's interval, never below min_host_interval", "[frontier]") {
  FrontierOptions options;
  options.min_host_interval = milliseconds(100);
  MemoryFrontier frontier(options);
  frontier.set_host_delay(kHostA, milliseconds(250));  // Crawl-delay above the minimum: it wins
  frontier.set_host_delay(kHostB, milliseconds(0));    // below: the minimum stays
  for (const char* host : {kHostA, kHostB}) {
    frontier.push(page(host, "/1"));
    frontier.push(page(host, "/2"));
  }
  const auto start = Clock::now();
  Clock::duration a2_at{};
  Clock::duration b2_at{};
  for (int i = 0; i < 4; ++i) {
    auto lease = pop_within(frontier);
    REQUIRE(lease);
    if (lease->item.url == "http://a.test:80/2") a2_at = Clock::now() - start;
    if (lease->item.url == "http://b.test:80/2") b2_at = Clock::now() - start;
  }
  REQUIRE(b2_at >= milliseconds(100));
  REQUIRE(a2_at >= milliseconds(250));
  REQUIRE(b2_at < a2_at);  // B was not held to A's Crawl-delay
  REQUIRE(frontier.counts().hosts == 2);
}

TEST_CASE("backoff_host holds a host until the given time, and never shortens", "[frontier]") {
  MemoryFrontier frontier({});
  frontier.push(page(kHostA, "/1"));
  frontier.push(page(kHostB, "/1"));
  const auto start = Clock::now();
  frontier.backoff_host(kHostA, start + milliseconds(250));
  frontier.backoff_host(kHostA, start + milliseconds(10));  // a later, shorter Retry-After
  REQUIRE(url_of(pop_within(frontier)) == "http://b.test:80/1");
  REQUIRE(url_of(pop_within(frontier)) == "http://a.test:80/1");
  REQUIRE(Clock::now() - start >= milliseconds(250));
}

TEST_CASE("retry re-queues the same item with attempt+1 after its delay, bypassing dedup", "[frontier]") {
  MemoryFrontier frontier({});
  frontier.push(page(kHostA, "/1"));
  frontier.close_input();
  auto first = pop_within(frontier);
  REQUIRE(first);
  const auto retried_at = Clock::now();
  frontier.retry(*first, milliseconds(150));

  auto counts = frontier.counts();
  REQUIRE(counts.delayed == 1);
  REQUIRE(counts.in_flight == 0);
  REQUIRE(counts.queued == 0);
  REQUIRE_FALSE(counts.finished);  // a delayed retry is still pending work

  auto second = pop_within(frontier);
  REQUIRE(url_of(second) == "http://a.test:80/1");
  REQUIRE(second->item.attempt == 1);
  REQUIRE(second->id != first->id);
  REQUIRE(Clock::now() - retried_at >= milliseconds(150));
  frontier.complete(*second);
  REQUIRE(frontier.counts().finished);
  REQUIRE_FALSE(pop_within(frontier));
}

TEST_CASE("a pop sleeping until a late deadline is woken for work that is ready sooner", "[frontier]") {
  MemoryFrontier frontier({});
  frontier.push(page(kHostA, "/late"));
  frontier.push(page(kHostB, "/soon"));
  auto late = pop_within(frontier);
  auto soon = pop_within(frontier);
  frontier.retry(*late, milliseconds(20'000));  // the waiter below sleeps until this

  std::optional<Lease> got;
  Clock::duration waited{};
  {
    std::jthread waiter([&] {
      const auto start = Clock::now();
      got = pop_within(frontier, milliseconds(30'000));
      waited = Clock::now() - start;
    });
    REQUIRE(wait_for_waiters(frontier, 1));

    SECTION("a push of another host") { frontier.push(page(kHostC, "/new")); }
    SECTION("a retry due earlier than the sleeper's deadline") { frontier.retry(*soon, milliseconds(50)); }
  }
  REQUIRE(got);
  REQUIRE(got->item.url != "http://a.test:80/late");
  REQUIRE(waited < std::chrono::seconds(15));  // woken by the change, not at the 30 s limit
  frontier.stop();
}

TEST_CASE("when the timekeeping waiter takes its lease, another waiter keeps the next deadline", "[frontier]") {
  MemoryFrontier frontier({});
  frontier.push(page(kHostA, "/1"));
  frontier.push(page(kHostB, "/1"));
  auto a = pop_within(frontier);
  auto b = pop_within(frontier);
  const auto start = Clock::now();
  frontier.retry(*a, milliseconds(100));
  frontier.retry(*b, milliseconds(300));

  std::array<std::optional<Lease>, 2> got;
  {
    std::vector<std::jthread> waiters;
    waiters.reserve(got.size());
    for (auto& slot : got) waiters.emplace_back([&frontier, &slot] { slot = pop_within(frontier); });
  }
  REQUIRE(got[0]);
  REQUIRE(got[1]);
  REQUIRE(got[0]->item.host_key != got[1]->item.host_key);
  REQUIRE(Clock::now() - start >= milliseconds(300));
}

TEST_CASE("hosts that become ready at one instant reach as many blocked waiters", "[frontier]") {
  // One timer expiry readies three hosts; only the timekeeper wakes for it,
  // so the other two waiters are reached by baton passing.
  constexpr int kHosts = 3;
  MemoryFrontier frontier({});
  for (const char* host : {kHostA, kHostB, kHostC}) frontier.push(page(host, "/1"));
  std::vector<Lease> leases;
  leases.reserve(kHosts);
  for (int i = 0; i < kHosts; ++i) leases.push_back(*pop_within(frontier));
  for (auto& lease : leases) frontier.retry(lease, milliseconds(100));

  // No time bound: a waiter the baton misses sleeps without a deadline until
  // pop_within gives up, and its slot stays empty.
  std::array<std::optional<Lease>, kHosts> got;
  {
    std::vector<std::jthread> waiters;
    waiters.reserve(kHosts);
    for (auto& slot : got) waiters.emplace_back([&frontier, &slot] { slot = pop_within(frontier); });
  }
  for (const auto& lease : got) REQUIRE(lease);
}

// ---------------------------------------------------------------------------
// robots_first

TEST_CASE("robots_first: a new host's robots lease comes first and gates its pages", "[frontier]") {
  FrontierOptions options;
  options.robots_first = true;
  MemoryFrontier frontier(options);
  frontier.push(page(kHostA, "/1"));
  frontier.push(page(kHostA, "/2"));
  frontier.push(page(kHostB, "/1"));

  auto robots_a = pop_within(frontier);
  REQUIRE(robots_a);
  REQUIRE(robots_a->kind == LeaseKind::kRobots);
  REQUIRE(robots_a->item.url == "http://a.test:80/robots.txt");
  REQUIRE(robots_a->item.host_key == kHostA);
  auto robots_b = pop_within(frontier);
  REQUIRE(robots_b);
  REQUIRE(robots_b->kind == LeaseKind::kRobots);
  REQUIRE(robots_b->item.url == "http://b.test:80/robots.txt");

  // Both hosts are gated while their robots leases are out.
  REQUIRE_FALSE(pop_within(frontier, milliseconds(100)));
  frontier.complete(*robots_b);
  auto b1 = pop_within(frontier);
  REQUIRE(url_of(b1) == "http://b.test:80/1");  // B flows while A is still gated
  REQUIRE(b1->kind == LeaseKind::kPage);
  frontier.complete(*robots_a);
  REQUIRE(url_of(pop_within(frontier)) == "http://a.test:80/1");
  REQUIRE(url_of(pop_within(frontier)) == "http://a.test:80/2");

  // Only the first push of a host creates a robots lease.
  frontier.push(page(kHostA, "/3"));
  REQUIRE(url_of(pop_within(frontier)) == "http://a.test:80/3");
}

TEST_CASE("robots_first: a retried robots lease keeps its host's pages gated", "[frontier]") {
  FrontierOptions options;
  options.robots_first = true;
  MemoryFrontier frontier(options);
  frontier.push(page(kHostA, "/1"));
  auto robots = pop_within(frontier);
  REQUIRE(robots->kind == LeaseKind::kRobots);
  frontier.retry(*robots, milliseconds(50));

  auto again = pop_within(frontier);
  REQUIRE(again);
  REQUIRE(again->kind == LeaseKind::kRobots);
  REQUIRE(again->item.url == "http://a.test:80/robots.txt");
  REQUIRE(again->item.attempt == 1);
  REQUIRE_FALSE(pop_within(frontier, milliseconds(100)));
  frontier.complete(*again);
  REQUIRE(url_of(pop_within(frontier)) == "http://a.test:80/1");
}

// ---------------------------------------------------------------------------
// Termination and stopping

TEST_CASE("close_input on an empty frontier finishes it and closes pushes", "[frontier]") {
  MemoryFrontier frontier({});
  REQUIRE_FALSE(frontier.counts().finished);
  frontier.close_input();
  REQUIRE(frontier.counts().finished);
  REQUIRE_FALSE(pop_within(frontier));
  REQUIRE(frontier.push(page(kHostA, "/late")) == PushResult::kClosed);
}

TEST_CASE("the frontier finishes only when nothing is queued, delayed or in flight", "[frontier]") {
  MemoryFrontier frontier({});
  frontier.push(page(kHostA, "/root"));
  frontier.close_input();
  REQUIRE_FALSE(frontier.counts().finished);  // queued
  auto root = pop_within(frontier);
  REQUIRE_FALSE(frontier.counts().finished);  // in flight
  // The lease holder may still push what it discovers.
  REQUIRE(frontier.push(page(kHostB, "/child", 1)) == PushResult::kQueued);
  frontier.complete(*root);
  REQUIRE_FALSE(frontier.counts().finished);  // the child is queued
  auto child = pop_within(frontier);
  REQUIRE(url_of(child) == "http://b.test:80/child");
  frontier.complete(*child);
  REQUIRE(frontier.counts().finished);
}

TEST_CASE("completing a lease frees its host slot and wakes a blocked pop", "[frontier]") {
  FrontierOptions options;
  options.max_in_flight_per_host = 1;
  MemoryFrontier frontier(options);
  frontier.push(page(kHostA, "/1"));
  frontier.push(page(kHostA, "/2"));
  auto first = pop_within(frontier);
  std::optional<Lease> second;
  {
    std::jthread waiter([&] { second = pop_within(frontier); });
    REQUIRE(wait_for_waiters(frontier, 1));
    frontier.complete(*first);
  }
  REQUIRE(url_of(second) == "http://a.test:80/2");
}

TEST_CASE("no early exit: idle workers wait while the last lease holder may still push", "[frontier]") {
  constexpr int kWorkers = 4;
  MemoryFrontier frontier({});
  frontier.push(page(kHostA, "/root"));
  frontier.close_input();

  std::atomic<bool> child_leased{false};
  std::atomic<int> early_exits{0};
  std::atomic<int> holder_saw_waiters{0};
  {
    std::vector<std::jthread> workers;
    workers.reserve(kWorkers);
    for (int w = 0; w < kWorkers; ++w) {
      workers.emplace_back([&] {
        while (auto lease = pop_within(frontier, milliseconds(20'000))) {
          if (lease->item.url == "http://a.test:80/root") {
            // Hold the only lease until every other worker is blocked in pop(),
            // then discover one more link.
            if (wait_for_waiters(frontier, kWorkers - 1)) holder_saw_waiters = 1;
            frontier.push(page(kHostB, "/child", 1));
          } else {
            child_leased = true;
          }
          frontier.complete(*lease);
        }
        if (!child_leased) ++early_exits;
      });
    }
  }
  REQUIRE(holder_saw_waiters == 1);
  REQUIRE(early_exits == 0);
  REQUIRE(child_leased);
  const auto counts = frontier.counts();
  REQUIRE(counts.finished);
  REQUIRE(counts.leased_total == 2);
}

TEST_CASE("16 threads crawl a 20k-node tree: every node leased once, then all pops return", "[frontier]") {
  constexpr int kNodes = 20'000;
  constexpr int kThreads = 16;
  constexpr int kHosts = 13;
  constexpr int kFanOut = 4;

  FrontierOptions options;
  bool with_retries = false;
  SECTION("unlimited hosts") {}
  SECTION("per-host cap 2, robots first, every 50th node retried once") {
    options.max_in_flight_per_host = 2;
    options.robots_first = true;
    with_retries = true;
  }
  MemoryFrontier frontier(options);

  const auto host_of = [](int n) { return numbered("http://h", n % kHosts) + ".test:80"; };
  const auto node_item = [&](int n, std::uint32_t depth) { return page(host_of(n), numbered("/n", n), depth); };

  std::vector<std::atomic<int>> leased(kNodes);
  std::vector<std::atomic<int>> completed(kNodes);
  std::atomic<int> robots_leases{0};
  std::atomic<int> bad_pushes{0};
  std::atomic<int> threads_returned{0};

  // Watchdog: a hang becomes a failed check, not a stuck test.
  Event crawl_over;
  std::atomic<bool> timed_out{false};
  std::jthread watchdog([&] {
    if (!crawl_over.wait_for(milliseconds(30'000))) {
      timed_out = true;
      frontier.stop();
    }
  });

  REQUIRE(frontier.push(node_item(0, 0)) == PushResult::kQueued);
  frontier.close_input();
  {
    std::vector<std::jthread> workers;
    workers.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&] {
        while (auto lease = frontier.pop(std::stop_token{})) {
          if (lease->kind == LeaseKind::kRobots) {
            ++robots_leases;
            frontier.complete(*lease);
            continue;
          }
          const int n = std::stoi(lease->item.url.substr(lease->item.url.rfind("/n") + 2));
          ++leased[n];
          if (with_retries && n % 50 == 0 && lease->item.attempt == 0) {
            frontier.retry(*lease, milliseconds(1));
            continue;
          }
          for (int c = kFanOut * n + 1; c <= kFanOut * n + kFanOut && c < kNodes; ++c) {
            if (frontier.push(node_item(c, lease->item.depth + 1)) != PushResult::kQueued) ++bad_pushes;
          }
          ++completed[n];
          frontier.complete(*lease);
        }
        ++threads_returned;
      });
    }
  }
  crawl_over.set();
  watchdog.join();

  REQUIRE_FALSE(timed_out);
  REQUIRE(threads_returned == kThreads);
  REQUIRE(bad_pushes == 0);
  int wrong_leases = 0;
  int wrong_completions = 0;
  for (int n = 0; n < kNodes; ++n) {
    const int expected = (with_retries && n % 50 == 0) ? 2 : 1;
    if (leased[n] != expected) ++wrong_leases;
    if (completed[n] != 1) ++wrong_completions;
  }
  REQUIRE(wrong_leases == 0);
  REQUIRE(wrong_completions == 0);
  REQUIRE(robots_leases == (options.robots_first ? kHosts : 0));
  const auto counts = frontier.counts();
  REQUIRE(counts.finished);
  REQUIRE(counts.queued == 0);
  REQUIRE(counts.in_flight == 0);
  REQUIRE(counts.delayed == 0);
  REQUIRE(counts.seen == static_cast<std::uint64_t>(kNodes));
  REQUIRE(counts.hosts == static_cast<std::uint64_t>(kHosts));
}

TEST_CASE("stop() wakes every blocked pop promptly and closes the frontier", "[frontier]") {
  constexpr int kWaiters = 4;
  MemoryFrontier frontier({});
  std::atomic<int> returned{0};
  {
    std::vector<std::jthread> waiters;
    waiters.reserve(kWaiters);
    for (int i = 0; i < kWaiters; ++i) {
      waiters.emplace_back([&] {
        if (!frontier.pop(std::stop_token{})) ++returned;
      });
    }
    REQUIRE(wait_for_waiters(frontier, kWaiters));
    frontier.stop();
    waiters.clear();  // joins
  }
  REQUIRE(returned == kWaiters);
  // No timed bound: the pops block with no deadline, so the join returning
  // at all shows stop() woke every waiter.
  REQUIRE(frontier.push(page(kHostA, "/1")) == PushResult::kClosed);
  REQUIRE_FALSE(frontier.pop(std::stop_token{}));
}

TEST_CASE("a pop whose stop_token is requested returns nullopt and leaves the work queued", "[frontier]") {
  MemoryFrontier frontier({});
  frontier.push(page(kHostA, "/1"));
  std::stop_source already;
  already.request_stop();
  REQUIRE_FALSE(frontier.pop(already.get_token()));
  REQUIRE(frontier.counts().queued == 1);
  REQUIRE(url_of(pop_within(frontier)) == "http://a.test:80/1");
}

TEST_CASE("requesting one blocked pop's stop_token wakes that pop only", "[frontier]") {
  MemoryFrontier frontier({});
  std::stop_source cancel_first;
  std::optional<Lease> first;
  std::optional<Lease> second;
  {
    std::jthread t1([&] { first = frontier.pop(cancel_first.get_token()); });
    std::jthread t2([&] { second = pop_within(frontier); });
    REQUIRE(wait_for_waiters(frontier, 2));
    cancel_first.request_stop();
    t1.join();
    REQUIRE(frontier.counts().waiting == 1);
    frontier.push(page(kHostA, "/1"));
  }
  REQUIRE_FALSE(first);
  // No timed bound: t1's pop has no deadline, so the join returning shows the
  // stop woke it; `second` still waiting (count 1, then a lease) shows it woke
  // only that pop.
  REQUIRE(url_of(second) == "http://a.test:80/1");
}

// ---------------------------------------------------------------------------
// Seen set

TEST_CASE("mark_seen: a URL handled by an earlier run is a duplicate and counts toward max_pages", "[frontier]") {
  FrontierOptions options;
  options.max_pages = 2;
  MemoryFrontier frontier(options);
  frontier.mark_seen(std::string(kHostA) + "/done");
  CHECK(frontier.push(page(kHostA, "/done")) == PushResult::kDuplicate);
  CHECK(frontier.push(page(kHostA, "/new")) == PushResult::kQueued);
  CHECK(frontier.push(page(kHostA, "/third")) == PushResult::kLimitReached);
  CHECK(frontier.counts().queued == 1);
}

TEST_CASE("wait_for_room blocks a feeder while the queue is full and a lease frees it", "[frontier]") {
  MemoryFrontier frontier({});
  REQUIRE(frontier.push(page(kHostA, "/1")) == PushResult::kQueued);
  REQUIRE(frontier.push(page(kHostA, "/2")) == PushResult::kQueued);
  std::stop_source never;
  CHECK(frontier.wait_for_room(3, never.get_token()));  // 2 < 3: returns at once

  std::atomic<bool> returned{false};
  std::atomic<bool> result{false};
  std::jthread feeder([&] {
    result = frontier.wait_for_room(2, never.get_token());
    returned = true;
  });
  // The feeder cannot return while 2 items are queued; a pop makes room.
  CHECK_FALSE(returned.load());
  auto lease = pop_within(frontier);
  REQUIRE(lease);
  feeder.join();
  CHECK(returned.load());
  CHECK(result.load());
  frontier.complete(*lease);
}

TEST_CASE("wait_for_room returns false on stop() and on its own stop token", "[frontier]") {
  MemoryFrontier frontier({});
  REQUIRE(frontier.push(page(kHostA, "/1")) == PushResult::kQueued);
  std::stop_source cancel;
  std::jthread by_token([&] { CHECK_FALSE(frontier.wait_for_room(1, cancel.get_token())); });
  cancel.request_stop();
  by_token.join();
  std::stop_source never;
  std::jthread by_stop([&] { CHECK_FALSE(frontier.wait_for_room(1, never.get_token())); });
  frontier.stop();
  by_stop.join();
  CHECK_FALSE(frontier.wait_for_room(1, never.get_token()));
}

TEST_CASE("the seen set holds 300k URLs compactly and recognises every one", "[frontier]") {
  fetchpool::detail::SeenSet seen;
  constexpr int kUrls = 300'000;
  const auto url = [](int i) { return numbered("https://www.example.com:443/catalogue/item?id=", i); };
  int collided = 0;
  for (int i = 0; i < kUrls; ++i) {
    if (!seen.insert(fetchpool::detail::hash_url(url(i)))) ++collided;
  }
  REQUIRE(collided == 0);
  REQUIRE(seen.size() == kUrls);
  int missing = 0;
  int reinserted = 0;
  for (int i = 0; i < kUrls; ++i) {
    if (!seen.contains(fetchpool::detail::hash_url(url(i)))) ++missing;
    if (seen.insert(fetchpool::detail::hash_url(url(i)))) ++reinserted;
  }
  REQUIRE(missing == 0);
  REQUIRE(reinserted == 0);
  REQUIRE_FALSE(seen.contains(fetchpool::detail::hash_url(url(kUrls))));
  // 16 bytes a slot at load <= 0.7: under 50 bytes a URL, where the strings alone are ~60.
  REQUIRE(seen.capacity() * sizeof(fetchpool::detail::Hash128) < std::size_t{50} * kUrls);
  // The all-zero hash marks empty slots; a real zero hash must still be stored.
  REQUIRE(seen.insert({0, 0}));
  REQUIRE(seen.contains({0, 0}));
  REQUIRE_FALSE(seen.insert({0, 0}));
}

// ---------------------------------------------------------------------------
// Cost, measured on demand: ./frontier_test "[.bench]" -s

TEST_CASE("pop + complete cost, uncontended", "[frontier][.bench]") {
  constexpr int kItems = 200'000;
  MemoryFrontier frontier({});
  std::vector<CrawlItem> items;
  items.reserve(kItems);
  for (int i = 0; i < kItems; ++i) {
    items.push_back(page(numbered("http://host", i % 64) + ".test:80", numbered("/page/", i)));
  }
  auto start = Clock::now();
  for (auto& item : items) frontier.push(std::move(item));
  const auto push_ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / kItems;
  start = Clock::now();
  for (int i = 0; i < kItems; ++i) {
    auto lease = frontier.pop(std::stop_token{});
    frontier.complete(*lease);
  }
  const auto pop_complete_ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / kItems;
  WARN("push: " << push_ns << " ns/item; pop+complete: " << pop_complete_ns << " ns/lease");
  REQUIRE(frontier.counts().leased_total == kItems);
}

TEST_CASE("pop + complete cost with 2 threads sharing the frontier", "[frontier][.bench]") {
  constexpr int kItems = 200'000;
  MemoryFrontier frontier({});
  for (int i = 0; i < kItems; ++i) {
    frontier.push(page(numbered("http://host", i % 64) + ".test:80", numbered("/page/", i)));
  }
  frontier.close_input();
  const auto start = Clock::now();
  {
    std::vector<std::jthread> workers;
    workers.reserve(2);
    for (int t = 0; t < 2; ++t) {
      workers.emplace_back([&frontier] {
        while (auto lease = frontier.pop(std::stop_token{})) frontier.complete(*lease);
      });
    }
  }
  const auto ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / kItems;
  WARN("2 threads: " << ns << " ns of wall time per lease");
  REQUIRE(frontier.counts().finished);
}
