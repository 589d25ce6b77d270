// LocalServer against real clients: libcurl for HTTP behaviour, plain
// sockets where the bytes on the wire (or their absence) are the point.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "tools/testsite/local_server.hpp"

using fetchpool::LocalServer;
using fetchpool::ServerOptions;
using Clock = std::chrono::steady_clock;

namespace {

const struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
} curl_global;

ServerOptions small_site(std::uint32_t pages = 300) {
  ServerOptions options;
  options.site.pages = pages;
  options.site.links_per_page = 4;
  return options;
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string headers;
  std::string body;
  long new_connections = 0;  // CURLINFO_NUM_CONNECTS
  double seconds = 0;
  curl_off_t content_length = -1;
};

std::size_t append_to_string(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;

struct Request {
  std::vector<std::string> headers;
  bool head = false;
  bool decode_gzip = false;
  long timeout_ms = 10000;
  std::string range;
};

// One GET on `handle` (reused across calls, so its connection is reused).
Reply perform(CURL* handle, const std::string& url, const Request& request = {}) {
  Reply reply;
  curl_slist* headers = nullptr;
  for (const auto& h : request.headers) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(handle, CURLOPT_NOBODY, request.head ? 1L : 0L);
  curl_easy_setopt(handle, CURLOPT_ACCEPT_ENCODING, request.decode_gzip ? "gzip" : nullptr);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, request.timeout_ms);
  curl_easy_setopt(handle, CURLOPT_RANGE, request.range.empty() ? nullptr : request.range.c_str());
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, append_to_string);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, append_to_string);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &reply.headers);
  const auto start = Clock::now();
  reply.code = curl_easy_perform(handle);
  reply.seconds = seconds_since(start);
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_easy_getinfo(handle, CURLINFO_NUM_CONNECTS, &reply.new_connections);
  curl_easy_getinfo(handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &reply.content_length);
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  return reply;
}

Reply get(const std::string& url, const Request& request = {}) {
  Easy handle(curl_easy_init());
  return perform(handle.get(), url, request);
}

bool has_header(const Reply& reply, const std::string& line) {
  return reply.headers.find(line + "\r\n") != std::string::npos;
}

std::string pattern(std::uint64_t first, std::uint64_t count) {
  std::string s;
  for (std::uint64_t k = first; k < first + count; ++k) s += static_cast<char>('a' + k % 26);
  return s;
}

// A raw TCP client for the cases curl would hide or refuse to send.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void send(const std::string& bytes) {
    REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
  }
  // Reads until `done(received)` holds, the peer closes, or 5 s pass.
  template <typename Done>
  std::string read_until(Done done) {
    std::string received;
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!done(received) && Clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buffer[65536];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) {
        peer_closed_ = true;
        break;
      }
      received.append(buffer, static_cast<std::size_t>(n));
    }
    return received;
  }
  std::string read_to_close() {
    return read_until([](const std::string&) { return false; });
  }
  std::string read_containing(const std::string& needle) {
    return read_until([&](const std::string& s) { return s.find(needle) != std::string::npos; });
  }
  bool peer_closed() const { return peer_closed_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  bool peer_closed_ = false;
};

// Every href="..." in a page.
std::vector<std::string> hrefs(const std::string& html) {
  std::vector<std::string> out;
  const std::string open = "href=\"";
  for (std::size_t at = html.find(open); at != std::string::npos; at = html.find(open, at)) {
    at += open.size();
    const std::size_t end = html.find('"', at);
    out.push_back(html.substr(at, end - at));
    at = end;
  }
  return out;
}

// Resolves `href` against `base` with curl's URL API; empty if unusable.
std::string resolve(const std::string& base, const std::string& href) {
  CURLU* url = curl_url();
  std::string out;
  char* text = nullptr;
  if (curl_url_set(url, CURLUPART_URL, base.c_str(), 0) == CURLUE_OK &&
      curl_url_set(url, CURLUPART_URL, href.c_str(), 0) == CURLUE_OK &&
      curl_url_set(url, CURLUPART_FRAGMENT, nullptr, 0) == CURLUE_OK &&
      curl_url_get(url, CURLUPART_URL, &text, 0) == CURLUE_OK) {
    out = text;
  }
  curl_free(text);
  curl_url_cleanup(url);
  return out;
}

std::size_t resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  std::size_t kib = 0;
  while (status >> key) {
    if (key == "VmRSS:") {
      status >> kib;
      break;
    }
  }
  return kib * 1024;
}

// Runs `count` GETs of `url_for(i)` at once on one curl multi handle; returns
// their status codes (0 for transport errors).
template <typename UrlFor>
std::vector<long> get_concurrently(int count, UrlFor url_for, std::vector<std::string>* bodies = nullptr) {
  CURLM* multi = curl_multi_init();
  std::vector<Easy> handles;
  std::vector<std::string> received(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    handles.emplace_back(curl_easy_init());
    CURL* h = handles.back().get();
    const std::string url = url_for(i);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_to_string);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &received[static_cast<std::size_t>(i)]);
    curl_multi_add_handle(multi, h);
  }
  int running = 1;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (running > 0 && Clock::now() < deadline) {
    curl_multi_perform(multi, &running);
    if (running > 0) curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  std::vector<long> statuses;
  for (auto& h : handles) {
    long status = 0;
    curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &status);
    statuses.push_back(status);
    curl_multi_remove_handle(multi, h.get());
  }
  handles.clear();
  curl_multi_cleanup(multi);
  if (bodies) *bodies = std::move(received);
  return statuses;
}

}  // namespace

TEST_CASE("port 0 picks a free port and base_url names it", "[local_server]") {
  LocalServer server(small_site());
  REQUIRE(server.port() != 0);
  REQUIRE(server.base_url() == "http://127.0.0.1:" + std::to_string(server.port()));
  REQUIRE(get(server.base_url() + "/").status == 200);
}

TEST_CASE("binding a taken port throws system_error naming address:port", "[local_server]") {
  LocalServer first(small_site());
  ServerOptions options = small_site();
  options.port = first.port();
  const std::string where = "127.0.0.1:" + std::to_string(first.port());
  try {
    LocalServer second(options);
    FAIL("second server bound a taken port");
  } catch (const std::system_error& e) {
    REQUIRE(e.code().value() == EADDRINUSE);
    REQUIRE(std::string(e.what()).find(where) != std::string::npos);
  }
  options.bind_address = "not-an-address";
  REQUIRE_THROWS_AS(LocalServer(options), std::system_error);
  REQUIRE(get(first.base_url() + "/").status == 200);  // the first is unharmed
}

TEST_CASE("site pages are HTML with a title, mixed link forms, off-site and mailto links", "[local_server]") {
  ServerOptions options = small_site();
  LocalServer server(options);
  const std::string base = server.base_url();

  const Reply home = get(base + "/");
  REQUIRE(home.status == 200);
  REQUIRE(has_header(home, "Content-Type: text/html; charset=utf-8"));
  REQUIRE(home.content_length == static_cast<curl_off_t>(home.body.size()));
  REQUIRE(home.body.starts_with("<!DOCTYPE html>"));
  REQUIRE(home.body.find("<title>Page 0</title>") != std::string::npos);
  REQUIRE(home.body.find("href=\"/private/0.html\"") != std::string::npos);
  // ~page_bytes: padded up to it, never far above it.
  REQUIRE(home.body.size() >= options.site.page_bytes);
  REQUIRE(home.body.size() < options.site.page_bytes + 512);

  // Across a few pages every link form appears.
  bool relative = false, parent = false, root = false, absolute = false, fragment = false;
  for (std::uint32_t page : {101u, 150u, 199u, 230u, 250u, 270u}) {
    const std::string path = "/s/" + std::to_string(page / 100) + "/" + std::to_string(page) + ".html";
    const Reply reply = get(base + path);
    REQUIRE(reply.status == 200);
    REQUIRE(reply.body.find("<title>Page " + std::to_string(page) + "</title>") != std::string::npos);
    const auto links = hrefs(reply.body);
    // K site links + two off-site + mailto.
    REQUIRE(links.size() == options.site.links_per_page + 3);
    REQUIRE(std::count(links.begin(), links.end(), "http://offsite.invalid/x") == 1);
    REQUIRE(std::count(links.begin(), links.end(), "https://example.org/") == 1);
    REQUIRE(std::count_if(links.begin(), links.end(), [](const auto& l) { return l.starts_with("mailto:"); }) == 1);
    const std::string next = resolve(base + path, links.front());
    REQUIRE(next == base + "/s/" + std::to_string((page + 1) / 100) + "/" + std::to_string(page + 1) + ".html");
    for (const auto& l : links) {
      relative = relative || (l.find(':') == std::string::npos && !l.starts_with("/") && !l.starts_with(".."));
      parent = parent || l.starts_with("../");
      root = root || l.starts_with("/s/");
      absolute = absolute || l.starts_with(base + "/");
      fragment = fragment || l.find('#') != std::string::npos;
    }
  }
  CHECK(relative);
  CHECK(parent);
  CHECK(root);
  CHECK(absolute);
  CHECK(fragment);
}

TEST_CASE("every manifest page is reachable from / and robots keeps private pages out", "[local_server]") {
  ServerOptions options = small_site(250);
  LocalServer server(options);
  const std::string base = server.base_url();
  const Reply robots = get(base + "/robots.txt");
  REQUIRE(robots.status == 200);
  REQUIRE(robots.body == options.robots_txt);

  // A BFS over links that stay on the server, skipping /private/ as the robots.txt says.
  Easy handle(curl_easy_init());
  std::set<std::string> seen{base + "/"};
  std::set<std::string> private_links;
  std::deque<std::string> queue{base + "/"};
  std::set<std::string> visited_paths;
  while (!queue.empty()) {
    const std::string url = queue.front();
    queue.pop_front();
    const Reply reply = perform(handle.get(), url);
    REQUIRE(reply.status == 200);
    visited_paths.insert(url.substr(base.size()));
    for (const auto& href : hrefs(reply.body)) {
      const std::string target = resolve(url, href);
      if (!target.starts_with(base + "/")) continue;  // off-site, mailto
      if (target.starts_with(base + "/private/")) {
        private_links.insert(target.substr(base.size()));
        continue;
      }
      if (seen.insert(target).second) queue.push_back(target);
    }
  }
  const auto manifest = fetchpool::site_page_paths(options.site);
  REQUIRE(manifest.size() == 250);
  REQUIRE(visited_paths == std::set<std::string>(manifest.begin(), manifest.end()));
  const auto private_paths = fetchpool::site_private_paths(options.site);
  REQUIRE(private_paths.size() == 13);  // pages 0, 20, ..., 240
  REQUIRE(private_links == std::set<std::string>(private_paths.begin(), private_paths.end()));
  // The private pages exist, for crawlers that ignore robots.txt.
  REQUIRE(get(base + private_paths.back()).status == 200);
  // Each page was fetched exactly once, and counted by path.
  REQUIRE(server.requests_for("/") == 1);
  REQUIRE(server.requests_for("/s/1/150.html") == 1);
  REQUIRE(server.requests_for("/private/0.html") == 0);
}

TEST_CASE("paths outside the site answer 404", "[local_server]") {
  LocalServer server(small_site());
  const std::string base = server.base_url();
  for (const char* path : {"/s/0/0.html", "/s/3/300.html", "/s/1/5.html", "/s/0/05.html", "/private/7.html",
                           "/private/400.html", "/nope", "/s/", "/bytes/abc", "/status/99"}) {
    INFO(path);
    const long status = get(base + path).status;
    REQUIRE((status == 404 || status == 400));
  }
  REQUIRE(get(base + "/s/2/299.html").status == 200);
}

TEST_CASE("error_rate makes exactly the site_error_paths pages answer 500", "[local_server]") {
  ServerOptions options = small_site(200);
  options.error_rate = 0.1;
  LocalServer server(options);
  const auto failing = fetchpool::site_error_paths(options.site, options.error_rate);
  REQUIRE(failing.size() >= 8);
  REQUIRE(failing.size() <= 40);
  REQUIRE(std::find(failing.begin(), failing.end(), "/") == failing.end());
  const std::set<std::string> failing_set(failing.begin(), failing.end());
  Easy handle(curl_easy_init());
  for (const auto& path : fetchpool::site_page_paths(options.site)) {
    INFO(path);
    REQUIRE(perform(handle.get(), server.base_url() + path).status == (failing_set.count(path) ? 500 : 200));
  }
  REQUIRE(fetchpool::site_error_paths(options.site, 0.0).empty());
}

TEST_CASE("robots.txt is configurable and an empty one is 404", "[local_server]") {
  ServerOptions options = small_site();
  options.robots_txt = "";
  LocalServer server(options);
  REQUIRE(get(server.base_url() + "/robots.txt").status == 404);
}

TEST_CASE("keep-alive reuses the connection, Connection: close and HTTP/1.0 close it", "[local_server]") {
  LocalServer server(small_site());
  const std::string base = server.base_url();
  Easy handle(curl_easy_init());
  REQUIRE(perform(handle.get(), base + "/").new_connections == 1);
  const Reply second = perform(handle.get(), base + "/s/0/1.html");
  REQUIRE(second.status == 200);
  REQUIRE(second.new_connections == 0);
  REQUIRE_FALSE(has_header(second, "Connection: close"));

  Request closing;
  closing.headers = {"Connection: close"};
  const Reply closed = perform(handle.get(), base + "/s/0/2.html", closing);
  REQUIRE(closed.new_connections == 0);
  REQUIRE(has_header(closed, "Connection: close"));
  REQUIRE(perform(handle.get(), base + "/s/0/3.html").new_connections == 1);
  REQUIRE(server.counters().connections_accepted == 2);

  RawClient raw(server.port());
  raw.send("GET /status/200 HTTP/1.0\r\n\r\n");
  const std::string response = raw.read_to_close();
  REQUIRE(raw.peer_closed());
  REQUIRE(response.find("Connection: close\r\n") != std::string::npos);

  RawClient kept(server.port());
  kept.send("GET /status/200 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  REQUIRE(kept.read_containing("200 OK\n").find("Connection: keep-alive\r\n") != std::string::npos);
  kept.send("GET /status/201 HTTP/1.1\r\nConnection: close\r\n\r\n");
  REQUIRE(kept.read_to_close().find("HTTP/1.1 201 Created") != std::string::npos);
}

TEST_CASE("HEAD sends the GET headers and no body", "[local_server]") {
  LocalServer server(small_site());
  const std::string base = server.base_url();
  Easy handle(curl_easy_init());
  Request head;
  head.head = true;
  const Reply page = perform(handle.get(), base + "/", head);
  REQUIRE(page.status == 200);
  REQUIRE(page.content_length == 4096);
  REQUIRE(page.body.empty());
  const Reply bytes = perform(handle.get(), base + "/bytes/123456", head);
  REQUIRE(bytes.content_length == 123456);
  // Had a body followed the HEAD, it would corrupt the next response here.
  const Reply after = perform(handle.get(), base + "/bytes/10");
  REQUIRE(after.new_connections == 0);
  REQUIRE(after.body == pattern(0, 10));

  RawClient raw(server.port());
  raw.send("HEAD /bytes/50?chunked=1 HTTP/1.1\r\nConnection: close\r\n\r\n");
  const std::string response = raw.read_to_close();
  REQUIRE(response.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  REQUIRE(response.ends_with("\r\n\r\n"));  // no chunks, not even the last one
}

TEST_CASE("/bytes serves the pattern with ranges, 416, ETag, If-Range and chunked coding", "[local_server]") {
  LocalServer server(small_site());
  const std::string base = server.base_url();

  const Reply full = get(base + "/bytes/100");
  REQUIRE(full.status == 200);
  REQUIRE(full.body == pattern(0, 100));
  REQUIRE(has_header(full, "Content-Type: application/octet-stream"));
  REQUIRE(has_header(full, "ETag: \"bytes-100\""));
  REQUIRE(has_header(full, "Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT"));
  REQUIRE(has_header(full, "Accept-Ranges: bytes"));

  Request range;
  range.range = "5-9";
  Reply part = get(base + "/bytes/100", range);
  REQUIRE(part.status == 206);
  REQUIRE(part.body == "fghij");
  REQUIRE(has_header(part, "Content-Range: bytes 5-9/100"));

  range.range = "90-";
  part = get(base + "/bytes/100", range);
  REQUIRE(part.status == 206);
  REQUIRE(part.body == pattern(90, 10));
  REQUIRE(has_header(part, "Content-Range: bytes 90-99/100"));

  range.range = "95-500";  // the end is clamped
  REQUIRE(get(base + "/bytes/100", range).body == pattern(95, 5));
  range.range = "-3";  // suffix
  REQUIRE(get(base + "/bytes/100", range).body == pattern(97, 3));

  range.range = "100-";
  const Reply refused = get(base + "/bytes/100", range);
  REQUIRE(refused.status == 416);
  REQUIRE(has_header(refused, "Content-Range: bytes */100"));

  range.range = "5-9";
  const Reply ignored = get(base + "/bytes/100?norange=1", range);
  REQUIRE(ignored.status == 200);
  REQUIRE(ignored.body == pattern(0, 100));
  REQUIRE(ignored.headers.find("Accept-Ranges") == std::string::npos);

  REQUIRE(has_header(get(base + "/bytes/100?etag=v2"), "ETag: \"v2\""));
  range.headers = {"If-Range: \"bytes-100\""};
  REQUIRE(get(base + "/bytes/100", range).status == 206);
  REQUIRE(get(base + "/bytes/100?etag=v2", range).status == 200);  // validator changed: whole body

  const Reply chunked = get(base + "/bytes/200000?chunked=1");
  REQUIRE(chunked.status == 200);
  REQUIRE(has_header(chunked, "Transfer-Encoding: chunked"));
  REQUIRE(chunked.headers.find("Content-Length") == std::string::npos);
  REQUIRE(chunked.body == pattern(0, 200000));
  REQUIRE(get(base + "/bytes/0?chunked=1").body.empty());
}

TEST_CASE("/bytes streams a large body in constant memory", "[local_server]") {
  LocalServer server(small_site());
  constexpr std::uint64_t kSize = 256ull << 20;
  struct Sink {
    std::uint64_t received = 0;
    bool pattern_ok = true;
    std::size_t baseline = 0;
    std::size_t peak = 0;
  } sink;
  sink.baseline = resident_bytes();
  Easy handle(curl_easy_init());
  curl_easy_setopt(handle.get(), CURLOPT_URL, (server.base_url() + "/bytes/" + std::to_string(kSize)).c_str());
  curl_easy_setopt(handle.get(), CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(
      handle.get(), CURLOPT_WRITEFUNCTION, +[](char* data, std::size_t, std::size_t n, void* out) -> std::size_t {
        auto& s = *static_cast<Sink*>(out);
        // Spot checks keep the client cheap; the server is what is measured.
        if (data[0] != static_cast<char>('a' + s.received % 26)) s.pattern_ok = false;
        if ((s.received >> 24) != ((s.received + n) >> 24)) s.peak = std::max(s.peak, resident_bytes());
        s.received += n;
        return n;
      });
  REQUIRE(curl_easy_perform(handle.get()) == CURLE_OK);
  REQUIRE(sink.received == kSize);
  REQUIRE(sink.pattern_ok);
  // A body built whole would add 256 MiB; streaming adds a few buffers.
  REQUIRE(sink.peak < sink.baseline + (32u << 20));
}

TEST_CASE("latency delays site pages and robots.txt, and only them", "[local_server]") {
  ServerOptions options = small_site();
  options.latency = std::chrono::milliseconds(200);
  LocalServer server(options);
  const std::string base = server.base_url();
  for (const char* path : {"/", "/s/1/123.html", "/robots.txt"}) {
    INFO(path);
    const Reply reply = get(base + path);
    REQUIRE(reply.status == 200);
    REQUIRE(reply.seconds >= 0.2);
    // Catches a latency applied in the wrong unit or once per write.
    REQUIRE(reply.seconds < 30.0);
  }
  // The negative control: other routes get no latency. Against a 60 s latency
  // a 30 s client timeout fails this if they did, and no load makes it flaky.
  ServerOptions slow_site = small_site();
  slow_site.latency = std::chrono::seconds(60);
  LocalServer slow(slow_site);
  const Reply control = get(slow.base_url() + "/status/200", Request{{}, false, false, 30000, {}});
  REQUIRE(control.code == CURLE_OK);
  REQUIRE(control.status == 200);

  ServerOptions jittery = small_site();
  jittery.latency = std::chrono::milliseconds(50);
  jittery.jitter = std::chrono::milliseconds(100);
  LocalServer jittered(jittery);
  for (const char* path : {"/s/0/1.html", "/s/0/2.html", "/s/0/3.html"}) {
    const Reply reply = get(jittered.base_url() + path);
    REQUIRE(reply.seconds >= 0.05);
    REQUIRE(reply.seconds < 30.0);
  }
}

TEST_CASE("/delay waits on a timer without holding a thread", "[local_server]") {
  LocalServer server(small_site());  // one event-loop thread
  const auto start = Clock::now();
  const auto statuses = get_concurrently(100, [&](int) { return server.base_url() + "/delay/600"; });
  const double elapsed = seconds_since(start);
  REQUIRE(std::count(statuses.begin(), statuses.end(), 200) == 100);
  REQUIRE(elapsed >= 0.6);
  REQUIRE(elapsed < 30.0);  // serially it would take 60 s
}

TEST_CASE("300 concurrent delayed requests complete in about one latency", "[local_server]") {
  ServerOptions options = small_site(1000);
  options.latency = std::chrono::milliseconds(400);
  LocalServer server(options);
  const auto paths = fetchpool::site_page_paths(options.site);
  constexpr int kRequests = 300;
  std::vector<std::string> bodies;
  const auto start = Clock::now();
  const auto statuses = get_concurrently(
      kRequests, [&](int i) { return server.base_url() + paths[static_cast<std::size_t>(i)]; }, &bodies);
  const double elapsed = seconds_since(start);
  REQUIRE(std::count(statuses.begin(), statuses.end(), 200) == kRequests);
  REQUIRE(bodies[7].find("<title>Page 7</title>") != std::string::npos);
  REQUIRE(elapsed >= 0.4);
  REQUIRE(elapsed < 30.0);  // 300 x 0.4 s = 120 s if requests were served one at a time
  REQUIRE(server.counters().peak_open_connections >= 250);
  REQUIRE(server.counters().requests == kRequests);
}

TEST_CASE("several event loops share the listener", "[local_server]") {
  ServerOptions options = small_site();
  options.threads = 3;
  options.latency = std::chrono::milliseconds(1000);
  LocalServer server(options);
  const auto paths = fetchpool::site_page_paths(options.site);
  const auto start = Clock::now();
  const auto statuses =
      get_concurrently(60, [&](int i) { return server.base_url() + paths[static_cast<std::size_t>(i)]; });
  REQUIRE(std::count(statuses.begin(), statuses.end(), 200) == 60);
  REQUIRE(seconds_since(start) < 30.0);  // serially it would take 60 s
  REQUIRE(server.counters().connections_accepted == 60);
}

TEST_CASE("stop() returns promptly with stalled and delayed connections open", "[local_server]") {
  LocalServer server(small_site());
  RawClient stalled(server.port());
  stalled.send("GET /fault/stall HTTP/1.1\r\n\r\n");
  REQUIRE(stalled.read_containing("\r\n\r\n").find("Content-Length: 1000") != std::string::npos);
  RawClient delayed(server.port());
  delayed.send("GET /delay/60000 HTTP/1.1\r\n\r\n");
  RawClient idle(server.port());
  REQUIRE(get(server.base_url() + "/status/200").status == 200);  // the loop has seen all three

  const auto start = Clock::now();
  std::thread concurrent([&] { server.stop(); });
  server.stop();
  concurrent.join();
  REQUIRE(seconds_since(start) < 30.0);  // not the 60 s delay: half of it is safe on a loaded machine
  server.stop();                         // idempotent

  for (RawClient* client : {&stalled, &delayed, &idle}) {
    client->read_to_close();
    REQUIRE(client->peer_closed());
  }
  Reply refused = get(server.base_url() + "/", Request{{}, false, false, 2000, {}});
  REQUIRE(refused.code == CURLE_COULDNT_CONNECT);
}

TEST_CASE("fault endpoints: reset, truncation, stall and trickle", "[local_server]") {
  LocalServer server(small_site());
  const std::string base = server.base_url();

  const Reply reset = get(base + "/fault/reset?after=5000");
  REQUIRE(reset.status == 200);
  REQUIRE(reset.code == CURLE_RECV_ERROR);  // "Connection reset by peer"
  REQUIRE(reset.body == pattern(0, 5000));
  REQUIRE(reset.content_length > 5000);

  const Reply truncated = get(base + "/fault/truncate?send=10&claim=100");
  REQUIRE(truncated.code == CURLE_PARTIAL_FILE);
  REQUIRE(truncated.content_length == 100);
  REQUIRE(truncated.body == pattern(0, 10));
  REQUIRE(get(base + "/fault/truncate?send=100&claim=100").status == 400);

  Request impatient;
  impatient.timeout_ms = 300;
  const Reply stalled = get(base + "/fault/stall", impatient);
  REQUIRE(stalled.code == CURLE_OPERATION_TIMEDOUT);
  REQUIRE(stalled.status == 200);
  REQUIRE(stalled.body.empty());

  const Reply trickle = get(base + "/fault/trickle?bps=2000&total=1000");
  REQUIRE(trickle.code == CURLE_OK);
  REQUIRE(trickle.body == pattern(0, 1000));
  REQUIRE(trickle.seconds >= 0.35);  // 1000 B at 2000 B/s, the first tenth at once
  REQUIRE(trickle.seconds < 30.0);   // catches a rate off by 50x or more (45 s at 20 B/s)
}

TEST_CASE("redirect routes: chains, loops and arbitrary Locations", "[local_server]") {
  LocalServer server(small_site());
  const std::string base = server.base_url();
  Easy handle(curl_easy_init());
  curl_easy_setopt(handle.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(handle.get(), CURLOPT_MAXREDIRS, 10L);
  const Reply chain = perform(handle.get(), base + "/redirect/3");
  REQUIRE(chain.status == 200);
  long redirects = 0;
  curl_easy_getinfo(handle.get(), CURLINFO_REDIRECT_COUNT, &redirects);
  REQUIRE(redirects == 3);
  REQUIRE(chain.body.find("Redirect target") != std::string::npos);

  REQUIRE(perform(handle.get(), base + "/redirect-loop").code == CURLE_TOO_MANY_REDIRECTS);

  const Reply to_file = get(base + "/redirect-to?url=file%3A%2F%2F%2Fetc%2Fpasswd");
  REQUIRE(to_file.status == 302);
  REQUIRE(has_header(to_file, "Location: file:///etc/passwd"));
  REQUIRE(get(base + "/redirect-to?url=%2Fstatus%2F200&status=307").status == 307);
  REQUIRE(get(base + "/redirect-to?url=a%0D%0AX-Injected:%201").status == 400);
}

TEST_CASE("status, retry-after, flaky, headers, filename and gzip routes", "[local_server]") {
  LocalServer server(small_site());
  const std::string base = server.base_url();

  for (long code : {200L, 201L, 404L, 418L, 500L, 503L}) {
    REQUIRE(get(base + "/status/" + std::to_string(code)).status == code);
  }
  const Reply no_content = get(base + "/status/204");
  REQUIRE(no_content.status == 204);
  REQUIRE(no_content.headers.find("Content-Length") == std::string::npos);

  const Reply slow_down = get(base + "/retry-after/7");
  REQUIRE(slow_down.status == 429);
  REQUIRE(has_header(slow_down, "Retry-After: 7"));
  const Reply later = get(base + "/retry-after-date");
  REQUIRE(later.status == 503);
  const std::size_t at = later.headers.find("Retry-After: ");
  REQUIRE(at != std::string::npos);
  const std::string date = later.headers.substr(at + 13, later.headers.find("\r\n", at) - at - 13);
  const time_t when = curl_getdate(date.c_str(), nullptr);
  REQUIRE(when - time(nullptr) >= 0);
  REQUIRE(when - time(nullptr) <= 3);

  REQUIRE(get(base + "/flaky/a?fail=2").status == 503);
  REQUIRE(get(base + "/flaky/a?fail=2").status == 503);
  REQUIRE(get(base + "/flaky/a?fail=2").status == 200);
  REQUIRE(get(base + "/flaky/b?fail=2").status == 503);  // counted per key
  REQUIRE(server.requests_for("/flaky/a") == 3);

  Request agent;
  agent.headers = {"User-Agent: fetchpool-test/1.0", "X-Custom: yes"};
  const Reply echoed = get(base + "/headers", agent);
  REQUIRE(echoed.body.find("User-Agent: fetchpool-test/1.0\n") != std::string::npos);
  REQUIRE(echoed.body.find("X-Custom: yes\n") != std::string::npos);

  const Reply hostile = get(base + "/filename?name=..%2F..%2Fetc%2Fpasswd");
  REQUIRE(hostile.status == 200);
  REQUIRE(has_header(hostile, "Content-Disposition: attachment; filename=\"../../etc/passwd\""));
  REQUIRE(get(base + "/filename?name=a%0Db").status == 400);

  const Reply compressed = get(base + "/gzip-bomb?mib=8");
  REQUIRE(compressed.status == 200);
  REQUIRE(has_header(compressed, "Content-Encoding: gzip"));
  REQUIRE(compressed.body.size() < (64u << 10));
  Request inflate;
  inflate.decode_gzip = true;
  const Reply inflated = get(base + "/gzip-bomb?mib=8", inflate);
  REQUIRE(inflated.body.size() == (8u << 20));
  REQUIRE(std::all_of(inflated.body.begin(), inflated.body.end(), [](char c) { return c == 0; }));
  REQUIRE(get(base + "/gzip-bomb?mib=5000").status == 400);
}

TEST_CASE("bad, oversized and body-carrying requests are refused, pipelined ones answered in order", "[local_server]") {
  LocalServer server(small_site());

  RawClient bad(server.port());
  bad.send("NONSENSE\r\n\r\n");
  REQUIRE(bad.read_to_close().starts_with("HTTP/1.1 400 Bad Request\r\n"));

  RawClient large(server.port());
  large.send("GET / HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  const std::string too_large = large.read_to_close();
  REQUIRE(too_large.starts_with("HTTP/1.1 431 "));
  REQUIRE(large.peer_closed());

  RawClient with_body(server.port());
  with_body.send("POST /status/200 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
  REQUIRE(with_body.read_to_close().starts_with("HTTP/1.1 413 "));

  RawClient delete_request(server.port());
  delete_request.send("DELETE /status/200 HTTP/1.1\r\nConnection: close\r\n\r\n");
  const std::string not_allowed = delete_request.read_to_close();
  REQUIRE(not_allowed.starts_with("HTTP/1.1 405 "));
  REQUIRE(not_allowed.find("Allow: GET, HEAD\r\n") != std::string::npos);

  RawClient pipelined(server.port());
  pipelined.send(
      "GET /status/201 HTTP/1.1\r\n\r\nGET /bytes/3 HTTP/1.1\n\nGET /status/202 HTTP/1.1\r\nConnection: close\r\n\r\n");
  const std::string answers = pipelined.read_to_close();
  const std::size_t first = answers.find("201 Created");
  const std::size_t second = answers.find("\r\n\r\nabc");
  const std::size_t third = answers.find("202 Accepted");
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  REQUIRE(third != std::string::npos);
  REQUIRE(first < second);
  REQUIRE(second < third);

  REQUIRE(get(server.base_url() + "/status/200").status == 200);
}

TEST_CASE("clients that vanish mid-reply do not disturb the server", "[local_server]") {
  ServerOptions options = small_site();
  options.latency = std::chrono::milliseconds(100);
  LocalServer server(options);
  {
    // Gone while a large body is being written: closing with unread data
    // sends an RST, so the server's next read or write fails with ECONNRESET
    // (or EPIPE, which without MSG_NOSIGNAL would kill this process).
    RawClient reader(server.port());
    reader.send("GET /bytes/100000000 HTTP/1.1\r\n\r\n");
    REQUIRE_FALSE(reader.read_until([](const std::string& s) { return s.size() > 100000; }).empty());
  }
  {
    RawClient waiter(server.port());  // gone before its delayed reply
    waiter.send("GET / HTTP/1.1\r\n\r\n");
  }
  {
    RawClient half(server.port());  // half a request head
    half.send("GET /status/200 HTTP/1.1\r\nHost: x");
  }
  { RawClient silent(server.port()); }
  REQUIRE(get(server.base_url() + "/delay/150").status == 200);  // outlives the delayed reply above
  REQUIRE(get(server.base_url() + "/bytes/10").body == pattern(0, 10));
}

TEST_CASE("counters count requests, bytes and connections", "[local_server]") {
  LocalServer server(small_site());
  Easy handle(curl_easy_init());
  std::uint64_t body_bytes = 0;
  for (int i = 0; i < 5; ++i) {
    body_bytes += perform(handle.get(), server.base_url() + "/bytes/1000?x=" + std::to_string(i)).body.size();
  }
  // A reply's bytes are counted just after the write that a client may
  // already have read; the loop serves a connection's next request only
  // after that, so one more request settles the first five.
  REQUIRE(perform(handle.get(), server.base_url() + "/bytes/1").status == 200);
  const auto counters = server.counters();
  REQUIRE(counters.requests == 6);
  REQUIRE(counters.connections_accepted == 1);
  REQUIRE(counters.peak_open_connections == 1);
  REQUIRE(counters.bytes_sent > body_bytes);  // bodies plus heads
  REQUIRE(counters.bytes_sent < body_bytes + std::uint64_t{6} * 400);
  REQUIRE(server.requests_for("/bytes/1000") == 5);  // the query is not part of the path
  REQUIRE(server.requests_for("/never") == 0);
}
