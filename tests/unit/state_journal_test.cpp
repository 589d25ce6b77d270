#include "fetchpool/state_journal.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/scratch_dir.hpp"

using fetchpool::CrawlItem;
using fetchpool::ErrorCode;
using fetchpool::MemorySink;
using fetchpool::ResultRecord;
using fetchpool::StateJournal;
using fetchpool::StateOptions;
using fetchpool::testing::ScratchDir;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

ResultRecord record(std::string url, std::uint64_t line = 0, long status = 200) {
  ResultRecord r;
  r.url = std::move(url);
  r.line = line;
  r.status = status;
  r.attempts = 1;
  r.title = "t\"itle\n";
  return r;
}

CrawlItem item(std::string url, std::uint64_t origin = 0, std::uint32_t depth = 1) {
  CrawlItem i;
  i.url = std::move(url);
  i.origin = origin;
  i.depth = depth;
  i.referrer = origin == 0 ? "http://h/" : "";
  return i;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void append(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << text;
}

struct Restored {
  std::vector<CrawlItem> pushed;
  std::vector<std::string> seen;
};

Restored restore(StateJournal& journal) {
  Restored r;
  auto ok = journal.restore([&r](CrawlItem i) { r.pushed.push_back(std::move(i)); },
                            [&r](std::string_view url) { r.seen.emplace_back(url); });
  REQUIRE(ok);
  return r;
}

// A sink that lets a test wait, bounded, for records to arrive.
class WaitableSink final : public fetchpool::ResultSink {
 public:
  explicit WaitableSink(fs::path journal) : journal_(std::move(journal)) {}
  void write(const ResultRecord& r) override {
    // Group commit: by the time a record is handed on, its line is in the journal.
    const bool journalled = read_all(journal_).find(r.url) != std::string::npos;
    std::lock_guard lock(mutex_);
    urls_.push_back(r.url);
    all_journalled_ = all_journalled_ && journalled;
    cv_.notify_all();
  }
  fetchpool::Result<void> flush() override { return {}; }
  bool wait_for(std::size_t count, std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [&] { return urls_.size() >= count; });
  }
  bool all_journalled() {
    std::lock_guard lock(mutex_);
    return all_journalled_;
  }

 private:
  fs::path journal_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> urls_;
  bool all_journalled_ = true;
};

}  // namespace

TEST_CASE("a new journal starts empty and a rerun restores pending and done URLs", "[state_journal]") {
  ScratchDir dir("journal-roundtrip");
  {
    MemorySink sink;
    auto journal = StateJournal::open(dir.path(), "crawl", sink);
    REQUIRE(journal);
    CHECK_FALSE((*journal)->resume_info().resumed);
    (*journal)->queued(item("http://h/", 1, 0));
    (*journal)->queued(item("http://h/a"));
    (*journal)->queued(item("http://h/b"));
    (*journal)->queued(item("http://h/c"));
    (*journal)->write(record("http://h/", 1));
    (*journal)->write(record("http://h/a"));
    auto aborted = record("http://h/c");
    aborted.error = ErrorCode::kAborted;
    (*journal)->write(aborted);  // stopped, not done: stays pending
    REQUIRE((*journal)->flush());
    CHECK(sink.size() == 2);
  }
  MemorySink sink;
  auto journal = StateJournal::open(dir.path(), "crawl", sink);
  REQUIRE(journal);
  const auto& info = (*journal)->resume_info();
  CHECK(info.resumed);
  CHECK(info.done == 2);
  CHECK(info.queued == 4);
  CHECK((*journal)->knows_line(1));
  CHECK_FALSE((*journal)->knows_line(2));
  const Restored r = restore(**journal);
  REQUIRE(r.pushed.size() == 2);
  CHECK(r.pushed[0].url == "http://h/b");
  CHECK(r.pushed[0].depth == 1);
  CHECK(r.pushed[0].referrer == "http://h/");
  CHECK(r.pushed[1].url == "http://h/c");
  CHECK(std::set<std::string>(r.seen.begin(), r.seen.end()) == std::set<std::string>{"http://h/", "http://h/a"});
  // Replay: the done records, once each, with their fields intact.
  const auto replayed = sink.records();
  REQUIRE(replayed.size() == 2);
  CHECK(replayed[0].url == "http://h/");
  CHECK(replayed[0].line == 1);
  CHECK(replayed[0].title == "t\"itle\n");
  CHECK(fetchpool::to_json_line(replayed[1]) == fetchpool::to_json_line(record("http://h/a")));
}

TEST_CASE("a redirect chain resumes from its latest hop, and its earlier URLs count as seen", "[state_journal]") {
  ScratchDir dir("journal-redirects");
  auto hop = [](std::string url, std::string start, std::uint32_t hops, std::uint64_t origin) {
    CrawlItem i = item(std::move(url), origin, 0);
    i.chain_start = std::move(start);
    i.redirects = hops;
    return i;
  };
  {
    MemorySink sink;
    auto journal = StateJournal::open(dir.path(), "get", sink);
    REQUIRE(journal);
    // Line 1: a -> b -> c, killed before c's record. Line 2: x -> y, done.
    (*journal)->queued(item("http://h/a", 1, 0));
    (*journal)->queued(hop("http://h/b", "http://h/a", 1, 1));
    (*journal)->queued(hop("http://h/c", "http://h/a", 2, 1));
    (*journal)->queued(item("http://h/x", 2, 0));
    (*journal)->queued(hop("http://h/y", "http://h/x", 1, 2));
    auto chain = record("http://h/x", 2);
    chain.final_url = "http://h/y";
    chain.redirects = 1;
    (*journal)->write(chain);
    REQUIRE((*journal)->flush());
  }
  MemorySink sink;
  auto journal = StateJournal::open(dir.path(), "get", sink);
  REQUIRE(journal);
  const Restored r = restore(**journal);
  REQUIRE(r.pushed.size() == 1);
  CHECK(r.pushed[0].url == "http://h/c");
  CHECK(r.pushed[0].chain_start == "http://h/a");
  CHECK(r.pushed[0].redirects == 2);
  CHECK(r.pushed[0].origin == 1);
  const std::set<std::string> seen(r.seen.begin(), r.seen.end());
  for (const char* url : {"http://h/a", "http://h/b", "http://h/y"}) {
    INFO(url);
    CHECK(seen.count(url) == 1);
  }
  REQUIRE(sink.size() == 1);
  CHECK(sink.records()[0].redirects == 1);
  CHECK(sink.records()[0].final_url == "http://h/y");
}

TEST_CASE("record_from_json_line inverts to_json_line", "[state_journal]") {
  ResultRecord r = record("http://h/x?q=1", 7, 404);
  r.depth = 3;
  r.referrer = "http://h/";
  r.final_url = "http://h/y";
  r.content_type = "text/html";
  r.bytes = 123;
  r.elapsed_ms = 1.5;
  r.links = 4;
  r.attempts = 3;
  r.error = ErrorCode::kHttpStatus;
  r.error_message = "HTTP 404";
  r.path = "h/x";
  r.sha256 = "ab";
  r.lastmod = "2024-05-01T10:00Z";
  auto back = fetchpool::record_from_json_line(fetchpool::to_json_line(r));
  REQUIRE(back);
  CHECK(fetchpool::to_json_line(*back) == fetchpool::to_json_line(r));
  CHECK(back->lastmod == "2024-05-01T10:00Z");
  CHECK_FALSE(fetchpool::record_from_json_line("{\"url\":\"u\",\"error\":{\"class\":\"nonsense\"}}"));
  CHECK_FALSE(fetchpool::record_from_json_line("[1,2]"));
}

TEST_CASE("a torn last line is cut and its record fetched again", "[state_journal]") {
  ScratchDir dir("journal-torn");
  {
    MemorySink sink;
    auto journal = StateJournal::open(dir.path(), "get", sink);
    REQUIRE(journal);
    (*journal)->queued(item("http://h/1", 1));
    (*journal)->queued(item("http://h/2", 2));
    (*journal)->write(record("http://h/1", 1));
    REQUIRE((*journal)->flush());
  }
  const auto path = dir.path() / "journal";
  const auto whole = fs::file_size(path);
  const std::string torn = "R " + fetchpool::to_json_line(record("http://h/2", 2)).substr(0, 20);
  append(path, torn);
  MemorySink sink;
  auto journal = StateJournal::open(dir.path(), "get", sink);
  REQUIRE(journal);
  CHECK((*journal)->resume_info().torn_bytes == torn.size());
  CHECK(fs::file_size(path) == whole);
  const Restored r = restore(**journal);
  REQUIRE(r.pushed.size() == 1);
  CHECK(r.pushed[0].url == "http://h/2");
  CHECK(sink.size() == 1);
  // New lines go after the cut, so the journal stays whole.
  (*journal)->write(record("http://h/2", 2));
  REQUIRE((*journal)->flush());
  const auto text = read_all(path);
  CHECK(text.find(torn + "\n") == std::string::npos);
  CHECK(text.back() == '\n');
}

TEST_CASE("NUL blocks left by a power loss are cut like a torn line", "[state_journal]") {
  ScratchDir dir("journal-nul");
  {
    MemorySink sink;
    auto journal = StateJournal::open(dir.path(), "crawl", sink);
    REQUIRE(journal);
    (*journal)->write(record("http://h/1"));
    REQUIRE((*journal)->flush());
  }
  const auto path = dir.path() / "journal";
  const auto whole = fs::file_size(path);
  append(path, std::string(100, '\0') + "\n" + "R " + fetchpool::to_json_line(record("http://h/2")) + "\n");
  MemorySink sink;
  auto journal = StateJournal::open(dir.path(), "crawl", sink);
  REQUIRE(journal);
  CHECK(fs::file_size(path) == whole);
  CHECK((*journal)->resume_info().done == 1);
}

TEST_CASE("a corrupt line followed by valid lines is an error naming the file and line", "[state_journal]") {
  ScratchDir dir("journal-corrupt");
  {
    MemorySink sink;
    auto journal = StateJournal::open(dir.path(), "crawl", sink);
    REQUIRE(journal);
  }
  const auto path = dir.path() / "journal";
  append(path, "X garbage\nR " + fetchpool::to_json_line(record("http://h/2")) + "\n");
  MemorySink sink;
  auto journal = StateJournal::open(dir.path(), "crawl", sink);
  REQUIRE_FALSE(journal);
  CHECK(journal.error().message.find(path.string()) == 0);
  CHECK(journal.error().message.find("line 2 is corrupt") != std::string::npos);
  CHECK(journal.error().message.find('\n') == std::string::npos);
}

TEST_CASE("a journal of another command is refused with a one-line error", "[state_journal]") {
  ScratchDir dir("journal-mismatch");
  {
    MemorySink sink;
    REQUIRE(StateJournal::open(dir.path(), "get", sink));
  }
  MemorySink sink;
  auto journal = StateJournal::open(dir.path(), "crawl", sink);
  REQUIRE_FALSE(journal);
  CHECK(journal.error().message.find("state of a 'get' run, not 'crawl'") != std::string::npos);

  const auto other = dir.path() / "other";
  fs::create_directories(other);
  std::ofstream(other / "journal") << "hello\n";
  auto foreign = StateJournal::open(other, "crawl", sink);
  REQUIRE_FALSE(foreign);
  CHECK(foreign.error().message.find("not a fetchpool state journal") != std::string::npos);
}

TEST_CASE("two runs cannot share a state directory", "[state_journal]") {
  ScratchDir dir("journal-locked");
  MemorySink sink;
  auto first = StateJournal::open(dir.path(), "crawl", sink);
  REQUIRE(first);
  auto second = StateJournal::open(dir.path(), "crawl", sink);
  REQUIRE_FALSE(second);
  CHECK(second.error().message.find("in use by another fetchpool run") != std::string::npos);
}

TEST_CASE("an unusable state directory is a one-line error", "[state_journal]") {
  ScratchDir dir("journal-unusable");
  std::ofstream(dir.path() / "file") << "x";
  MemorySink sink;
  auto journal = StateJournal::open(dir.path() / "file" / "sub", "crawl", sink);
  REQUIRE_FALSE(journal);
  CHECK(journal.error().message.find("cannot create state directory") != std::string::npos);
}

TEST_CASE("the flusher syncs batches and hands records on only after their line is written", "[state_journal]") {
  ScratchDir dir("journal-batch");
  WaitableSink sink(dir.path() / "journal");
  StateOptions options;
  options.sync_interval = 20ms;
  auto journal = StateJournal::open(dir.path(), "crawl", sink, options);
  REQUIRE(journal);
  std::vector<std::thread> writers;
  writers.reserve(4);
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&journal, t] {
      for (int i = 0; i < 50; ++i) (*journal)->write(record("http://h/" + std::to_string(t) + "/" + std::to_string(i)));
    });
  }
  for (auto& w : writers) w.join();
  // No flush(): the flusher alone must deliver them.
  REQUIRE(sink.wait_for(200, 10s));
  CHECK(sink.all_journalled());
  CHECK((*journal)->syncs() >= 1);
  CHECK((*journal)->syncs() < 200);  // batched, not one sync per record
}

TEST_CASE("a done duplicate of a pending line's URL does not shadow it", "[state_journal]") {
  ScratchDir dir("journal-dup");
  {
    MemorySink sink;
    auto journal = StateJournal::open(dir.path(), "get", sink);
    REQUIRE(journal);
    auto dup = record("http://h/x", 9, 0);
    dup.error = ErrorCode::kDuplicate;
    (*journal)->write(dup);                     // line 9 is done (a duplicate of line 5)...
    (*journal)->queued(item("http://h/x", 5));  // ...whose Q line was written later
    REQUIRE((*journal)->flush());
  }
  MemorySink sink;
  auto journal = StateJournal::open(dir.path(), "get", sink);
  REQUIRE(journal);
  std::vector<std::string> order;
  REQUIRE((*journal)->restore([&order](const CrawlItem& i) { order.push_back("push " + i.url); },
                              [&order](std::string_view url) { order.push_back("seen " + std::string(url)); }));
  CHECK(order == std::vector<std::string>{"push http://h/x"});  // a duplicate record marks nothing seen
  CHECK((*journal)->knows_line(5));
  CHECK((*journal)->knows_line(9));
}

TEST_CASE("odd bytes in URLs and titles survive the journal's own parser", "[state_journal]") {
  ScratchDir dir("journal-escapes");
  const std::string odd = "http://h/a\"b\\c\td\x01e\xc3\xa9";
  {
    MemorySink sink;
    auto journal = StateJournal::open(dir.path(), "crawl", sink);
    REQUIRE(journal);
    (*journal)->queued(item(odd));
    (*journal)->queued(item("http://h/done"));
    auto done = record("http://h/done");
    done.title = "a,\"error\":null,\"error\":{\"class\":\"duplicate\"}";
    (*journal)->write(done);
    auto dup = record("http://h/dup", 0, 0);
    dup.error = ErrorCode::kDuplicate;
    dup.title = ",\"error\":null";
    (*journal)->write(dup);
    REQUIRE((*journal)->flush());
  }
  MemorySink sink;
  StateOptions options;
  options.replay = false;  // keys only: the fast path
  auto journal = StateJournal::open(dir.path(), "crawl", sink, options);
  REQUIRE(journal);
  const Restored r = restore(**journal);
  REQUIRE(r.pushed.size() == 1);
  CHECK(r.pushed[0].url == odd);
  CHECK(r.seen == std::vector<std::string>{"http://h/done"});  // the duplicate's title does not fool it
  CHECK(sink.size() == 0);
}
