// Issue 15, "HTTP done strictly", end to end: the engine (and `fetchpool get`
// where a flag is part of the point) against the built-in server's fault
// routes. Redirects are followed hop by hop through the frontier; broken
// framing is never `ok`; Retry-After has a cap; every 206 is checked against
// the request; files keep the entity as sent, under a size cap; input lines
// with a BOM or control characters are handled.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/engine.hpp"
#include "fetchpool/sinks.hpp"
#include "support/cli_runner.hpp"
#include "support/engine_fixture.hpp"
#include "tools/cli/exit_codes.hpp"
#include "tools/testsite/local_server.hpp"

namespace fs = std::filesystem;
using namespace fetchpool;
using namespace std::chrono_literals;
using fetchpool::testing::crawl;
using fetchpool::testing::ScratchDir;

namespace {

// A list fetch of `urls` (lines 1..n) through the engine; records by line,
// one per input line whatever its chain.
std::map<std::uint64_t, ResultRecord> fetch_list(const std::vector<std::string>& urls, EngineOptions o = {}) {
  const auto run = fetchpool::testing::run_list(std::move(o), urls);
  CHECK_FALSE(run.summary.interrupted);
  auto by_line = run.by_line();
  CHECK(by_line.size() == urls.size());
  return by_line;
}

// A crawl of the seed only (its redirects are not links), two workers, in `mode`'s scope.
EngineOptions crawl_options(ScopeMode mode = ScopeMode::kSameHost) {
  EngineOptions o = fetchpool::testing::crawl_options(2);
  o.frontier.max_depth = 0;
  ScopeOptions scope;
  scope.mode = mode;
  o.scope = scope;
  return o;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string pattern_bytes(std::size_t first, std::size_t count) {
  std::string s(count, '\0');
  for (std::size_t k = 0; k < count; ++k) s[k] = static_cast<char>('a' + (first + k) % 26);
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------
// 1. Redirects

TEST_CASE("a redirect chain is followed hop by hop and recorded once, under its first URL", "[http][redirect]") {
  LocalServer server(ServerOptions{});
  const auto base = server.base_url();
  auto records = fetch_list({base + "/redirect/3"});
  const auto& chain = records[1];
  CHECK(chain.ok());
  CHECK(chain.url == base + "/redirect/3");
  CHECK(chain.final_url == base + "/redirect/0");
  CHECK(chain.redirects == 3);
  CHECK(chain.status == 200);
  for (const char* hop : {"/redirect/3", "/redirect/2", "/redirect/1", "/redirect/0"}) {
    CHECK(server.requests_for(hop) == 1);
  }
}

TEST_CASE("a hop to a URL already fetched or queued ends the chain, naming it, without fetching it again",
          "[http][redirect]") {
  LocalServer server(ServerOptions{});
  const auto base = server.base_url();
  auto records =
      fetch_list({base + "/s/0/1.html", base + "/redirect-to?url=%2Fs%2F0%2F1.html", base + "/redirect-loop"});
  CHECK(records[1].ok());
  const auto& ended = records[2];
  CHECK(ended.error == ErrorCode::kDuplicate);
  CHECK(ended.status == 302);
  CHECK(ended.final_url == base + "/s/0/1.html");
  CHECK(ended.redirects == 1);
  CHECK_THAT(ended.error_message, Catch::Contains(base + "/s/0/1.html") && Catch::Contains("not fetched again"));
  CHECK(server.requests_for("/s/0/1.html") == 1);
  // A loop is the same case: its second visit is a URL already seen.
  CHECK(records[3].error == ErrorCode::kDuplicate);
  CHECK(server.requests_for("/redirect-loop") == 1);
}

TEST_CASE("the redirect limit and the scheme are checked per hop", "[http][redirect]") {
  LocalServer server(ServerOptions{});
  const auto base = server.base_url();
  EngineOptions o;
  o.fetch.max_redirects = 2;
  auto records = fetch_list({base + "/redirect/3", base + "/redirect-to?url=file%3A%2F%2F%2Fetc%2Fpasswd"}, o);
  CHECK(records[1].error == ErrorCode::kTooManyRedirects);
  CHECK(records[1].redirects == 3);
  CHECK(records[1].final_url == base + "/redirect/0");
  CHECK_THAT(records[1].error_message, Catch::Contains("more than 2 redirects"));
  CHECK(server.requests_for("/redirect/1") == 1);
  CHECK(server.requests_for("/redirect/0") == 0);
  CHECK(records[2].error == ErrorCode::kRedirectRefused);
  CHECK_THAT(records[2].error_message, Catch::Contains("file:///etc/passwd"));
}

TEST_CASE("a crawl's redirect obeys robots.txt: a disallowed target is not fetched", "[http][redirect]") {
  LocalServer server(ServerOptions{});
  const auto base = server.base_url();
  const auto records = crawl(base + "/redirect-to?url=%2Fprivate%2F0.html", crawl_options());
  REQUIRE(records.size() == 1);
  CHECK(records[0].url == base + "/redirect-to?url=%2Fprivate%2F0.html");
  CHECK(records[0].error == ErrorCode::kRobotsDisallowed);
  CHECK(records[0].final_url == base + "/private/0.html");
  CHECK(records[0].redirects == 1);
  CHECK(records[0].links == 0);
  CHECK(server.requests_for("/private/0.html") == 0);
}

TEST_CASE("a crawl's redirect to another origin: scope first, then that origin's robots.txt, fetched first",
          "[http][redirect]") {
  LocalServer origin(ServerOptions{});
  LocalServer other(ServerOptions{});
  const auto seed = origin.base_url() + "/redirect-to?url=" + other.base_url() + "/private/1.html";
  SECTION("outside a same-host scope") {
    const auto records = crawl(seed, crawl_options());
    REQUIRE(records.size() == 1);
    CHECK(records[0].error == ErrorCode::kOutOfScope);
    CHECK(records[0].final_url == other.base_url() + "/private/1.html");
    CHECK(other.requests_for("/robots.txt") == 0);
  }
  SECTION("inside scope any: the new origin's robots.txt is fetched and obeyed") {
    const auto records = crawl(seed, crawl_options(ScopeMode::kAny));
    REQUIRE(records.size() == 1);
    CHECK(records[0].error == ErrorCode::kRobotsDisallowed);
    CHECK(other.requests_for("/robots.txt") == 1);
    CHECK(other.requests_for("/private/1.html") == 0);
  }
}

TEST_CASE("each redirect hop waits for its host's interval like any request", "[http][redirect]") {
  LocalServer server(ServerOptions{});
  EngineOptions o;
  o.frontier.min_host_interval = 300ms;
  const auto started = std::chrono::steady_clock::now();
  auto records = fetch_list({server.base_url() + "/redirect/2"}, o);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(records[1].ok());
  CHECK(records[1].redirects == 2);
  // Three request starts to one host, each at least the interval after the
  // last: libcurl following the chain itself would take a few milliseconds.
  CHECK(elapsed >= 600ms);
}

TEST_CASE("a redirect hop counts toward the page limit like any queued URL", "[http][redirect]") {
  LocalServer server(ServerOptions{});
  auto o = crawl_options();
  o.frontier.max_pages = 1;
  const auto records = crawl(server.base_url() + "/redirect/1", o);
  REQUIRE(records.size() == 1);
  CHECK(records[0].error == ErrorCode::kOutOfScope);
  CHECK_THAT(records[0].error_message, Catch::Contains("page limit"));
  CHECK(server.requests_for("/redirect/0") == 0);
}

// ---------------------------------------------------------------------------
// 2. Framing

TEST_CASE("broken framing gives protocol_error or truncated, retried only where transient", "[http][framing]") {
  LocalServer server(ServerOptions{});
  const auto base = server.base_url() + "/fault/framing?kind=";
  EngineOptions o;
  o.retry.max_retries = 2;
  o.retry.base_delay = 1ms;
  auto records =
      fetch_list({base + "cl-invalid", base + "cl-conflict", base + "no-header", base + "chunked-cut",
                  base + "gzip-cut", base + "cl-repeat", base + "chunked-bad-size", base + "chunked-bad-crlf"},
                 o);
  for (std::uint64_t line : {1, 2, 7, 8}) {
    INFO(line);
    CHECK_FALSE(records[line].ok());
    CHECK(records[line].error == ErrorCode::kProtocol);
    CHECK(records[line].attempts == 1);  // the same server sends the same broken answer
  }
  for (std::uint64_t line : {7, 8}) {
    INFO(line);
    CHECK_THAT(records[line].error_message, Catch::Contains("malformed chunked body"));
  }
  for (std::uint64_t line : {3, 4, 5}) {
    INFO(line);
    CHECK_FALSE(records[line].ok());
    CHECK(records[line].error == ErrorCode::kTruncated);
    CHECK(records[line].attempts == 3);
  }
  CHECK(records[6].ok());
}

TEST_CASE("a crawl page whose gzip stream is cut is an error, not a parsed page", "[http][framing]") {
  LocalServer server(ServerOptions{});
  auto o = crawl_options();
  const auto records = crawl(server.base_url() + "/fault/framing?kind=gzip-cut-length", o);
  REQUIRE(records.size() == 1);
  CHECK(records[0].error == ErrorCode::kTruncated);
  CHECK(records[0].title.empty());
}

// ---------------------------------------------------------------------------
// 3. Retry-After

TEST_CASE("a Retry-After beyond the cap gives up at once with its own class, and the run ends", "[http][retry]") {
  LocalServer server(ServerOptions{});
  const auto base = server.base_url();
  EngineOptions o;
  o.retry.max_retries = 5;
  o.retry.base_delay = 1ms;
  SECTION("the default cap (300 s) against an hour") {
    auto records = fetch_list({base + "/retry-after/3600"}, o);
    CHECK(records[1].error == ErrorCode::kRetryWaitTooLong);
    CHECK(records[1].status == 429);
    CHECK(records[1].attempts == 1);
    CHECK_THAT(records[1].error_message, Catch::Contains("Retry-After 3600 s") && Catch::Contains("300 s"));
    CHECK(server.requests_for("/retry-after/3600") == 1);
  }
  SECTION("a cap of 1 s against 2 s; a wait within the cap is still honoured") {
    o.retry.max_retry_wait = 1s;
    auto records = fetch_list({base + "/retry-after/2", base + "/flaky/x?fail=1"}, o);
    CHECK(records[1].error == ErrorCode::kRetryWaitTooLong);
    CHECK(records[2].ok());
    CHECK(records[2].attempts == 2);
  }
}

TEST_CASE("a URL that gives up on a long Retry-After leaves its host free for the host's other URLs", "[http][retry]") {
  LocalServer server(ServerOptions{});
  const auto base = server.base_url();
  EngineOptions o;
  o.workers = 1;  // the second URL is taken only after the first gave up
  o.retry.max_retries = 5;
  o.retry.base_delay = 1ms;
  MemorySink sink;
  CrawlEngine engine(o, sink);
  engine.start();
  engine.add(base + "/retry-after/3600", 1);
  engine.add(base + "/status/200", 2);
  engine.finish_input();
  // Not a speed target: a guard that turns a host backed off for the cap
  // (300 s) into a stopped run and a failed check rather than a hung test.
  std::jthread guard([&engine](std::stop_token stop) {
    std::mutex mutex;
    std::condition_variable_any woken;
    std::unique_lock lock(mutex);
    if (!woken.wait_for(lock, stop, 120s, [] { return false; }) && !stop.stop_requested()) engine.request_stop();
  });
  const auto summary = engine.wait();
  guard.request_stop();
  CHECK_FALSE(summary.interrupted);
  std::map<std::uint64_t, ResultRecord> by_line;
  for (const auto& record : sink.records()) by_line[record.line] = record;
  CHECK(by_line[1].error == ErrorCode::kRetryWaitTooLong);
  CHECK(by_line[2].ok());
  CHECK(server.requests_for("/status/200") == 1);
}

// ---------------------------------------------------------------------------
// 4. Ranges (fetchpool get -c against a .part left by an earlier run)

TEST_CASE("every 206 is checked against the Range sent", "[http][range]") {
  LocalServer server(ServerOptions{});
  const ScratchDir scratch("strict-range");
  const auto& dir = scratch.path();
  const auto base = server.base_url();
  const fetchpool::testing::GetIntoDirectory get(dir);
  SECTION("an earlier start than asked is written at its offset") {
    std::ofstream(dir / "200000.part", std::ios::binary) << pattern_bytes(0, 70000);
    const auto [code, record] = get(base + "/bytes/200000?early=1000", {"--continue"});
    CHECK(code == 0);
    CHECK(record["ok"] == true);
    CHECK(read_file(dir / "200000") == pattern_bytes(0, 200000));
  }
  SECTION("a 206 to a request without Range is an error, never a complete file") {
    const auto [code, record] = get(base + "/fault/range?start=0&end=99&total=1000");
    CHECK(code == fetchpool::cli::kExitSomeFailed);
    CHECK(record["ok"] == false);
    CHECK(record["error"]["class"] == "protocol_error");
    CHECK_FALSE(fs::exists(dir / "range"));
  }
  SECTION("a range that ends before the total leaves a part to resume, not a file") {
    std::ofstream(dir / "range.part", std::ios::binary) << pattern_bytes(0, 100);
    const auto [code, record] = get(base + "/fault/range?start=100&end=199&total=1000", {"--continue"});
    CHECK(record["error"]["class"] == "truncated");
    CHECK_FALSE(fs::exists(dir / "range"));
    CHECK(read_file(dir / "range.part") == pattern_bytes(0, 200));
  }
  SECTION("a range that starts after the part's end is refused and the part kept") {
    std::ofstream(dir / "range.part", std::ios::binary) << pattern_bytes(0, 50);
    const auto [code, record] = get(base + "/fault/range?start=100&end=999&total=1000", {"--continue"});
    CHECK(record["error"]["class"] == "protocol_error");
    CHECK_FALSE(fs::exists(dir / "range"));
    CHECK(read_file(dir / "range.part") == pattern_bytes(0, 50));
  }
}

// ---------------------------------------------------------------------------
// 5. The entity as sent, and the file size cap

TEST_CASE("downloads keep the entity as sent unless --compressed, under --max-filesize", "[http][download]") {
  LocalServer server(ServerOptions{});
  const ScratchDir scratch("strict-entity");
  const auto& dir = scratch.path();
  const auto base = server.base_url();
  const fetchpool::testing::GetIntoDirectory get(dir);
  SECTION("a gzip-coded body is saved coded, byte for byte") {
    const auto [code, record] = get(base + "/gzip-bomb?mib=64");
    CHECK(code == 0);
    const auto saved = fs::file_size(dir / "gzip-bomb");
    CHECK(saved < 1u << 20);  // ~64 KiB on the wire, not 64 MiB
    CHECK(record["bytes"] == saved);
    const auto text = read_file(dir / "gzip-bomb");
    CHECK(static_cast<unsigned char>(text[0]) == 0x1f);
  }
  SECTION("--compressed saves it decoded") {
    const auto [code, record] = get(base + "/gzip-file?size=100000", {"--compressed"});
    CHECK(code == 0);
    CHECK(read_file(dir / "gzip-file") == pattern_bytes(0, 100000));
  }
  SECTION("--max-filesize caps decoded bytes") {
    const auto [code, record] = get(base + "/gzip-bomb?mib=64", {"--compressed", "--max-filesize", "1000000"});
    CHECK(code == fetchpool::cli::kExitSomeFailed);
    CHECK(record["error"]["class"] == "too_large");
    CHECK_FALSE(fs::exists(dir / "gzip-bomb"));
  }
  SECTION("--max-filesize refuses a declared Content-Length before any byte") {
    const auto [code, record] = get(base + "/bytes/5000", {"--max-filesize", "4999"});
    CHECK(record["error"]["class"] == "too_large");
    CHECK_FALSE(fs::exists(dir / "5000"));
  }
}

// ---------------------------------------------------------------------------
// 6. Input lines

TEST_CASE("a BOM before the first URL is stripped, and control characters make a line invalid and unfetched",
          "[http][input]") {
  LocalServer server(ServerOptions{});
  const ScratchDir scratch("strict-input");
  const auto& dir = scratch.path();
  const auto base = server.base_url();
  const auto list = dir / "list.txt";
  {
    std::ofstream out(list, std::ios::binary);
    out << "\xEF\xBB\xBF" << base << "/s/0/1.html\n";
    out << base << "/s/0/2.html" << std::string(1, '\0') << "x\n";
    out << base << "/s/0/3\x01.html\r\n";
    out << base << "/s/0/4.html\n";
  }
  const auto results = dir / "results.jsonl";
  CHECK(fetchpool::testing::run_fetchpool({"-q", "get", "-i", list.string(), "--results", results.string()}) ==
        fetchpool::cli::kExitSomeFailed);
  std::map<std::uint64_t, nlohmann::json> by_line;
  std::ifstream in(results);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    by_line[j["line"].get<std::uint64_t>()] = j;
  }
  REQUIRE(by_line.size() == 4);
  CHECK(by_line[1]["ok"] == true);
  CHECK(by_line[1]["url"] == base + "/s/0/1.html");
  CHECK(by_line[2]["error"]["class"] == "invalid_url");
  CHECK_THAT(by_line[2]["error"]["message"].get<std::string>(),
             Catch::Contains("line 2") && Catch::Contains("control character 0x00"));
  CHECK(by_line[3]["error"]["class"] == "invalid_url");
  CHECK_THAT(by_line[3]["error"]["message"].get<std::string>(), Catch::Contains("0x01"));
  CHECK(by_line[4]["ok"] == true);
  CHECK(server.requests_for("/s/0/2.html") == 0);
  CHECK(server.requests_for("/s/0/2.html%00x") == 0);
  CHECK(server.requests_for("/s/0/3.html") == 0);
}
