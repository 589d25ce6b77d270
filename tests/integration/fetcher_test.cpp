// Fetcher against real servers on 127.0.0.1: LocalServer (the project's
// own) for ordinary routes, keep-alive and its fault routes; ScriptedServer
// where a test needs bytes LocalServer does not produce (odd header spelling,
// interim 1xx, unterminated chunked bodies, resets of close-delimited
// bodies, non-HTTP answers) or the raw request, or an event when a reply
// has been sent.
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "fetchpool/fetcher.hpp"
#include "support/scripted_server.hpp"
#include "tools/testsite/local_server.hpp"

using fetchpool::BodyWriter;
using fetchpool::Error;
using fetchpool::ErrorCode;
using fetchpool::Fetcher;
using fetchpool::FetchOptions;
using fetchpool::FetchRequest;
using fetchpool::LocalServer;
using fetchpool::ResponseHead;
using fetchpool::Result;
using fetchpool::ServerOptions;
using fetchpool::SharedCurlCache;
using fetchpool::StopWakeup;
using fetchpool::test::Event;
using fetchpool::test::ScriptedConnection;
using fetchpool::test::ScriptedServer;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Options for tests: short limits so fault cases end quickly.
FetchOptions test_options() {
  FetchOptions options;
  options.connect_timeout = 2s;
  options.total_timeout = 15s;
  options.low_speed_limit = 100;
  options.low_speed_time = 5s;
  return options;
}

// libcurl follows redirects itself: the Fetcher's own option, which the
// engine never uses (it queues each hop), tested here for the tool's sake.
FetchOptions following_options() {
  FetchOptions options = test_options();
  options.follow_redirects = true;
  return options;
}

FetchRequest get(std::string url) {
  FetchRequest request;
  request.url = std::move(url);
  return request;
}

// gzip (RFC 1952) of `text`.
std::string gzip_text(const std::string& text) {
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&stream, text.size()) + 32, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  stream.avail_in = static_cast<uInt>(text.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&stream, Z_FINISH) == Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

// How many header lines of a raw request start with `prefix`.
int count_lines_starting(const std::string& request, std::string_view prefix) {
  int count = 0;
  for (std::size_t at = 0; (at = request.find("\r\n", at)) != std::string::npos; at += 2) {
    if (request.compare(at + 2, prefix.size(), prefix) == 0) ++count;
  }
  return count;
}

std::string http_head(std::string_view status, const std::vector<std::string>& headers) {
  std::string head = "HTTP/1.1 " + std::string(status) + "\r\n";
  for (const auto& line : headers) head += line + "\r\n";
  return head + "Connection: close\r\n\r\n";
}

// A port on 127.0.0.1 that refuses connections: bound (so nobody else gets
// it while the test runs) but not listening, so a SYN is answered by RST.
class RefusingPort {
 public:
  RefusingPort() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
  }
  ~RefusingPort() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

// A port on 127.0.0.1 whose SYNs go unanswered: a listener with a backlog
// of 0 that never accepts, its queue filled by connections of our own, so
// Linux drops further SYNs and a connect hangs until its timeout.
class BlackholePort {
 public:
  BlackholePort() : listener_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener_, 0) == 0);
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    for (auto& fill : fills_) {
      fill = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      // Non-blocking: EINPROGRESS is the expected answer; the fill only has to
      // take a place in the backlog.
      (void)::connect(fill, reinterpret_cast<sockaddr*>(&address), sizeof address);
    }
  }
  ~BlackholePort() {
    for (const int fill : fills_) ::close(fill);
    ::close(listener_);
  }
  int port() const { return port_; }

 private:
  int listener_;
  std::array<int, 4> fills_{};
  int port_ = 0;
};

// Sets (or, with nullptr, removes) an environment variable for one scope.
// Tests run on one thread and no server thread reads the environment.
class EnvGuard {
 public:
  EnvGuard(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~EnvGuard() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Records what a BodyWriter is told; optionally fails begin() or the write
// that reaches `fail_at_bytes`.
class RecordingWriter : public BodyWriter {
 public:
  std::vector<ResponseHead> heads;
  std::string data;
  std::size_t chunks = 0;
  bool wrote_before_begin = false;
  std::optional<Error> begin_error;
  std::optional<std::size_t> fail_at_bytes;

  Result<void> begin(const ResponseHead& head) override {
    heads.push_back(head);
    if (begin_error) return *begin_error;
    return {};
  }
  Result<void> write(std::string_view chunk) override {
    if (heads.empty()) wrote_before_begin = true;
    ++chunks;
    data.append(chunk);
    if (fail_at_bytes && data.size() >= *fail_at_bytes) return Error{ErrorCode::kIo, "disk full (test)"};
    return {};
  }
};

// Before any thread: curl_global_init is not safe to race in every build.
// The program's own init (libcurl's calloc through malloc), so every test
// here runs libcurl on the allocator the program gives it.
const struct CurlGlobal {
  CurlGlobal() {
    if (!fetchpool::init_curl_global()) std::abort();
  }
  ~CurlGlobal() { curl_global_cleanup(); }
} curl_global;

// LocalServer on an ephemeral port; routes are listed in local_server_routes.cpp.
struct Server {
  LocalServer local;
  explicit Server(unsigned threads = 1) : local(options(threads)) {}
  std::string url(std::string_view path) const { return local.base_url() + std::string(path); }
  static ServerOptions options(unsigned threads) {
    ServerOptions options;
    options.site.pages = 20;
    options.threads = threads;
    return options;
  }
};

// /bytes/<n>: byte k is 'a' + k % 26.
std::string bytes_body(std::size_t first, std::size_t count) {
  std::string body;
  for (std::size_t k = first; k < first + count; ++k) body += static_cast<char>('a' + k % 26);
  return body;
}

constexpr std::string_view kEndOfChain = "<!DOCTYPE html>\n<title>Redirect target</title>\n<p>end of chain</p>\n";

}  // namespace

TEST_CASE("a 200 answer returns its body, content type, version and timings", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  auto result = fetcher.fetch(get(server.url("/redirect/0")));
  REQUIRE(result.ok());
  CHECK(result->head.status == 200);
  CHECK(result->body == kEndOfChain);
  CHECK(result->body_bytes == result->body.size());
  CHECK(result->head.content_type == "text/html; charset=utf-8");
  CHECK(result->head.content_length == kEndOfChain.size());
  CHECK(result->final_url == server.url("/redirect/0"));
  CHECK(result->redirect_count == 0);
  CHECK(result->http_version == "1.1");
  CHECK(result->total_ms > 0);
  CHECK(result->first_byte_ms <= result->total_ms);
}

TEST_CASE("a second request to the same host reuses the kept-alive connection", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  auto first = fetcher.fetch(get(server.url("/bytes/12")));
  auto second = fetcher.fetch(get(server.url("/redirect/0")));
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK_FALSE(first->reused_connection);
  CHECK(second->reused_connection);
  CHECK(second->body == kEndOfChain);
  CHECK(server.local.counters().connections_accepted == 1);
  // Negative control: a new Fetcher has no connection to reuse.
  Fetcher other(test_options());
  auto third = other.fetch(get(server.url("/bytes/12")));
  REQUIRE(third.ok());
  CHECK_FALSE(third->reused_connection);
}

TEST_CASE("a recycled body buffer is filled by the next fetch, a huge one is dropped", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  auto first = fetcher.fetch(get(server.url("/bytes/5000")));
  REQUIRE(first.ok());
  REQUIRE(first->body.size() == 5000);
  std::string buffer = std::move(first->body);
  const char* const storage = buffer.data();
  fetcher.recycle_body(std::move(buffer));
  auto second = fetcher.fetch(get(server.url("/redirect/0")));
  REQUIRE(second.ok());
  CHECK(second->body == kEndOfChain);  // the old bytes are gone
  CHECK(second->body.data() == storage);

  std::string huge;
  huge.reserve(Fetcher::kMaxRecycledBody + 1);
  fetcher.recycle_body(std::move(huge));
  auto third = fetcher.fetch(get(server.url("/redirect/0")));
  REQUIRE(third.ok());
  CHECK(third->body == kEndOfChain);
  CHECK(third->body.capacity() <= Fetcher::kMaxRecycledBody);
}

// libcurl hands the body over one receive buffer at a time, so the largest
// piece a BodyWriter gets bounds the buffer the transfer ran with. The
// server writes head and body with one send(): on loopback one segment, so a
// buffer bigger than 1 KiB takes the 5000 bytes in one piece.
// This program's libcurl runs on init_curl_global's allocator (see CurlGlobal
// above): what libcurl allocates, our callbacks allocated, and curl_free and
// libcurl's own frees give it back to them; under ASan a mismatch or an
// unzeroed struct libcurl relies on fails here and in every test of this file.
TEST_CASE("init_curl_global: libcurl allocates through it, and a second call only counts", "[fetcher]") {
  REQUIRE(fetchpool::init_curl_global());  // already initialised: one more curl_global_cleanup owed
  curl_global_cleanup();
  CURLU* url = curl_url();
  REQUIRE(url != nullptr);
  REQUIRE(curl_url_set(url, CURLUPART_URL, "http://example.com/a/../b?q=1", 0) == CURLUE_OK);
  char* path = nullptr;
  REQUIRE(curl_url_get(url, CURLUPART_PATH, &path, 0) == CURLUE_OK);
  CHECK(std::string(path) == "/b");
  curl_free(path);
  curl_url_cleanup(url);
  char* escaped = curl_easy_escape(nullptr, "a b", 3);
  REQUIRE(escaped != nullptr);
  CHECK(std::string(escaped) == "a%20b");
  curl_free(escaped);

  Server server;
  Fetcher fetcher(test_options());
  for (int round = 0; round < 20; ++round) {
    auto result = fetcher.fetch(get(server.url("/bytes/3000")));
    REQUIRE(result.ok());
    CHECK(result->body == bytes_body(0, 3000));
  }

  // A request head libcurl grows by realloc many times over (its buffers
  // double from 32 bytes): a long query and a long header arrive whole.
  const std::string query(6000, 'q');
  const std::string header_value(3000, 'h');
  ScriptedServer echo([](ScriptedConnection& connection, const std::string&) {
    connection.send(http_head("200 OK", {"Content-Length: 2"}) + "ok");
  });
  FetchRequest long_request = get(echo.url("/long?" + query));
  long_request.extra_headers = {"X-Long: " + header_value};
  auto answered = fetcher.fetch(long_request);
  REQUIRE(answered.ok());
  CHECK(answered->body == "ok");
  REQUIRE(echo.requests().size() == 1);
  CHECK_THAT(echo.requests()[0], Catch::StartsWith("GET /long?" + query + " HTTP/1.1\r\n"));
  CHECK_THAT(echo.requests()[0], Catch::Contains("\r\nX-Long: " + header_value + "\r\n"));
}

TEST_CASE("a fetcher reads in 1 KiB until an answer does not fit, then in 64 KiB", "[fetcher]") {
  const std::string small = "small";
  const std::string big = bytes_body(0, 5000);
  ScriptedServer server([&](ScriptedConnection& connection, const std::string& request) {
    const std::string& body = request.starts_with("GET /small") ? small : big;
    connection.send(http_head("200 OK", {"Content-Length: " + std::to_string(body.size())}) + body);
  });
  auto largest_piece = [](Fetcher& fetcher, const FetchRequest& request, const std::string& expected) {
    struct PieceWriter : BodyWriter {
      std::string data;
      std::size_t largest = 0;
      Result<void> begin(const ResponseHead&) override { return {}; }
      Result<void> write(std::string_view chunk) override {
        data.append(chunk);
        largest = std::max(largest, chunk.size());
        return {};
      }
    } writer;
    FetchRequest with_writer = request;
    with_writer.writer = &writer;
    auto result = fetcher.fetch(with_writer);
    REQUIRE(result.ok());
    CHECK(writer.data == expected);
    return writer.largest;
  };
  Fetcher fetcher(test_options());
  CHECK(largest_piece(fetcher, get(server.url("/small")), small) == small.size());
  // Small answers keep the small buffer: this one is read in pieces.
  CHECK(largest_piece(fetcher, get(server.url("/big")), big) <= 1024);
  // It did not fit: from now on the buffer is 64 KiB, small answers too.
  CHECK(largest_piece(fetcher, get(server.url("/big")), big) == big.size());
  CHECK(largest_piece(fetcher, get(server.url("/small")), small) == small.size());
  CHECK(largest_piece(fetcher, get(server.url("/big")), big) == big.size());

  // A request's own receive_buffer_bytes applies from the first transfer on.
  Fetcher downloads(test_options());
  FetchRequest sized = get(server.url("/big"));
  sized.receive_buffer_bytes = std::size_t{256} * 1024;
  CHECK(largest_piece(downloads, sized, big) == big.size());
  // In-memory bodies from a fresh fetcher, over the small buffer: whole.
  Fetcher in_memory(test_options());
  auto whole = in_memory.fetch(get(server.url("/big")));
  REQUIRE(whole.ok());
  CHECK(whole->body == big);
}

TEST_CASE("4xx and 5xx answers are successful Results carrying the status and body", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  for (const int status : {404, 410, 500, 503}) {
    auto result = fetcher.fetch(get(server.url("/status/" + std::to_string(status))));
    REQUIRE(result.ok());
    CHECK(result->head.status == status);
    CHECK_THAT(result->body, Catch::StartsWith(std::to_string(status) + " "));
  }
}

TEST_CASE("redirects are followed and final_url, redirect_count and head are the last hop's", "[fetcher]") {
  Server server;
  Fetcher fetcher(following_options());
  auto result = fetcher.fetch(get(server.url("/redirect/3")));
  REQUIRE(result.ok());
  CHECK(result->head.status == 200);
  CHECK(result->final_url == server.url("/redirect/0"));
  CHECK(result->redirect_count == 3);
  CHECK(result->body == kEndOfChain);
  // The hops were text/plain with a Location; the final response is neither.
  CHECK(result->head.content_type == "text/html; charset=utf-8");
  CHECK(result->head.location.empty());
}

TEST_CASE("a redirect chain longer than max_redirects is kTooManyRedirects", "[fetcher]") {
  Server server;
  auto options = following_options();
  options.max_redirects = 3;
  Fetcher fetcher(options);
  auto loop = fetcher.fetch(get(server.url("/redirect-loop")));
  REQUIRE_FALSE(loop.ok());
  CHECK(loop.error().code == ErrorCode::kTooManyRedirects);
  CHECK_THAT(loop.error().message, Catch::Contains("more than 3 redirects"));
  // Exactly max_redirects hops is still fine.
  auto three = fetcher.fetch(get(server.url("/redirect/3")));
  REQUIRE(three.ok());
  CHECK(three->redirect_count == 3);
  auto four = fetcher.fetch(get(server.url("/redirect/4")));
  REQUIRE_FALSE(four.ok());
  CHECK(four.error().code == ErrorCode::kTooManyRedirects);
}

TEST_CASE("a redirect to file:// is refused and the message names the Location", "[fetcher]") {
  Server server;
  Fetcher fetcher(following_options());
  for (const char* target : {"file:///etc/passwd", "ftp://127.0.0.1/x"}) {
    const std::string url = server.url("/redirect-to?url=") + target;
    auto result = fetcher.fetch(get(url));
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::kRedirectRefused);
    CHECK_THAT(result.error().message, Catch::StartsWith(url + ": redirect to " + target + " refused"));
  }
  // A non-http URL asked for directly is a different mistake.
  auto direct = fetcher.fetch(get("file:///etc/passwd"));
  REQUIRE_FALSE(direct.ok());
  CHECK(direct.error().code == ErrorCode::kUnsupportedScheme);
}

TEST_CASE("a closed port is kConnect with a one-line message", "[fetcher]") {
  RefusingPort port;
  Fetcher fetcher(test_options());
  const std::string url = "http://127.0.0.1:" + std::to_string(port.port()) + "/";
  auto result = fetcher.fetch(get(url));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kConnect);
  CHECK_THAT(result.error().message, Catch::StartsWith(url + ": connection failed (curl: "));
  CHECK_THAT(result.error().message, Catch::EndsWith(")"));
  CHECK(result.error().message.find('\n') == std::string::npos);
}

TEST_CASE("a connect that never completes is kTimeout after connect_timeout", "[fetcher]") {
  BlackholePort port;
  auto options = test_options();
  options.connect_timeout = 300ms;
  // Without the connect timeout only this total timeout would end the fetch:
  // the upper bound below sits halfway, 30 s of slack on a loaded machine.
  options.total_timeout = 60s;
  Fetcher fetcher(options);
  const auto start = Clock::now();
  auto result = fetcher.fetch(get("http://127.0.0.1:" + std::to_string(port.port()) + "/"));
  const double elapsed = seconds_since(start);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kTimeout);
  CHECK(elapsed > 0.25);
  CHECK(elapsed < 30.0);
}

TEST_CASE("a stalled body is kTimeout after low_speed_time", "[fetcher]") {
  Server server;
  auto options = test_options();
  options.low_speed_time = 1s;
  // Without the low-speed limit only this total timeout would end the stall:
  // the upper bound below sits halfway, 30 s of slack on a loaded machine.
  options.total_timeout = 60s;
  Fetcher fetcher(options);
  const auto start = Clock::now();
  auto result = fetcher.fetch(get(server.url("/fault/stall")));
  const double elapsed = seconds_since(start);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kTimeout);
  CHECK_THAT(result.error().message, Catch::Contains(": timed out (curl: "));
  CHECK(elapsed > 0.8);
  CHECK(elapsed < 30.0);
}

TEST_CASE("a trickle under low_speed_limit times out but the same trickle above it completes", "[fetcher]") {
  Server server;
  auto options = test_options();
  options.low_speed_limit = 1000;
  options.low_speed_time = 1s;
  Fetcher fetcher(options);
  auto slow = fetcher.fetch(get(server.url("/fault/trickle?bps=100&total=6000")));
  REQUIRE_FALSE(slow.ok());
  CHECK(slow.error().code == ErrorCode::kTimeout);
  auto fast = fetcher.fetch(get(server.url("/fault/trickle?bps=3000&total=6000")));  // 2 s
  REQUIRE(fast.ok());
  CHECK(fast->body.size() == 6000);
}

TEST_CASE("total_timeout bounds the whole transfer", "[fetcher]") {
  Server server;
  auto options = test_options();
  options.low_speed_limit = 0;  // off: only the total timeout can end it
  options.total_timeout = 300ms;
  Fetcher fetcher(options);
  const auto start = Clock::now();
  auto result = fetcher.fetch(get(server.url("/fault/stall")));
  const double elapsed = seconds_since(start);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kTimeout);
  CHECK(elapsed > 0.25);
  // The stall never ends on its own: without the total timeout the fetch
  // hangs and ctest's timeout fails the program. The bound only catches a
  // timeout applied far too late, with 30 s of slack.
  CHECK(elapsed < 30.0);
}

TEST_CASE("max_body_bytes: a declared Content-Length over the limit is kTooLarge", "[fetcher]") {
  Server server;
  auto options = test_options();
  options.max_body_bytes = 999;
  Fetcher over(options);
  auto result = over.fetch(get(server.url("/bytes/1000")));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kTooLarge);
  CHECK_THAT(result.error().message, Catch::StartsWith(server.url("/bytes/1000") + ": "));
  options.max_body_bytes = 1000;
  Fetcher exact(options);
  auto fits = exact.fetch(get(server.url("/bytes/1000")));
  REQUIRE(fits.ok());
  CHECK(fits->body.size() == 1000);
}

TEST_CASE("max_body_bytes holds without Content-Length (chunked)", "[fetcher]") {
  Server server;
  const std::string chunked = server.url("/bytes/1048576?chunked=1");
  auto options = test_options();
  options.max_body_bytes = std::uint64_t{100} * 1024;
  Fetcher fetcher(options);
  auto result = fetcher.fetch(get(chunked));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kTooLarge);
  options.max_body_bytes = 1 << 20;
  Fetcher roomy(options);
  auto whole = roomy.fetch(get(chunked));
  REQUIRE(whole.ok());
  CHECK(whole->body.size() == 1 << 20);
  CHECK_FALSE(whole->head.content_length.has_value());
}

TEST_CASE("a gzip bomb stops at max_body_bytes of decoded bytes", "[fetcher]") {
  Server server;  // /gzip-bomb?mib=64 is ~64 KiB on the wire
  auto options = test_options();
  options.max_body_bytes = 1 << 20;
  Fetcher fetcher(options);
  auto result = fetcher.fetch(get(server.url("/gzip-bomb?mib=64")));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kTooLarge);
  CHECK_THAT(result.error().message, Catch::Contains("decoded"));
  // The same body through a BodyWriter is not limited: the writer decides.
  options.max_body_bytes = 1024;
  Fetcher streaming(options);
  class Counting : public BodyWriter {
   public:
    std::uint64_t bytes = 0;
    Result<void> begin(const ResponseHead&) override { return {}; }
    Result<void> write(std::string_view chunk) override {
      bytes += chunk.size();
      return {};
    }
  } counting;
  auto request = get(server.url("/gzip-bomb?mib=4"));
  request.writer = &counting;
  auto streamed = streaming.fetch(request);
  REQUIRE(streamed.ok());
  CHECK(counting.bytes == 4u << 20);
}

TEST_CASE("gzip bodies are decoded and Accept-Encoding is offered", "[fetcher]") {
  const std::string text = std::string(5000, 'a') + "end";
  const std::string packed = gzip_text(text);
  ScriptedServer server([&packed](ScriptedConnection& connection, const std::string&) {
    connection.send(http_head("200 OK", {"Content-Type: text/plain", "Content-Encoding: gzip",
                                         "Content-Length: " + std::to_string(packed.size())}) +
                    packed);
  });
  Fetcher fetcher(test_options());
  auto result = fetcher.fetch(get(server.url("/gz")));
  REQUIRE(result.ok());
  CHECK(result->body == text);
  CHECK(result->body_bytes == text.size());
  CHECK(result->head.content_encoding == "gzip");
  CHECK(result->head.content_length == packed.size());
  REQUIRE(server.requests().size() == 1);
  CHECK(count_lines_starting(server.requests()[0], "Accept-Encoding: ") == 1);
  CHECK_THAT(server.requests()[0], Catch::Contains("gzip"));

  // Negative control: with accept_compressed off nothing is offered.
  auto options = test_options();
  options.accept_compressed = false;
  Fetcher plain(options);
  auto raw = plain.fetch(get(server.url("/gz")));
  REQUIRE(raw.ok());
  CHECK(raw->body == packed);
  CHECK_THAT(server.requests()[1], !Catch::Contains("Accept-Encoding"));
}

TEST_CASE("a 3xx comes back as it is, Location and all: the fetcher follows no redirect by default", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  auto result = fetcher.fetch(get(server.url("/redirect/3")));
  REQUIRE(result.ok());
  CHECK(result->head.status == 302);
  CHECK(result->head.location == "/redirect/2");
  CHECK(result->final_url == server.url("/redirect/3"));
  CHECK(result->redirect_count == 0);
  CHECK(server.local.requests_for("/redirect/2") == 0);
}

// RFC 9112 section 6.3 against /fault/framing's byte-exact answers: never a
// success for a message whose framing is broken, where libcurl 7.88 on its
// own accepts "Content-Length: 12abc" as 12, two Content-Lengths as the last
// one, a status line without its header section, and a cut gzip stream.
TEST_CASE("malformed framing is protocol_error or truncated, never a complete answer", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  const auto fetch = [&](const std::string& kind) {
    return fetcher.fetch(get(server.url("/fault/framing?kind=" + kind)));
  };
  for (const char* kind : {"cl-invalid", "cl-negative", "cl-conflict", "cl-list"}) {
    INFO(kind);
    auto result = fetch(kind);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::kProtocol);
    CHECK_THAT(result.error().message, Catch::Contains("Content-Length"));  // libcurl rejects "-12" itself
  }
  for (const char* kind : {"no-header", "header-cut", "chunked-cut", "gzip-cut", "gzip-cut-length"}) {
    INFO(kind);
    auto result = fetch(kind);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::kTruncated);
  }
  // Valid after all: repeated equal values are one value (RFC 9110 section
  // 8.6), and Transfer-Encoding overrides Content-Length (rule 3).
  auto repeated = fetch("cl-repeat");
  REQUIRE(repeated.ok());
  CHECK(repeated->body == "hello world\n");
  CHECK(repeated->head.content_length == 12u);
  auto chunked = fetch("te-and-cl");
  REQUIRE(chunked.ok());
  CHECK(chunked->body == "hello");
}

TEST_CASE("decode = false delivers a coded entity as sent and offers no Accept-Encoding", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  auto request = get(server.url("/gzip-file?size=100000"));
  request.decode = false;
  auto raw = fetcher.fetch(request);
  REQUIRE(raw.ok());
  CHECK(raw->head.content_encoding == "gzip");
  REQUIRE(raw->body.size() > 2);
  CHECK(static_cast<unsigned char>(raw->body[0]) == 0x1f);  // the gzip magic, not 'a'
  CHECK(static_cast<unsigned char>(raw->body[1]) == 0x8b);
  CHECK(raw->body.size() < 100000);
  CHECK(raw->body_bytes == raw->body.size());
  // The same handle decodes again when asked.
  auto decoded = fetcher.fetch(get(server.url("/gzip-file?size=100000")));
  REQUIRE(decoded.ok());
  CHECK(decoded->body.size() == 100000);
  CHECK(decoded->body.substr(0, 3) == "abc");
}

TEST_CASE("Content-Range is read whole: start, end and total", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  auto known = fetcher.fetch(get(server.url("/fault/range?start=5&end=9&total=100")));
  REQUIRE(known.ok());
  CHECK(known->head.status == 206);
  CHECK(known->head.range_start == 5u);
  CHECK(known->head.range_end == 9u);
  CHECK(known->head.range_total == 100u);
  CHECK(known->body == "fghij");
  auto unknown = fetcher.fetch(get(server.url("/fault/range?start=0&end=2")));
  REQUIRE(unknown.ok());
  CHECK(unknown->head.range_end == 2u);
  CHECK_FALSE(unknown->head.range_total.has_value());
  // An end past the total is no range at all.
  auto invalid = fetcher.fetch(get(server.url("/fault/range?start=0&end=9&total=5")));
  REQUIRE(invalid.ok());
  CHECK_FALSE(invalid->head.range_start.has_value());
}

TEST_CASE("a body shorter than its Content-Length is kTruncated", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  auto result = fetcher.fetch(get(server.url("/fault/truncate?send=500&claim=1000")));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kTruncated);
  CHECK_THAT(result.error().message, Catch::Contains("after 500 bytes of 1000"));
}

TEST_CASE("a chunked body without its last chunk is kTruncated", "[fetcher]") {
  ScriptedServer server([](ScriptedConnection& connection, const std::string&) {
    connection.send(http_head("200 OK", {"Transfer-Encoding: chunked"}) + "a\r\n0123456789\r\n");
  });
  Fetcher fetcher(test_options());
  auto result = fetcher.fetch(get(server.url("/chunked-short")));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kTruncated);
}

TEST_CASE("a reset mid-body is kTruncated and a reset before any answer is kNetwork", "[fetcher]") {
  Fetcher fetcher(test_options());
  SECTION("with Content-Length") {
    Server server;
    auto result = fetcher.fetch(get(server.url("/fault/reset?after=500")));
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::kTruncated);
  }
  SECTION("body delimited by close") {
    ScriptedServer server([](ScriptedConnection& connection, const std::string&) {
      connection.send(http_head("200 OK", {"Content-Type: text/html"}) + std::string(500, 'x'));
      connection.reset();
    });
    auto result = fetcher.fetch(get(server.url("/reset")));
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::kTruncated);
  }
  SECTION("before the status line") {
    ScriptedServer server([](ScriptedConnection& connection, const std::string&) { connection.reset(); });
    auto result = fetcher.fetch(get(server.url("/reset")));
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::kNetwork);
  }
  SECTION("after a redirect, before the next hop's status line") {
    // The first hop's head was complete; the reset belongs to the next one.
    Server origin;
    ScriptedServer server([](ScriptedConnection& connection, const std::string&) { connection.reset(); });
    Fetcher following(following_options());
    auto result = following.fetch(get(origin.url("/redirect-to?url=" + server.url("/reset"))));
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::kNetwork);
  }
  SECTION("an answer that is not HTTP") {
    ScriptedServer server(
        [](ScriptedConnection& connection, const std::string&) { connection.send("SSH-2.0-OpenSSH_9.2\r\n\r\n"); });
    auto result = fetcher.fetch(get(server.url("/ssh")));
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::kNetwork);
    CHECK_THAT(result.error().message, Catch::Contains("not HTTP"));
  }
  SECTION("clean close before the status line") {
    ScriptedServer server([](ScriptedConnection&, const std::string&) {});
    auto result = fetcher.fetch(get(server.url("/nothing")));
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::kNetwork);
  }
}

TEST_CASE("a body delimited by close is complete when the close is clean", "[fetcher]") {
  ScriptedServer server([](ScriptedConnection& connection, const std::string&) {
    connection.send(http_head("200 OK", {"Content-Type: text/html"}) + std::string(500, 'x'));
  });
  Fetcher fetcher(test_options());
  auto result = fetcher.fetch(get(server.url("/close")));
  REQUIRE(result.ok());
  CHECK(result->body.size() == 500);
}

TEST_CASE("a BodyWriter gets begin() once with the final head, then the decoded chunks", "[fetcher]") {
  Server server;
  Fetcher fetcher(following_options());
  RecordingWriter writer;
  auto request = get(server.url("/redirect/2"));
  request.writer = &writer;
  auto result = fetcher.fetch(request);
  REQUIRE(result.ok());
  REQUIRE(writer.heads.size() == 1);
  CHECK(writer.heads[0].status == 200);
  CHECK(writer.heads[0].content_length == kEndOfChain.size());
  CHECK(writer.heads[0].location.empty());
  CHECK_FALSE(writer.wrote_before_begin);
  CHECK(writer.data == kEndOfChain);
  CHECK(result->body.empty());
  CHECK(result->body_bytes == kEndOfChain.size());

  RecordingWriter big;
  auto chunked = get(server.url("/bytes/1048576?chunked=1"));
  chunked.writer = &big;
  auto streamed = fetcher.fetch(chunked);
  REQUIRE(streamed.ok());
  CHECK(big.heads.size() == 1);
  CHECK(big.data == bytes_body(0, 1 << 20));
  CHECK(big.chunks > 1);
  CHECK(streamed->body_bytes == 1 << 20);
}

TEST_CASE("begin() is called for empty bodies and HEAD requests too", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  RecordingWriter empty;
  auto request = get(server.url("/status/204"));
  request.writer = &empty;
  auto result = fetcher.fetch(request);
  REQUIRE(result.ok());
  REQUIRE(empty.heads.size() == 1);
  CHECK(empty.heads[0].status == 204);
  CHECK(empty.chunks == 0);

  RecordingWriter head_only;
  auto head = get(server.url("/bytes/1000"));
  head.head_only = true;
  head.writer = &head_only;
  auto answer = fetcher.fetch(head);
  REQUIRE(answer.ok());
  REQUIRE(head_only.heads.size() == 1);
  CHECK(head_only.heads[0].content_length == 1000u);
  CHECK(head_only.chunks == 0);
}

TEST_CASE("a BodyWriter error aborts the transfer and is returned unchanged", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  SECTION("from write()") {
    RecordingWriter writer;
    writer.fail_at_bytes = 1;
    auto request = get(server.url("/bytes/1048576?chunked=1"));
    request.writer = &writer;
    auto result = fetcher.fetch(request);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::kIo);
    CHECK(result.error().message == "disk full (test)");
    CHECK(writer.chunks == 1);  // nothing after the failing write
  }
  SECTION("from begin()") {
    RecordingWriter writer;
    writer.begin_error = Error{ErrorCode::kChecksum, "refused by test"};
    auto request = get(server.url("/bytes/1000"));
    request.writer = &writer;
    auto result = fetcher.fetch(request);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::kChecksum);
    CHECK(result.error().message == "refused by test");
    CHECK(writer.chunks == 0);
  }
  // The handle is usable afterwards.
  auto after = fetcher.fetch(get(server.url("/bytes/12")));
  REQUIRE(after.ok());
  CHECK(after->body == "abcdefghijkl");
}

TEST_CASE("a stop request aborts a stalled transfer promptly", "[fetcher]") {
  Event stalled;
  ScriptedServer server([&stalled](ScriptedConnection& connection, const std::string&) {
    connection.send(http_head("200 OK", {"Content-Length: 100000"}) + std::string(10, 'x'));
    stalled.set();
    connection.hang();
  });
  // Only the stop can end the stall before the 60 s low-speed timeout, which
  // would report kTimeout; the bound below sits halfway, 30 s of slack.
  auto options = test_options();
  options.low_speed_time = 60s;
  options.total_timeout = 120s;
  Fetcher fetcher(options);
  std::stop_source stop;
  auto pending =
      std::async(std::launch::async, [&] { return fetcher.fetch(get(server.url("/stall")), stop.get_token()); });
  REQUIRE(stalled.wait_for(10s));
  const auto start = Clock::now();
  stop.request_stop();
  auto result = pending.get();
  const double elapsed = seconds_since(start);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kAborted);
  CHECK(elapsed < 30.0);

  // A token already stopped does not start a transfer.
  auto again = fetcher.fetch(get(server.url("/stall")), stop.get_token());
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == ErrorCode::kAborted);
  CHECK(server.requests().size() == 1);
}

TEST_CASE("fetchers sharing a StopWakeup stop through it, other tokens use their own", "[fetcher]") {
  // One scripted server per fetcher: a server serves one connection at a time.
  std::atomic<int> stalls{0};
  auto script = [&stalls](ScriptedConnection& connection, const std::string& request) {
    if (request.find("/bytes/3") != std::string::npos) {
      connection.send(http_head("200 OK", {"Content-Length: 3"}) + "abc");
      return;
    }
    connection.send(http_head("200 OK", {"Content-Length: 100000"}) + std::string(10, 'x'));
    ++stalls;
    connection.hang();
  };
  ScriptedServer server_a(script);
  ScriptedServer server_b(script);
  auto wait_for_stalls = [&stalls](int count) {
    const auto deadline = Clock::now() + 10s;
    while (stalls < count && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
    return stalls >= count;
  };
  std::stop_source pool_stop;
  StopWakeup wakeup(pool_stop.get_token());
  REQUIRE(wakeup.fd() >= 0);
  Fetcher first(test_options(), nullptr, &wakeup);  // low-speed timeout 5 s: only the stop can end it sooner
  Fetcher second(test_options(), nullptr, &wakeup);
  auto a =
      std::async(std::launch::async, [&] { return first.fetch(get(server_a.url("/stall")), pool_stop.get_token()); });
  auto b =
      std::async(std::launch::async, [&] { return second.fetch(get(server_b.url("/stall")), pool_stop.get_token()); });
  REQUIRE(wait_for_stalls(2));
  pool_stop.request_stop();
  for (auto* pending : {&a, &b}) {
    auto result = pending->get();
    REQUIRE_FALSE(result.ok());
    INFO(result.error().message);
    CHECK(result.error().code == ErrorCode::kAborted);
  }
  // The shared descriptor stays readable after its stop; a fetch with another
  // token is not stopped by it, and its own stop still works.
  std::stop_source own_stop;
  auto fine = first.fetch(get(server_a.url("/bytes/3")), own_stop.get_token());
  REQUIRE(fine.ok());
  CHECK(fine->body == "abc");
  auto c =
      std::async(std::launch::async, [&] { return second.fetch(get(server_b.url("/stall")), own_stop.get_token()); });
  REQUIRE(wait_for_stalls(3));
  own_stop.request_stop();
  auto stopped = c.get();
  REQUIRE_FALSE(stopped.ok());
  INFO(stopped.error().message);
  CHECK(stopped.error().code == ErrorCode::kAborted);
}

TEST_CASE("the configured User-Agent is sent", "[fetcher]") {
  Server server;  // /headers lists the request's header fields
  auto options = test_options();
  Fetcher default_agent(options);
  auto result = default_agent.fetch(get(server.url("/headers")));
  REQUIRE(result.ok());
  CHECK_THAT(result->body, Catch::Contains("User-Agent: " + FetchOptions{}.user_agent + "\n"));
  options.user_agent = "TestBot/2.0";
  Fetcher custom(options);
  auto custom_result = custom.fetch(get(server.url("/headers")));
  REQUIRE(custom_result.ok());
  CHECK_THAT(custom_result->body, Catch::Contains("User-Agent: TestBot/2.0\n"));
}

TEST_CASE("User-Agent is sent once, a request's own User-Agent replaces it, and an empty one sends none", "[fetcher]") {
  ScriptedServer server([](ScriptedConnection& connection, const std::string&) {
    connection.send(http_head("200 OK", {"Content-Length: 2"}) + "ok");
  });
  Fetcher fetcher(test_options());
  REQUIRE(fetcher.fetch(get(server.url("/a"))).ok());
  auto own = get(server.url("/b"));
  own.extra_headers = {"user-agent: Other/1.0"};
  REQUIRE(fetcher.fetch(own).ok());
  auto options = test_options();
  options.user_agent.clear();
  Fetcher anonymous(options);
  REQUIRE(anonymous.fetch(get(server.url("/c"))).ok());
  const auto requests = server.requests();
  REQUIRE(requests.size() == 3);
  CHECK(count_lines_starting(requests[0], "User-Agent: " + FetchOptions{}.user_agent + "\r\n") == 1);
  CHECK(count_lines_starting(requests[0], "User-Agent:") == 1);
  CHECK(count_lines_starting(requests[1], "user-agent: Other/1.0\r\n") == 1);
  CHECK(count_lines_starting(requests[1], "User-Agent:") == 0);
  CHECK(count_lines_starting(requests[2], "User-Agent:") == 0);
}

TEST_CASE("a proxy from the environment is used and gets one User-Agent", "[fetcher]") {
  ScriptedServer proxy([](ScriptedConnection& connection, const std::string&) {
    connection.send(http_head("200 OK", {"Content-Length: 7"}) + "proxied");
  });
  EnvGuard http_proxy("http_proxy", proxy.url("").c_str());
  EnvGuard no_proxy("no_proxy", nullptr);
  EnvGuard no_proxy_upper("NO_PROXY", nullptr);
  Fetcher fetcher(test_options());
  auto result = fetcher.fetch(get("http://fetchpool.invalid/page"));
  REQUIRE(result.ok());
  CHECK(result->body == "proxied");
  const auto requests = proxy.requests();
  REQUIRE(requests.size() == 1);
  CHECK_THAT(requests[0], Catch::StartsWith("GET http://fetchpool.invalid/page HTTP/1.1\r\n"));
  CHECK(count_lines_starting(requests[0], "User-Agent: " + FetchOptions{}.user_agent + "\r\n") == 1);
  CHECK(count_lines_starting(requests[0], "User-Agent:") == 1);
  CHECK(count_lines_starting(requests[0], "Accept-Encoding:") == 1);
}

TEST_CASE("extra headers are sent, and gone when the next request has none", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  auto with = get(server.url("/headers"));
  with.extra_headers = {"X-Test: one"};
  auto first = fetcher.fetch(with);
  REQUIRE(first.ok());
  CHECK_THAT(first->body, Catch::Contains("X-Test: one\n"));
  with.extra_headers = {"X-Test: two"};
  auto second = fetcher.fetch(with);
  REQUIRE(second.ok());
  CHECK_THAT(second->body, Catch::Contains("X-Test: two\n") && !Catch::Contains("X-Test: one"));
  auto without = fetcher.fetch(get(server.url("/headers")));
  REQUIRE(without.ok());
  CHECK_THAT(without->body, !Catch::Contains("X-Test"));
}

TEST_CASE("resume_from sends Range and a 206 reports range_start", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  RecordingWriter writer;
  auto request = get(server.url("/bytes/1000"));
  request.resume_from = 990;
  request.writer = &writer;
  auto result = fetcher.fetch(request);
  REQUIRE(result.ok());
  CHECK(result->head.status == 206);
  CHECK(result->head.range_start == 990u);
  REQUIRE(writer.heads.size() == 1);
  CHECK(writer.heads[0].range_start == 990u);
  CHECK(writer.data == bytes_body(990, 10));
  // The next request without resume_from gets the whole body.
  auto whole = fetcher.fetch(get(server.url("/bytes/1000")));
  REQUIRE(whole.ok());
  CHECK(whole->head.status == 200);
  CHECK_FALSE(whole->head.range_start.has_value());
  CHECK(whole->body == bytes_body(0, 1000));
}

TEST_CASE("a server that ignores Range answers 200, and that is the writer's call, not an error", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  RecordingWriter writer;
  auto request = get(server.url("/bytes/10?norange=1"));
  request.resume_from = 5;
  request.extra_headers = {"If-Range: \"bytes-10\""};
  request.writer = &writer;
  auto result = fetcher.fetch(request);
  REQUIRE(result.ok());
  REQUIRE(writer.heads.size() == 1);
  CHECK(writer.heads[0].status == 200);
  CHECK_FALSE(writer.heads[0].range_start.has_value());
  CHECK(writer.data == bytes_body(0, 10));
  // What was sent, and that it is not sent again without resume_from.
  auto echo = get(server.url("/headers"));
  echo.resume_from = 5;
  echo.extra_headers = request.extra_headers;
  auto sent = fetcher.fetch(echo);
  REQUIRE(sent.ok());
  CHECK_THAT(sent->body, Catch::Contains("Range: bytes=5-\n") && Catch::Contains("If-Range: \"bytes-10\"\n"));
  auto plain = fetcher.fetch(get(server.url("/headers")));
  REQUIRE(plain.ok());
  CHECK_THAT(plain->body, !Catch::Contains("Range:"));
}

TEST_CASE("a HEAD request returns the head only and the next GET has a body again", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  auto head = get(server.url("/bytes/1000"));
  head.head_only = true;
  auto result = fetcher.fetch(head);
  REQUIRE(result.ok());
  CHECK(result->head.status == 200);
  CHECK(result->head.content_length == 1000u);
  CHECK(result->body.empty());
  auto body = fetcher.fetch(get(server.url("/bytes/1000")));
  REQUIRE(body.ok());
  CHECK(body->body.size() == 1000);
}

TEST_CASE("Retry-After is reported with the status it came with", "[fetcher]") {
  Server server;
  Fetcher fetcher(test_options());
  auto result = fetcher.fetch(get(server.url("/retry-after/120")));
  REQUIRE(result.ok());
  CHECK(result->head.status == 429);
  CHECK(result->head.retry_after == "120");
}

TEST_CASE("header names are case-insensitive, values trimmed, interim 1xx heads dropped", "[fetcher]") {
  ScriptedServer server([](ScriptedConnection& connection, const std::string&) {
    connection.send("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nETag: \"early\"\r\n\r\n" +
                    http_head("503 Service Unavailable",
                              {"rEtRy-AfTeR:    120  ", "CONTENT-TYPE:\ttext/plain ", "etag: \"v2\"",
                               "Last-Modified: Tue, 15 Nov 1994 12:45:26 GMT",
                               "Content-Disposition: attachment; filename=\"a.txt\"", "Content-Length: 4"}) +
                    "busy");
  });
  Fetcher fetcher(test_options());
  auto result = fetcher.fetch(get(server.url("/busy")));
  REQUIRE(result.ok());
  CHECK(result->head.status == 503);
  CHECK(result->head.retry_after == "120");
  CHECK(result->head.content_type == "text/plain");
  CHECK(result->head.etag == "\"v2\"");
  CHECK(result->head.last_modified == "Tue, 15 Nov 1994 12:45:26 GMT");
  CHECK(result->head.content_disposition == "attachment; filename=\"a.txt\"");
  CHECK(result->head.content_length == 4u);
  CHECK(result->body == "busy");
}

TEST_CASE("a moved Fetcher keeps its connection and keeps working", "[fetcher]") {
  Server server;
  Fetcher first(test_options());
  REQUIRE(first.fetch(get(server.url("/bytes/12"))).ok());
  Fetcher moved(std::move(first));
  auto result = moved.fetch(get(server.url("/bytes/12")));
  REQUIRE(result.ok());
  CHECK(result->reused_connection);
  CHECK(result->body == "abcdefghijkl");
}

TEST_CASE("negative limits are rejected at construction", "[fetcher]") {
  auto options = test_options();
  options.max_redirects = -1;
  CHECK_THROWS_AS(Fetcher(options), std::invalid_argument);
  options = test_options();
  options.connect_timeout = -1ms;
  CHECK_THROWS_AS(Fetcher(options), std::invalid_argument);
}

TEST_CASE("8 threads with their own Fetchers share one SharedCurlCache", "[fetcher]") {
  Server server(2);
  SharedCurlCache shared;
  constexpr int kThreads = 8;
  constexpr int kRequests = 200;
  std::atomic<int> ok{0};
  std::atomic<int> reused{0};
  // Half the workers name the host "localhost", so its DNS entry is shared
  // (and locked) between them.
  const std::string numeric = server.local.base_url();
  const std::string named = "http://localhost:" + std::to_string(server.local.port());
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, base = t % 2 == 0 ? numeric : named] {
      Fetcher fetcher(test_options(), &shared);
      for (int i = 0; i < kRequests; ++i) {
        const bool even = i % 2 == 0;
        auto result = fetcher.fetch(get(base + (even ? "/bytes/12" : "/redirect/0")));
        if (result.ok() && result->head.status == 200 &&
            result->body == (even ? std::string_view("abcdefghijkl") : kEndOfChain)) {
          ok.fetch_add(1, std::memory_order_relaxed);
        }
        if (result.ok() && result->reused_connection) reused.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(ok.load() == kThreads * kRequests);
  // Each worker opens its connection once and keeps it.
  CHECK(reused.load() == kThreads * (kRequests - 1));
  CHECK(server.local.counters().connections_accepted == kThreads);
}

namespace {

// Everything an ExchangeObserver is told, in order.
struct RecordingObserver final : fetchpool::ExchangeObserver {
  struct Exchange {
    std::string url, ip, request, head, body;
  };
  std::vector<Exchange> exchanges;
  std::vector<std::optional<Error>> ends;
  void request(const fetchpool::ExchangeTarget& target, std::string_view head) noexcept override {
    exchanges.push_back({std::string(target.url), std::string(target.ip), std::string(head), {}, {}});
  }
  void response_line(std::string_view line) noexcept override {
    if (!exchanges.empty()) exchanges.back().head.append(line);
  }
  void response_body(std::string_view bytes) noexcept override {
    if (!exchanges.empty()) exchanges.back().body.append(bytes);
  }
  void end(const std::optional<Error>& error) noexcept override { ends.push_back(error); }
};

}  // namespace

TEST_CASE("an ExchangeObserver sees each request as sent and each response as received", "[fetcher]") {
  LocalServer server(ServerOptions{});
  RecordingObserver observer;
  FetchOptions options = test_options();
  options.follow_redirects = true;
  Fetcher fetcher(options);
  fetcher.set_observer(&observer);

  SECTION("a chunked body arrives without its framing, its head as sent by the server") {
    auto response = fetcher.fetch(get(server.base_url() + "/bytes/3000?chunked=1"));
    REQUIRE(response);
    REQUIRE(observer.exchanges.size() == 1);
    const auto& exchange = observer.exchanges[0];
    CHECK(exchange.url == server.base_url() + "/bytes/3000?chunked=1");
    CHECK(exchange.ip == "127.0.0.1");
    CHECK(exchange.request.starts_with("GET /bytes/3000?chunked=1 HTTP/1.1\r\nHost: 127.0.0.1:"));
    CHECK(exchange.request.ends_with("\r\n\r\n"));
    CHECK(exchange.request.find("\r\nUser-Agent: " + options.user_agent + "\r\n") != std::string::npos);
    CHECK(exchange.head.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(exchange.head.find("\r\nTransfer-Encoding: chunked\r\n") != std::string::npos);
    CHECK(exchange.head.ends_with("\r\n\r\n"));
    CHECK(exchange.body == response->body);
    CHECK(exchange.body.size() == 3000);
    REQUIRE(observer.ends.size() == 1);
    CHECK_FALSE(observer.ends[0].has_value());
  }
  SECTION("a coded body arrives coded, whether the fetcher decodes it or not") {
    auto response = fetcher.fetch(get(server.base_url() + "/gzip-file?size=5000"));
    REQUIRE(response);
    REQUIRE(observer.exchanges.size() == 1);
    CHECK(observer.exchanges[0].body.starts_with("\x1f\x8b"));
    CHECK(observer.exchanges[0].body.size() == response->head.content_length.value_or(0));
  }
  SECTION("redirects libcurl follows are one exchange each; a failure ends the fetch with its error") {
    auto response = fetcher.fetch(get(server.base_url() + "/redirect/2"));
    REQUIRE(response);
    REQUIRE(observer.exchanges.size() == 3);
    CHECK(observer.exchanges[0].url == server.base_url() + "/redirect/2");
    CHECK(observer.exchanges[1].url == server.base_url() + "/redirect/1");
    CHECK(observer.exchanges[1].request.starts_with("GET /redirect/1 HTTP/1.1\r\n"));
    CHECK(observer.exchanges[0].head.starts_with("HTTP/1.1 302 "));
    CHECK(observer.exchanges[2].head.starts_with("HTTP/1.1 200 "));
    auto cut = fetcher.fetch(get(server.base_url() + "/fault/truncate?send=10&claim=100"));
    REQUIRE_FALSE(cut);
    REQUIRE(observer.ends.size() == 2);
    REQUIRE(observer.ends[1].has_value());
    CHECK(observer.ends[1]->code == ErrorCode::kTruncated);
    CHECK(observer.exchanges.back().body.size() == 10);
  }
  SECTION("set_observer(nullptr) stops the reports") {
    fetcher.set_observer(nullptr);
    REQUIRE(fetcher.fetch(get(server.base_url() + "/bytes/10")));
    CHECK(observer.exchanges.empty());
    CHECK(observer.ends.empty());
  }
}

// One handle fetches URL after URL: the request line and final_url must name
// each URL asked for, never the one before it, whether the URL keeps the
// origin (path and query replaced), drops its query, needs curl's full parse
// (dot segments, a fragment) or moves to another origin and back.
TEST_CASE("consecutive fetches on one handle each request and report their own URL", "[fetcher]") {
  auto answer = [](ScriptedConnection& connection, const std::string&) {
    connection.send(http_head("200 OK", {"Content-Type: text/plain", "Content-Length: 2"}) + "ok");
  };
  ScriptedServer first(answer);
  ScriptedServer second(answer);
  struct Step {
    const ScriptedServer& server;
    std::string path;    // as asked
    std::string target;  // as it must appear in the request line
    std::string final_path;
  };
  const std::vector<Step> steps = {
      {first, "/a/1.txt", "/a/1.txt", "/a/1.txt"},
      {first, "/a/2.txt?x=1&y=%20", "/a/2.txt?x=1&y=%20", "/a/2.txt?x=1&y=%20"},
      {first, "/a/2.txt", "/a/2.txt", "/a/2.txt"},
      {first, "/b/./c/../3.txt", "/b/3.txt", "/b/3.txt"},
      {first, "/4.txt?q=1#part", "/4.txt?q=1", "/4.txt?q=1#part"},
      {first, "/5.txt", "/5.txt", "/5.txt"},
      {second, "/a/1.txt?z", "/a/1.txt?z", "/a/1.txt?z"},
      {second, "/6.txt", "/6.txt", "/6.txt"},
      {first, "/7.txt", "/7.txt", "/7.txt"},
      {first, "/", "/", "/"},
  };
  Fetcher fetcher(test_options());
  std::size_t first_requests = 0;
  std::size_t second_requests = 0;
  for (const Step& step : steps) {
    INFO("fetching " << step.path);
    auto result = fetcher.fetch(get(step.server.url(step.path)));
    REQUIRE(result.ok());
    CHECK(result->head.status == 200);
    CHECK(result->body == "ok");
    CHECK(result->final_url == step.server.url(step.final_path));
    const std::size_t index = &step.server == &first ? first_requests++ : second_requests++;
    const auto requests = step.server.requests();
    REQUIRE(requests.size() == index + 1);
    CHECK(requests[index].starts_with("GET " + step.target + " HTTP/1.1\r\n"));
  }
}
