// LocalServer: fetchpool's built-in HTTP/1.1 origin server on 127.0.0.1.
//
// It serves a deterministic synthetic site (for crawls, demos and
// benchmarks) and a set of test routes (status codes, delays, ranges,
// redirects, resets, truncation, gzip bombs, hostile file names) used by the
// integration tests of every other component. See local_server.cpp for the
// route table.
//
// Standard: RFC 9112 (HTTP/1.1 message syntax) and RFC 9110 (semantics) for
// GET and HEAD: persistent connections by default, "Connection: close"
// honoured, HTTP/1.0 keep-alive only on request, single byte ranges
// (RFC 9110 section 14) with If-Range. Deviations, all deliberate for a test
// server: request bodies are refused (413, connection closed) rather than
// read; pipelined requests are answered in order but not required by anyone;
// multi-range requests are answered with the whole body (allowed by 14.2);
// no Date header, so that responses are byte-for-byte reproducible. Site
// pages carry an ETag (a hash of the page) and a fixed Last-Modified, and
// answer If-None-Match / If-Modified-Since with 304.
//
// Design: Linux epoll, non-blocking sockets, `threads` event loops sharing
// one listening socket (EPOLLEXCLUSIVE), and a timer heap per loop, so a
// delayed or trickled response holds no thread and 1,000+ concurrent
// connections cost only memory. Bodies are produced in 64 KiB pieces as the
// socket accepts them, so /bytes/<n> costs constant memory for any n.
//
// Thread-safety: every public member function may be called from any thread
// concurrently. The server owns its threads; stop() (also run by the
// destructor) closes the listener and every connection and joins them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fetchpool {

// The deterministic synthetic site. Page 0 is "/", page i > 0 lives at
// "/s/<i/100>/<i>.html". Page i links to page i+1 (so, with links_per_page
// >= 1, every page is reachable from "/"), plus links_per_page - 1
// seeded-random site pages written in mixed forms (relative, "../",
// root-relative, absolute, some with fragments), two off-site links and one
// mailto: link. Pages 0, 20, 40, ... also link to "/private/<i>.html", which
// the default robots.txt disallows.
struct SiteOptions {
  std::uint32_t pages = 10000;       // N pages, every one reachable from "/"
  std::uint32_t links_per_page = 8;  // K links to site pages per page
  std::uint32_t page_bytes = 4096;   // approximate HTML size (padding paragraph)
  std::uint64_t seed = 1;
};

struct ServerOptions {
  std::string bind_address = "127.0.0.1";  // IPv4 literal
  std::uint16_t port = 0;                  // 0 = pick a free port
  SiteOptions site;
  std::chrono::milliseconds latency{0};  // added before answering every site page and /robots.txt
  std::chrono::milliseconds jitter{0};   // extra 0..jitter, deterministic per path
  double error_rate = 0.0;               // fraction of site pages answering 500 (by page number; never "/")
  std::string robots_txt = "User-agent: *\nDisallow: /private/\n";  // served at /robots.txt; empty = 404
  int robots_status = 200;  // any other status answers /robots.txt with it (e.g. 503: RFC 9309 2.3.1.4)
  unsigned threads = 1;     // event-loop threads (0 is taken as 1)
  // Non-empty: serve the files under this directory (one host's directory of
  // a --mirror) for every GET and HEAD instead of the site and test routes.
  std::string root;
  // robots.txt names the /sitemaps/ files (index, gzip, text, hostile,
  // malformed): see local_server_sitemaps.cpp.
  bool sitemaps = false;
};

// Counts are updated as the loops work: `requests` when a reply starts,
// `bytes_sent` just after each write, so a client that has read a reply may
// see counters that do not include all of its bytes yet.
struct ServerCounters {
  std::uint64_t requests = 0;    // replies started, including 4xx/5xx
  std::uint64_t bytes_sent = 0;  // head and body bytes written to sockets
  std::uint64_t connections_accepted = 0;
  std::uint64_t peak_open_connections = 0;  // highest number open at once
};

class LocalServer {
 public:
  // Binds, listens and starts the event loops. Throws std::system_error whose
  // message names address:port if the address is invalid or cannot be bound.
  explicit LocalServer(ServerOptions options);
  ~LocalServer();  // stop()
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  std::uint16_t port() const noexcept;
  std::string base_url() const;  // "http://127.0.0.1:PORT"

  // Idempotent. Closes the listener and every connection (stalled and
  // delayed ones included) and joins the loops; returns promptly. Concurrent
  // callers all return after the threads are joined.
  void stop();

  ServerCounters counters() const;

  // How many requests named this path (the request target without query).
  std::uint64_t requests_for(std::string_view path) const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The site's page paths reachable from "/" (the manifest), in page order.
std::vector<std::string> site_page_paths(const SiteOptions& site);

// The "/private/<i>.html" pages the site links to; not in the manifest.
std::vector<std::string> site_private_paths(const SiteOptions& site);

// The manifest paths that answer 500 under this error_rate, in page order.
// A failing page's links are not served, so pages only it leads to may be
// unreachable for a crawler.
std::vector<std::string> site_error_paths(const SiteOptions& site, double error_rate);

}  // namespace fetchpool
