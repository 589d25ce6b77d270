// --warc-file end to end: `crawl` and `get` against the built-in server, the
// archive read back by warcio.js (tests/warc_reader) and by offset from its
// CDXJ index, hostile answers, rollover and a resumed --state run.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/cli_runner.hpp"
#include "support/warc_check.hpp"
#include "tools/cli/exit_codes.hpp"
#include "tools/testsite/local_server.hpp"

namespace fs = std::filesystem;
using fetchpool::testing::gzip_members;
using fetchpool::testing::inflate_member;
using fetchpool::testing::read_cdxj;
using fetchpool::testing::read_file_bytes;
using fetchpool::testing::read_with_warcio;
using fetchpool::testing::run_fetchpool;
using fetchpool::testing::run_fetchpool_capturing;
using fetchpool::testing::ScratchDir;

namespace {

void require_clean(const nlohmann::json& read) {
  INFO(read["errors"].dump());
  REQUIRE(read["errors"].empty());
  REQUIRE(read["unpaired"] == 0);
  REQUIRE(read["block_mismatches"] == 0);
  REQUIRE(read["payload_mismatches"] == 0);
  for (const auto& first : read["warcinfo_first"]) REQUIRE(first == true);
}

// Response records by URL (the last one when a URL was fetched twice).
std::map<std::string, nlohmann::json> responses_by_url(const nlohmann::json& read) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& record : read["records"])
    if (record["type"] == "response") out[record["uri"].get<std::string>()] = record;
  return out;
}

// Every CDXJ line names a whole gzip member holding that URL's response.
void require_index_points_at_records(const fs::path& index, const fs::path& directory, std::size_t expected) {
  const auto lines = read_cdxj(index);
  REQUIRE(lines.size() == expected);
  std::map<std::string, std::string> files;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto& line = lines[i];
    INFO(line.key);
    if (i > 0) CHECK(lines[i - 1].key <= line.key);
    const std::string name = line.fields["filename"];
    if (!files.contains(name)) files[name] = read_file_bytes(directory / name);
    const std::string record = inflate_member(files[name], std::stoull(line.fields["offset"].get<std::string>()),
                                              std::stoull(line.fields["length"].get<std::string>()));
    CHECK(record.starts_with("WARC/1.1\r\nWARC-Type: response\r\n"));
    CHECK(record.find("\r\nWARC-Target-URI: " + line.fields["url"].get<std::string>() + "\r\n") != std::string::npos);
  }
}

}  // namespace

TEST_CASE("warc: a crawl with -j 8 archives every exchange, robots.txt and each redirect hop included", "[cli][warc]") {
  fetchpool::ServerOptions options;
  options.site.pages = 80;
  fetchpool::LocalServer server(options);
  const ScratchDir scratch("warc-crawl");
  const fs::path name = scratch.path() / "site";
  const std::string base = server.base_url();
  const auto run =
      run_fetchpool_capturing({"crawl", base + "/", base + "/redirect/3", "-j", "8", "--warc-file", name.string(), "-o",
                               (scratch.path() / "r.jsonl").string(), "--progress", "none"},
                              scratch.path());
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const std::uint64_t requests = server.counters().requests;

  const auto read = read_with_warcio({scratch.path() / "site.warc.gz"});
  require_clean(read);
  REQUIRE(read["pairs"] == requests);  // one pair per request the server answered
  REQUIRE(read["content_failures"] == 0);
  const auto responses = responses_by_url(read);
  REQUIRE(responses.contains(base + "/robots.txt"));
  for (const char* hop : {"/redirect/3", "/redirect/2", "/redirect/1"}) {
    INFO(hop);
    REQUIRE(responses.contains(base + hop));
    CHECK(responses.at(base + hop)["status"] == 302);
  }
  CHECK(responses.at(base + "/")["status"] == 200);
  require_index_points_at_records(scratch.path() / "site.cdxj", scratch.path(), requests);
  CHECK(run.output.find("WARC: " + std::to_string(requests) + " exchanges archived") != std::string::npos);
}

TEST_CASE("warc: hostile answers give records whose digests match their bytes, or none", "[cli][warc]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("warc-hostile");
  const std::string base = server.base_url();
  const std::vector<std::string> archived = {
      base + "/fault/truncate?send=10&claim=100",  // body cut short
      base + "/fault/framing?kind=chunked-cut",    // chunked body cut short
      base + "/fault/framing?kind=big-header",     // a 60 KiB header field
      base + "/fault/range?start=10&end=99",       // a 206 nobody asked for
      base + "/bytes/3000?chunked=1",              // chunked: stored without its framing
      base + "/gzip-file?size=100000",             // Content-Encoding: gzip, stored coded
      base + "/status/404",
  };
  const std::vector<std::string> refused = {
      base + "/fault/framing?kind=huge-header",  // over libcurl's header limit
      base + "/fault/framing?kind=header-cut",   // the head never ends
      base + "/fault/framing?kind=no-header",
  };
  const fs::path list = scratch.path() / "list.txt";
  {
    std::ofstream out(list);
    for (const auto& url : archived) out << url << "\n";
    for (const auto& url : refused) out << url << "\n";
  }
  const auto run = run_fetchpool_capturing(
      {"get", "-i", list.string(), "-t", "1", "-j", "4", "--warc-file", (scratch.path() / "hostile").string(), "-o",
       (scratch.path() / "r.jsonl").string(), "--progress", "none"},
      scratch.path());
  INFO(run.output);
  REQUIRE(run.exit_code == fetchpool::cli::kExitSomeFailed);
  const auto read = read_with_warcio({scratch.path() / "hostile.warc.gz"});
  require_clean(read);
  REQUIRE(read["pairs"] == archived.size());
  const auto responses = responses_by_url(read);
  for (const auto& url : refused) CHECK_FALSE(responses.contains(url));
  CHECK(responses.at(archived[0])["truncated"] == "disconnect");
  CHECK(responses.at(archived[1])["truncated"] == "disconnect");
  CHECK(responses.at(archived[3])["status"] == 206);
  CHECK(responses.at(archived[5])["content_encoding"] == "gzip");
  // What a replay tool does with a whole record: decode its content as its head says.
  for (std::size_t i = 2; i < archived.size(); ++i) {
    INFO(archived[i]);
    CHECK(responses.at(archived[i])["truncated"].is_null());
    CHECK(responses.at(archived[i])["content_ok"] == true);
  }
  CHECK(responses.at(archived[4])["content_bytes"] == 3000);
  CHECK(responses.at(archived[5])["content_bytes"] == 100000);
  CHECK(run.output.find("; 3 without a whole response head") != std::string::npos);
}

TEST_CASE("warc: --warc-max-size rolls over to numbered files, each starting with warcinfo", "[cli][warc]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("warc-roll");
  std::vector<std::string> args = {"-q",
                                   "get",
                                   "-j",
                                   "4",
                                   "--warc-file",
                                   (scratch.path() / "roll").string(),
                                   "--warc-max-size",
                                   "4k",
                                   "-o",
                                   (scratch.path() / "r.jsonl").string()};
  for (int i = 0; i < 30; ++i) args.push_back(server.base_url() + "/bytes/" + std::to_string(5000 + i));
  REQUIRE(run_fetchpool(args) == 0);
  std::vector<fs::path> files;
  for (int i = 0; fs::exists(scratch.path() / ("roll-0000" + std::to_string(i) + ".warc.gz")); ++i)
    files.push_back(scratch.path() / ("roll-0000" + std::to_string(i) + ".warc.gz"));
  REQUIRE(files.size() >= 3);
  CHECK_FALSE(fs::exists(scratch.path() / "roll.warc.gz"));
  const auto read = read_with_warcio(files);
  require_clean(read);
  REQUIRE(read["pairs"] == 30);
  require_index_points_at_records(scratch.path() / "roll.cdxj", scratch.path(), 30);
  CHECK(run_fetchpool({"-q", "get", server.base_url() + "/", "--warc-file", "x", "--warc-max-size", "lots"}) ==
        fetchpool::cli::kExitUsage);
}

TEST_CASE("warc: a resumed --state run cuts a torn record and appends only what it fetches anew", "[cli][warc]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const ScratchDir scratch("warc-resume");
  const std::string base = server.base_url();
  const fs::path list = scratch.path() / "list.txt";
  const fs::path warc = scratch.path() / "run.warc.gz";
  auto write_list = [&](int count) {
    std::ofstream out(list);
    for (int i = 0; i < count; ++i) out << base << "/bytes/" << (100 + i) << "\n";
  };
  const std::vector<std::string> args = {"-q",          "get",
                                         "-i",          list.string(),
                                         "--state",     (scratch.path() / "state").string(),
                                         "-j",          "4",
                                         "-o",          (scratch.path() / "r.jsonl").string(),
                                         "--warc-file", (scratch.path() / "run").string()};
  write_list(5);
  REQUIRE(run_fetchpool(args) == 0);
  const std::string first = read_file_bytes(warc);
  const auto members = gzip_members(first);
  REQUIRE(members.size() == 11);
  {
    // As a crash mid-append leaves it: half of a response member.
    std::ofstream out(warc, std::ios::binary | std::ios::app);
    out << first.substr(members[2].first, members[2].second / 2);
  }
  // The same list and three more lines: only those are fetched.
  write_list(8);
  const std::uint64_t before = server.counters().requests;
  REQUIRE(run_fetchpool(args) == 0);
  CHECK(server.counters().requests - before == 3);
  const std::string second = read_file_bytes(warc);
  REQUIRE(second.substr(0, first.size()) == first);  // the earlier records are untouched
  const auto read = read_with_warcio({warc});
  require_clean(read);
  REQUIRE(read["pairs"] == 8);
  std::set<std::string> urls;
  for (const auto& [url, record] : responses_by_url(read)) urls.insert(url);
  CHECK(urls.size() == 8);
  CHECK(std::count_if(read["records"].begin(), read["records"].end(),
                      [](const nlohmann::json& r) { return r["type"] == "warcinfo"; }) == 1);
  require_index_points_at_records(scratch.path() / "run.cdxj", scratch.path(), 8);
}
