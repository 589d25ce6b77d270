// One worker's HTTP client (libcurl), and the cache all workers share.
//
// A Fetcher owns one curl easy handle and reuses it for every request, so a
// connection to a host stays open between requests (HTTP/1.1 keep-alive,
// RFC 9112 section 9.3; HTTP/2 over TLS when the server offers it). Redirects
// are not followed by default: a 3xx is returned with its Location, and the
// engine turns each hop into a frontier entry so that scope, robots.txt,
// per-host limits and the seen set apply to it (FetchOptions::follow_redirects
// lets libcurl follow them, for http and https only). Deviations and choices:
// - HTTP error statuses are not errors here: a 404 is a successful Result
//   whose head.status is 404. Only transport failures are Errors.
// - Resuming (FetchRequest::resume_from) sends "Range: bytes=N-" and accepts
//   whatever comes back. A server that ignores Range answers 200 with the
//   whole body; curl's own resume (CURLOPT_RESUME_FROM) would fail that
//   transfer, we instead hand the 200 to the BodyWriter, which sees status
//   200 and no range_start and decides (restart from byte 0, usually).
// - Framing is strict (RFC 9112 section 6.3): a Content-Length that is not a
//   decimal number, or several that disagree ("5, 7", or two fields), is
//   ErrorCode::kProtocol unless Transfer-Encoding overrides it (rule 3);
//   repeated equal values are one value (RFC 9110 section 8.6). libcurl 7.88
//   takes the leading digits of "12abc" and the last of two fields, so the
//   header callback checks them itself. A header section that ends before
//   its blank line, a malformed status line (CURLE_WEIRD_SERVER_REPLY) and a
//   content coding that does not decode (CURLE_BAD_CONTENT_ENCODING) are
//   kProtocol too.
// - A body cut short (fewer bytes than Content-Length, an unterminated chunked
//   body, a compressed body whose stream does not end, or a reset after the
//   final response's header) is ErrorCode::kTruncated, never a success. A
//   body without Content-Length that ends with a clean close is complete by
//   definition (RFC 9112 section 6.3, rule 8).
// - Content codings: "Accept-Encoding: gzip, deflate" is offered and coded
//   bodies are decoded (by zlib, in the fetcher, so that a stream cut short
//   is seen) only when FetchRequest::decode and FetchOptions::accept_compressed
//   are both true; otherwise the entity is delivered as the server sent it,
//   as curl does without --compressed. While decoding, a coding that was not
//   offered (br, say) is kProtocol. br and zstd are not offered: libcurl
//   7.88 decodes them, but cannot tell a cut stream from a whole one.
// - Stopping: fetch() takes a std::stop_token. The Fetcher drives its easy
//   handle through a multi handle of its own, and curl_multi_poll also
//   watches a descriptor that a stop request makes readable (a StopWakeup
//   shared by a pool's Fetchers, else the Fetcher's own eventfd), so the
//   fetch returns kAborted within milliseconds, also while the server is
//   silent; no progress callback runs per transfer.
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
#include <filesystem>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "fetchpool/body_writer.hpp"
#include "fetchpool/error.hpp"
#include "fetchpool/exchange_observer.hpp"

namespace fetchpool {

// curl_global_init(CURL_GLOBAL_DEFAULT) with libcurl's allocations routed
// through a per-thread cache of small blocks in front of malloc
// (curl_global_init_mem; src/net/block_cache.hpp): libcurl 7.88 makes
// and frees about 60 small blocks a request, and the cache hands a freed one
// to the same thread's next allocation of its size for a fraction of a
// malloc/free pair. Its calloc and growing realloc go through that malloc
// too: glibc's calloc and realloc never take a chunk from the calling
// thread's tcache while free() puts one there, which filled each worker's
// tcache with chunks kept for good (gdb at -j 500: 6.4 KiB per worker).
// Call once, before any thread starts, instead of curl_global_init; false
// when libcurl fails.
bool init_curl_global() noexcept;

struct FetchOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds total_timeout{120'000};  // 0 = none (big downloads rely on the low-speed limit)
  long low_speed_limit = 100;                        // bytes/s ...
  std::chrono::seconds low_speed_time{30};     // ... below which for this long = kTimeout (stalls, trickles); 0 = off
  std::uint64_t max_body_bytes = 32ull << 20;  // in-memory bodies only: decoded bytes; over it -> kTooLarge
  long max_redirects = 10;                     // with follow_redirects: more -> kTooManyRedirects
  bool follow_redirects = false;               // libcurl follows 3xx itself (the engine never asks for it)
  std::string user_agent = "fetchpool/0.1 (+https://github.com/fetchpool)";
  bool accept_compressed = true;  // offer gzip and deflate and decode them (per request: FetchRequest::decode)
  bool http2 = true;              // negotiate h2 over TLS when offered; plain http stays 1.1
  bool verify_tls = true;
  // What a user asks for on the command line (curl/wget flags), applied by
  // Fetcher::State::configure_user_options; empty or zero = off.
  std::vector<std::string> headers;        // "Name: value" lines for every request; replace our own of that name
  std::string cookie;                      // "a=1; b=2", sent with every request (curl --cookie NAME=VALUE)
  bool cookies = false;                    // keep Set-Cookie answers (one jar in the SharedCurlCache, if given)
  std::string username, password;          // HTTP basic auth, sent with every request; never logged
  std::string proxy;                       // "http://host:port"; empty: the environment's (http_proxy ...)
  std::string no_proxy;                    // hosts reached directly; empty: the environment's no_proxy
  std::string ca_file;                     // PEM bundle verifying servers instead of the system's
  std::uint64_t max_bytes_per_second = 0;  // one body's receive rate (curl --limit-rate), paced as it arrives
  bool head_only = false;                  // every request is HEAD (wget --spider, curl --head)
};

struct FetchRequest {
  std::string url;                         // absolute and normalised
  std::uint64_t resume_from = 0;           // >0: send "Range: bytes=N-" (see the header comment)
  std::vector<std::string> extra_headers;  // whole lines: "If-Range: \"abc\""
  BodyWriter* writer = nullptr;            // nullptr: body kept in FetchResponse::body, up to max_body_bytes
  bool head_only = false;                  // HEAD request
  bool decode = true;                      // offer and decode content codings (if options.accept_compressed)
  // libcurl's receive buffer (CURLOPT_BUFFERSIZE) for this transfer, kept by the
  // handle until a request asks for another size; 0 = the fetcher's own: 1 KiB
  // until one of its answers (header and body) did not fit in 1 KiB, 64 KiB
  // from then on (many workers waiting on small answers hold less heap). Big
  // bodies streamed to disk take more: fewer recv and poll calls (the writer
  // still gets at most 16 KiB per call, libcurl's CURL_MAX_WRITE_SIZE).
  std::size_t receive_buffer_bytes = 0;
  // false: none of the user's credentials (basic auth, -b cookie string) or
  // -H headers, for a redirect that left the origin the user named (as curl
  // does without --location-trusted: a server cannot collect them by redirecting).
  bool user_credentials = true;
};

struct FetchResponse {
  ResponseHead head;             // of the final response
  std::string final_url;         // after redirects (the request's URL unless follow_redirects)
  std::string body;              // empty when a writer was given
  std::uint64_t body_bytes = 0;  // decoded bytes delivered (to body or writer)
  int redirect_count = 0;
  double total_ms = 0, connect_ms = 0, first_byte_ms = 0;
  bool reused_connection = false;  // no new connection was opened for this fetch
  std::string http_version;        // "1.0", "1.1", "2", "3"
};

// What all Fetchers of one SharedCurlCache share besides DNS and TLS sessions.
struct SharedCurlOptions {
  bool cookies = false;                      // one cookie jar for every Fetcher (they need FetchOptions::cookies)
  std::filesystem::path cookie_file;         // Netscape-format cookies loaded into the jar at construction
  std::uint64_t total_bytes_per_second = 0;  // receive rate of all transfers together; 0 = unlimited
};

// DNS answers, TLS sessions and (optionally) cookies shared between Fetchers
// (a curl share handle whose lock callbacks take one std::mutex per kind of
// shared data), and a total receive rate limit. Connections are not shared:
// each Fetcher keeps its own, so workers never wait on each other for a socket.
class SharedCurlCache {
 public:
  // Throws std::runtime_error if libcurl cannot allocate the handle. A
  // cookie_file that cannot be read loads nothing (as in curl).
  explicit SharedCurlCache(SharedCurlOptions options = {});
  ~SharedCurlCache();

  // Writes the jar's cookies to `path` in the Netscape format (mode 0600:
  // cookies are credentials). Call when no transfer runs.
  Result<void> save_cookies(const std::filesystem::path& path) const;

  // Waits (at most until `stop`) so that `bytes` just received keep all
  // transfers under total_bytes_per_second. Thread-safe.
  void throttle(std::size_t bytes, const std::stop_token& stop) const;
  SharedCurlCache(const SharedCurlCache&) = delete;
  SharedCurlCache& operator=(const SharedCurlCache&) = delete;

 private:
  friend class Fetcher;
  struct State;
  void share_cookies();
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

  // Reports every later exchange to `observer` (nullptr: none), which must
  // outlive the fetches it watches. Throws std::runtime_error if libcurl
  // refuses its debug callback.
  void set_observer(ExchangeObserver* observer);

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
