// WarcWriter driven through its ExchangeObserver interface, as a Fetcher
// drives it, and read back with warcio.js and zlib: request/response pairs,
// digests, gzip members, rollover, the CDXJ index, resume after a torn
// write, many writers at once.
#include "fetchpool/warc_writer.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/scratch_dir.hpp"
#include "support/warc_check.hpp"

namespace fs = std::filesystem;
using fetchpool::Error;
using fetchpool::ErrorCode;
using fetchpool::ExchangeObserver;
using fetchpool::ExchangeTarget;
using fetchpool::WarcOptions;
using fetchpool::WarcWriter;
using fetchpool::testing::gzip_members;
using fetchpool::testing::inflate_member;
using fetchpool::testing::read_cdxj;
using fetchpool::testing::read_file_bytes;
using fetchpool::testing::read_with_warcio;
using fetchpool::testing::ScratchDir;

namespace {

WarcOptions warc_options(const fs::path& name) {
  WarcOptions options;
  options.name = name;
  return options;
}

std::string gzip(const std::string& text) {
  z_stream stream{};
  deflateInit2(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&stream, text.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  stream.avail_in = static_cast<uInt>(text.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

std::string random_bytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(random() & 0xff);
  return out;
}

// One exchange as a Fetcher reports it: the request head, the response head
// line by line, the body in `chunk`-byte pieces, then the end.
void exchange(ExchangeObserver& observer, const std::string& url, const std::string& response_head,
              const std::string& body, std::size_t chunk = 4096, const std::optional<Error>& error = std::nullopt) {
  const std::string path = url.substr(url.find('/', 8));
  observer.request(ExchangeTarget{url, "127.0.0.1"},
                   "GET " + path + " HTTP/1.1\r\nHost: example.test\r\nAccept: */*\r\n\r\n");
  std::size_t at = 0;
  while (at < response_head.size()) {
    const std::size_t end = response_head.find('\n', at);
    observer.response_line(std::string_view(response_head).substr(at, end - at + 1));
    at = end + 1;
  }
  for (std::size_t i = 0; i < body.size(); i += chunk) observer.response_body(std::string_view(body).substr(i, chunk));
  observer.end(error);
}

std::string ok_head(std::size_t length, const std::string& extra = {}) {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n" + extra +
         "Content-Length: " + std::to_string(length) + "\r\n\r\n";
}

std::vector<nlohmann::json> records_of_type(const nlohmann::json& read, const std::string& type) {
  std::vector<nlohmann::json> out;
  for (const auto& record : read["records"])
    if (record["type"] == type) out.push_back(record);
  return out;
}

void require_clean(const nlohmann::json& read) {
  INFO(read["errors"].dump());
  REQUIRE(read["errors"].empty());
  REQUIRE(read["unpaired"] == 0);
  REQUIRE(read["block_mismatches"] == 0);
  REQUIRE(read["payload_mismatches"] == 0);
  for (const auto& first : read["warcinfo_first"]) REQUIRE(first == true);
}

}  // namespace

TEST_CASE("surt_key: the CDXJ form of a URL", "[warc_writer]") {
  using fetchpool::surt_key;
  CHECK(surt_key("http://www.Example.com/A/b?z=1&a=2#frag") == "com,example)/a/b?a=2&z=1");
  CHECK(surt_key("https://sub.example.org:8443/") == "org,example,sub:8443)/");
  CHECK(surt_key("http://example.com:80") == "com,example)/");
  CHECK(surt_key("http://127.0.0.1:8080/x") == "127.0.0.1:8080)/x");
  CHECK(surt_key("http://[::1]:9/p") == "[::1]:9)/p");
}

TEST_CASE("warc_writer: warcinfo, then a linked request/response pair per exchange whose digests warcio verifies",
          "[warc_writer]") {
  ScratchDir dir("warc-pairs");
  auto writer = WarcWriter::open(warc_options(dir.path() / "crawl"));
  REQUIRE(writer);
  auto observer = (*writer)->make_observer();
  const std::string page = "<html><title>hello</title></html>";
  exchange(*observer, "http://example.test/", ok_head(page.size()), page);
  // Sent chunked: libcurl hands over the body without its framing, so the
  // field must not say chunked any more.
  exchange(*observer, "http://example.test/chunked",
           "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n", "dechunked body\n");
  const std::string coded = gzip(std::string(20000, 'z'));
  exchange(*observer, "http://example.test/gz", ok_head(coded.size(), "Content-Encoding: gzip\r\n"), coded, 1000);
  exchange(*observer, "http://example.test/empty", "HTTP/1.1 204 No Content\r\n\r\n", "");
  // An interim 100 Continue is replaced by the final head.
  exchange(*observer, "http://example.test/continue", "HTTP/1.1 100 Continue\r\n\r\n" + ok_head(2), "ok");
  REQUIRE((*writer)->close());
  CHECK((*writer)->counts().exchanges == 5);

  const auto read = read_with_warcio({dir.path() / "crawl.warc.gz"});
  require_clean(read);
  REQUIRE(read["pairs"] == 5);
  REQUIRE(read["content_failures"] == 0);
  REQUIRE(read["records"][0]["type"] == "warcinfo");
  const auto responses = records_of_type(read, "response");
  REQUIRE(responses.size() == 5);
  CHECK(responses[2]["content_encoding"] == "gzip");
  CHECK(responses[2]["content_bytes"] == 20000);  // warcio decoded the gzip body as the head says
  CHECK(responses[4]["status"] == 200);

  // One gzip member per record, each decompressible on its own.
  const std::string bytes = read_file_bytes(dir.path() / "crawl.warc.gz");
  const auto members = gzip_members(bytes);
  REQUIRE(members.size() == 11);
  const std::string chunked = inflate_member(bytes, members[4].first, members[4].second);
  CHECK(chunked.find("WARC-Type: response") != std::string::npos);
  CHECK(chunked.find("\r\nX-Archive-Orig-Transfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(chunked.find("\r\nTransfer-Encoding") == std::string::npos);
}

TEST_CASE("warc_writer: rollover starts files with warcinfo, and CDXJ lines point at their response members",
          "[warc_writer]") {
  ScratchDir dir("warc-rollover");
  WarcOptions options = warc_options(dir.path() / "roll");
  options.max_file_bytes = std::uint64_t{12} * 1024;
  auto writer = WarcWriter::open(options);
  REQUIRE(writer);
  auto observer = (*writer)->make_observer();
  for (int i = 0; i < 12; ++i) {
    const std::string body = random_bytes(4000, static_cast<std::uint64_t>(i));  // incompressible
    exchange(*observer, "http://example.test/file/" + std::to_string(i), ok_head(body.size()), body);
  }
  REQUIRE((*writer)->close());
  const auto files = (*writer)->files();
  REQUIRE(files.size() >= 4);
  CHECK(files[0].filename() == "roll-00000.warc.gz");
  CHECK(files[1].filename() == "roll-00001.warc.gz");
  for (const auto& file : files) CHECK(fs::file_size(file) <= options.max_file_bytes);

  const auto read = read_with_warcio(files);
  require_clean(read);
  REQUIRE(read["pairs"] == 12);

  const auto lines = read_cdxj(dir.path() / "roll.cdxj");
  REQUIRE(lines.size() == 12);
  for (std::size_t i = 1; i < lines.size(); ++i) CHECK(lines[i - 1].key <= lines[i].key);
  for (const auto& line : lines) {
    INFO(line.key);
    const std::string url = line.fields["url"];
    CHECK(line.key.starts_with(fetchpool::surt_key(url) + " "));
    const std::string bytes = read_file_bytes(dir.path() / line.fields["filename"].get<std::string>());
    const std::string record = inflate_member(bytes, std::stoull(line.fields["offset"].get<std::string>()),
                                              std::stoull(line.fields["length"].get<std::string>()));
    CHECK(record.starts_with("WARC/1.1\r\nWARC-Type: response\r\n"));
    CHECK(record.find("\r\nWARC-Target-URI: " + url + "\r\n") != std::string::npos);
    CHECK(record.find("\r\nWARC-Payload-Digest: sha1:" + line.fields["digest"].get<std::string>() + "\r\n") !=
          std::string::npos);
    CHECK(line.fields["status"] == "200");
    CHECK(line.fields["mime"] == "text/html");
  }
}

TEST_CASE("warc_writer: a big body spills to a temporary file and is archived whole", "[warc_writer]") {
  ScratchDir dir("warc-spool");
  WarcOptions options = warc_options(dir.path() / "big");
  options.memory_bytes = std::size_t{64} * 1024;
  auto writer = WarcWriter::open(options);
  REQUIRE(writer);
  auto observer = (*writer)->make_observer();
  const std::string body = random_bytes(std::size_t{6} << 20, 7);
  exchange(*observer, "http://example.test/big.bin", ok_head(body.size()), body, 65536);
  REQUIRE((*writer)->close());
  const auto read = read_with_warcio({dir.path() / "big.warc.gz"});
  require_clean(read);
  REQUIRE(read["pairs"] == 1);
  const auto responses = records_of_type(read, "response");
  CHECK(responses[0]["content_bytes"] == body.size());
  // Nothing left behind: the spool files were unlinked temporaries.
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 2);  // big.warc.gz, big.cdxj
}

TEST_CASE("warc_writer: a body cut short is kept with WARC-Truncated, a head cut short is not archived",
          "[warc_writer]") {
  ScratchDir dir("warc-truncated");
  auto writer = WarcWriter::open(warc_options(dir.path() / "cut"));
  REQUIRE(writer);
  auto observer = (*writer)->make_observer();
  exchange(*observer, "http://example.test/cut", ok_head(100), std::string(10, 'a'), 4096,
           Error{ErrorCode::kTruncated, "body truncated"});
  observer->request(ExchangeTarget{"http://example.test/nohead", ""}, "GET /nohead HTTP/1.1\r\n\r\n");
  observer->response_line("HTTP/1.1 200 OK\r\n");
  observer->response_line("Content-Length: 12\r\n");
  observer->end(Error{ErrorCode::kTruncated, "header section cut short"});
  observer->request(ExchangeTarget{"http://example.test/refused", ""}, "GET /refused HTTP/1.1\r\n\r\n");
  observer->end(Error{ErrorCode::kConnect, "connection refused"});
  REQUIRE((*writer)->close());
  CHECK((*writer)->counts().exchanges == 1);
  CHECK((*writer)->counts().refused == 2);
  const auto read = read_with_warcio({dir.path() / "cut.warc.gz"});
  require_clean(read);
  REQUIRE(read["pairs"] == 1);
  const auto responses = records_of_type(read, "response");
  CHECK(responses[0]["truncated"] == "disconnect");
  CHECK(responses[0]["uri"] == "http://example.test/cut");
}

TEST_CASE("warc_writer: resuming cuts a torn tail back to the last whole pair and skips archived answers",
          "[warc_writer]") {
  ScratchDir dir("warc-resume");
  const fs::path file = dir.path() / "run.warc.gz";
  {
    auto writer = WarcWriter::open(warc_options(dir.path() / "run"));
    REQUIRE(writer);
    auto observer = (*writer)->make_observer();
    exchange(*observer, "http://example.test/a", ok_head(1), "a");
    exchange(*observer, "http://example.test/busy", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
             "");
    REQUIRE((*writer)->close());
  }
  const std::string whole = read_file_bytes(file);
  const auto members = gzip_members(whole);
  REQUIRE(members.size() == 5);
  {
    // A crash mid-append: a whole request member, then half a response member.
    std::ofstream out(file, std::ios::binary | std::ios::app);
    out << whole.substr(members[1].first, members[1].second);
    out << whole.substr(members[2].first, members[2].second / 2);
  }
  WarcOptions options = warc_options(dir.path() / "run");
  options.append = true;
  auto writer = WarcWriter::open(options);
  REQUIRE(writer);
  CHECK(fs::file_size(file) == whole.size());
  auto observer = (*writer)->make_observer();
  exchange(*observer, "http://example.test/a", ok_head(1), "a");      // archived: skipped
  exchange(*observer, "http://example.test/busy", ok_head(2), "ok");  // was 503: archived again
  exchange(*observer, "http://example.test/new", ok_head(3), "new");  // new
  REQUIRE((*writer)->close());
  CHECK((*writer)->counts().exchanges == 2);
  CHECK((*writer)->counts().skipped_known == 1);

  const auto read = read_with_warcio({file});
  require_clean(read);
  REQUIRE(read["pairs"] == 4);
  REQUIRE(records_of_type(read, "warcinfo").size() == 1);
  const auto lines = read_cdxj(dir.path() / "run.cdxj");
  REQUIRE(lines.size() == 4);  // the earlier run's records are indexed too
  const std::string bytes = read_file_bytes(file);
  for (const auto& line : lines) {
    const std::string record = inflate_member(bytes, std::stoull(line.fields["offset"].get<std::string>()),
                                              std::stoull(line.fields["length"].get<std::string>()));
    CHECK(record.find("\r\nWARC-Target-URI: " + line.fields["url"].get<std::string>() + "\r\n") != std::string::npos);
  }
}

TEST_CASE("warc_writer: appending to a file that is not gzip is refused", "[warc_writer]") {
  ScratchDir dir("warc-notgzip");
  std::ofstream(dir.path() / "x.warc.gz") << "not a warc file\n";
  WarcOptions options = warc_options(dir.path() / "x");
  options.append = true;
  auto writer = WarcWriter::open(options);
  REQUIRE_FALSE(writer);
  CHECK(writer.error().message.find("x.warc.gz: not a gzip-compressed WARC file") != std::string::npos);
  CHECK(read_file_bytes(dir.path() / "x.warc.gz") == "not a warc file\n");
}

TEST_CASE("warc_writer: eight workers at once produce one valid archive", "[warc_writer]") {
  ScratchDir dir("warc-threads");
  WarcOptions options = warc_options(dir.path() / "many");
  options.max_file_bytes = std::uint64_t{256} * 1024;
  options.memory_bytes = std::size_t{8} * 1024;  // some bodies spill
  auto writer = WarcWriter::open(options);
  REQUIRE(writer);
  constexpr int kThreads = 8;
  constexpr int kEach = 40;
  {
    std::vector<std::jthread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&writer, t] {
        auto observer = (*writer)->make_observer();
        for (int i = 0; i < kEach; ++i) {
          const std::string body =
              random_bytes(static_cast<std::size_t>(1000 + 500 * (i % 40)), static_cast<std::uint64_t>(t * 1000 + i));
          exchange(*observer, "http://example.test/" + std::to_string(t) + "/" + std::to_string(i),
                   ok_head(body.size()), body, 1500);
        }
      });
    }
  }
  REQUIRE((*writer)->close());
  const auto read = read_with_warcio((*writer)->files());
  require_clean(read);
  REQUIRE(read["pairs"] == kThreads * kEach);
  REQUIRE(read_cdxj(dir.path() / "many.cdxj").size() == std::size_t{kThreads} * kEach);
}
