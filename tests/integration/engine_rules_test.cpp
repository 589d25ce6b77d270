// The rules of shared and resumed crawls belong to the engine: a library user
// who leaves an option out still gets robots.txt before pages, records
// flushed before a shared lease completes, and every record journalled.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fetchpool/engine.hpp"
#include "fetchpool/sinks.hpp"
#include "fetchpool/state_journal.hpp"
#include "fetchpool/thread_annotations.hpp"
#include "support/engine_fixture.hpp"
#include "support/scratch_dir.hpp"
#include "tools/testsite/local_server.hpp"

using namespace fetchpool;

namespace {

// Remembers which URLs were written and which of those a flush() has pushed
// out since.
class FlushTrackingSink final : public ResultSink {
 public:
  void write(const ResultRecord& record) override {
    MutexLock lock(mutex_);
    written_.push_back(record);
    unflushed_.insert(record.url);
  }
  Result<void> flush() override {
    MutexLock lock(mutex_);
    for (const auto& url : unflushed_) flushed_.insert(url);
    unflushed_.clear();
    return {};
  }
  bool flushed(const std::string& url) const {
    MutexLock lock(mutex_);
    return flushed_.count(url) == 1;
  }
  std::vector<ResultRecord> records() const {
    MutexLock lock(mutex_);
    return written_;
  }

 private:
  mutable Mutex mutex_;
  std::vector<ResultRecord> written_ FETCHPOOL_GUARDED_BY(mutex_);
  std::set<std::string> unflushed_ FETCHPOOL_GUARDED_BY(mutex_);
  std::set<std::string> flushed_ FETCHPOOL_GUARDED_BY(mutex_);
};

// A frontier that is not the engine's MemoryFrontier, as a shared one is,
// built WITHOUT robots_first: it counts completed page leases whose record
// the sink had not flushed yet.
class OtherFrontier final : public Frontier {
 public:
  OtherFrontier(FrontierOptions options, const FlushTrackingSink& sink) : inner_(options), sink_(sink) {}
  PushResult push(CrawlItem item) override { return inner_.push(std::move(item)); }
  std::optional<Lease> pop(std::stop_token stop) override { return inner_.pop(stop); }
  void complete(const Lease& lease) override {
    ++completed_;
    if (lease.kind == LeaseKind::kPage && !sink_.flushed(lease.item.url)) ++completed_unflushed_;
    inner_.complete(lease);
  }
  void retry(Lease lease, std::chrono::milliseconds delay) override { inner_.retry(std::move(lease), delay); }
  void set_host_delay(std::string_view host_key, std::chrono::milliseconds delay) override {
    inner_.set_host_delay(host_key, delay);
  }
  void backoff_host(std::string_view host_key, std::chrono::steady_clock::time_point until) override {
    inner_.backoff_host(host_key, until);
  }
  void close_input() override { inner_.close_input(); }
  void mark_seen(std::string_view url) override { inner_.mark_seen(url); }
  bool wait_for_room(std::uint64_t max_queued, std::stop_token stop) override {
    return inner_.wait_for_room(max_queued, stop);
  }
  void stop() override { inner_.stop(); }
  FrontierCounts counts() const override { return inner_.counts(); }

  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::uint64_t> completed_unflushed_{0};

 private:
  MemoryFrontier inner_;
  const FlushTrackingSink& sink_;
};

// A crawl that obeys robots.txt, with robots_first left out.
EngineOptions robots_without_gate() {
  EngineOptions o = fetchpool::testing::crawl_options(8);
  o.frontier.robots_first = false;
  return o;
}

void run_crawl(CrawlEngine& engine, const std::string& seed) {
  REQUIRE(engine.prepare().ok());
  fetchpool::testing::crawl_to_end(engine, seed);
}

void check_robots_obeyed(const LocalServer& server, const ServerOptions& options,
                         const std::vector<ResultRecord>& records) {
  CHECK(server.requests_for("/robots.txt") >= 1);
  for (const auto& path : site_private_paths(options.site)) {
    INFO(path);
    CHECK(server.requests_for(path) == 0);
  }
  std::size_t disallowed = 0;
  for (const auto& r : records)
    if (r.url.find("/private/") != std::string::npos) {
      CHECK(r.error == ErrorCode::kRobotsDisallowed);
      ++disallowed;
    }
  CHECK(disallowed > 0);
}

}  // namespace

TEST_CASE("robots = true without frontier.robots_first still fetches robots.txt once before any page",
          "[engine_rules]") {
  ServerOptions server_options;
  server_options.site.pages = 200;
  LocalServer server(server_options);
  MemorySink sink;
  CrawlEngine engine(robots_without_gate(), sink);
  run_crawl(engine, server.base_url() + "/");
  check_robots_obeyed(server, server_options, sink.records());
  CHECK(server.requests_for("/robots.txt") == 1);  // the engine gated its own frontier
}

TEST_CASE(
    "a frontier of the caller's without a robots gate still gets robots.txt before pages, and each record is "
    "flushed before its lease completes",
    "[engine_rules]") {
  ServerOptions server_options;
  server_options.site.pages = 200;
  LocalServer server(server_options);
  FlushTrackingSink sink;
  auto frontier_options = robots_without_gate().frontier;
  auto frontier = std::make_unique<OtherFrontier>(frontier_options, sink);
  OtherFrontier& watched = *frontier;
  CrawlEngine engine(robots_without_gate(), sink, std::move(frontier));
  run_crawl(engine, server.base_url() + "/");
  const auto records = sink.records();
  check_robots_obeyed(server, server_options, records);
  CHECK(watched.completed_.load() >= records.size());
  CHECK(watched.completed_unflushed_.load() == 0);
  std::set<std::string> urls;
  for (const auto& r : records) {
    CHECK(urls.insert(r.url).second);  // one record per URL
    CHECK(r.error != ErrorCode::kDuplicate);
  }
}

TEST_CASE("with a state journal every record is journalled even when the engine is handed the results sink",
          "[engine_rules]") {
  ServerOptions server_options;
  server_options.site.pages = 10;
  LocalServer server(server_options);
  fetchpool::testing::ScratchDir dir("engine-rules-state");
  const std::vector<std::string> urls = {server.base_url() + "/status/200", server.base_url() + "/status/404",
                                         server.base_url() + "/bytes/10"};
  {
    MemorySink results;
    auto journal = StateJournal::open(dir.path(), "get", results);
    REQUIRE(journal);
    EngineOptions o;
    o.workers = 2;
    o.retry.max_retries = 0;
    o.state = journal->get();
    CrawlEngine engine(o, results);  // the results sink, not the journal: the engine routes records through it
    REQUIRE(engine.prepare().ok());
    engine.start();
    for (std::size_t i = 0; i < urls.size(); ++i) engine.add(urls[i], i + 1);
    engine.finish_input();
    engine.wait();
    REQUIRE((*journal)->flush().ok());
    CHECK(results.size() == urls.size());
  }
  MemorySink again;
  auto reopened = StateJournal::open(dir.path(), "get", again);
  REQUIRE(reopened);
  CHECK((*reopened)->resume_info().resumed);
  CHECK((*reopened)->resume_info().done == urls.size());
}

TEST_CASE("a state journal and a shared frontier together are refused by prepare()", "[engine_rules]") {
  fetchpool::testing::ScratchDir dir("engine-rules-both");
  FlushTrackingSink sink;
  auto journal = StateJournal::open(dir.path(), "crawl", sink);
  REQUIRE(journal);
  EngineOptions o;
  o.state = journal->get();
  CrawlEngine engine(o, sink, std::make_unique<OtherFrontier>(o.frontier, sink));
  const auto prepared = engine.prepare();
  REQUIRE_FALSE(prepared.ok());
  CHECK(prepared.error().code == ErrorCode::kConfig);
}
