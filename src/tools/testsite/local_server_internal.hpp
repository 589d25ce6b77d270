// Private parts of LocalServer: the parsed request, the reply plan the routes
// hand to the event loop, the synthetic site and the router.
//
// The split keeps the event loop (local_server.cpp) ignorant of what any route
// means: a route returns a Reply describing status, headers, where the body
// bytes come from and how the exchange ends; the loop only executes it.
//
// Thread-safety: HttpRequest and Reply are values owned by one loop thread.
// SyntheticSite is immutable after construction. Router::route may be called
// from every loop thread at once (its shared state is internally locked).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fetchpool/thread_annotations.hpp"
#include "tools/testsite/local_server.hpp"

namespace fetchpool::detail {

// Request line and header fields, as views into the connection's input
// buffer: valid only until the loop consumes the request.
struct HttpRequest {
  std::string_view method;
  std::string_view target;  // as sent (origin-form or absolute-form)
  std::string_view path;    // target without scheme://authority, query or fragment
  std::string_view query;   // after '?', without the fragment; may be empty
  int minor_version = 1;    // HTTP/1.<minor_version>
  std::vector<std::pair<std::string_view, std::string_view>> fields;

  // The first field with this name (case-insensitive), or empty.
  std::string_view field(std::string_view name) const;
  bool has_field(std::string_view name) const;
};

enum class ParseStatus { kIncomplete, kComplete, kBad, kTooLarge };

// Parses the request head at the start of `input`. On kComplete, `consumed`
// is the head's length (through the blank line). `scan_from` lets a caller
// that feeds bytes piecemeal avoid rescanning: pass the previous input size.
ParseStatus parse_request(std::string_view input, std::size_t scan_from, std::size_t max_head, HttpRequest& request,
                          std::size_t& consumed);

// The value of `key` in an application query string ("a=1&b=2"), decoded.
std::optional<std::string> query_param(std::string_view query, std::string_view key);

// Where a reply's body bytes come from: a shared immutable string, or (when
// `bytes` is null) the /bytes pattern where byte k is 'a' + k % 26.
struct BodySource {
  std::shared_ptr<const std::string> bytes;
  std::uint64_t first = 0;  // index of the first byte to send
  std::uint64_t size = 0;   // number of bytes to send
  void copy(std::uint64_t position, char* out, std::size_t count) const;
};

// How the exchange ends once the body bytes are sent.
enum class Ending {
  kKeepAlive,  // next request, unless the client asked to close
  kClose,      // clean close (FIN), e.g. after a deliberately short body
  kReset,      // abortive close (RST via SO_LINGER 0)
  kStall,      // send nothing more; close only when the client goes
};

// What to send for one request. The loop adds the status line, Content-Length
// (or chunked framing) and Connection; everything else is in `fields`.
struct Reply {
  int status = 200;
  std::string fields;  // extra header lines, each ending "\r\n"
  BodySource body;
  std::optional<std::uint64_t> declared_length;  // Content-Length if not body.size (faults)
  bool chunked = false;                          // Transfer-Encoding: chunked, no Content-Length
  bool no_length = false;                        // neither (204, 304, close-delimited)
  std::chrono::milliseconds delay{0};            // before the status line is sent
  std::uint32_t bytes_per_second = 0;            // pace the body (0 = as fast as possible)
  Ending ending = Ending::kKeepAlive;
  bool raw = false;  // body holds the whole answer, head included: sent byte for byte (malformed framing)
};

// `text` as one gzip member.
std::string gzip_text(std::string_view text);

// The /sitemaps/ routes (local_server_sitemaps.cpp); `base_url` names the
// server in absolute URLs.
Reply sitemap_reply(std::string_view path, std::string_view query, const std::string& base_url);
// The Sitemap: lines ServerOptions::sitemaps adds to robots.txt.
std::string sitemap_robots_lines(const std::string& base_url);

// Builds a Reply with a text body and the given Content-Type.
Reply text_reply(int status, std::string body, std::string_view content_type = "text/plain; charset=utf-8");

std::string_view reason_phrase(int status);

// An IMF-fixdate (RFC 9110 section 5.6.7) for Date, Last-Modified and Retry-After.
std::string http_date(std::time_t t);

// RFC 9110 section 13.1: whether a GET with these validators gets 304.
// If-None-Match (a list, "*", weak comparison) decides when present;
// otherwise If-Modified-Since, compared with `last_modified` as a date.
bool not_modified(const HttpRequest& request, std::string_view etag, std::string_view last_modified);
// A 304 carrying the validators (RFC 9110 section 15.4.5).
Reply not_modified_reply(std::string_view etag, std::string_view last_modified);

// serve --root DIR: the files under one directory, as a mirror of one host
// holds them (store/mirror_store.hpp's naming, so a URL finds the file a
// crawl with --mirror saved it as). Every level is opened with O_NOFOLLOW
// below the directory's descriptor: a symbolic link inside is a 404, never a
// way out. Content-Type comes from the extension; ETag and Last-Modified
// from the file's size and mtime, and conditional requests are honoured.
class DirectoryFiles {
 public:
  // Throws std::system_error naming `root` if it cannot be opened.
  explicit DirectoryFiles(const std::string& root);
  ~DirectoryFiles();
  DirectoryFiles(const DirectoryFiles&) = delete;
  DirectoryFiles& operator=(const DirectoryFiles&) = delete;

  Reply reply(const HttpRequest& request) const;

 private:
  int root_fd_;
};

// The synthetic site of SiteOptions: page lookup and rendering. Immutable.
class SyntheticSite {
 public:
  SyntheticSite(SiteOptions options, double error_rate);

  // Page number of a manifest path ("/" or "/s/<d>/<i>.html"), if any.
  std::optional<std::uint32_t> page_for_path(std::string_view path) const;
  // Page number of a "/private/<i>.html" path that the site links to, if any.
  std::optional<std::uint32_t> private_page_for_path(std::string_view path) const;
  bool page_fails(std::uint32_t page) const;
  bool has_private_link(std::uint32_t page) const { return page % 20 == 0; }
  // The HTML of a page; absolute links use `base_url`.
  std::string render_page(std::uint32_t page, std::string_view base_url) const;
  std::string render_private_page(std::uint32_t page) const;

  static std::string page_path(std::uint32_t page);

 private:
  SiteOptions options_;
  double error_rate_;
};

// Per-path request counts, sharded so that loops rarely contend.
class PathCounter {
 public:
  std::uint64_t increment(std::string_view path);  // returns the new count
  std::uint64_t get(std::string_view path) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    mutable Mutex mutex;
    std::unordered_map<std::string, std::uint64_t, Hash, std::equal_to<>> counts FETCHPOOL_GUARDED_BY(mutex);
  };
  static constexpr std::size_t kShards = 16;
  std::array<Shard, kShards> shards_;
};

// Maps a request to its Reply. Thread-safe.
class Router {
 public:
  Router(const ServerOptions& options, std::string base_url);

  Reply route(const HttpRequest& request);
  const PathCounter& counts() const { return counts_; }

 private:
  Reply site_reply(const HttpRequest& request);
  Reply bytes_reply(const HttpRequest& request, std::uint64_t size);
  Reply gzip_bomb_reply(std::uint32_t mib);
  std::chrono::milliseconds site_delay(std::string_view path) const;
  std::string robots_sitemap_lines() const { return options_.sitemaps ? sitemap_robots_lines(base_url_) : ""; }

  ServerOptions options_;
  std::string base_url_;
  SyntheticSite site_;
  std::unique_ptr<DirectoryFiles> files_;  // ServerOptions::root given: serves it instead of the site
  PathCounter counts_;
  Mutex gzip_mutex_;
  std::map<std::uint32_t, std::shared_ptr<const std::string>> gzip_cache_ FETCHPOOL_GUARDED_BY(gzip_mutex_);  // by MiB
};

}  // namespace fetchpool::detail
