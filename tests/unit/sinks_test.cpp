#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/sinks.hpp"

using fetchpool::ErrorCode;
using fetchpool::ResultRecord;

namespace {

std::filesystem::path temp_file(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("fetchpool-sinks-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}

std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

ResultRecord sample_record() {
  ResultRecord r;
  r.url = "http://example.test/a";
  r.line = 7;
  r.final_url = "http://example.test/b";
  r.status = 200;
  r.content_type = "text/html";
  r.bytes = 1234;
  r.elapsed_ms = 12.5;
  r.title = "Hello, \"world\"";
  r.links = 3;
  r.attempts = 1;
  return r;
}

}  // namespace

TEST_CASE("a JSONL record carries every field and its input line", "[sinks]") {
  auto j = nlohmann::json::parse(fetchpool::to_json_line(sample_record()));
  CHECK(j["url"] == "http://example.test/a");
  CHECK(j["line"] == 7);
  CHECK(j["final_url"] == "http://example.test/b");
  CHECK(j["redirects"] == 0);
  CHECK(j["status"] == 200);
  CHECK(j["content_type"] == "text/html");
  CHECK(j["bytes"] == 1234);
  CHECK(j["elapsed_ms"] == Approx(12.5));
  CHECK(j["title"] == "Hello, \"world\"");
  CHECK(j["links"] == 3);
  CHECK(j["ok"] == true);
  CHECK(j["error"].is_null());
  CHECK(j["lastmod"].is_null());  // no sitemap dated it
  auto dated = sample_record();
  dated.lastmod = "2024-05-01";
  CHECK(nlohmann::json::parse(fetchpool::to_json_line(dated))["lastmod"] == "2024-05-01");
  CHECK(fetchpool::to_csv_row(dated).ends_with(",2024-05-01"));
  CHECK(fetchpool::csv_header().ends_with(",fetched_at,lastmod"));
}

TEST_CASE("a failed record names its error class and message", "[sinks]") {
  ResultRecord r;
  r.url = "ftp://x";
  r.line = 3;
  r.error = ErrorCode::kUnsupportedScheme;
  r.error_message = "line 3: 'ftp://x': scheme ftp is not supported";
  auto j = nlohmann::json::parse(fetchpool::to_json_line(r));
  CHECK(j["ok"] == false);
  CHECK(j["error"]["class"] == "unsupported_scheme");
  CHECK(j["error"]["message"] == r.error_message);
  CHECK_FALSE(r.ok());
  r.error = ErrorCode::kOk;
  r.status = 404;
  CHECK_FALSE(r.ok());
}

TEST_CASE("invalid UTF-8 in a page title does not lose the record", "[sinks]") {
  auto r = sample_record();
  r.title = std::string("bad \xff\xfe bytes");
  auto j = nlohmann::json::parse(fetchpool::to_json_line(r));
  CHECK(j["url"] == r.url);
  CHECK(j["title"].get<std::string>().find("bad") == 0);
}

TEST_CASE("CSV rows quote commas, quotes and newlines (RFC 4180)", "[sinks]") {
  auto r = sample_record();
  r.title = "a,b \"c\"\nd";
  const auto row = fetchpool::to_csv_row(r);
  CHECK(row.find("\"a,b \"\"c\"\"\nd\"") != std::string::npos);
  CHECK(row.rfind("http://example.test/a,7,", 0) == 0);
  const auto header = fetchpool::csv_header();
  CHECK(std::count(header.begin(), header.end(), ',') == 19);
  // Unquoted commas in the row: the 19 separators only (the title's are quoted).
  std::size_t separators = 0;
  bool quoted = false;
  for (char c : row) {
    if (c == '"') quoted = !quoted;
    if (c == ',' && !quoted) ++separators;
  }
  const auto columns = separators;
  CHECK(columns == 19);
}

TEST_CASE("concurrent writers never interleave lines", "[sinks]") {
  const auto path = temp_file("concurrent.jsonl");
  {
    auto sink = fetchpool::JsonlSink::open(path);
    REQUIRE(sink.ok());
    std::vector<std::jthread> writers;
    writers.reserve(8);
    for (int t = 0; t < 8; ++t) {
      writers.emplace_back([&sink, t] {
        for (int i = 0; i < 2000; ++i) {
          ResultRecord r = sample_record();
          r.line = static_cast<std::uint64_t>(t) * 100000 + static_cast<std::uint64_t>(i) + 1;
          r.title = std::string(static_cast<std::size_t>(i % 300), 'x');
          (*sink)->write(r);
        }
      });
    }
    writers.clear();
    REQUIRE((*sink)->flush().ok());
  }
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 16000);
  std::set<std::uint64_t> seen;
  for (const auto& line : lines) seen.insert(nlohmann::json::parse(line)["line"].get<std::uint64_t>());
  CHECK(seen.size() == 16000);
}

TEST_CASE("CSV sink writes a header then one row per record", "[sinks]") {
  const auto path = temp_file("out.csv");
  {
    auto sink = fetchpool::open_result_sink("csv", path);
    REQUIRE(sink.ok());
    (*sink)->write(sample_record());
    (*sink)->write(sample_record());
    REQUIRE((*sink)->flush().ok());
  }
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == fetchpool::csv_header());
}

TEST_CASE("a write error (full disk) is reported by flush, not lost", "[sinks]") {
  auto sink = fetchpool::JsonlSink::open("/dev/full");
  REQUIRE(sink.ok());
  for (int i = 0; i < 2000; ++i) (*sink)->write(sample_record());
  auto flushed = (*sink)->flush();
  REQUIRE_FALSE(flushed.ok());
  CHECK(flushed.error().code == ErrorCode::kIo);
  CHECK(flushed.error().message.rfind("/dev/full: cannot write results", 0) == 0);
}

TEST_CASE("the first write error calls the failure handler once, on the writing thread", "[sinks]") {
  auto sink = fetchpool::JsonlSink::open("/dev/full");
  REQUIRE(sink.ok());
  int calls = 0;
  (*sink)->on_failure([&calls] { ++calls; });
  for (int i = 0; i < 2000; ++i) (*sink)->write(sample_record());  // past one 64 KiB buffer
  CHECK(calls == 1);
  CHECK_FALSE((*sink)->flush().ok());
  CHECK(calls == 1);
  (*sink)->on_failure(nullptr);  // the handler's captures may go now
}

TEST_CASE("records reach the file in whole lines only, before any flush", "[sinks]") {
  const auto path = temp_file("whole-lines.jsonl");
  auto sink = fetchpool::JsonlSink::open(path);
  REQUIRE(sink.ok());
  bool every_prefix_whole = true;
  std::uintmax_t last_size = 0;
  for (int i = 0; i < 3000; ++i) {
    ResultRecord record = sample_record();
    record.title.assign(static_cast<std::size_t>(i % 977) * 7, 't');  // sizes that straddle the buffer's end
    (*sink)->write(record);
    const auto size = std::filesystem::file_size(path);
    if (size == last_size) continue;
    last_size = size;
    // What a process killed now would leave: it must end on a newline.
    std::ifstream in(path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(size) - 1);
    every_prefix_whole = every_prefix_whole && in.get() == '\n';
  }
  CHECK(last_size > 0);  // the buffer was written out at least once before the flush
  CHECK(every_prefix_whole);
  REQUIRE((*sink)->flush().ok());
  CHECK(read_lines(path).size() == 3000);
  std::filesystem::remove(path);
}

TEST_CASE("opening an unwritable results path fails with its name", "[sinks]") {
  auto sink = fetchpool::open_result_sink("jsonl", "/no/such/dir/out.jsonl");
  REQUIRE_FALSE(sink.ok());
  CHECK(sink.error().message.rfind("/no/such/dir/out.jsonl: cannot open results file", 0) == 0);
  auto bad = fetchpool::open_result_sink("xml", temp_file("x"));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == ErrorCode::kConfig);
}

TEST_CASE("JSON lines stay valid for every byte value and keep valid UTF-8", "[sinks]") {
  ResultRecord r = sample_record();
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  r.title = all_bytes;
  r.error = ErrorCode::kNetwork;
  r.error_message = "quote \" backslash \\ newline \n tab \t";
  auto j = nlohmann::json::parse(fetchpool::to_json_line(r));  // throws if any escape is wrong
  const auto title = j["title"].get<std::string>();
  for (int b = 0; b < 0x80; ++b) CHECK(title.find(static_cast<char>(b)) != std::string::npos);
  CHECK(j["error"]["message"] == r.error_message);

  r.title = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";  // café € 😀
  CHECK(nlohmann::json::parse(fetchpool::to_json_line(r))["title"] == r.title);
  r.title = "overlong \xc0\xaf surrogate \xed\xa0\x80 cut \xe2\x82";
  const auto replaced = nlohmann::json::parse(fetchpool::to_json_line(r))["title"].get<std::string>();
  CHECK(replaced.find("\xef\xbf\xbd") != std::string::npos);
  CHECK(replaced.rfind("overlong ", 0) == 0);
}

// The exact text, so a faster writer cannot change a byte of the format:
// field order, nulls, number forms, escapes.
TEST_CASE("a JSONL line is the same text field for field", "[sinks]") {
  ResultRecord full = sample_record();
  full.depth = 2;
  full.referrer = "http://example.test/";
  full.redirects = 1;
  full.elapsed_ms = 0.0625;  // exactly halfway: rounds to even, as printf("%.3f") does
  full.error = ErrorCode::kHttpStatus;
  full.error_message = "HTTP 404 \"gone\"";
  full.status = 404;
  full.path = "out/a.html";
  full.sha256 = "ab12";
  full.fetched_at = "2026-12-07T05:01:02.345Z";
  full.lastmod = "2024-05-01";
  CHECK(fetchpool::to_json_line(full) ==
        R"({"url":"http://example.test/a","line":7,"depth":2,"referrer":"http://example.test/",)"
        R"("final_url":"http://example.test/b","redirects":1,"status":404,"content_type":"text/html","bytes":1234,)"
        R"("elapsed_ms":0.062,"title":"Hello, \"world\"","links":3,"attempts":1,"ok":false,)"
        R"("error":{"class":"http_status","message":"HTTP 404 \"gone\""},"path":"out/a.html","sha256":"ab12",)"
        R"("fetched_at":"2026-12-07T05:01:02.345Z","lastmod":"2024-05-01"})");
  ResultRecord bare;
  bare.url = "http://example.test/";
  bare.elapsed_ms = 1234.5678;
  CHECK(fetchpool::to_json_line(bare) ==
        R"({"url":"http://example.test/","depth":0,"final_url":null,"redirects":0,"status":null,)"
        R"("content_type":null,"bytes":0,"elapsed_ms":1234.568,"title":null,"links":null,"attempts":0,)"
        R"("ok":false,"error":null,"fetched_at":null,"lastmod":null})");
  std::string appended = "prefix ";
  fetchpool::append_json_line(appended, bare);
  CHECK(appended == "prefix " + fetchpool::to_json_line(bare));
  std::string row = "prefix ";
  fetchpool::append_csv_row(row, full);
  CHECK(row == "prefix " + fetchpool::to_csv_row(full));
}

// Each writer thread serialises into a buffer of its own that lives on from
// record to record: a thread's lines must stay whole, in its order, and equal
// to the record given, also after a record far larger than the sink's buffer.
TEST_CASE("each writer thread's records arrive whole and in order, huge ones included", "[sinks]") {
  const auto path = temp_file("ordered.jsonl");
  constexpr int kThreads = 4;
  constexpr int kRecords = 600;
  auto record_for = [](int thread, int i) {
    ResultRecord r = sample_record();
    r.line = static_cast<std::uint64_t>(thread) * 100000 + static_cast<std::uint64_t>(i) + 1;
    // Every 97th record holds a 200 KB title: three times the sink's buffer.
    r.title = i % 97 == 0 ? std::string(200000, static_cast<char>('a' + thread)) : std::to_string(i);
    return r;
  };
  {
    auto sink = fetchpool::JsonlSink::open(path);
    REQUIRE(sink.ok());
    std::vector<std::jthread> writers;
    writers.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      writers.emplace_back([&sink, &record_for, t] {
        for (int i = 0; i < kRecords; ++i) (*sink)->write(record_for(t, i));
      });
    }
    writers.clear();
    REQUIRE((*sink)->flush().ok());
  }
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == static_cast<std::size_t>(kThreads * kRecords));
  std::vector<int> next(kThreads, 0);
  for (const auto& line : lines) {
    const auto number = nlohmann::json::parse(line)["line"].get<std::uint64_t>() - 1;
    const int thread = static_cast<int>(number / 100000);
    const int i = static_cast<int>(number % 100000);
    REQUIRE(thread < kThreads);
    CHECK(i == next[static_cast<std::size_t>(thread)]);
    next[static_cast<std::size_t>(thread)] = i + 1;
    CHECK(line == fetchpool::to_json_line(record_for(thread, i)));
  }
}

// elapsed_ms is written as printf("%.3f") writes it, for the times the
// engine measures (whole microseconds over 1000) and for any other double.
TEST_CASE("elapsed_ms is printf's %.3f of the value, for every kind of value", "[sinks]") {
  auto written = [](double value) {
    ResultRecord r;
    r.url = "u";
    r.elapsed_ms = value;
    const auto j = fetchpool::to_json_line(r);
    const auto from = j.find("\"elapsed_ms\":") + 13;
    return j.substr(from, j.find(',', from) - from);
  };
  auto printf_text = [](double value) {
    char text[400];
    std::snprintf(text, sizeof text, "%.3f", value);
    return std::string(text);
  };
  std::vector<double> values = {0.0,    -0.0,    0.0005,         0.0015,         0.0625, 0.4995,
                                1.0005, 2.5e-4,  999999999.9995, 999999999.9994, 1e9,    1e12 + 0.0625,
                                1e300,  -1.2345, 123.4565,       5e-324};
  for (std::uint64_t micros = 0; micros < 3000; ++micros) values.push_back(static_cast<double>(micros) / 1000.0);
  for (std::uint64_t micros = 1; micros < 1000000000000ULL; micros = micros * 7 + 3)
    values.push_back(static_cast<double>(micros) / 1000.0);
  std::uint64_t bits = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 2000; ++i) {  // scaled pseudo-random values, fixed seed
    bits ^= bits << 13;
    bits ^= bits >> 7;
    bits ^= bits << 17;
    values.push_back(static_cast<double>(bits % 100000000000ULL) / 997.0);
  }
  for (const double value : values) {
    INFO("value " << value);
    CHECK(written(value) == printf_text(value));
  }
}
