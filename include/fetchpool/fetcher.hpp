// One worker's HTTP client (libcurl), and the cache all workers share.
//
// A Fetcher owns one curl easy handle and reuses it for every request, so a
// connection to a host stays open between requests (HTTP/1.1 keep-alive,
// RFC 9112 section 9.3; HTTP/2 over TLS when the server offers it). Redirects
// are followed for http and https only (RFC 9110 section 15.4). Deviations and
// choices:
// - HTTP error statuses are not errors here: a 404 is a successful Result
//   whose head.status is 404. Only transport failures are Errors.
// - Resuming (FetchRequest::resume_from) sends "Range: bytes=N-" and accepts
//   whatever comes back. A server that ignores Range answers 200 with the
//   whole body; curl's own resume (CURLOPT_RESUME_FROM) would fail that
//   transfer, we instead hand the 200 to the BodyWriter, which sees status
//   200 and no range_start and decides (restart from byte 0, usually).
// - A body cut short (fewer bytes than Content-Length, an unterminated chunked
//   body, or a reset after the final response's header) is ErrorCode::kTruncated,
//   never a success. A body without Content-Length that ends with a clean
//   close is complete by definition (RFC 9112 section 6.3, rule 8).
// - Stopping: fetch() takes a std::stop_token. The Fetcher drives curl's
//   multi_socket API with its own poll(), which a stop request wakes at once
//   (a StopWakeup shared by a pool's Fetchers, else the Fetcher's own
//   eventfd), so the fetch returns kAborted within milliseconds, also while
//   the server is silent; no progress callback runs per transfer.
// - Proxies come from the environment as libcurl reads them (http_proxy,
//   https_proxy, all_proxy, no_proxy, per request); whether any is set is
//   checked once, when the Fetcher is built, to choose how the User-Agent is
//   sent.
//
// Thread-safety: a Fetcher is NOT thread-safe; use one per worker thread. A
// SharedCurlCache is thread-safe and may be shared by any number of Fetchers
// on any threads; it must outlive every Fetcher constructed with it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "fetchpool/body_writer.hpp"
#include "fetchpool/error.hpp"

namespace fetchpool {

struct FetchOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds total_timeout{120'000};  // 0 = none (big downloads rely on the low-speed limit)
  long low_speed_limit = 100;                        // bytes/s ...
  std::chrono::seconds low_speed_time{30};     // ... below which for this long = kTimeout (stalls, trickles); 0 = off
  std::uint64_t max_body_bytes = 32ull << 20;  // in-memory bodies only: decoded bytes; over it -> kTooLarge
  long max_redirects = 10;                     // more -> kTooManyRedirects (this count also ends loops)
  std::string user_agent = "fetchpool/0.1 (+https://github.com/fetchpool)";
  bool accept_compressed = true;  // send Accept-Encoding for every decoder curl has (gzip, br, zstd)
  bool http2 = true;              // negotiate h2 over TLS when offered; plain http stays 1.1
  bool verify_tls = true;
};

struct FetchRequest {
  std::string url;                         // absolute and normalised
  std::uint64_t resume_from = 0;           // >0: send "Range: bytes=N-" (see the header comment)
  std::vector<std::string> extra_headers;  // whole lines: "If-Range: \"abc\""
  BodyWriter* writer = nullptr;            // nullptr: body kept in FetchResponse::body, up to max_body_bytes
  bool head_only = false;                  // HEAD request
};

struct FetchResponse {
  ResponseHead head;             // of the final response
  std::string final_url;         // after redirects
  std::string body;              // empty when a writer was given
  std::uint64_t body_bytes = 0;  // decoded bytes delivered (to body or writer)
  int redirect_count = 0;
  double total_ms = 0, connect_ms = 0, first_byte_ms = 0;
  bool reused_connection = false;  // no new connection was opened for this fetch
  std::string http_version;        // "1.0", "1.1", "2", "3"
};

// DNS answers and TLS sessions shared between Fetchers (a curl share handle
// whose lock callbacks take one std::mutex per kind of shared data).
// Connections are not shared: each Fetcher keeps its own, so workers never
// wait on each other for a socket.
class SharedCurlCache {
 public:
  SharedCurlCache();  // throws std::runtime_error if libcurl cannot allocate the handle
  ~SharedCurlCache();
  SharedCurlCache(const SharedCurlCache&) = delete;
  SharedCurlCache& operator=(const SharedCurlCache&) = delete;

 private:
  friend class Fetcher;
  struct State;
  std::unique_ptr<State> state_;
};

// One descriptor that wakes the poll of every Fetcher whose fetch() is given
// `token`, once a stop is requested: a pool of N workers sharing one stop
// holds one eventfd instead of N. A Fetcher without one (or fetching with
// another token) makes its own eventfd at its first stoppable fetch. When
// the eventfd cannot be made (descriptors exhausted), fd() is -1 and stops
// are seen within about a second instead of at once. Must outlive every
// Fetcher given it; thread-safe.
class StopWakeup {
 public:
  explicit StopWakeup(std::stop_token stop);
  ~StopWakeup();
  StopWakeup(const StopWakeup&) = delete;
  StopWakeup& operator=(const StopWakeup&) = delete;

  int fd() const noexcept { return fd_; }
  const std::stop_token& token() const noexcept { return token_; }

 private:
  struct Write {
    int fd;
    void operator()() const noexcept;
  };
  std::stop_token token_;
  int fd_;
  std::optional<std::stop_callback<Write>> callback_;
};

class Fetcher {
 public:
  // Throws std::invalid_argument for negative timeouts or limits and
  // std::runtime_error if libcurl cannot allocate its easy handle. Opens no
  // descriptor: the multi handle (and its socketpair) and a private stop
  // eventfd are made by the first fetch.
  explicit Fetcher(FetchOptions options, SharedCurlCache* shared = nullptr, const StopWakeup* wakeup = nullptr);
  ~Fetcher();
  Fetcher(Fetcher&& other) noexcept;  // the moved-from Fetcher may only be destroyed or assigned to
  Fetcher& operator=(Fetcher&& other) noexcept;
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // Blocking. 4xx/5xx answers are successful Results; transport failures,
  // limits and BodyWriter errors are Errors (a BodyWriter's error is returned
  // unchanged). Curl errors read "<url>: <what> (curl: <detail>)".
  // A request's extra_headers line replaces the Fetcher's own User-Agent or
  // Accept-Encoding of the same name.
  Result<FetchResponse> fetch(const FetchRequest& request, std::stop_token stop = {});

  // Gives a body back once read, for the next fetch() to fill: a worker that
  // parses every page then allocates no new body buffer per page. Buffers
  // above kMaxRecycledBody are dropped, so a huge page is not kept.
  void recycle_body(std::string&& body) noexcept;
  static constexpr std::size_t kMaxRecycledBody = std::size_t{256} * 1024;

  const FetchOptions& options() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fetchpool
