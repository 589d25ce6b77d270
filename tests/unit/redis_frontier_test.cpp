// RedisFrontier against a real redis-server on 127.0.0.1 (started by the
// test program, killed at exit). Two RedisFrontier objects on one prefix
// stand for two fetchpool processes; a forked child that exits without
// giving its lease back stands for a crashed one.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <thread>

#include "fetchpool/redis_frontier.hpp"
#include "support/frontier_support.hpp"
#include "support/redis_server.hpp"

using fetchpool::CrawlItem;
using fetchpool::Frontier;
using fetchpool::FrontierOptions;
using fetchpool::Lease;
using fetchpool::LeaseKind;
using fetchpool::PushResult;
using fetchpool::RedisFrontier;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

using fetchpool::testing::page;
using fetchpool::testing::pop_within;

namespace {

constexpr auto kHostA = "http://a.test:80";
constexpr auto kHostB = "http://b.test:80";

fetchpool::testing::RedisServer& server() {
  static fetchpool::testing::RedisServer instance;
  return instance;
}

// "/<i>", built by append: GCC 12 -O2 misreports "literal" + std::string as an overlapping memcpy (-Wrestrict, PR
// 105329).
std::string numbered_path(int i) {
  std::string path = "/";
  path += std::to_string(i);
  return path;
}

// A prefix of its own for every frontier group, so tests never share a crawl.
std::string fresh_prefix() {
  static std::atomic<int> n{0};
  std::string prefix = "t";  // appended for the same -Wrestrict false positive
  prefix.append(std::to_string(::getpid())).append("-").append(std::to_string(++n));
  return prefix;
}

std::unique_ptr<RedisFrontier> open(const std::string& prefix, FrontierOptions options = {}, int lease_s = 60) {
  auto uri = fetchpool::parse_redis_uri(server().uri(prefix) + "?lease=" + std::to_string(lease_s));
  REQUIRE(uri);
  auto frontier = RedisFrontier::connect(*uri, options);
  if (!frontier) FAIL(frontier.error().message);
  return std::move(*frontier);
}

std::string url_of(const std::optional<Lease>& lease) { return lease ? lease->item.url : std::string("<none>"); }

}  // namespace

TEST_CASE("redis: two frontiers on one prefix accept each URL once", "[redis_frontier]") {
  const auto prefix = fresh_prefix();
  auto a = open(prefix);
  auto b = open(prefix);
  CHECK(a->push(page(kHostA, "/x")) == PushResult::kQueued);
  CHECK(b->push(page(kHostA, "/x")) == PushResult::kDuplicate);
  CHECK(b->push(page(kHostB, "/y")) == PushResult::kQueued);
  CHECK(a->push(page(kHostB, "/y")) == PushResult::kDuplicate);
  const auto counts = a->counts();
  CHECK(counts.seen == 2);
  CHECK(counts.queued == 2);
  CHECK(counts.hosts == 2);
  // Another prefix is another crawl.
  auto other = open(fresh_prefix());
  CHECK(other->push(page(kHostA, "/x")) == PushResult::kQueued);
}

TEST_CASE("redis: depth and max_pages limits hold across frontiers, mark_seen counts", "[redis_frontier]") {
  FrontierOptions options;
  options.max_depth = 2;
  options.max_pages = 3;
  const auto prefix = fresh_prefix();
  auto a = open(prefix, options);
  auto b = open(prefix, options);
  CHECK(a->push(page(kHostA, "/deep", 3)) == PushResult::kTooDeep);
  a->mark_seen(kHostA + std::string("/done-earlier"));
  CHECK(b->push(page(kHostA, "/done-earlier")) == PushResult::kDuplicate);
  CHECK(b->push(page(kHostA, "/deep", 2)) == PushResult::kQueued);
  CHECK(a->push(page(kHostA, "/2")) == PushResult::kQueued);
  CHECK(b->push(page(kHostA, "/3")) == PushResult::kLimitReached);
  CHECK(a->push(page(kHostA, "/2")) == PushResult::kDuplicate);
  CHECK(a->counts().seen == 3);
  CHECK(a->counts().queued == 2);
}

TEST_CASE("redis: pages are leased once across frontiers, and both see the end", "[redis_frontier]") {
  const auto prefix = fresh_prefix();
  auto a = open(prefix);
  auto b = open(prefix);
  for (int i = 0; i < 20; ++i) REQUIRE(a->push(page(i % 2 ? kHostA : kHostB, numbered_path(i))) == PushResult::kQueued);
  a->close_input();
  std::multiset<std::string> leased;
  for (int i = 0; i < 20; ++i) {
    Frontier& f = i % 2 ? static_cast<Frontier&>(*a) : static_cast<Frontier&>(*b);
    auto lease = pop_within(f);
    REQUIRE(lease);
    leased.insert(lease->item.url);
    f.complete(*lease);
  }
  CHECK(std::set<std::string>(leased.begin(), leased.end()).size() == 20);
  CHECK_FALSE(pop_within(*a));
  CHECK_FALSE(pop_within(*b));
  CHECK(a->counts().finished);
  CHECK(b->counts().finished);
  CHECK(b->push(page(kHostA, "/late")) == PushResult::kClosed);
}

TEST_CASE("redis: the crawl is not finished while another frontier holds a lease that pushes", "[redis_frontier]") {
  const auto prefix = fresh_prefix();
  auto a = open(prefix);
  auto b = open(prefix);
  REQUIRE(a->push(page(kHostA, "/seed")) == PushResult::kQueued);
  a->close_input();
  auto seed = pop_within(*b);
  REQUIRE(url_of(seed) == std::string(kHostA) + "/seed");
  CHECK_FALSE(pop_within(*a, milliseconds(200)));  // nothing to lease, but not finished
  CHECK_FALSE(a->counts().finished);
  REQUIRE(b->push(page(kHostA, "/child", 1)) == PushResult::kQueued);
  b->complete(*seed);
  auto child = pop_within(*a);
  REQUIRE(url_of(child) == std::string(kHostA) + "/child");
  CHECK(child->item.depth == 1);
  CHECK(child->item.referrer.empty());
  a->complete(*child);
  CHECK_FALSE(pop_within(*b));
  CHECK(b->counts().finished);
}

TEST_CASE("redis: the per-host cap holds across frontiers", "[redis_frontier]") {
  FrontierOptions options;
  options.max_in_flight_per_host = 1;
  const auto prefix = fresh_prefix();
  auto a = open(prefix, options);
  auto b = open(prefix, options);
  REQUIRE(a->push(page(kHostA, "/1")) == PushResult::kQueued);
  REQUIRE(a->push(page(kHostA, "/2")) == PushResult::kQueued);
  REQUIRE(a->push(page(kHostB, "/3")) == PushResult::kQueued);
  auto first = pop_within(*a);
  REQUIRE(first);
  REQUIRE(first->item.host_key == kHostA);
  auto other = pop_within(*b);
  REQUIRE(url_of(other) == std::string(kHostB) + "/3");  // host A is at its cap; B is not
  CHECK_FALSE(pop_within(*b, milliseconds(300)));
  a->complete(*first);
  auto second = pop_within(*b);
  CHECK(url_of(second) == std::string(kHostA) + "/2");
}

TEST_CASE("redis: min interval, Crawl-delay and Retry-After hold across frontiers", "[redis_frontier]") {
  const auto check_gap = [](Frontier& first, Frontier& second, milliseconds at_least) {
    // Before the first pop: Redis starts the interval inside that pop, and a
    // thread descheduled after it returned would see less than the interval.
    const auto t0 = Clock::now();
    auto one = pop_within(first);
    REQUIRE(one);
    auto two = pop_within(second);
    REQUIRE(two);
    CHECK(Clock::now() - t0 >= at_least - milliseconds(20));  // Redis's clock counts whole ms
    first.complete(*one);
    second.complete(*two);
  };
  SECTION("min_host_interval") {
    FrontierOptions options;
    options.min_host_interval = milliseconds(300);
    const auto prefix = fresh_prefix();
    auto a = open(prefix, options);
    auto b = open(prefix, options);
    REQUIRE(a->push(page(kHostA, "/1")) == PushResult::kQueued);
    REQUIRE(a->push(page(kHostA, "/2")) == PushResult::kQueued);
    check_gap(*a, *b, milliseconds(300));
  }
  SECTION("Crawl-delay set by one frontier") {
    const auto prefix = fresh_prefix();
    auto a = open(prefix);
    auto b = open(prefix);
    REQUIRE(a->push(page(kHostA, "/1")) == PushResult::kQueued);
    REQUIRE(a->push(page(kHostA, "/2")) == PushResult::kQueued);
    a->set_host_delay(kHostA, milliseconds(300));
    check_gap(*a, *b, milliseconds(300));
  }
  SECTION("Retry-After backoff from one frontier") {
    const auto prefix = fresh_prefix();
    auto a = open(prefix);
    auto b = open(prefix);
    REQUIRE(a->push(page(kHostA, "/1")) == PushResult::kQueued);
    const auto t0 = Clock::now();
    a->backoff_host(kHostA, t0 + milliseconds(300));
    a->backoff_host(kHostA, t0 + milliseconds(10));  // never shortens
    auto lease = pop_within(*b);
    REQUIRE(lease);
    CHECK(Clock::now() - t0 >= milliseconds(280));
    b->complete(*lease);
  }
}

TEST_CASE("redis: a retried lease comes back after its delay with attempt + 1", "[redis_frontier]") {
  const auto prefix = fresh_prefix();
  auto a = open(prefix);
  auto b = open(prefix);
  CrawlItem item = page(kHostA, "/flaky", 2);
  item.origin = 7;
  item.referrer = "http://a.test:80/";
  REQUIRE(a->push(item) == PushResult::kQueued);
  a->close_input();
  auto lease = pop_within(*a);
  REQUIRE(lease);
  const auto t0 = Clock::now();
  a->retry(*lease, milliseconds(300));
  CHECK(b->counts().delayed == 1);
  CHECK_FALSE(b->counts().finished);
  auto again = pop_within(*b);
  REQUIRE(again);
  CHECK(Clock::now() - t0 >= milliseconds(280));
  CHECK(again->item.url == item.url);
  CHECK(again->item.attempt == 1);
  CHECK(again->item.depth == 2);
  CHECK(again->item.origin == 7);
  CHECK(again->item.referrer == item.referrer);
  b->complete(*again);
  CHECK_FALSE(pop_within(*a));
  CHECK(a->counts().finished);
}

TEST_CASE("redis: a redirect hop keeps its chain across frontiers and retries", "[redis_frontier]") {
  const auto prefix = fresh_prefix();
  auto a = open(prefix);
  auto b = open(prefix);
  CrawlItem hop = page(kHostA, "/b", 1);
  hop.origin = 3;
  hop.chain_start = "http://a.test:80/a";
  hop.redirects = 2;
  REQUIRE(a->push(hop) == PushResult::kQueued);
  a->close_input();
  auto lease = pop_within(*a);
  REQUIRE(lease);
  CHECK(lease->item.chain_start == hop.chain_start);
  CHECK(lease->item.redirects == 2);
  a->retry(*lease, milliseconds(0));
  auto again = pop_within(*b);
  REQUIRE(again);
  CHECK(again->item.url == hop.url);
  CHECK(again->item.chain_start == hop.chain_start);
  CHECK(again->item.redirects == 2);
  CHECK(again->item.origin == 3);
  CHECK(again->item.attempt == 1);
  b->complete(*again);
  CHECK_FALSE(pop_within(*a));
}

TEST_CASE("redis: a crashed process's lease returns to the queue after it expires", "[redis_frontier]") {
  const auto prefix = fresh_prefix();
  const std::string child_uri = server().uri(prefix) + "?lease=1";  // the server belongs to this process, not the child
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  // Forked while this process has one thread (no frontier is open here yet),
  // as fork() in a threaded program is unsafe and TSan refuses it.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The "crashed" process: queues and leases the URL, reports, exits without giving it back.
    auto uri = fetchpool::parse_redis_uri(child_uri);
    auto frontier = RedisFrontier::connect(*uri, {});
    char ok = 0;
    if (frontier && (*frontier)->push(page(kHostA, "/1")) == PushResult::kQueued) {
      (*frontier)->close_input();
      auto lease = (*frontier)->pop(std::stop_token());
      ok = lease && lease->item.url == std::string(kHostA) + "/1" ? 1 : 0;
    }
    (void)!::write(pipe_fds[1], &ok, 1);
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  char ok = 0;
  CHECK(::read(pipe_fds[0], &ok, 1) == 1);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(ok == 1);
  auto a = open(prefix, {}, 1);
  CHECK(a->counts().in_flight == 1);
  auto lease = pop_within(*a);
  REQUIRE(url_of(lease) == std::string(kHostA) + "/1");
  a->complete(*lease);
  auto uri = fetchpool::parse_redis_uri(server().uri(prefix));
  auto status_now = fetchpool::read_redis_crawl_status(*uri);
  REQUIRE(status_now);
  CHECK(status_now->expired == 1);
  CHECK(status_now->completed == 1);
  CHECK(status_now->counts.finished);
}

TEST_CASE("redis: a live process renews its leases, so a long fetch is not taken away", "[redis_frontier]") {
  const auto prefix = fresh_prefix();
  auto a = open(prefix, {}, 2);
  auto b = open(prefix, {}, 2);
  REQUIRE(a->push(page(kHostA, "/slow")) == PushResult::kQueued);
  auto lease = pop_within(*a);
  REQUIRE(lease);
  // Two and a half lease periods pass while `a` holds the lease (its renewer runs every ~667 ms).
  CHECK_FALSE(pop_within(*b, milliseconds(5000)));
  a->complete(*lease);
  auto uri = fetchpool::parse_redis_uri(server().uri(prefix));
  auto status = fetchpool::read_redis_crawl_status(*uri);
  REQUIRE(status);
  CHECK(status->expired == 0);
  CHECK(status->completed == 1);
}

TEST_CASE("redis: robots.txt is leased once per host per process, pages once in all", "[redis_frontier]") {
  FrontierOptions options;
  options.robots_first = true;
  const auto prefix = fresh_prefix();
  auto a = open(prefix, options);
  auto b = open(prefix, options);
  for (int i = 0; i < 3; ++i) REQUIRE(a->push(page(kHostA, numbered_path(i))) == PushResult::kQueued);
  a->close_input();
  auto robots_a = pop_within(*a);
  REQUIRE(robots_a);
  CHECK(robots_a->kind == LeaseKind::kRobots);
  CHECK(robots_a->item.url == std::string(kHostA) + "/robots.txt");
  CHECK_FALSE(pop_within(*a, milliseconds(200)));  // the host's pages wait for a's robots.txt
  auto robots_b = pop_within(*b);
  REQUIRE(robots_b);
  CHECK(robots_b->kind == LeaseKind::kRobots);
  // A retried robots lease keeps the gate closed and comes back after its delay.
  a->retry(*robots_a, milliseconds(100));
  robots_a = pop_within(*a);
  REQUIRE(robots_a);
  CHECK(robots_a->kind == LeaseKind::kRobots);
  CHECK(robots_a->item.attempt == 1);
  a->complete(*robots_a);
  b->complete(*robots_b);
  std::set<std::string> pages;
  for (int i = 0; i < 3; ++i) {
    Frontier& f = i % 2 ? static_cast<Frontier&>(*a) : static_cast<Frontier&>(*b);
    auto lease = pop_within(f);
    REQUIRE(lease);
    CHECK(lease->kind == LeaseKind::kPage);
    CHECK(pages.insert(lease->item.url).second);
    f.complete(*lease);
  }
  CHECK_FALSE(pop_within(*a));
  CHECK(a->counts().finished);
}

TEST_CASE("redis: wait_for_room blocks while the shared queue is full", "[redis_frontier]") {
  const auto prefix = fresh_prefix();
  auto a = open(prefix);
  auto b = open(prefix);
  for (int i = 0; i < 3; ++i) REQUIRE(a->push(page(kHostA, numbered_path(i))) == PushResult::kQueued);
  std::atomic<int> result{-1};
  std::jthread feeder([&] { result = a->wait_for_room(3, std::stop_token()) ? 1 : 0; });
  // A bounded look that it is still blocked (a bug shows as an early return).
  const auto look_until = Clock::now() + milliseconds(200);
  while (Clock::now() < look_until && result == -1) std::this_thread::yield();
  CHECK(result == -1);
  auto lease = pop_within(*b);
  REQUIRE(lease);
  feeder.join();
  CHECK(result == 1);
  // A stop token ends the wait with false.
  REQUIRE(a->push(page(kHostA, "/3")) == PushResult::kQueued);
  std::stop_source give_up;
  give_up.request_stop();
  CHECK_FALSE(a->wait_for_room(3, give_up.get_token()));
  b->complete(*lease);
}

TEST_CASE("redis: after stop, a cut-short lease given back goes to another process, a completed one is done",
          "[redis_frontier]") {
  const auto prefix = fresh_prefix();
  auto a = open(prefix);
  auto b = open(prefix);
  REQUIRE(a->push(page(kHostA, "/1")) == PushResult::kQueued);
  REQUIRE(a->push(page(kHostA, "/3")) == PushResult::kQueued);
  auto lease = pop_within(*a);
  REQUIRE(lease);
  auto finished = pop_within(*a);
  REQUIRE(finished);
  std::optional<Lease> blocked;
  std::atomic<bool> returned{false};
  std::jthread waiter([&] {
    blocked = a->pop(std::stop_token());
    returned = true;
  });
  while (a->counts().waiting == 0) std::this_thread::yield();
  a->stop();
  waiter.join();
  CHECK(returned);
  CHECK_FALSE(blocked);
  CHECK(a->push(page(kHostA, "/2")) == PushResult::kClosed);
  a->complete(*finished);                          // fetched in full before the stop: done for every node
  a->retry(*lease, std::chrono::milliseconds(0));  // cut short by the stop: back to the shared queue
  auto again = pop_within(*b);
  REQUIRE(again);
  CHECK(again->item.url == lease->item.url);
  b->complete(*again);
  CHECK_FALSE(pop_within(*b, std::chrono::milliseconds(300)));  // the completed one did not come back
}

TEST_CASE("redis: a frontier that cannot reach Redis fails with the address", "[redis_frontier]") {
  auto uri = fetchpool::parse_redis_uri("redis://127.0.0.1:1/x");
  REQUIRE(uri);
  auto frontier = RedisFrontier::connect(*uri, {});
  REQUIRE_FALSE(frontier);
  CHECK_THAT(frontier.error().message, Catch::Contains("127.0.0.1:1"));
}

TEST_CASE("redis: clear_redis_crawl deletes one crawl's keys only", "[redis_frontier]") {
  const auto kept = fresh_prefix();
  const auto cleared = fresh_prefix();
  auto a = open(kept);
  auto b = open(cleared);
  REQUIRE(a->push(page(kHostA, "/1")) == PushResult::kQueued);
  REQUIRE(b->push(page(kHostA, "/1")) == PushResult::kQueued);
  auto uri = fetchpool::parse_redis_uri(server().uri(cleared));
  auto deleted = fetchpool::clear_redis_crawl(*uri);
  REQUIRE(deleted);
  CHECK(*deleted >= 4);
  CHECK(b->counts().seen == 0);
  CHECK(b->push(page(kHostA, "/1")) == PushResult::kQueued);
  CHECK(a->counts().seen == 1);
}

TEST_CASE("redis: scripts flushed from Redis (a restart) are sent again", "[redis_frontier]") {
  const auto prefix = fresh_prefix();
  auto a = open(prefix);
  REQUIRE(a->push(page(kHostA, "/1")) == PushResult::kQueued);
  redisContext* c = redisConnect("127.0.0.1", server().port());
  REQUIRE(c != nullptr);
  REQUIRE(c->err == 0);
  auto* flushed = static_cast<redisReply*>(redisCommand(c, "SCRIPT FLUSH"));
  REQUIRE(flushed != nullptr);
  CHECK(flushed->type == REDIS_REPLY_STATUS);
  freeReplyObject(flushed);
  redisFree(c);
  CHECK(a->push(page(kHostA, "/2")) == PushResult::kQueued);
  auto lease = pop_within(*a);
  CHECK(url_of(lease) == std::string(kHostA) + "/1");
  a->complete(*lease);
  CHECK(a->counts().queued == 1);
}
