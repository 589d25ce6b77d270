// The --status server against a live crawl of the built-in site: status.json
// and /metrics read while the workers fetch (the metrics checked by
// Prometheus' own promtool), the page rendered by a real headless browser
// (chromium) and its numbers compared with status.json, and the token rules.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <httplib.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/engine.hpp"
#include "fetchpool/sinks.hpp"
#include "fetchpool/status_server.hpp"
#include "support/child_process.hpp"
#ifdef FETCHPOOL_WITH_REDIS
#include "fetchpool/redis_frontier.hpp"
#include "fetchpool/redis_uri.hpp"
#include "support/redis_server.hpp"
#endif
#include "support/scratch_dir.hpp"
#include "tools/testsite/local_server.hpp"

using namespace fetchpool;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// A program the test needs, from PATH (scripts/install-deps.sh installs it).
std::string program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const auto candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  FAIL(name << " is not installed: run scripts/install-deps.sh");
  return {};
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs args with stdin from `input`, stdout to `output` and stderr to `errors`
// (empty: to `output` too); returns its exit code.
int run(std::vector<std::string> args, const std::filesystem::path& input, const std::filesystem::path& output,
        const std::filesystem::path& errors = {}) {
  const int in = ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
  const int out = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(in >= 0);
  REQUIRE(out >= 0);
  const pid_t pid =
      fetchpool::testing::spawn_with_fds(std::move(args), in, out, errors.string(), errors.empty() ? out : -1);
  ::close(in);
  ::close(out);
  return fetchpool::testing::wait_exit(pid, 120s);  // a bound for a hung child, far above its few seconds
}

json get_json(httplib::Client& client, const std::string& path) {
  auto response = client.Get(path);
  REQUIRE(response);
  REQUIRE(response->status == 200);
  return json::parse(response->body);
}

// The numbers a page shows: element id -> text, for every id="v-...".
std::map<std::string, std::string> page_numbers(const std::string& dom) {
  std::map<std::string, std::string> numbers;
  const std::regex cell(R"re(id="(v-[a-z0-9-]+)">([^<]*)<)re");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), cell); it != std::sregex_iterator(); ++it)
    numbers[(*it)[1].str()] = (*it)[2].str();
  return numbers;
}

// Loads `url` in headless chromium and returns the DOM after its scripts ran.
std::string rendered_dom(const std::string& url, const std::filesystem::path& scratch) {
  const auto out = scratch / "dom.html";
  const auto log = scratch / "chromium.log";
  const auto profile = scratch / "profile";
  std::filesystem::create_directories(profile);
  // --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
  const int rc = run({program("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                      "--user-data-dir=" + profile.string(), "--dump-dom", url},
                     "/dev/null", out, log);
  INFO(read_file(log));
  REQUIRE(rc == 0);
  return read_file(out);
}

struct LiveCrawl {
  explicit LiveCrawl(std::uint32_t pages, std::chrono::milliseconds latency) {
    ServerOptions options;
    options.site.pages = pages;
    options.latency = latency;
    site = std::make_unique<LocalServer>(options);
    EngineOptions o;
    o.workers = 4;
    o.follow_links = true;
    o.robots = true;
    o.frontier.max_depth = 1'000'000;
    o.retry.max_retries = 0;
    o.scope = ScopeOptions{};
    engine = std::make_unique<CrawlEngine>(o, sink);
    REQUIRE(engine->set_seeds({site->base_url() + "/"}).ok());
  }
  void start() {
    engine->start();
    engine->add(site->base_url() + "/", 0);
    engine->finish_input();
  }
  std::unique_ptr<LocalServer> site;
  MemorySink sink;
  std::unique_ptr<CrawlEngine> engine;
};

double metric(const std::string& text, const std::string& line_start) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line))
    if (line.rfind(line_start + " ", 0) == 0) return std::stod(line.substr(line_start.size() + 1));
  FAIL("no metric line starting with " << line_start);
  return 0;
}

}  // namespace

TEST_CASE("status addresses: a bare port is loopback, bad ones are named", "[status]") {
  auto bare = parse_status_address("0");
  REQUIRE(bare);
  CHECK(bare->host == "127.0.0.1");
  CHECK(bare->port == 0);
  auto v6 = parse_status_address("[::1]:9000");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 9000);
  for (const char* bad : {"", "http", "1.2.3.4:", ":80", "host:99999", "host:8o"}) {
    INFO(bad);
    const auto parsed = parse_status_address(bad);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == ErrorCode::kConfig);
  }
  CHECK(is_loopback_host("127.0.0.1"));
  CHECK(is_loopback_host("127.8.9.10"));
  CHECK(is_loopback_host("::1"));
  CHECK(is_loopback_host("localhost"));
  CHECK_FALSE(is_loopback_host("0.0.0.0"));
  CHECK_FALSE(is_loopback_host("::"));
  CHECK_FALSE(is_loopback_host("192.0.2.1"));
}

TEST_CASE("status.json and /metrics follow a live crawl, and promtool accepts the metrics", "[status]") {
  LiveCrawl crawl(300, 40ms);
  // A named value: GCC 12 warns (-Wmaybe-uninitialized, a false positive) on a
  // temporary's string member moved through Result.
  const StatusOptions defaults;
  auto server = StatusServer::start(*crawl.engine, defaults);
  REQUIRE(server);
  CHECK((*server)->port() != 0);  // port 0 became a real one
  httplib::Client client("127.0.0.1", (*server)->port());
  fetchpool::testing::ScratchDir dir("status-metrics");

  crawl.start();
  bool saw_live = false;
  std::uint64_t last_done = 0;
  std::string live_metrics;
  // 300 pages at 40 ms on 4 workers take about 3 s; read until one reading
  // catches the workers mid-crawl (bounded in count).
  for (int i = 0; i < 400 && !saw_live; ++i) {
    const json status = get_json(client, "/status.json");
    const std::uint64_t done = status["node"]["done"];
    CHECK(done >= last_done);  // counters only grow
    last_done = done;
    if (done > 0 && !status["in_flight"].empty() && !status["crawl"]["finished"].get<bool>()) {
      saw_live = true;
      for (const auto& u : status["in_flight"]) {
        CHECK(u["url"].get<std::string>().rfind(crawl.site->base_url(), 0) == 0);
        CHECK(u["elapsed_s"].get<double>() >= 0);
      }
      CHECK(status["hosts"].size() == 1);
      CHECK(status["hosts"][0]["host"] == crawl.site->base_url());
      CHECK(status["node"]["latency_ms"]["p50"].get<double>() >= 40);  // the site's latency
      CHECK(status["remaining"].get<std::uint64_t>() > 0);
      auto response = client.Get("/metrics");
      REQUIRE(response);
      CHECK(response->status == 200);
      live_metrics = response->body;
    }
    std::this_thread::sleep_for(10ms);
  }
  CHECK(saw_live);
  const auto summary = crawl.engine->wait();

  // The live metrics pass Prometheus' own checker (format and naming lint).
  std::ofstream(dir.path() / "live.prom") << live_metrics;
  const int live_rc = run({program("promtool"), "check", "metrics"}, dir.path() / "live.prom", dir.path() / "out");
  INFO(read_file(dir.path() / "out"));
  CHECK(live_rc == 0);

  // Once the run is over both views agree with the engine's own summary.
  const json status = get_json(client, "/status.json");
  auto response = client.Get("/metrics");
  REQUIRE(response);
  const std::string metrics = response->body;
  std::ofstream(dir.path() / "final.prom") << metrics;
  CHECK(run({program("promtool"), "check", "metrics"}, dir.path() / "final.prom", dir.path() / "out") == 0);
  CHECK(status["node"]["done"] == summary.stats.done);
  // The node's counts are --stats-json's; status.json keeps `errors` and its raw by_status keys beside them.
  CHECK(status["node"]["by_error"] == status["node"]["errors"]);
  CHECK(status["node"]["by_error"]["robots_disallowed"] == summary.stats.by_error.at("robots_disallowed"));
  CHECK(status["node"]["no_response"] == summary.stats.by_status.at(0));
  CHECK(status["node"]["by_status"]["0"] == summary.stats.by_status.at(0));
  CHECK(status["crawl"]["finished"] == true);
  CHECK(status["eta_s"] == 0.0);
  CHECK(metric(metrics, "fetchpool_urls_total{outcome=\"ok\"}") == static_cast<double>(summary.stats.ok));
  CHECK(metric(metrics, "fetchpool_urls_total{outcome=\"skipped\"}") == static_cast<double>(summary.stats.skipped));
  // Latency is counted for requests sent: not for robots-disallowed URLs.
  const std::uint64_t sent = summary.stats.done - summary.stats.skipped;
  CHECK(metric(metrics, "fetchpool_request_duration_seconds_count") == static_cast<double>(sent));
  CHECK(metric(metrics, "fetchpool_errors_total{class=\"robots_disallowed\"}") ==
        static_cast<double>(summary.stats.by_error.at("robots_disallowed")));
  CHECK(metric(metrics, "fetchpool_request_duration_seconds_bucket{le=\"0.025\"}") <=
        metric(metrics, "fetchpool_request_duration_seconds_bucket{le=\"0.05\"}"));
  std::uint64_t histogram_total = 0;
  for (const auto& bucket : status["latency_histogram"]) histogram_total += bucket["count"].get<std::uint64_t>();
  CHECK(histogram_total == sent);
}

TEST_CASE("the status page rendered by headless chromium shows status.json's numbers", "[status]") {
  LiveCrawl crawl(400, 60ms);
  // A named value: GCC 12 warns (-Wmaybe-uninitialized, a false positive) on a
  // temporary's string member moved through Result.
  const StatusOptions defaults;
  auto server = StatusServer::start(*crawl.engine, defaults);
  REQUIRE(server);
  httplib::Client client("127.0.0.1", (*server)->port());
  fetchpool::testing::ScratchDir dir("status-page");
  crawl.start();

  // Live: the page's count lies between the readings taken around its load.
  const std::uint64_t before = get_json(client, "/status.json")["node"]["done"];
  const auto live = page_numbers(rendered_dom((*server)->url(), dir.path()));
  const std::uint64_t after = get_json(client, "/status.json")["node"]["done"];
  REQUIRE(live.count("v-done") == 1);
  const std::uint64_t shown = std::stoull(live.at("v-done"));
  CHECK(before <= shown);
  CHECK(shown <= after);

  crawl.engine->wait();
  // Finished: every number that no longer moves is the same on the page.
  const json status = get_json(client, "/status.json");
  const auto page = page_numbers(rendered_dom((*server)->url(), dir.path()));
  const auto as_int = [](const json& v) { return std::to_string(v.get<std::uint64_t>()); };
  const auto one_decimal = [](const json& v) {
    std::ostringstream out;
    out.setf(std::ios::fixed);
    out.precision(1);
    out << v.get<double>();
    return out.str();
  };
  const json& node = status["node"];
  const json& frontier = status["crawl"];
  const std::map<std::string, std::string> expected = {
      {"v-done", as_int(node["done"])},
      {"v-ok", as_int(node["ok"])},
      {"v-failed", as_int(node["failed"])},
      {"v-skipped", as_int(node["skipped"])},
      {"v-retries", as_int(node["retries"])},
      {"v-queued", as_int(frontier["queued"])},
      {"v-in-flight", as_int(frontier["in_flight"])},
      {"v-delayed", as_int(frontier["delayed"])},
      {"v-hosts", as_int(frontier["hosts"])},
      {"v-seen", as_int(frontier["seen"])},
      {"v-eta", "0"},
      {"v-p50", one_decimal(node["latency_ms"]["p50"])},
      {"v-p95", one_decimal(node["latency_ms"]["p95"])},
      {"v-p99", one_decimal(node["latency_ms"]["p99"])},
  };
  for (const auto& [id, value] : expected) {
    INFO(id);
    REQUIRE(page.count(id) == 1);
    CHECK(page.at(id) == value);
  }
  CHECK(node["done"].get<std::uint64_t>() > 100);
}

TEST_CASE("a status server beyond loopback needs a token, and a token is then required of every request", "[status]") {
  LiveCrawl crawl(5, 0ms);
  StatusOptions open;
  open.address.host = "0.0.0.0";
  const auto refused = StatusServer::start(*crawl.engine, open);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == ErrorCode::kConfig);

  StatusOptions guarded;
  guarded.token = "s3cret";
  auto server = StatusServer::start(*crawl.engine, guarded);
  REQUIRE(server);
  httplib::Client client("127.0.0.1", (*server)->port());
  for (const char* path : {"/", "/status.json", "/metrics", "/status.json?token=wrong"}) {
    INFO(path);
    auto response = client.Get(path);
    REQUIRE(response);
    CHECK(response->status == 401);
  }
  CHECK(client.Get("/status.json?token=s3cret")->status == 200);
  CHECK(client.Get("/?token=s3cret")->status == 200);
  httplib::Headers bearer = {{"Authorization", "Bearer s3cret"}};
  CHECK(client.Get("/metrics", bearer)->status == 200);
}

TEST_CASE("fetchpool get --status: a non-loopback address without a token is a usage error", "[status]") {
  fetchpool::testing::ScratchDir dir("status-cli");
  std::ofstream(dir.path() / "urls.txt") << "http://127.0.0.1:1/\n";
  const int rc = run({FETCHPOOL_BINARY, "-q", "get", "-i", (dir.path() / "urls.txt").string(), "--results",
                      (dir.path() / "out.jsonl").string(), "--status", "0.0.0.0:0"},
                     "/dev/null", dir.path() / "log");
  INFO(read_file(dir.path() / "log"));
  CHECK(rc == 2);
  CHECK(read_file(dir.path() / "log").find("token") != std::string::npos);
  // Refused before any output is opened: no results file, no -P directory left behind.
  CHECK_FALSE(std::filesystem::exists(dir.path() / "out.jsonl"));
  CHECK(run({FETCHPOOL_BINARY, "-q", "get", "http://127.0.0.1:1/", "-P", (dir.path() / "files").string(), "--status",
             "192.0.2.1:0"},
            "/dev/null", dir.path() / "log") == 2);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "files"));
  CHECK(run({FETCHPOOL_BINARY, "-q", "crawl", "http://127.0.0.1:1/", "--results", (dir.path() / "crawl.jsonl").string(),
             "--status", "0.0.0.0:0"},
            "/dev/null", dir.path() / "log") == 2);
  CHECK(read_file(dir.path() / "log").find("token") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "crawl.jsonl"));
}

TEST_CASE("fetchpool get --status 0 prints the URL of the port it got", "[status]") {
  LocalServer site(ServerOptions{});
  fetchpool::testing::ScratchDir dir("status-cli-port");
  std::ofstream(dir.path() / "urls.txt") << site.base_url() << "/status/200\n";
  const int rc = run({FETCHPOOL_BINARY, "get", "-i", (dir.path() / "urls.txt").string(), "--results",
                      (dir.path() / "out.jsonl").string(), "--progress", "none", "--status", "0"},
                     "/dev/null", dir.path() / "log");
  const std::string log = read_file(dir.path() / "log");
  INFO(log);
  CHECK(rc == 0);
  std::smatch printed;
  REQUIRE(std::regex_search(log, printed, std::regex(R"(fetchpool: status at http://127\.0\.0\.1:([0-9]+)/)")));
  CHECK(std::stoul(printed[1].str()) > 0);
}

#ifdef FETCHPOOL_WITH_REDIS
TEST_CASE("a shared crawl's status shows this node's records and the whole crawl's frontier", "[status]") {
  fetchpool::testing::RedisServer redis;
  ServerOptions site_options;
  site_options.site.pages = 150;
  site_options.latency = 10ms;
  LocalServer site(site_options);
  const std::string seed = site.base_url() + "/";
  EngineOptions o;
  o.workers = 3;
  o.follow_links = true;
  o.robots = true;
  o.frontier.max_depth = 1'000'000;
  o.retry.max_retries = 0;
  o.scope = ScopeOptions{};
  const auto open_frontier = [&] {
    auto uri = parse_redis_uri(redis.uri("status-shared"));
    REQUIRE(uri);
    auto frontier = RedisFrontier::connect(*uri, o.frontier);
    REQUIRE(frontier);
    return std::unique_ptr<Frontier>(std::move(*frontier));
  };
  // Two nodes of one crawl, in one process: each with its own sink and status.
  MemorySink sink_a;
  MemorySink sink_b;
  CrawlEngine a(o, sink_a, open_frontier());
  CrawlEngine b(o, sink_b, open_frontier());
  const StatusOptions defaults;  // named: see above (GCC 12 false positive)
  auto status_a = StatusServer::start(a, defaults);
  auto status_b = StatusServer::start(b, defaults);
  REQUIRE(status_a);
  REQUIRE(status_b);
  for (CrawlEngine* node : {&a, &b}) {
    REQUIRE(node->set_seeds({seed}).ok());
    node->start();
    node->add(seed, 1);
    node->finish_input();
  }
  a.wait();
  b.wait();
  httplib::Client client_a("127.0.0.1", (*status_a)->port());
  httplib::Client client_b("127.0.0.1", (*status_b)->port());
  const json from_a = get_json(client_a, "/status.json");
  const json from_b = get_json(client_b, "/status.json");
  // This node: its own records only.
  CHECK(from_a["node"]["done"] == sink_a.size());
  CHECK(from_b["node"]["done"] == sink_b.size());
  CHECK(sink_a.size() + sink_b.size() > 150);  // every page once, across both nodes
  // The whole crawl: the shared frontier's counts, the same from either node.
  CHECK(from_a["crawl"]["shared"] == true);
  CHECK(from_a["crawl"]["seen"] == from_b["crawl"]["seen"]);
  CHECK(from_a["crawl"]["seen"].get<std::uint64_t>() >= sink_a.size() + sink_b.size());
  CHECK(from_a["crawl"]["finished"] == true);
  CHECK(from_b["crawl"]["finished"] == true);
}
#endif
