// The HTTP flags curl and wget users reach for, end to end: the CLI against
// the built-in server, which echoes request headers (/headers), sets cookies
// (/cookies/set), asks for basic auth (/basic-auth) and, given an
// absolute-form request target, answers as a proxy would.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/cli_runner.hpp"
#include "tools/cli/cli.hpp"
#include "tools/testsite/local_server.hpp"

namespace fs = std::filesystem;
using fetchpool::testing::run_fetchpool;
using fetchpool::testing::run_fetchpool_capturing;
using fetchpool::testing::ScratchDir;

namespace {

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<nlohmann::json> read_jsonl(const fs::path& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> records;
  for (std::string line; std::getline(in, line);) records.push_back(nlohmann::json::parse(line));
  return records;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("headers: -H and --referer reach the server, a -H replaces fetchpool's header of that name", "[cli][http]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("http-headers");
  const auto dir = scratch.path() / "files";
  CHECK(run_fetchpool({"-q", "get", server.base_url() + "/headers", "-P", dir.string(), "-H", "X-Api-Key: k123", "-H",
                       "User-Agent: custom/9", "--referer", "http://from.example/page", "-o",
                       (scratch.path() / "r.jsonl").string()}) == 0);
  const std::string echoed = slurp(dir / "headers");
  CHECK(contains(echoed, "X-Api-Key: k123\n"));
  CHECK(contains(echoed, "User-Agent: custom/9\n"));
  CHECK_FALSE(contains(echoed, "fetchpool/"));
  CHECK(contains(echoed, "Referer: http://from.example/page\n"));
}

TEST_CASE("cookies: --cookie sends, servers' cookies are shared by the workers, saved and loaded", "[cli][http]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("http-cookies");
  const std::string base = server.base_url();

  SECTION("--cookie NAME=VALUE") {
    CHECK(run_fetchpool({"-q", "get", base + "/headers", "-P", (scratch.path() / "a").string(), "--cookie",
                         "theme=dark; lang=en"}) == 0);
    CHECK(contains(slurp(scratch.path() / "a" / "headers"), "Cookie: theme=dark; lang=en\n"));
  }
  SECTION("a Set-Cookie answer is sent by later requests, written to --cookie-jar, read by --load-cookies") {
    const auto jar = scratch.path() / "jar.txt";
    // One worker, so the list runs in order: the cookie is set before /headers asks.
    CHECK(run_fetchpool({"-q", "get", base + "/cookies/set?session=abc123", base + "/headers", "-j", "1", "-P",
                         (scratch.path() / "b").string(), "--cookie-jar", jar.string()}) == 0);
    CHECK(contains(slurp(scratch.path() / "b" / "headers"), "Cookie: session=abc123\n"));
    const std::string saved = slurp(jar);
    CHECK(saved.rfind("# Netscape HTTP Cookie File\n", 0) == 0);
    CHECK(contains(saved, "\tsession\tabc123\n"));
    struct stat info {};
    REQUIRE(::stat(jar.c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);

    CHECK(run_fetchpool({"-q", "get", base + "/headers", "-P", (scratch.path() / "c").string(), "--load-cookies",
                         jar.string()}) == 0);
    CHECK(contains(slurp(scratch.path() / "c" / "headers"), "Cookie: session=abc123\n"));
  }
  SECTION("many workers share one jar") {
    const auto list = scratch.path() / "list.txt";
    {
      std::ofstream out(list);
      for (int i = 0; i < 20; ++i) out << base << "/cookies/set?c" << i << "=v" << i << "\n";
    }
    const auto jar = scratch.path() / "jar20.txt";
    CHECK(run_fetchpool({"-q", "get", "-i", list.string(), "-j", "8", "--cookie-jar", jar.string(), "-o",
                         (scratch.path() / "r.jsonl").string()}) == 0);
    const std::string saved = slurp(jar);
    for (int i = 0; i < 20; ++i) CHECK(contains(saved, "\tc" + std::to_string(i) + "\tv" + std::to_string(i) + "\n"));
  }
}

TEST_CASE("basic auth: 401 without --user, 200 with, the password never printed or recorded", "[cli][http]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("http-auth");
  const std::string url = server.base_url() + "/basic-auth?user=alice&pass=";
  const std::string password = "Pw-9f3e7";
  const auto results = scratch.path() / "r.jsonl";
  CHECK(run_fetchpool({"-q", "get", url + password, "-o", results.string()}) == fetchpool::cli::kExitSomeFailed);
  CHECK(read_jsonl(results).at(0)["status"] == 401);

  CHECK(run_fetchpool({"-q", "get", url + password, "--user", "alice:" + password, "-o", results.string()}) == 0);
  CHECK(read_jsonl(results).at(0)["status"] == 200);

  // wget's spelling, with -v logging every outcome and a stats file.
  const auto stats = scratch.path() / "stats.json";
  const auto run =
      run_fetchpool_capturing({"-v", "get", server.base_url() + "/basic-auth?user=alice&pass=x%21y", "--user", "alice",
                               "--password", "x!y", "-o", results.string(), "--stats-json", stats.string()},
                              scratch.path());
  CHECK(run.exit_code == 0);
  CHECK(read_jsonl(results).at(0)["status"] == 200);
  // The URL keeps "x%21y" encoded, so the only place "x!y" could come from is --password.
  CHECK_FALSE(contains(run.output, "x!y"));
  CHECK_FALSE(contains(slurp(results), "x!y"));
  CHECK_FALSE(contains(slurp(stats), "x!y"));
}

TEST_CASE("proxy: --proxy sends requests through the proxy, --noproxy bypasses it, http_proxy works too",
          "[cli][http]") {
  fetchpool::LocalServer proxy(fetchpool::ServerOptions{});
  const ScratchDir scratch("http-proxy");
  // A host that cannot resolve: only the proxy can answer for it.
  const std::string url = "http://proxied.invalid/headers";
  CHECK(run_fetchpool({"-q", "get", url, "--proxy", proxy.base_url(), "-P", (scratch.path() / "a").string()}) == 0);
  CHECK(contains(slurp(scratch.path() / "a" / "headers"), "Host: proxied.invalid\n"));
  CHECK(proxy.requests_for("/headers") == 1);

  const auto results = scratch.path() / "r.jsonl";
  CHECK(run_fetchpool({"-q", "get", url, "--proxy", proxy.base_url(), "--noproxy", "proxied.invalid", "-t", "1", "-o",
                       results.string()}) == fetchpool::cli::kExitSomeFailed);
  CHECK(read_jsonl(results).at(0)["error"]["class"] == "dns");
  CHECK(proxy.requests_for("/headers") == 1);

  ::setenv("http_proxy", proxy.base_url().c_str(), 1);
  const int via_environment = run_fetchpool({"-q", "get", url, "-o", results.string()});
  ::unsetenv("http_proxy");
  CHECK(via_environment == 0);
  CHECK(proxy.requests_for("/headers") == 2);
}

TEST_CASE("redirects: --max-redirect bounds the redirects followed", "[cli][http]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("http-redirect");
  const auto results = scratch.path() / "r.jsonl";
  CHECK(run_fetchpool({"-q", "get", server.base_url() + "/redirect/3", "--max-redirect", "2", "-t", "1", "-o",
                       results.string()}) == fetchpool::cli::kExitSomeFailed);
  CHECK(read_jsonl(results).at(0)["error"]["class"] == "too_many_redirects");
  CHECK(run_fetchpool(
            {"-q", "get", server.base_url() + "/redirect/3", "--max-redirect", "3", "-o", results.string()}) == 0);
}

TEST_CASE("spider: --spider sends HEAD and saves nothing", "[cli][http]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("http-spider");
  const auto results = scratch.path() / "r.jsonl";
  CHECK(run_fetchpool({"-q", "get", server.base_url() + "/bytes/5000", server.base_url() + "/status/404", "--spider",
                       "-o", results.string()}) == fetchpool::cli::kExitSomeFailed);
  for (const auto& r : read_jsonl(results)) {
    CHECK(r["bytes"] == 0);
    CHECK((r["status"] == 200 || r["status"] == 404));
  }
  CHECK(run_fetchpool({"-q", "get", server.base_url() + "/", "--head", "-P", (scratch.path() / "d").string()}) ==
        fetchpool::cli::kExitUsage);
}

TEST_CASE("tls flags: -k, --http1.1, --http2 and --cacert are accepted, a missing CA file is a usage error",
          "[cli][http]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("http-tls");
  const auto results = scratch.path() / "r.jsonl";
  CHECK(run_fetchpool({"-q", "get", server.base_url() + "/", "-k", "--http1.1", "-o", results.string()}) == 0);
  CHECK(read_jsonl(results).at(0)["ok"] == true);
  CHECK(run_fetchpool({"-q", "get", server.base_url() + "/", "--http2", "-o", results.string()}) == 0);
  CHECK(run_fetchpool({"-q", "get", server.base_url() + "/", "--http1.1", "--http2"}) == fetchpool::cli::kExitUsage);
  const auto run = run_fetchpool_capturing(
      {"get", server.base_url() + "/", "--cacert", (scratch.path() / "none.pem").string()}, scratch.path());
  CHECK(run.exit_code == fetchpool::cli::kExitUsage);
  CHECK(run.output.rfind("fetchpool: ", 0) == 0);
  CHECK(contains(run.output, "none.pem"));
}

TEST_CASE("rate limits: --limit-rate caps one transfer, --limit-rate-total all of them", "[cli][http]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("http-rate");
  const auto results = scratch.path() / "r.jsonl";
  using Clock = std::chrono::steady_clock;
  constexpr double kRate = 100 * 1024;
  // Only the lower bound is checked (the machine may be slow, never fast):
  // at the limit, 300 KiB take 3 s; 2 s leaves room for curl's first burst.
  const auto start = Clock::now();
  CHECK(run_fetchpool(
            {"-q", "get", server.base_url() + "/bytes/307200", "--limit-rate", "100k", "-o", results.string()}) == 0);
  const double one = std::chrono::duration<double>(Clock::now() - start).count();
  CHECK(read_jsonl(results).at(0)["bytes"] == 307200);
  CHECK(307200 / one <= kRate * 1.5);

  // Three transfers at once share 100 KiB/s: 300 KiB in all again.
  const auto start_total = Clock::now();
  CHECK(run_fetchpool({"-q", "get", server.base_url() + "/bytes/102400?a", server.base_url() + "/bytes/102400?b",
                       server.base_url() + "/bytes/102400?c", "-j", "3", "--limit-rate-total", "100k", "-o",
                       results.string()}) == 0);
  const double all = std::chrono::duration<double>(Clock::now() - start_total).count();
  CHECK(read_jsonl(results).size() == 3);
  CHECK(307200 / all <= kRate * 1.5);

  CHECK(run_fetchpool({"-q", "get", server.base_url() + "/", "--limit-rate", "fast"}) == fetchpool::cli::kExitUsage);
}

TEST_CASE("aria2-style option lines in -i: out= names the file, header= adds a header to that URL only",
          "[cli][http]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("http-aria2");
  const auto list = scratch.path() / "list.txt";
  const std::string base = server.base_url();
  {
    std::ofstream out(list);
    out << base << "/headers?one\n"
        << "  out=first.txt\n"
        << "\theader=X-Token: t-1\n"
        << "  referer=http://from.example/\n"
        << base << "/headers?two\n"
        << "  out=../escape/second.txt\n"
        << base << "/headers?three\n"
        << "  colour=blue\n";
  }
  const auto dir = scratch.path() / "files";
  const auto results = scratch.path() / "r.jsonl";
  const auto run = run_fetchpool_capturing(
      {"get", "-i", list.string(), "-P", dir.string(), "-o", results.string(), "--progress", "none"}, scratch.path());
  CHECK(run.exit_code == 0);
  const std::string first = slurp(dir / "first.txt");
  CHECK(contains(first, "X-Token: t-1\n"));
  CHECK(contains(first, "Referer: http://from.example/\n"));
  // The name is sanitised like a URL's: it cannot leave the directory.
  CHECK(fs::exists(dir / "second.txt"));
  CHECK_FALSE(fs::exists(scratch.path() / "escape"));
  CHECK_FALSE(contains(slurp(dir / "second.txt"), "X-Token"));
  // One record per URL, numbered by the URL's own line.
  std::vector<int> lines;
  for (const auto& r : read_jsonl(results)) lines.push_back(r["line"].get<int>());
  std::sort(lines.begin(), lines.end());
  CHECK(lines == std::vector<int>{1, 5, 7});
  CHECK(contains(run.output, "line 8: unknown per-URL option 'colour'"));
}

TEST_CASE("a redirect to another origin carries none of the user's credentials or headers", "[cli][http]") {
  fetchpool::LocalServer first(fetchpool::ServerOptions{});
  fetchpool::LocalServer other(fetchpool::ServerOptions{});
  const ScratchDir scratch("http-cross-origin");
  const auto dir = scratch.path() / "files";
  const auto results = scratch.path() / "r.jsonl";
  const std::string same_origin = first.base_url() + "/redirect-to?url=/headers";
  const std::string cross_origin = first.base_url() + "/redirect-to?url=" + other.base_url() + "/headers";
  CHECK(run_fetchpool({"-q", "get", same_origin, cross_origin, "-P", dir.string(), "-H", "X-Api-Key: k123", "--user",
                       "alice:secret", "-o", results.string()}) == 0);
  const auto records = read_jsonl(results);
  REQUIRE(records.size() == 2);
  for (const auto& record : records) {
    INFO(record.dump());
    REQUIRE(record["ok"] == true);
    CHECK(record["redirects"] == 1);
    const std::string echoed = slurp(dir / record["path"].get<std::string>());
    if (record["url"] == same_origin) {
      CHECK(contains(echoed, "X-Api-Key: k123\n"));
      CHECK(contains(echoed, "Authorization: Basic "));
    } else {
      CHECK_FALSE(contains(echoed, "X-Api-Key"));
      CHECK_FALSE(contains(echoed, "Authorization"));
      CHECK(contains(echoed, "User-Agent: fetchpool/"));  // fetchpool's own headers are still sent
    }
  }
}
