#include "fetchpool/fetcher.hpp"

#include <curl/curl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "base/ascii.hpp"
#include "base/curl_raii.hpp"

namespace fetchpool {
namespace {

using detail::iequals_lower;
using detail::to_ascii_lower;
using detail::trim_ows_and_newlines;

// Constructor options are our own constants and checked values: a failure
// means out of memory or a libcurl built without the feature, a broken
// installation that is reported at construction, not per request.
void set_or_throw(CURLcode code, const char* option) {
  if (code != CURLE_OK) {
    throw std::runtime_error(std::string("fetcher: curl_easy_setopt(") + option +
                             ") failed: " + curl_easy_strerror(code));
  }
}
#define FETCHPOOL_SETOPT(handle, option, value) set_or_throw(curl_easy_setopt(handle, option, value), #option)

// The header name of "Name: value" (or curl's "Name;" for an empty value).
std::string_view header_name(std::string_view line) noexcept {
  return trim_ows_and_newlines(line.substr(0, std::min(line.find(':'), line.find(';'))));
}

// Whether libcurl will pick a proxy from the environment for some URL (the
// variables it reads; it ignores upper-case HTTP_PROXY on purpose).
bool proxy_from_environment() noexcept {
  for (const char* name : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') return true;
  }
  return false;
}

// Every content coding this libcurl can decode, for Accept-Encoding.
std::string supported_encodings() {
  const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
  std::string list;
  auto add = [&list](const char* coding) { list += list.empty() ? coding : std::string(", ") + coding; };
  if ((info->features & CURL_VERSION_LIBZ) != 0) {
    add("gzip");
    add("deflate");
  }
  if ((info->features & CURL_VERSION_BROTLI) != 0) add("br");
  if ((info->features & CURL_VERSION_ZSTD) != 0) add("zstd");
  return list;
}

std::optional<std::uint64_t> parse_u64(std::string_view text) noexcept {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// "HTTP/1.1 200 OK", "HTTP/2 200 " -> 200; 0 if malformed.
long parse_status(std::string_view line) noexcept {
  const auto space = line.find(' ');
  if (space == std::string_view::npos) return 0;
  const std::string_view rest = line.substr(space + 1);
  long status = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), status);
  return ec == std::errc{} && end - rest.data() == 3 ? status : 0;
}

// "bytes 100-199/1000" -> 100 (RFC 9110 section 14.4); "bytes */1000" -> none.
std::optional<std::uint64_t> parse_range_start(std::string_view value) noexcept {
  constexpr std::string_view kUnit = "bytes ";
  if (value.size() < kUnit.size() || !iequals_lower(value.substr(0, kUnit.size()), kUnit)) return std::nullopt;
  value.remove_prefix(kUnit.size());
  const auto dash = value.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  return parse_u64(trim_ows_and_newlines(value.substr(0, dash)));
}

bool is_http_url(std::string_view url) noexcept {
  return (url.size() > 7 && iequals_lower(url.substr(0, 7), "http://")) ||
         (url.size() > 8 && iequals_lower(url.substr(0, 8), "https://"));
}

std::string_view http_version_name(long version) noexcept {
  switch (version) {
    case CURL_HTTP_VERSION_1_0:
      return "1.0";
    case CURL_HTTP_VERSION_1_1:
      return "1.1";
    case CURL_HTTP_VERSION_2_0:
      return "2";
    case CURL_HTTP_VERSION_3:
      return "3";
    default:
      return "";
  }
}

double curl_time_ms(CURL* easy, CURLINFO info) noexcept {
  curl_off_t micros = 0;
  curl_easy_getinfo(easy, info, &micros);
  return static_cast<double>(micros) / 1000.0;
}

// Wakes a Fetcher's poll() from whichever thread requests the stop.
struct WakeFd {
  int fd;
  void operator()() const noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(fd, &one, sizeof one);
  }
};

using Clock = std::chrono::steady_clock;

// curl's receive buffer. 64 KiB instead of the default 16 KiB: a quarter of
// the recv calls and callbacks for big bodies, measured 15-20% less client
// CPU on 1 MiB downloads from nginx; small pages are unaffected.
constexpr long kReceiveBufferBytes = 64L * 1024;

// With no curl timer pending and no stop possible, poll still wakes this
// often to let curl run its timers; a safety net, not the normal path.
constexpr int kIdlePollMs = 1000;

}  // namespace

// ---------------------------------------------------------------------------
// SharedCurlCache

struct SharedCurlCache::State {
  // Declared before `share`, so they outlive curl_share_cleanup, which locks.
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;
  detail::CurlSharePtr share;

  // Exclusive locks even for CURL_LOCK_ACCESS_SHARED: the critical sections
  // are a hash lookup long, where a reader-writer lock costs more than it saves.
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* user) noexcept {
    static_cast<State*>(user)->locks[static_cast<std::size_t>(data)].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* user) noexcept {
    static_cast<State*>(user)->locks[static_cast<std::size_t>(data)].unlock();
  }
};

SharedCurlCache::SharedCurlCache() : state_(std::make_unique<State>()) {
  state_->share.reset(curl_share_init());
  CURLSH* share = state_->share.get();
  if (share == nullptr) throw std::runtime_error("fetcher: curl_share_init failed");
  if (curl_share_setopt(share, CURLSHOPT_LOCKFUNC, &State::lock) != CURLSHE_OK ||
      curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, &State::unlock) != CURLSHE_OK ||
      curl_share_setopt(share, CURLSHOPT_USERDATA, state_.get()) != CURLSHE_OK ||
      curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
      curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
    throw std::runtime_error("fetcher: curl_share_setopt failed");
  }
}

SharedCurlCache::~SharedCurlCache() = default;

// ---------------------------------------------------------------------------
// StopWakeup

StopWakeup::StopWakeup(std::stop_token stop) : token_(std::move(stop)), fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  // Written once and never drained: level-triggered, it wakes every poll from
  // the stop on, however many Fetchers watch it.
  if (fd_ >= 0) callback_.emplace(token_, Write{fd_});
}

void StopWakeup::Write::operator()() const noexcept { WakeFd{fd}(); }

StopWakeup::~StopWakeup() {
  callback_.reset();
  if (fd_ >= 0) ::close(fd_);
}

// ---------------------------------------------------------------------------
// Fetcher

struct Fetcher::State {
  FetchOptions options;
  detail::CurlMultiPtr multi;  // made by the first fetch: it holds curl's wake-up socketpair
  detail::CurlEasyPtr easy;
  const StopWakeup* shared_wakeup = nullptr;  // polled when a fetch's stop token is its token
  int wake_fd = -1;                           // own eventfd, made by the first stoppable fetch without one
  char error_buffer[CURL_ERROR_SIZE] = {};

  // Sent with every request. Passed as header lines rather than through
  // CURLOPT_USERAGENT / the Accept-Encoding curl writes itself: curl 7.88
  // formats those into a separate string on every request before copying
  // them into the request, ~6000 instructions per request (callgrind).
  std::vector<std::string> base_headers;

  // What the handle is currently set to, so a request only touches options
  // that differ from the previous one.
  bool nobody = false;
  std::uint64_t range_from = 0;
  std::vector<std::string> header_lines;  // the request's extra_headers last applied
  detail::CurlSlistPtr header_list;

  // The sockets and timer curl asked us to watch (multi_socket API).
  struct Watch {
    curl_socket_t fd;
    int what;  // CURL_POLL_IN / OUT / INOUT
  };
  std::array<Watch, 8> watches{};  // a resolver pipe plus two happy-eyeballs sockets at most, in practice
  std::size_t watch_count = 0;
  bool timer_armed = false;
  Clock::time_point timer_deadline;

  // The transfer in progress; valid only inside fetch().
  const FetchRequest* request = nullptr;
  FetchResponse* response = nullptr;
  BodyWriter* writer = nullptr;
  std::optional<Error> failure;  // set by a callback that stopped the transfer
  std::string spare_body;        // recycle_body(): the next in-memory body's buffer
  bool head_complete = false;    // the blank line after the current response's header was seen
  bool body_begun = false;       // begin() ran (or the in-memory equivalent)

  ~State() {
    // In this order, while every member is alive: curl_multi_cleanup closes
    // the cached connections and may call on_socket for them.
    easy.reset();
    multi.reset();
    if (wake_fd >= 0) ::close(wake_fd);
  }
  void configure(SharedCurlCache* shared);
  bool ensure_multi();
  int wake_fd_for(const std::stop_token& stop);
  CURLcode apply_request(const FetchRequest& next);
  CURLcode set_headers(const std::vector<std::string>& extra);
  bool begin_body(bool check_size);
  CURLcode run_transfer(const std::stop_token& stop, bool& aborted);
  Error transfer_error(CURLcode code) const;
  Result<FetchResponse> finish(FetchResponse& out, CURLcode code, bool aborted);

  static size_t on_header(char* data, size_t size, size_t count, void* user) noexcept;
  static size_t on_body(char* data, size_t size, size_t count, void* user) noexcept;
  static int on_request_start(void* user, char*, char*, int, int) noexcept;
  static int on_socket(CURL*, curl_socket_t fd, int what, void* user, void*) noexcept;
  static int on_timer(CURLM*, long timeout_ms, void* user) noexcept;
};

void Fetcher::State::configure(SharedCurlCache* shared) {
  CURL* h = easy.get();
  FETCHPOOL_SETOPT(h, CURLOPT_NOSIGNAL, 1L);  // worker threads: no SIGALRM for DNS timeouts
  FETCHPOOL_SETOPT(h, CURLOPT_ERRORBUFFER, error_buffer);
  FETCHPOOL_SETOPT(h, CURLOPT_HEADERFUNCTION, &State::on_header);
  FETCHPOOL_SETOPT(h, CURLOPT_HEADERDATA, this);
  FETCHPOOL_SETOPT(h, CURLOPT_WRITEFUNCTION, &State::on_body);
  FETCHPOOL_SETOPT(h, CURLOPT_WRITEDATA, this);
  FETCHPOOL_SETOPT(h, CURLOPT_PREREQFUNCTION, &State::on_request_start);
  FETCHPOOL_SETOPT(h, CURLOPT_PREREQDATA, this);
  FETCHPOOL_SETOPT(h, CURLOPT_BUFFERSIZE, kReceiveBufferBytes);
  FETCHPOOL_SETOPT(h, CURLOPT_FOLLOWLOCATION, 1L);
  FETCHPOOL_SETOPT(h, CURLOPT_MAXREDIRS, options.max_redirects);
  FETCHPOOL_SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
  FETCHPOOL_SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  FETCHPOOL_SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  FETCHPOOL_SETOPT(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout.count()));
  FETCHPOOL_SETOPT(h, CURLOPT_LOW_SPEED_LIMIT, options.low_speed_limit);
  FETCHPOOL_SETOPT(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.low_speed_time.count()));
  if (!options.user_agent.empty()) {
    if (proxy_from_environment()) {
      // Through a proxy, curl's own User-Agent handling is the right one: it
      // also goes into CONNECT, and is not doubled on proxied http:// requests
      // (where curl sends both header lists).
      FETCHPOOL_SETOPT(h, CURLOPT_USERAGENT, options.user_agent.c_str());
    } else {
      base_headers.push_back("User-Agent: " + options.user_agent);
    }
  }
  if (options.accept_compressed) {
    // "" turns decoding on; our own header line then replaces the one curl
    // would format per request, listing the same codings.
    FETCHPOOL_SETOPT(h, CURLOPT_ACCEPT_ENCODING, "");
    if (const std::string codings = supported_encodings(); !codings.empty()) {
      base_headers.push_back("Accept-Encoding: " + codings);
    }
  }
  set_or_throw(set_headers({}), "CURLOPT_HTTPHEADER");
  FETCHPOOL_SETOPT(
      h, CURLOPT_HTTP_VERSION,
      options.http2 ? static_cast<long>(CURL_HTTP_VERSION_2TLS) : static_cast<long>(CURL_HTTP_VERSION_1_1));
  FETCHPOOL_SETOPT(h, CURLOPT_SSL_VERIFYPEER, options.verify_tls ? 1L : 0L);
  FETCHPOOL_SETOPT(h, CURLOPT_SSL_VERIFYHOST, options.verify_tls ? 2L : 0L);
  // A proxy's "200 Connection established" would otherwise reach on_header.
  FETCHPOOL_SETOPT(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  // Aborting during a DNS lookup must not wait for the resolver thread.
  FETCHPOOL_SETOPT(h, CURLOPT_QUICK_EXIT, 1L);
  if (shared != nullptr) FETCHPOOL_SETOPT(h, CURLOPT_SHARE, shared->state_->share.get());
}

// The multi_socket API instead of curl_easy_perform: we poll the connection
// ourselves and tell curl which event fired, so curl skips the readiness
// poll(0) it would otherwise make before each read (one syscall per request),
// and a stop request can wake the poll at once. Made by the first fetch, not
// the constructor: curl_multi_init opens a socketpair for curl_multi_wakeup
// (unused here), so a worker that never fetches holds no descriptor.
bool Fetcher::State::ensure_multi() {
  if (multi) return true;
  detail::CurlMultiPtr made(curl_multi_init());
  CURLM* m = made.get();
  if (m == nullptr || curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, &State::on_socket) != CURLM_OK ||
      curl_multi_setopt(m, CURLMOPT_SOCKETDATA, this) != CURLM_OK ||
      curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, &State::on_timer) != CURLM_OK ||
      curl_multi_setopt(m, CURLMOPT_TIMERDATA, this) != CURLM_OK) {
    return false;
  }
  multi = std::move(made);
  return true;
}

// The descriptor that wakes poll() when `stop` is requested: the shared one
// when the fetch uses its token (no per-fetch registration, no descriptor of
// our own), else this Fetcher's eventfd. -1 when none can be had (descriptors
// exhausted): the poll then still wakes every kIdlePollMs and sees the stop.
int Fetcher::State::wake_fd_for(const std::stop_token& stop) {
  if (shared_wakeup != nullptr && shared_wakeup->fd() >= 0 && shared_wakeup->token() == stop)
    return shared_wakeup->fd();
  if (wake_fd < 0) wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  return wake_fd;
}

CURLcode Fetcher::State::set_headers(const std::vector<std::string>& extra) {
  detail::CurlSlistPtr list;
  auto append = [&list](const std::string& line) {
    curl_slist* grown = curl_slist_append(list.get(), line.c_str());
    if (grown == nullptr) return false;
    (void)list.release();  // curl_slist_append returned the same head, now owned by `grown`
    list.reset(grown);
    return true;
  };
  for (const auto& base : base_headers) {
    // A request's own header of the same name replaces ours.
    const std::string name = to_ascii_lower(header_name(base));
    const bool replaced = std::any_of(extra.begin(), extra.end(), [&name](const std::string& line) {
      return iequals_lower(header_name(line), name);
    });
    if (!replaced && !append(base)) return CURLE_OUT_OF_MEMORY;
  }
  for (const auto& line : extra) {
    if (!append(line)) return CURLE_OUT_OF_MEMORY;
  }
  if (const CURLcode code = curl_easy_setopt(easy.get(), CURLOPT_HTTPHEADER, list.get()); code != CURLE_OK) {
    return code;
  }
  header_list = std::move(list);
  header_lines = extra;
  return CURLE_OK;
}

CURLcode Fetcher::State::apply_request(const FetchRequest& next) {
  CURL* h = easy.get();
  if (const CURLcode code = curl_easy_setopt(h, CURLOPT_URL, next.url.c_str()); code != CURLE_OK) return code;
  if (next.head_only != nobody) {
    // CURLOPT_NOBODY 0 would leave the method at HEAD; HTTPGET resets it.
    const CURLcode code =
        next.head_only ? curl_easy_setopt(h, CURLOPT_NOBODY, 1L) : curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    if (code != CURLE_OK) return code;
    nobody = next.head_only;
  }
  if (next.resume_from != range_from) {
    // CURLOPT_RANGE, not CURLOPT_RESUME_FROM_LARGE: the latter fails a 200
    // answer with CURLE_RANGE_ERROR, and that decision belongs to the writer.
    // curl copies the string.
    const CURLcode code = next.resume_from == 0
                              ? curl_easy_setopt(h, CURLOPT_RANGE, static_cast<const char*>(nullptr))
                              : curl_easy_setopt(h, CURLOPT_RANGE, (std::to_string(next.resume_from) + "-").c_str());
    if (code != CURLE_OK) return code;
    range_from = next.resume_from;
  }
  if (next.extra_headers != header_lines) {
    if (const CURLcode code = set_headers(next.extra_headers); code != CURLE_OK) return code;
  }
  return CURLE_OK;
}

// Runs when the final response's first body byte arrives, or after a
// transfer that delivered none. `check_size` rejects a declared identity
// body that cannot fit before any of it is stored.
bool Fetcher::State::begin_body(bool check_size) {
  body_begun = true;
  const ResponseHead& head = response->head;
  if (writer != nullptr) {
    if (auto started = writer->begin(head); !started) {
      failure = started.error();
      return false;
    }
    return true;
  }
  if (check_size && head.content_length && head.content_encoding.empty()) {
    if (*head.content_length > options.max_body_bytes) {
      failure = Error{ErrorCode::kTooLarge, request->url + ": Content-Length " + std::to_string(*head.content_length) +
                                                " exceeds max_body_bytes " + std::to_string(options.max_body_bytes)};
      return false;
    }
    response->body.reserve(static_cast<std::size_t>(*head.content_length));
  }
  return true;
}

size_t Fetcher::State::on_header(char* data, size_t size, size_t count, void* user) noexcept {
  auto& self = *static_cast<State*>(user);
  const size_t length = size * count;
  std::string_view line(data, length);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  ResponseHead& head = self.response->head;
  if (line.size() >= 5 && line.substr(0, 5) == "HTTP/") {
    // A new status line: an interim 1xx or the next hop of a redirect chain
    // replaces everything seen so far.
    head = ResponseHead{};
    head.status = parse_status(line);
    self.head_complete = false;
    return length;
  }
  if (self.head_complete) return length;  // trailers after a chunked body
  if (line.empty()) {
    self.head_complete = true;
    return length;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return length;
  const std::string_view name = line.substr(0, colon);
  auto value = [&line, colon] { return trim_ows_and_newlines(line.substr(colon + 1)); };
  try {
    // Dispatch on the first letter, and iequals compares lengths first, so
    // the headers we ignore cost a compare or two.
    switch (name[0] | 0x20) {
      case 'c':
        if (iequals_lower(name, "content-length")) {
          head.content_length = parse_u64(value());
        } else if (iequals_lower(name, "content-type")) {
          head.content_type = value();
        } else if (iequals_lower(name, "content-encoding")) {
          // "identity" is the absence of an encoding (RFC 9110 section 8.4.1).
          if (const auto coding = value(); !iequals_lower(coding, "identity")) head.content_encoding = coding;
        } else if (iequals_lower(name, "content-range")) {
          head.range_start = parse_range_start(value());
        } else if (iequals_lower(name, "content-disposition")) {
          head.content_disposition = value();
        }
        break;
      case 'e':
        if (iequals_lower(name, "etag")) head.etag = value();
        break;
      case 'l':
        if (iequals_lower(name, "last-modified")) {
          head.last_modified = value();
        } else if (iequals_lower(name, "location")) {
          head.location = value();
        }
        break;
      case 'r':
        if (iequals_lower(name, "retry-after")) head.retry_after = value();
        break;
      default:
        break;
    }
  } catch (const std::bad_alloc&) {
    self.failure = Error{ErrorCode::kInternal, self.request->url + ": out of memory reading the header"};
    return 0;
  }
  return length;
}

size_t Fetcher::State::on_body(char* data, size_t size, size_t count, void* user) noexcept {
  auto& self = *static_cast<State*>(user);
  const size_t length = size * count;
  // Nothing may unwind through curl's C frames: a BodyWriter that throws, or
  // an allocation that fails, becomes an error value here.
  try {
    if (!self.body_begun && !self.begin_body(/*check_size=*/true)) return CURL_WRITEFUNC_ERROR;
    FetchResponse& response = *self.response;
    if (self.writer != nullptr) {
      if (auto written = self.writer->write(std::string_view(data, length)); !written) {
        self.failure = written.error();
        return CURL_WRITEFUNC_ERROR;
      }
    } else {
      if (length > self.options.max_body_bytes - response.body_bytes) {
        self.failure = Error{ErrorCode::kTooLarge, self.request->url + ": body exceeds max_body_bytes " +
                                                       std::to_string(self.options.max_body_bytes) + " (decoded)"};
        return CURL_WRITEFUNC_ERROR;
      }
      response.body.append(data, length);
    }
    response.body_bytes += length;
    return length;
  } catch (const std::exception& error) {
    self.failure = Error{ErrorCode::kInternal, self.request->url + ": storing the body failed: " + error.what()};
  } catch (...) {
    self.failure = Error{ErrorCode::kInternal, self.request->url + ": storing the body failed"};
  }
  return CURL_WRITEFUNC_ERROR;
}

// Called before every request of a transfer, redirects included: from here
// on, the header being read belongs to a new response.
int Fetcher::State::on_request_start(void* user, char*, char*, int, int) noexcept {
  static_cast<State*>(user)->head_complete = false;
  return CURL_PREREQFUNC_OK;
}

int Fetcher::State::on_socket(CURL*, curl_socket_t fd, int what, void* user, void*) noexcept {
  auto& self = *static_cast<State*>(user);
  auto* const begin = self.watches.data();
  auto* const end = begin + self.watch_count;
  auto* const found = std::find_if(begin, end, [fd](const Watch& watch) { return watch.fd == fd; });
  if (what == CURL_POLL_REMOVE) {
    if (found != end) *found = *(end - 1), --self.watch_count;
  } else if (found != end) {
    found->what = what;
  } else if (self.watch_count < self.watches.size()) {
    self.watches[self.watch_count++] = Watch{fd, what};
  } else {
    return -1;
  }
  return 0;
}

int Fetcher::State::on_timer(CURLM*, long timeout_ms, void* user) noexcept {
  auto& self = *static_cast<State*>(user);
  self.timer_armed = timeout_ms >= 0;
  if (self.timer_armed) self.timer_deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  return 0;
}

// One transfer on our multi handle: poll the sockets curl asked for (plus
// the stop eventfd), hand each event to curl_multi_socket_action, run curl's
// timers when they are due, until curl reports no running transfer.
CURLcode Fetcher::State::run_transfer(const std::stop_token& stop, bool& aborted) {
  aborted = false;
  if (!ensure_multi()) return CURLE_OUT_OF_MEMORY;
  CURLM* m = multi.get();
  if (curl_multi_add_handle(m, easy.get()) != CURLM_OK) return CURLE_OUT_OF_MEMORY;
  // Only when a stop can come; the shared wake-up needs no registration.
  const int stop_fd = stop.stop_possible() ? wake_fd_for(stop) : -1;
  const bool own_wake = stop_fd >= 0 && stop_fd == wake_fd;
  std::optional<std::stop_callback<WakeFd>> wake;
  if (own_wake) wake.emplace(stop, WakeFd{wake_fd});

  CURLcode result = CURLE_OK;
  bool mcode_failed = false;
  int running = 1;
  auto act = [&](curl_socket_t fd, int events) {
    if (curl_multi_socket_action(m, fd, events, &running) != CURLM_OK) mcode_failed = true;
  };
  while (running > 0 && !mcode_failed) {
    if (stop.stop_requested()) {
      aborted = true;
      break;
    }
    int wait_ms = kIdlePollMs;
    if (timer_armed) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(timer_deadline - Clock::now()).count();
      if (left <= 0) {
        timer_armed = false;
        act(CURL_SOCKET_TIMEOUT, 0);
        continue;
      }
      wait_ms = static_cast<int>(std::min<long long>(left, kIdlePollMs));
    }
    std::array<pollfd, std::tuple_size_v<decltype(watches)> + 1> fds{};
    nfds_t count = 0;
    for (std::size_t i = 0; i < watch_count; ++i) {
      const int what = watches[i].what;
      fds[count++] = pollfd{
          watches[i].fd,
          static_cast<short>(((what & CURL_POLL_IN) != 0 ? POLLIN : 0) | ((what & CURL_POLL_OUT) != 0 ? POLLOUT : 0)),
          0};
    }
    const nfds_t socket_count = count;
    if (stop_fd >= 0) fds[count++] = pollfd{stop_fd, POLLIN, 0};
    const int ready = ::poll(fds.data(), count, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      failure = Error{ErrorCode::kInternal, request->url + ": poll failed: " + std::strerror(errno)};
      break;
    }
    if (ready == 0) {
      timer_armed = false;
      act(CURL_SOCKET_TIMEOUT, 0);
      continue;
    }
    for (nfds_t i = 0; i < socket_count && !mcode_failed; ++i) {
      const short revents = fds[i].revents;
      if (revents == 0) continue;
      // A hang-up is reported as readable so that curl reads, and sees the
      // end of the stream or the reset itself.
      const int events = ((revents & (POLLIN | POLLHUP)) != 0 ? CURL_CSELECT_IN : 0) |
                         ((revents & POLLOUT) != 0 ? CURL_CSELECT_OUT : 0) |
                         ((revents & POLLERR) != 0 ? CURL_CSELECT_ERR : 0);
      act(fds[i].fd, events);
    }
  }
  if (!aborted && !failure) {
    int queued = 0;
    const CURLMsg* message = curl_multi_info_read(m, &queued);
    if (message != nullptr && message->msg == CURLMSG_DONE) {
      result = message->data.result;
    } else if (mcode_failed) {
      result = CURLE_OUT_OF_MEMORY;
    }
  }
  wake.reset();
  curl_multi_remove_handle(m, easy.get());
  if (own_wake && stop.stop_requested()) {
    // Drain our eventfd so that the next fetch does not wake at once (the
    // shared one stays readable: its stop is for good).
    std::uint64_t count = 0;
    [[maybe_unused]] const ssize_t got = ::read(wake_fd, &count, sizeof count);
  }
  return result;
}

Error Fetcher::State::transfer_error(CURLcode code) const {
  ErrorCode kind = error_code_from_curl(code);
  std::string what;
  const ResponseHead& head = response->head;
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL: {
      // Three causes share this code: the URL asked for, a redirect target
      // (curl has already made it the effective URL), or an answer that is
      // not HTTP at all (HTTP/0.9, which curl refuses).
      const char* effective = nullptr;
      curl_easy_getinfo(easy.get(), CURLINFO_EFFECTIVE_URL, &effective);
      long redirects = 0;
      curl_easy_getinfo(easy.get(), CURLINFO_REDIRECT_COUNT, &redirects);
      if (is_http_url(effective != nullptr ? effective : request->url)) {
        kind = ErrorCode::kNetwork;
        what = "answer is not HTTP";
      } else if (redirects == 0) {
        kind = ErrorCode::kUnsupportedScheme;
        what = "scheme not supported (only http and https)";
      } else {
        kind = ErrorCode::kRedirectRefused;
        what = "redirect to " + (head.location.empty() ? std::string(effective) : head.location) +
               " refused (only http and https are followed)";
      }
      break;
    }
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP2:
      // After the final header, a broken connection cut the body short.
      if (head_complete || body_begun) kind = ErrorCode::kTruncated;
      what = kind == ErrorCode::kTruncated ? "connection lost mid-body" : "connection lost";
      break;
    case CURLE_TOO_MANY_REDIRECTS:
      what = "more than " + std::to_string(options.max_redirects) + " redirects";
      break;
    default:
      break;
  }
  if (what.empty()) {
    switch (kind) {
      case ErrorCode::kTimeout:
        what = "timed out";
        break;
      case ErrorCode::kConnect:
        what = "connection failed";
        break;
      case ErrorCode::kDns:
        what = "host name did not resolve";
        break;
      case ErrorCode::kTls:
        what = "TLS failure";
        break;
      case ErrorCode::kInvalidUrl:
        what = "invalid URL";
        break;
      case ErrorCode::kTruncated:
        what = "body truncated";
        break;
      default:
        what = "transfer failed";
        break;
    }
  }
  if (kind == ErrorCode::kTruncated) {
    what += " after " + std::to_string(response->body_bytes) + " bytes";
    if (head.content_length && head.content_encoding.empty()) {
      what += " of " + std::to_string(*head.content_length);
    }
  }
  const char* detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  return Error{kind, request->url + ": " + what + " (curl: " + std::string(trim_ows_and_newlines(detail)) + ")"};
}

Fetcher::Fetcher(FetchOptions options, SharedCurlCache* shared, const StopWakeup* wakeup)
    : state_(std::make_unique<State>()) {
  if (options.connect_timeout.count() < 0 || options.total_timeout.count() < 0 || options.low_speed_limit < 0 ||
      options.low_speed_time.count() < 0 || options.max_redirects < 0) {
    throw std::invalid_argument("fetcher: timeouts, low-speed limits and max_redirects must not be negative");
  }
  state_->options = std::move(options);
  state_->easy.reset(curl_easy_init());
  if (!state_->easy) throw std::runtime_error("fetcher: curl_easy_init failed");
  state_->shared_wakeup = wakeup;
  state_->configure(shared);
}

Fetcher::~Fetcher() = default;
Fetcher::Fetcher(Fetcher&& other) noexcept = default;
Fetcher& Fetcher::operator=(Fetcher&& other) noexcept = default;

const FetchOptions& Fetcher::options() const noexcept { return state_->options; }

void Fetcher::recycle_body(std::string&& body) noexcept {
  if (body.capacity() > kMaxRecycledBody) return;
  body.clear();
  state_->spare_body = std::move(body);
}

Result<FetchResponse> Fetcher::State::finish(FetchResponse& out, CURLcode code, bool aborted) {
  if (aborted) return Error{ErrorCode::kAborted, request->url + ": aborted by stop request"};
  if (failure) return std::move(*failure);  // a writer's error unchanged, or a size limit
  if (code != CURLE_OK) return transfer_error(code);
  if (!body_begun) {
    try {
      if (!begin_body(/*check_size=*/false)) return std::move(*failure);
    } catch (const std::exception& error) {
      return Error{ErrorCode::kInternal, request->url + ": BodyWriter::begin failed: " + error.what()};
    }
  }

  CURL* h = easy.get();
  const char* effective_url = nullptr;
  curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &effective_url);
  out.final_url = effective_url != nullptr ? effective_url : request->url;
  long redirects = 0;
  curl_easy_getinfo(h, CURLINFO_REDIRECT_COUNT, &redirects);
  out.redirect_count = static_cast<int>(redirects);
  long connects = 0;
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
  out.reused_connection = connects == 0;
  long version = 0;
  curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &version);
  out.http_version = http_version_name(version);
  out.total_ms = curl_time_ms(h, CURLINFO_TOTAL_TIME_T);
  out.connect_ms = curl_time_ms(h, CURLINFO_CONNECT_TIME_T);
  out.first_byte_ms = curl_time_ms(h, CURLINFO_STARTTRANSFER_TIME_T);
  return std::move(out);
}

Result<FetchResponse> Fetcher::fetch(const FetchRequest& request, std::stop_token stop) {
  State& s = *state_;
  if (stop.stop_requested()) return Error{ErrorCode::kAborted, request.url + ": aborted before start"};
  s.request = &request;
  FetchResponse response;
  response.body = std::move(s.spare_body);  // empty, with the capacity of an earlier body
  s.spare_body = std::string();
  if (const CURLcode code = s.apply_request(request); code != CURLE_OK) {
    return Error{code == CURLE_OUT_OF_MEMORY ? ErrorCode::kInternal : ErrorCode::kInvalidUrl,
                 request.url + ": request not accepted (curl: " + curl_easy_strerror(code) + ")"};
  }
  s.response = &response;
  s.writer = request.writer;
  s.failure.reset();
  s.head_complete = false;
  s.body_begun = false;
  s.error_buffer[0] = '\0';

  bool aborted = false;
  const CURLcode code = s.run_transfer(stop, aborted);
  Result<FetchResponse> result = s.finish(response, code, aborted);
  s.request = nullptr;
  s.response = nullptr;
  s.writer = nullptr;
  s.failure.reset();
  return result;
}

}  // namespace fetchpool
