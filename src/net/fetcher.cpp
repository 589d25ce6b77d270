#include "fetchpool/fetcher.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zlib.h>

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
#include <thread>
#include <utility>

#include "base/ascii.hpp"
#include "base/curl_raii.hpp"
#include "fetchpool/thread_annotations.hpp"
#include "net/block_cache.hpp"

namespace fetchpool {
namespace {

using detail::iequals_lower;
using detail::to_ascii_lower;
using detail::trim_ows_and_newlines;
using Clock = std::chrono::steady_clock;

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

// The content codings offered and decoded (by zlib, here: see Inflater).
constexpr const char* kAcceptEncoding = "Accept-Encoding: gzip, deflate";

// Decodes a gzip or deflate body as it arrives. Done here rather than by
// libcurl because libcurl 7.88 reports a compressed stream that ends early
// as a complete body; inflate knows whether the stream reached its end.
// Not movable: zlib's state points back at the z_stream.
class Inflater {
 public:
  enum class Kind { kGzip, kDeflate };
  explicit Inflater(Kind kind) : kind_(kind) {
    // 15 + 32: gzip or zlib header, detected (servers mislabel both ways).
    ok_ = inflateInit2(&stream_, 15 + 32) == Z_OK;
  }
  ~Inflater() {
    if (ok_) inflateEnd(&stream_);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  bool ended() const noexcept { return ended_; }
  std::string_view name() const noexcept { return kind_ == Kind::kGzip ? "gzip" : "deflate"; }

  // Feeds `input`; `deliver(data, size)` receives decoded bytes and returns
  // false to stop. Returns "" or what is wrong with the coded bytes.
  template <typename Deliver>
  std::string feed(std::string_view input, Deliver&& deliver) {
    if (!ok_) return "zlib could not start";
    auto* const first = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    stream_.next_in = first;
    stream_.avail_in = static_cast<uInt>(input.size());
    auto& out = out_;
    bool full = false;
    do {
      if (ended_) {
        // Another gzip member may follow (RFC 1952 section 2.2); anything
        // else after the end of the stream is ignored, as curl does.
        if (stream_.avail_in == 0) break;
        if (kind_ != Kind::kGzip || stream_.avail_in < 2 || stream_.next_in[0] != 0x1f || stream_.next_in[1] != 0x8b) {
          stream_.avail_in = 0;
          break;
        }
        inflateReset(&stream_);
        ended_ = false;
      }
      stream_.next_out = out.data();
      stream_.avail_out = static_cast<uInt>(out.size());
      int rc = inflate(&stream_, Z_NO_FLUSH);
      if (rc == Z_DATA_ERROR && kind_ == Kind::kDeflate && !raw_tried_ && stream_.total_out == 0 &&
          stream_.total_in <= input.size()) {
        // "deflate" sent without its zlib wrapper (RFC 9110 section 8.4.1.2
        // says it must have one; some servers omit it): start over raw.
        raw_tried_ = true;
        inflateEnd(&stream_);
        stream_ = z_stream{};
        ok_ = inflateInit2(&stream_, -15) == Z_OK;
        if (!ok_) return "zlib could not start";
        stream_.next_in = first;
        stream_.avail_in = static_cast<uInt>(input.size());
        full = true;
        continue;
      }
      if (rc == Z_STREAM_END) {
        ended_ = true;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return std::string("not valid ") + std::string(name()) +
               " (zlib: " + (stream_.msg != nullptr ? stream_.msg : "error " + std::to_string(rc)) + ")";
      }
      const std::size_t produced = out.size() - stream_.avail_out;
      if (produced > 0 && !deliver(reinterpret_cast<const char*>(out.data()), produced)) return {};
      full = stream_.avail_out == 0;
      if (rc == Z_BUF_ERROR && produced == 0) break;  // wants more input
    } while (stream_.avail_in > 0 || full);
    return {};
  }

 private:
  Kind kind_;
  z_stream stream_{};
  bool ok_ = false;
  bool ended_ = false;
  bool raw_tried_ = false;
  // Decoded bytes on their way to `deliver`. Here (the Inflater lives on the
  // heap, one per coded response) rather than in feed()'s frame: 16 KiB of
  // stack put every frame below it (inflate, the body writers) 16 KiB deeper,
  // and a worker thread keeps each stack page it ever touched: at -j 500,
  // gzip'd responses cost 2 MiB more RSS in stack pages (5 pages touched per
  // thread instead of 4, /proc/PID/pagemap). Left uninitialised: inflate
  // writes before anything reads.
  std::array<unsigned char, std::size_t{16} * 1024> out_;
};

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

// "bytes 100-199/1000" -> start 100, end 199, total 1000 (RFC 9110 section
// 14.4); "bytes 0-9/*" leaves the total unknown; "bytes */1000" (a 416's) and
// anything malformed leave all three unset, which a 206 cannot be.
void parse_content_range(std::string_view value, ResponseHead& head) noexcept {
  head.range_start.reset();
  head.range_end.reset();
  head.range_total.reset();
  constexpr std::string_view kUnit = "bytes ";
  if (value.size() < kUnit.size() || !iequals_lower(value.substr(0, kUnit.size()), kUnit)) return;
  value.remove_prefix(kUnit.size());
  const auto dash = value.find('-');
  const auto slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) return;
  const auto start = parse_u64(trim_ows_and_newlines(value.substr(0, dash)));
  const auto end = parse_u64(trim_ows_and_newlines(value.substr(dash + 1, slash - dash - 1)));
  const std::string_view total_text = trim_ows_and_newlines(value.substr(slash + 1));
  const auto total = total_text == "*" ? std::optional<std::uint64_t>() : parse_u64(total_text);
  if (!start || !end || *end < *start || (total_text != "*" && (!total || *end >= *total))) return;
  head.range_start = start;
  head.range_end = end;
  head.range_total = total;
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

// curl's receive buffer. 64 KiB instead of the default 16 KiB: a quarter of
// the recv calls and callbacks for big bodies, measured 15-20% less client
// CPU on 1 MiB downloads from nginx; small pages are unaffected.
constexpr long kReceiveBufferBytes = 64L * 1024;

// A Fetcher's receive buffer until a response does not fit in it (libcurl's
// smallest, CURL_MIN_BUFFERSIZE). libcurl 7.88 mallocs the buffer per
// transfer and frees it after: a 64 KiB chunk freed into a malloc arena that
// 30 threads share is split by their small allocations, and the arena's
// written pages grow; a 1 KiB chunk stays in the freeing thread's tcache and
// comes back to it at the next transfer. With many workers waiting on small
// answers (bench/rss_breakdown.sh, 2000 x 100 ms at -j 500) the heap's peak RSS
// goes from 16.8 to 15.1 MiB. A worker whose answers are bigger (pages, files)
// moves to kReceiveBufferBytes after its first such answer: one transfer of
// its life read in 1 KiB pieces, not every one.
constexpr long kSmallReceiveBufferBytes = 1024;

// The longest curl_multi_poll() waits; curl shortens it to its own next
// timeout, and the stop descriptor cuts it short. Only when no stop
// descriptor could be made does a stop wait for it.
constexpr int kIdlePollMs = 1000;

// A transfer waiting for a rate limit looks at its stop this often.
constexpr std::chrono::milliseconds kThrottleNap{50};

// Sleeps until `when`, in naps short enough to see a stop; returns at once
// when stopped (the transfer loop then reports the stop).
void wait_until(Clock::time_point when, const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    const auto left = when - Clock::now();
    if (left <= Clock::duration::zero()) return;
    std::this_thread::sleep_for(std::min<Clock::duration>(left, kThrottleNap));
  }
}

// How long `bytes` take at `rate` bytes per second.
Clock::duration time_for(std::uint64_t bytes, std::uint64_t rate) {
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(static_cast<double>(bytes) / static_cast<double>(rate)));
}

}  // namespace

bool init_curl_global() noexcept {
  // Binds malloc_usable_size here, before any worker: bound lazily, its first
  // call runs the dynamic linker's resolver, which saves every vector register
  // on the stack, from under libcurl's deepest frame (its printf) on some
  // worker: 1.3 KiB past the four stack pages a worker keeps (stack_depth_test).
  [[maybe_unused]] const std::size_t none = ::malloc_usable_size(nullptr);
  return curl_global_init_mem(CURL_GLOBAL_DEFAULT, &detail::cached_malloc, &detail::cached_free,
                              &detail::cached_realloc, &detail::cached_strdup, &detail::cached_calloc) == CURLE_OK;
}

// ---------------------------------------------------------------------------
// SharedCurlCache

struct SharedCurlCache::State {
  // Declared before `share`, so they outlive curl_share_cleanup, which locks.
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;
  detail::CurlSharePtr share;
  SharedCurlOptions options;
  // The total rate limit: when the bytes received so far are paid for.
  mutable Mutex rate_mutex;
  mutable Clock::time_point paid_until FETCHPOOL_GUARDED_BY(rate_mutex){};

  // Exclusive locks even for CURL_LOCK_ACCESS_SHARED: the critical sections
  // are a hash lookup long, where a reader-writer lock costs more than it saves.
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* user) noexcept {
    static_cast<State*>(user)->locks[static_cast<std::size_t>(data)].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* user) noexcept {
    static_cast<State*>(user)->locks[static_cast<std::size_t>(data)].unlock();
  }
};

SharedCurlCache::SharedCurlCache(SharedCurlOptions options) : state_(std::make_unique<State>()) {
  state_->options = std::move(options);
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
  if (state_->options.cookies) share_cookies();
}

SharedCurlCache::~SharedCurlCache() = default;

// ---------------------------------------------------------------------------
// SharedCurlCache: cookies and the total rate limit (command-line options)

// One jar in the share handle, filled once from the cookie file here rather
// than by every Fetcher's first transfer.
void SharedCurlCache::share_cookies() {
  CURLSH* share = state_->share.get();
  if (curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE) != CURLSHE_OK)
    throw std::runtime_error("fetcher: curl_share_setopt(CURL_LOCK_DATA_COOKIE) failed");
  if (state_->options.cookie_file.empty()) return;
  detail::CurlEasyPtr loader(curl_easy_init());
  if (!loader) throw std::runtime_error("fetcher: curl_easy_init failed");
  FETCHPOOL_SETOPT(loader.get(), CURLOPT_SHARE, share);
  FETCHPOOL_SETOPT(loader.get(), CURLOPT_COOKIEFILE, state_->options.cookie_file.c_str());
  FETCHPOOL_SETOPT(loader.get(), CURLOPT_COOKIELIST, "RELOAD");
}

Result<void> SharedCurlCache::save_cookies(const std::filesystem::path& path) const {
  detail::CurlEasyPtr reader(curl_easy_init());
  if (!reader) return Error{ErrorCode::kInternal, path.string() + ": curl_easy_init failed"};
  curl_slist* raw = nullptr;
  if (curl_easy_setopt(reader.get(), CURLOPT_SHARE, state_->share.get()) != CURLE_OK ||
      curl_easy_getinfo(reader.get(), CURLINFO_COOKIELIST, &raw) != CURLE_OK) {
    return Error{ErrorCode::kInternal, path.string() + ": cannot read the cookie jar"};
  }
  const detail::CurlSlistPtr cookies(raw);
  std::string text = "# Netscape HTTP Cookie File\n# Written by fetchpool. Cookies are credentials: keep private.\n\n";
  for (const curl_slist* line = cookies.get(); line != nullptr; line = line->next) text.append(line->data).append("\n");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error{ErrorCode::kIo, path.string() + ": cannot write cookies: " + std::strerror(errno)};
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int saved = errno;
      ::close(fd);
      return Error{ErrorCode::kIo, path.string() + ": cannot write cookies: " + std::strerror(saved)};
    }
    written += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) return Error{ErrorCode::kIo, path.string() + ": cannot write cookies: " + std::strerror(errno)};
  return {};
}

// Each chunk pays for its bytes at the configured rate, after every chunk
// before it: a chunk arriving before the earlier ones are paid for waits
// until they are, so all workers together average total_bytes_per_second.
void SharedCurlCache::throttle(std::size_t bytes, const std::stop_token& stop) const {
  const std::uint64_t rate = state_->options.total_bytes_per_second;
  if (rate == 0 || bytes == 0) return;
  Clock::time_point start;
  {
    MutexLock lock(state_->rate_mutex);
    start = std::max(state_->paid_until, Clock::now());
    state_->paid_until = start + time_for(bytes, rate);
  }
  wait_until(start, stop);
}

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
  // The request's URL as CURLOPT_CURLU (see set_url); declared before `easy`,
  // which reads it, so it is destroyed after it.
  detail::CurlUrlPtr url_handle;
  std::string url_origin;           // "scheme://authority" as written, which url_handle holds; "" = no fast path
  std::string url_text;             // curl's own text of url_handle's URL, kept in step with it (see set_url)
  std::size_t url_text_origin = 0;  // how much of url_text is curl's text of url_origin
  std::string url_part;             // set_url's NUL-terminated path, its capacity kept
  detail::CurlMultiPtr multi;       // made by the first fetch: it holds curl's wake-up socketpair
  detail::CurlEasyPtr easy;
  const StopWakeup* shared_wakeup = nullptr;      // polled when a fetch's stop token is its token
  const SharedCurlCache* shared_cache = nullptr;  // its total rate limit applies to every body byte
  int wake_fd = -1;                               // own eventfd, made by the first stoppable fetch without one
  char error_buffer[CURL_ERROR_SIZE] = {};

  // Sent with every request. Passed as header lines rather than through
  // CURLOPT_USERAGENT / the Accept-Encoding curl writes itself: curl 7.88
  // formats those into a separate string on every request before copying
  // them into the request, ~6000 instructions per request (callgrind).
  std::vector<std::string> base_headers;

  // What the handle is currently set to, so a request only touches options
  // that differ from the previous one.
  bool nobody = false;
  bool credentials_sent = true;          // the user's auth, cookie string and -H headers are set
  std::vector<std::string> own_headers;  // base_headers without the user's -H lines
  bool decoding = false;                 // Accept-Encoding offered, coded bodies decoded (by `inflater`)
  std::uint64_t range_from = 0;
  long receive_buffer = kSmallReceiveBufferBytes;
  bool big_answers = false;    // an answer outgrew kSmallReceiveBufferBytes: kReceiveBufferBytes from then on
  std::uint64_t received = 0;  // the current transfer's header and body bytes
  std::vector<std::string> header_lines;  // the request's extra_headers last applied
  detail::CurlSlistPtr header_list;

  // The transfer in progress; valid only inside fetch().
  const FetchRequest* request = nullptr;
  const std::stop_token* transfer_stop = nullptr;
  Clock::time_point transfer_started;  // for max_bytes_per_second
  FetchResponse* response = nullptr;   // in the caller's Result, which fetch() fills in place
  BodyWriter* writer = nullptr;
  std::optional<Error> failure;  // set by a callback that stopped the transfer
  std::string spare_body;        // recycle_body(): the next in-memory body's buffer
  bool head_complete = false;    // the blank line after the current response's header was seen
  bool body_begun = false;       // begin() ran (or the in-memory equivalent)
  // Framing of the current response, checked at its blank line.
  bool transfer_encoding = false;               // Transfer-Encoding overrides Content-Length
  std::string content_length_problem;           // why the Content-Length fields are unusable, "" if fine
  std::optional<std::uint64_t> framing_length;  // the one value every Content-Length field agreed on

  std::unique_ptr<Inflater> inflater;  // this response's decoder, when it is coded and decoding is on

  // set_observer(): sees every exchange as sent and received; null = none,
  // and then no callback below does more than test this pointer.
  ExchangeObserver* observer = nullptr;
  std::string sent_head;  // the request head libcurl is sending, until its response's status line

  bool check_content_length(std::string_view value);
  bool start_decoding();
  bool deliver(const char* data, std::size_t length);

  ~State() {
    // In this order, while every member is alive: curl_multi_cleanup closes
    // the cached connections, which the easy handle may still point at.
    easy.reset();
    multi.reset();
    if (wake_fd >= 0) ::close(wake_fd);
  }
  void configure(SharedCurlCache* shared);
  void configure_user_options();
  void pace_body(std::size_t length);
  bool ensure_multi();
  int wake_fd_for(const std::stop_token& stop);
  CURLcode apply_request(const FetchRequest& next);
  CURLcode set_url(const std::string& url);
  CURLcode set_headers(const std::vector<std::string>& extra);
  bool begin_body(bool check_size);
  CURLcode run_transfer(const std::stop_token& stop, bool& aborted);
  Error transfer_error(CURLcode code) const;
  std::optional<Error> finish(FetchResponse& out, CURLcode code, bool aborted);
  // fetch()'s steps, out of line so that none of their locals sit in
  // fetch()'s frame while the transfer runs (see fetch()).
  [[gnu::noinline]] static Result<FetchResponse> empty_response();
  [[gnu::noinline]] CURLcode start(const FetchRequest& next, const std::stop_token& stop, FetchResponse& out);
  [[gnu::noinline]] void end(Result<FetchResponse>& result, CURLcode code, bool aborted);
  [[gnu::noinline, gnu::cold]] static void not_started(Result<FetchResponse>& result, const FetchRequest& next,
                                                       CURLcode code);

  static size_t on_header(char* data, size_t size, size_t count, void* user) noexcept;
  static size_t on_body(char* data, size_t size, size_t count, void* user) noexcept;
  static int on_request_start(void* user, char*, char*, int, int) noexcept;
  static int on_debug(CURL*, curl_infotype type, char* data, size_t size, void* user) noexcept;
  void report_request() noexcept;
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
  FETCHPOOL_SETOPT(h, CURLOPT_BUFFERSIZE, kSmallReceiveBufferBytes);
  FETCHPOOL_SETOPT(h, CURLOPT_FOLLOWLOCATION, options.follow_redirects ? 1L : 0L);
  FETCHPOOL_SETOPT(h, CURLOPT_MAXREDIRS, options.max_redirects);
  FETCHPOOL_SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
  FETCHPOOL_SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  FETCHPOOL_SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  FETCHPOOL_SETOPT(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout.count()));
  FETCHPOOL_SETOPT(h, CURLOPT_LOW_SPEED_LIMIT, options.low_speed_limit);
  FETCHPOOL_SETOPT(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.low_speed_time.count()));
  if (!options.user_agent.empty()) {
    if (proxy_from_environment() || !options.proxy.empty()) {
      // Through a proxy, curl's own User-Agent handling is the right one: it
      // also goes into CONNECT, and is not doubled on proxied http:// requests
      // (where curl sends both header lists).
      FETCHPOOL_SETOPT(h, CURLOPT_USERAGENT, options.user_agent.c_str());
    } else {
      base_headers.push_back("User-Agent: " + options.user_agent);
    }
  }
  // libcurl's own decoding stays off (no CURLOPT_ACCEPT_ENCODING): it hands
  // over the bytes as sent, and Inflater decodes them when asked.
  decoding = options.accept_compressed;
  configure_user_options();
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
  shared_cache = shared;
}

// The options a user gives on the command line (FetchOptions' second half):
// their header lines replace ours of the same name, and each other option is
// left at curl's default unless given.
void Fetcher::State::configure_user_options() {
  CURL* h = easy.get();
  own_headers = base_headers;
  for (const auto& line : options.headers) {
    const std::string_view name = header_name(line);
    std::erase_if(base_headers,
                  [name](const std::string& base) { return iequals_lower(header_name(base), to_ascii_lower(name)); });
    base_headers.push_back(line);
  }
  if (!options.cookie.empty()) FETCHPOOL_SETOPT(h, CURLOPT_COOKIE, options.cookie.c_str());
  // "" turns the cookie engine on without reading a file; the shared jar
  // (if the SharedCurlCache has one) is what it reads and fills.
  if (options.cookies) FETCHPOOL_SETOPT(h, CURLOPT_COOKIEFILE, "");
  if (!options.username.empty() || !options.password.empty()) {
    FETCHPOOL_SETOPT(h, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    FETCHPOOL_SETOPT(h, CURLOPT_USERNAME, options.username.c_str());
    FETCHPOOL_SETOPT(h, CURLOPT_PASSWORD, options.password.c_str());
  }
  if (!options.proxy.empty()) {
    FETCHPOOL_SETOPT(h, CURLOPT_PROXY, options.proxy.c_str());
  } else if (!proxy_from_environment()) {
    // No proxy anywhere: saying so once spares every transfer libcurl's
    // five getenv calls (no_proxy, NO_PROXY, <scheme>_proxy, all_proxy,
    // ALL_PROXY) and its proxy detection, ~1,500 instructions a request
    // (callgrind). "" is libcurl's "no proxy"; an empty no-proxy list then
    // keeps it from reading no_proxy, which cannot matter without a proxy.
    FETCHPOOL_SETOPT(h, CURLOPT_PROXY, "");
    if (options.no_proxy.empty()) FETCHPOOL_SETOPT(h, CURLOPT_NOPROXY, "");
  }
  if (!options.no_proxy.empty()) FETCHPOOL_SETOPT(h, CURLOPT_NOPROXY, options.no_proxy.c_str());
  if (!options.ca_file.empty()) FETCHPOOL_SETOPT(h, CURLOPT_CAINFO, options.ca_file.c_str());
  // max_bytes_per_second is paced in on_body (pace_body), not with
  // CURLOPT_MAX_RECV_SPEED_LARGE: curl checks that limit only between reads,
  // and a body already in the socket buffer (a fast or local server) is read
  // in one go.
}

// The transfer's body so far may not arrive faster than max_bytes_per_second
// since the transfer started; then the shared total limit, if any.
void Fetcher::State::pace_body(std::size_t length) {
  if (transfer_stop == nullptr) return;
  if (options.max_bytes_per_second > 0) {
    wait_until(transfer_started + time_for(response->body_bytes, options.max_bytes_per_second), *transfer_stop);
  }
  if (shared_cache != nullptr) shared_cache->throttle(length, *transfer_stop);
}

// A multi handle of our own instead of curl_easy_perform: curl_multi_poll
// watches the stop descriptor beside curl's sockets, so a stop request wakes
// the wait at once. Driven with curl_multi_perform, not the multi_socket API:
// libcurl 7.88 gives a multi handle's socket hash 911 buckets (28.5 KiB,
// every byte written) the first time the socket callback path runs, which
// was 14 MiB of the peak RSS at -j 500; the perform path never allocates it,
// and makes no more poll calls per request (strace -c, 2000 requests:
// 4815 polls against 5929). Made by the first fetch, not the constructor:
// curl_multi_init opens a socketpair for curl_multi_wakeup (unused here), so
// a worker that never fetches holds no descriptor.
bool Fetcher::State::ensure_multi() {
  if (multi) return true;
  multi.reset(curl_multi_init());
  return multi != nullptr;
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
  auto append_unless_replaced = [&](const std::string& base) {
    // A request's own header of the same name replaces ours.
    const std::string name = to_ascii_lower(header_name(base));
    const bool replaced = std::any_of(extra.begin(), extra.end(), [&name](const std::string& line) {
      return iequals_lower(header_name(line), name);
    });
    return replaced || append(base);
  };
  for (const auto& base : credentials_sent ? base_headers : own_headers) {
    if (!append_unless_replaced(base)) return CURLE_OUT_OF_MEMORY;
  }
  if (decoding && !append_unless_replaced(kAcceptEncoding)) return CURLE_OUT_OF_MEMORY;
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

namespace {

// The "scheme://authority" of an http(s) URL whose authority ends at a '/',
// or "" for any other URL.
std::string_view http_origin(std::string_view url) noexcept {
  std::size_t authority = 0;
  if (url.starts_with("http://")) {
    authority = 7;
  } else if (url.starts_with("https://")) {
    authority = 8;
  } else {
    return {};
  }
  // A loop rather than find_first_of, which calls memchr per character.
  for (std::size_t at = authority; at < url.size(); ++at) {
    const char c = url[at];
    if (c == '/') return url.substr(0, at);
    if (c == '?' || c == '#' || c == '\\') return {};
  }
  return {};
}

// A path and query curl's full parse would keep exactly as written: visible
// ASCII only, no fragment, no dot segment to remove, no empty query.
bool plain_target(std::string_view target) noexcept {
  for (const char c : target) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f || c == '#' || c == '\\') return false;
  }
  return target.find("/.") == std::string_view::npos && !target.ends_with('?');
}

}  // namespace

// CURLOPT_URL makes curl parse the whole URL again on every request and
// rebuild its text, about 11,000 instructions per request (callgrind, curl
// 7.88; a sixth of curl's own cost for a small page). A URL handle kept across
// requests (CURLOPT_CURLU, which curl only reads) is parsed whole when the
// origin changes; the next URL of the same origin replaces only path and
// query. A URL the handle cannot take goes through CURLOPT_URL as before, so
// curl reports its error as it always did.
// Beside the handle, CURLOPT_URL carries curl's own text of the same URL:
// curl 7.88 takes the handle's parts from the handle and, when it holds a
// text, reports that text (CURLINFO_EFFECTIVE_URL) instead of printing the
// handle's URL anew (Curl_pretransfer: 6,000 instructions a request, its
// printf writes a byte at a time). The text is asked of curl once per origin;
// for a plain path and query (kept as written), the next URL's text is that
// origin's text and the target.
CURLcode Fetcher::State::set_url(const std::string& url) {
  CURL* h = easy.get();
  const std::string_view origin = http_origin(url);
  const std::string_view target = std::string_view(url).substr(origin.size());
  if (!url_origin.empty() && !origin.empty() && origin == url_origin && plain_target(target)) {
    const std::size_t query = target.find('?');
    url_part.assign(target.substr(0, query));
    if (curl_url_set(url_handle.get(), CURLUPART_PATH, url_part.c_str(), 0) == CURLUE_OK &&
        curl_url_set(url_handle.get(), CURLUPART_QUERY,
                     query == std::string_view::npos ? nullptr : target.data() + query + 1, 0) == CURLUE_OK) {
      url_text.resize(url_text_origin);
      url_text.append(target);
      return curl_easy_setopt(h, CURLOPT_URL, url_text.c_str());  // CURLOPT_CURLU still names the handle
    }
  }
  url_origin.clear();
  if (!url_handle) url_handle.reset(curl_url());
  // The flags curl itself parses CURLOPT_URL with.
  if (url_handle && curl_url_set(url_handle.get(), CURLUPART_URL, url.c_str(),
                                 CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
    char* text = nullptr;
    if (curl_url_get(url_handle.get(), CURLUPART_URL, &text, 0) == CURLUE_OK && text != nullptr) {
      const detail::CurlStringPtr owned(text);
      if (const CURLcode code = curl_easy_setopt(h, CURLOPT_CURLU, url_handle.get()); code != CURLE_OK) return code;
      url_text.assign(text);
      // The fast path only when curl's text is its origin and this very target.
      const std::string_view text_origin = http_origin(url_text);
      if (plain_target(target) && !text_origin.empty() &&
          std::string_view(url_text).substr(text_origin.size()) == target) {
        url_origin.assign(origin);
        url_text_origin = text_origin.size();
      }
      return curl_easy_setopt(h, CURLOPT_URL, url_text.c_str());
    }
  }
  if (const CURLcode code = curl_easy_setopt(h, CURLOPT_CURLU, static_cast<CURLU*>(nullptr)); code != CURLE_OK)
    return code;
  return curl_easy_setopt(h, CURLOPT_URL, url.c_str());
}

CURLcode Fetcher::State::apply_request(const FetchRequest& next) {
  CURL* h = easy.get();
  if (const CURLcode code = set_url(next.url); code != CURLE_OK) return code;
  if (const bool head = next.head_only || options.head_only; head != nobody) {
    // CURLOPT_NOBODY 0 would leave the method at HEAD; HTTPGET resets it.
    const CURLcode code = head ? curl_easy_setopt(h, CURLOPT_NOBODY, 1L) : curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    if (code != CURLE_OK) return code;
    nobody = head;
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
  const long default_buffer = big_answers ? kReceiveBufferBytes : kSmallReceiveBufferBytes;
  if (const long buffer = next.receive_buffer_bytes > 0 ? static_cast<long>(next.receive_buffer_bytes) : default_buffer;
      buffer != receive_buffer) {
    if (const CURLcode code = curl_easy_setopt(h, CURLOPT_BUFFERSIZE, buffer); code != CURLE_OK) return code;
    receive_buffer = buffer;
  }
  bool headers_changed = next.extra_headers != header_lines;
  if (next.user_credentials != credentials_sent) {
    credentials_sent = next.user_credentials;
    const char* const kUnset = nullptr;
    if (!options.username.empty() || !options.password.empty()) {
      CURLcode code = curl_easy_setopt(h, CURLOPT_USERNAME, credentials_sent ? options.username.c_str() : kUnset);
      if (code == CURLE_OK)
        code = curl_easy_setopt(h, CURLOPT_PASSWORD, credentials_sent ? options.password.c_str() : kUnset);
      if (code != CURLE_OK) return code;
    }
    if (!options.cookie.empty()) {
      const CURLcode code = curl_easy_setopt(h, CURLOPT_COOKIE, credentials_sent ? options.cookie.c_str() : kUnset);
      if (code != CURLE_OK) return code;
    }
    headers_changed = true;
  }
  if (const bool decode = options.accept_compressed && next.decode; decode != decoding) {
    // Off: no Accept-Encoding, and a coded body is delivered as sent.
    decoding = decode;
    headers_changed = true;
  }
  if (headers_changed) {
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
  self.received += length;
  std::string_view line(data, length);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  ResponseHead& head = self.response->head;
  if (self.observer != nullptr) {
    // Trailers after a chunked body are not part of the head.
    const bool status_line = line.size() >= 5 && line.substr(0, 5) == "HTTP/";
    if (status_line) self.report_request();
    if (status_line || !self.head_complete) self.observer->response_line(std::string_view(data, length));
  }
  if (line.size() >= 5 && line.substr(0, 5) == "HTTP/") {
    // A new status line: an interim 1xx or the next hop of a redirect chain
    // replaces everything seen so far.
    head = ResponseHead{};
    head.status = parse_status(line);
    self.head_complete = false;
    self.transfer_encoding = false;
    self.content_length_problem.clear();
    self.framing_length.reset();
    return length;
  }
  if (self.head_complete) return length;  // trailers after a chunked body
  if (line.empty()) {
    self.head_complete = true;
    // RFC 9112 section 6.3 rule 5: a response whose framing is invalid must
    // be discarded, whatever part of it curl would accept.
    if (!self.transfer_encoding && !self.content_length_problem.empty()) {
      self.failure = Error{ErrorCode::kProtocol, self.request->url + ": " + self.content_length_problem +
                                                     " (RFC 9112 section 6.3); answer discarded"};
      return 0;
    }
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
          if (self.check_content_length(value())) head.content_length = self.framing_length;
        } else if (iequals_lower(name, "content-type")) {
          head.content_type = value();
        } else if (iequals_lower(name, "content-encoding")) {
          // "identity" is the absence of an encoding (RFC 9110 section 8.4.1).
          if (const auto coding = value(); !iequals_lower(coding, "identity")) head.content_encoding = coding;
        } else if (iequals_lower(name, "content-range")) {
          parse_content_range(value(), head);
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
      case 't':
        if (iequals_lower(name, "transfer-encoding")) self.transfer_encoding = true;
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

// One Content-Length field value: a list of decimal numbers ("5" or "5, 5"),
// all equal to each other and to any earlier field's. Records the problem
// (reported at the blank line, unless Transfer-Encoding overrides) and
// returns false when there is one.
bool Fetcher::State::check_content_length(std::string_view value) {
  if (!content_length_problem.empty()) return false;
  std::string_view rest = value;
  do {
    const auto comma = rest.find(',');
    const std::string_view item = trim_ows_and_newlines(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const auto number = parse_u64(item);
    if (!number || !std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      content_length_problem = "invalid Content-Length \"" + std::string(value) + "\"";
      return false;
    }
    if (framing_length && *framing_length != *number) {
      content_length_problem =
          "conflicting Content-Length values " + std::to_string(*framing_length) + " and " + std::to_string(*number);
      return false;
    }
    framing_length = number;
  } while (!rest.empty());
  return true;
}

// At the first body byte: a coded body is decoded when this request asked
// for decoding; a coding we did not offer is the server's mistake.
bool Fetcher::State::start_decoding() {
  inflater.reset();
  const std::string& coding = response->head.content_encoding;
  if (!decoding || coding.empty()) return true;
  if (iequals_lower(coding, "gzip") || iequals_lower(coding, "x-gzip")) {
    inflater = std::make_unique<Inflater>(Inflater::Kind::kGzip);
  } else if (iequals_lower(coding, "deflate")) {
    inflater = std::make_unique<Inflater>(Inflater::Kind::kDeflate);
  } else {
    failure = Error{ErrorCode::kProtocol, request->url + ": Content-Encoding \"" + coding +
                                              "\" was not offered (Accept-Encoding: gzip, deflate)"};
    return false;
  }
  return true;
}

// Decoded bytes to the writer or the in-memory body (capped at max_body_bytes).
bool Fetcher::State::deliver(const char* data, std::size_t length) {
  FetchResponse& out = *response;
  if (writer != nullptr) {
    if (auto written = writer->write(std::string_view(data, length)); !written) {
      failure = written.error();
      return false;
    }
  } else {
    if (length > options.max_body_bytes - out.body_bytes) {
      failure = Error{ErrorCode::kTooLarge, request->url + ": body exceeds max_body_bytes " +
                                                std::to_string(options.max_body_bytes) + " (decoded)"};
      return false;
    }
    out.body.append(data, length);
  }
  out.body_bytes += length;
  return true;
}

size_t Fetcher::State::on_body(char* data, size_t size, size_t count, void* user) noexcept {
  auto& self = *static_cast<State*>(user);
  const size_t length = size * count;
  self.received += length;
  // As received: libcurl has removed any chunked framing, the content coding is still on.
  if (self.observer != nullptr) self.observer->response_body(std::string_view(data, length));
  // Nothing may unwind through curl's C frames: a BodyWriter that throws, or
  // an allocation that fails, becomes an error value here.
  try {
    if (!self.body_begun && (!self.begin_body(/*check_size=*/true) || !self.start_decoding()))
      return CURL_WRITEFUNC_ERROR;
    self.pace_body(length);  // --limit-rate counts bytes on the wire, as curl's does
    if (self.inflater) {
      const std::string problem = self.inflater->feed(
          std::string_view(data, length), [&self](const char* bytes, std::size_t n) { return self.deliver(bytes, n); });
      if (!problem.empty()) self.failure = Error{ErrorCode::kProtocol, self.request->url + ": body is " + problem};
      return self.failure ? CURL_WRITEFUNC_ERROR : length;
    }
    return self.deliver(data, length) ? length : CURL_WRITEFUNC_ERROR;
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
  auto& self = *static_cast<State*>(user);
  self.head_complete = false;
  if (self.observer != nullptr) self.sent_head.clear();
  return CURL_PREREQFUNC_OK;
}

// Set only while an observer watches (with CURLOPT_VERBOSE, which is what
// makes libcurl call it): collects the request head exactly as written to
// the connection, which libcurl may write in more than one piece.
int Fetcher::State::on_debug(CURL*, curl_infotype type, char* data, size_t size, void* user) noexcept {
  auto& self = *static_cast<State*>(user);
  if (type != CURLINFO_HEADER_OUT || self.observer == nullptr) return 0;
  try {
    self.sent_head.append(data, size);
  } catch (...) {
    self.sent_head.clear();  // out of memory: the observer sees no head for this request
  }
  return 0;
}

// At a response's status line: the request it answers, with where it went.
void Fetcher::State::report_request() noexcept {
  if (sent_head.empty()) return;  // an interim 1xx's request was reported already
  const char* url = nullptr;
  curl_easy_getinfo(easy.get(), CURLINFO_EFFECTIVE_URL, &url);
  const char* ip = nullptr;
  curl_easy_getinfo(easy.get(), CURLINFO_PRIMARY_IP, &ip);
  observer->request(ExchangeTarget{url != nullptr ? std::string_view(url) : std::string_view(request->url),
                                   ip != nullptr ? std::string_view(ip) : std::string_view()},
                    sent_head);
  sent_head.clear();
}

// One transfer on our multi handle: let curl do what it can, then wait in
// curl_multi_poll on its sockets (and the stop descriptor) for at most its
// next timeout, until curl reports no running transfer.
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
  curl_waitfd stop_wait{stop_fd, CURL_WAIT_POLLIN, 0};
  const unsigned int extra_count = stop_fd >= 0 ? 1 : 0;

  CURLcode result = CURLE_OK;
  bool mcode_failed = false;
  int running = 1;
  while (!mcode_failed) {
    if (stop.stop_requested()) {
      aborted = true;
      break;
    }
    if (curl_multi_perform(m, &running) != CURLM_OK) {
      mcode_failed = true;
      break;
    }
    if (running == 0) break;
    // EINTR counts as a timeout inside curl: the loop simply runs again.
    // With the stop descriptor in the set, curl_multi_wait sleeps as
    // curl_multi_poll does, without the multi handle's wake-up socketpair
    // (curl_multi_wakeup is not used): one descriptor less to poll and queue
    // on per wait. Without it, curl_multi_wait would return at once while
    // curl has no socket to watch (a busy loop), so curl_multi_poll stays.
    const CURLMcode waited = extra_count > 0 ? curl_multi_wait(m, &stop_wait, extra_count, kIdlePollMs, nullptr)
                                             : curl_multi_poll(m, nullptr, 0, kIdlePollMs, nullptr);
    if (waited != CURLM_OK) mcode_failed = true;
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
      // curl reports a malformed chunked body with the same code as a lost
      // connection; only its message ("... in chunked-encoding") tells them
      // apart. The same server sends the same bytes again: not transient.
      if (std::string_view(error_buffer).find("chunked-encoding") != std::string_view::npos) {
        kind = ErrorCode::kProtocol;
        what = "malformed chunked body (RFC 9112 section 7.1)";
        break;
      }
      [[fallthrough]];
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
      case ErrorCode::kProtocol:
        what = "malformed answer";
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

void Fetcher::set_observer(ExchangeObserver* observer) {
  State& s = *state_;
  CURL* h = s.easy.get();
  if (observer != nullptr) {
    FETCHPOOL_SETOPT(h, CURLOPT_DEBUGFUNCTION, &State::on_debug);
    FETCHPOOL_SETOPT(h, CURLOPT_DEBUGDATA, state_.get());
  }
  FETCHPOOL_SETOPT(h, CURLOPT_VERBOSE, observer != nullptr ? 1L : 0L);
  s.observer = observer;
}

void Fetcher::recycle_body(std::string&& body) noexcept {
  if (body.capacity() > kMaxRecycledBody) return;
  body.clear();
  state_->spare_body = std::move(body);
}

// The error that ended the transfer, or none: `out` is the answer.
std::optional<Error> Fetcher::State::finish(FetchResponse& out, CURLcode code, bool aborted) {
  if (aborted) return Error{ErrorCode::kAborted, request->url + ": aborted by stop request"};
  if (failure) return std::move(*failure);  // a writer's error unchanged, or a size limit
  if (code != CURLE_OK) return transfer_error(code);
  if (!head_complete && response->head.status != 0) {
    // A status line, perhaps some fields, then the end of the stream: libcurl
    // 7.88 calls that a complete answer; RFC 9112 section 6.3 rule 8 only
    // covers a body, never a header section.
    return Error{ErrorCode::kTruncated,
                 request->url + ": header section cut short (the connection ended before its blank line)"};
  }
  if (inflater && !inflater->ended()) {
    return Error{ErrorCode::kTruncated, request->url + ": " + std::string(inflater->name()) +
                                            " body cut short: its stream ends before its end, after " +
                                            std::to_string(response->body_bytes) + " decoded bytes"};
  }
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
  return std::nullopt;
}

Result<FetchResponse> Fetcher::State::empty_response() { return FetchResponse{}; }

// Sets up the handle for `next`, whose answer goes to `out`; CURLE_OK or why
// curl refused the request. CURLE_ABORTED_BY_CALLBACK: stopped before the start.
CURLcode Fetcher::State::start(const FetchRequest& next, const std::stop_token& stop, FetchResponse& out) {
  if (stop.stop_requested()) return CURLE_ABORTED_BY_CALLBACK;
  request = &next;
  transfer_stop = &stop;
  transfer_started = Clock::now();
  out.body = std::move(spare_body);  // empty, with the capacity of an earlier body
  spare_body = std::string();
  if (const CURLcode code = apply_request(next); code != CURLE_OK) return code;
  response = &out;
  writer = next.writer;
  failure.reset();
  head_complete = false;
  transfer_encoding = false;
  content_length_problem.clear();
  framing_length.reset();
  inflater.reset();
  body_begun = false;
  received = 0;
  error_buffer[0] = '\0';
  return CURLE_OK;
}

void Fetcher::State::not_started(Result<FetchResponse>& result, const FetchRequest& next, CURLcode code) {
  if (code == CURLE_ABORTED_BY_CALLBACK) {
    result = Error{ErrorCode::kAborted, next.url + ": aborted before start"};
    return;
  }
  result = Error{code == CURLE_OUT_OF_MEMORY ? ErrorCode::kInternal : ErrorCode::kInvalidUrl,
                 next.url + ": request not accepted (curl: " + curl_easy_strerror(code) + ")"};
}

void Fetcher::State::end(Result<FetchResponse>& result, CURLcode code, bool aborted) {
  if (received > static_cast<std::uint64_t>(kSmallReceiveBufferBytes)) big_answers = true;
  std::optional<Error> error = finish(*result, code, aborted);
  if (observer != nullptr) {
    sent_head.clear();  // a request that got no answer
    observer->end(error);
  }
  if (error) result = std::move(*error);
  request = nullptr;
  transfer_stop = nullptr;
  response = nullptr;
  writer = nullptr;
  failure.reset();
  inflater.reset();
}

// Every worker's deepest stack point is libcurl's printf (5.6 KiB of frame)
// under curl_multi_perform under this function, so each byte of this frame is
// a byte deeper into every worker's stack, and a worker keeps every stack page
// it ever touched (issue 14). The answer is therefore built in place in the
// caller's Result (one named result: NRVO) and the steps with locals of their
// own run out of line: this frame is a few words.
Result<FetchResponse> Fetcher::fetch(const FetchRequest& request, std::stop_token stop) {
  State& s = *state_;
  Result<FetchResponse> result = State::empty_response();
  if (const CURLcode code = s.start(request, stop, *result); code != CURLE_OK) {
    State::not_started(result, request, code);
    return result;
  }
  bool aborted = false;
  const CURLcode code = s.run_transfer(stop, aborted);
  s.end(result, code, aborted);
  return result;
}

}  // namespace fetchpool
