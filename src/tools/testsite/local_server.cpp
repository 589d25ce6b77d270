// LocalServer's event loops: accepting, reading requests, writing replies.
//
// Design note.
// - Each loop owns an epoll instance, a wake-up eventfd and a timer heap. All
//   loops wait on the one listening socket with EPOLLEXCLUSIVE, so a new
//   connection wakes one loop, which then owns it for life. Nothing of a
//   connection is shared between threads.
// - Connection sockets are registered once, edge-triggered, for input and
//   output; `readable`/`writable` remember what the last edge said, so the
//   loop never needs epoll_ctl(MOD) on the hot path.
// - A connection moves through phases: reading -> (delaying) -> sending ->
//   reading again (keep-alive), or -> lingering (close after the reply:
//   shutdown(SHUT_WR) and drain until the client closes, so unread input does
//   not turn our FIN into an RST that destroys the reply), -> resetting
//   (wait until the peer has acknowledged the bytes, then RST), -> stalled.
// - Each connection has at most one live timer (delay, pacing tick, reset
//   poll, linger timeout); a heap entry carries the connection id and a token,
//   and is ignored if the connection is gone or re-armed. Ids, not fds, name
//   connections because the kernel reuses fd numbers at once.
// - Sockets are written with MSG_NOSIGNAL, so a vanished client is an EPIPE
//   return, never a SIGPIPE. Any error on a socket closes that connection
//   only; an exception while serving one connection closes that connection.
//
// Safety: the Router and the shared counters are the only state touched by
// more than one thread; both are internally synchronised (atomics, mutexes).
// stop() signals every loop through its eventfd and joins it; the loops close
// their own connections before returning.
#include "tools/testsite/local_server.hpp"

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/ascii.hpp"
#include "base/unique_fd.hpp"
#include "tools/testsite/local_server_internal.hpp"

namespace fetchpool {
namespace {

using detail::UniqueFd;

using Clock = std::chrono::steady_clock;
using detail::Ending;
using detail::Reply;

constexpr std::size_t kMaxHead = std::size_t{16} * 1024;  // larger request heads get 431
constexpr std::size_t kReadPiece = std::size_t{16} * 1024;
constexpr std::size_t kWritePiece = std::size_t{64} * 1024;  // body bytes produced per refill
constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr auto kResetWaitLimit = std::chrono::seconds(1);
constexpr auto kResetPoll = std::chrono::milliseconds(2);
constexpr auto kAcceptPause = std::chrono::milliseconds(100);  // after EMFILE
constexpr std::uint64_t kListenerTag = 0;
constexpr std::uint64_t kWakeTag = 1;
constexpr std::uint64_t kFirstConnectionId = 2;

struct SharedCounters {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> open{0};
  std::atomic<std::uint64_t> peak{0};

  void opened() {
    accepted.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t now_open = open.fetch_add(1, std::memory_order_relaxed) + 1;
    std::uint64_t seen = peak.load(std::memory_order_relaxed);
    while (now_open > seen && !peak.compare_exchange_weak(seen, now_open, std::memory_order_relaxed)) {
    }
  }
  void closed() { open.fetch_sub(1, std::memory_order_relaxed); }
};

enum class Phase { kReading, kDelaying, kSending, kStalled, kResetting, kLingering };

struct Connection {
  Connection(int socket, std::uint64_t connection_id) : fd(socket), id(connection_id) {}

  UniqueFd fd;
  std::uint64_t id;
  Phase phase = Phase::kReading;
  bool readable = false;     // no EAGAIN seen since the last input edge
  bool writable = true;      // no EAGAIN seen since the last output edge
  bool peer_closed = false;  // read returned 0
  bool hangup_seen = false;  // epoll reported RDHUP/HUP/ERR: read on until EOF or error
  Clock::time_point last_active = Clock::now();
  std::uint64_t timer_token = 0;

  std::string in;           // request bytes not yet consumed
  std::size_t scanned = 0;  // bytes of `in` already searched for the end of the head

  Reply reply;  // the reply being sent
  bool keep_alive = false;
  std::uint64_t body_sent = 0;
  std::uint64_t body_allowed = 0;  // pacing: bytes released so far
  bool last_chunk_due = false;     // chunked: "0\r\n\r\n" still to send
  std::uint64_t pace_chunk = 0;
  std::chrono::milliseconds pace_interval{0};
  Clock::time_point next_release;
  Clock::time_point reset_deadline;

  std::string out;  // bytes ready for the socket
  std::size_t out_pos = 0;
};

struct Timer {
  Clock::time_point when;
  std::uint64_t connection_id;
  std::uint64_t token;
  bool operator>(const Timer& other) const { return when > other.when; }
};

bool wants_keep_alive(const detail::HttpRequest& request) {
  bool close = false;
  bool keep = false;
  std::string_view tokens = request.field("Connection");
  while (!tokens.empty()) {
    const std::size_t comma = tokens.find(',');
    std::string token(tokens.substr(0, comma));
    tokens = comma == std::string_view::npos ? std::string_view() : tokens.substr(comma + 1);
    std::erase_if(token, detail::is_http_ows);
    token = detail::to_ascii_lower(token);
    close = close || token == "close";
    keep = keep || token == "keep-alive";
  }
  if (close) return false;
  return request.minor_version >= 1 || keep;
}

class EventLoop {
 public:
  EventLoop(int listener, detail::Router& router, SharedCounters& counters)
      : listener_(listener), router_(router), counters_(counters) {
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    wake_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (epoll_.get() < 0 || wake_.get() < 0) {
      throw std::system_error(errno, std::system_category(), "LocalServer: cannot create epoll/eventfd");
    }
    epoll_event wake_event{};
    wake_event.events = EPOLLIN;
    wake_event.data.u64 = kWakeTag;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &wake_event) != 0 || !watch_listener()) {
      throw std::system_error(errno, std::system_category(), "LocalServer: cannot register with epoll");
    }
  }

  // Thread-safe: asks run() to close everything and return.
  void wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof one);
  }

  void run() {
    std::vector<epoll_event> events(256);
    Clock::time_point next_sweep = Clock::now() + std::chrono::seconds(1);
    for (;;) {
      const int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), wait_millis(next_sweep));
      if (n < 0 && errno != EINTR) {
        std::perror("LocalServer: epoll_wait");
        break;
      }
      for (int i = 0; i < n; ++i) {
        const std::uint64_t tag = events[static_cast<std::size_t>(i)].data.u64;
        if (tag == kWakeTag) {
          connections_.clear();  // closes every socket
          return;
        }
        if (tag == kListenerTag) {
          accept_all();
        } else if (auto it = connections_.find(tag); it != connections_.end()) {
          guarded(*it->second, [&](Connection& c) { on_io(c, events[static_cast<std::size_t>(i)].events); });
        }
      }
      const Clock::time_point now = Clock::now();
      run_timers(now);
      if (accept_paused_ && now >= accept_resume_) accept_paused_ = !watch_listener();
      if (now >= next_sweep) {
        close_idle(now);
        next_sweep = now + std::chrono::seconds(1);
      }
    }
    connections_.clear();
  }

 private:
  bool watch_listener() {
    epoll_event listen_event{};
    listen_event.events = EPOLLIN | EPOLLEXCLUSIVE;
    listen_event.data.u64 = kListenerTag;
    return epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listener_, &listen_event) == 0;
  }

  int wait_millis(Clock::time_point next_sweep) const {
    Clock::time_point next = next_sweep;
    if (!timers_.empty()) next = std::min(next, timers_.top().when);
    if (accept_paused_) next = std::min(next, accept_resume_);
    const auto now = Clock::now();
    if (next <= now) return 0;
    // Round up: waking early would only spin until the deadline.
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(next - now).count());
  }

  // Runs `work` on a connection; an exception closes that connection only.
  template <typename Work>
  void guarded(Connection& c, Work&& work) {
    const std::uint64_t id = c.id;
    try {
      work(c);
    } catch (const std::exception&) {
      close(id);
    }
  }

  void accept_all() {
    for (;;) {
      const int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: stop watching the listener for a while rather
          // than spin on a readiness we cannot act on.
          epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_, nullptr);
          accept_paused_ = true;
          accept_resume_ = Clock::now() + kAcceptPause;
        }
        return;  // EAGAIN: another loop took it, or the backlog is empty
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      const std::uint64_t id = next_id_++;
      auto connection = std::make_unique<Connection>(fd, id);
      epoll_event event{};
      event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      event.data.u64 = id;
      if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) continue;  // `connection` closes fd
      connections_.emplace(id, std::move(connection));
      counters_.opened();
    }
  }

  void close(std::uint64_t id) {
    if (connections_.erase(id) > 0) counters_.closed();
  }

  void arm(Connection& c, Clock::time_point when) { timers_.push(Timer{when, c.id, ++c.timer_token}); }

  void run_timers(Clock::time_point now) {
    while (!timers_.empty() && timers_.top().when <= now) {
      const Timer timer = timers_.top();
      timers_.pop();
      const auto it = connections_.find(timer.connection_id);
      if (it == connections_.end() || it->second->timer_token != timer.token) continue;
      guarded(*it->second, [&](Connection& c) { on_timer(c); });
    }
  }

  void close_idle(Clock::time_point now) {
    std::vector<std::uint64_t> idle;
    for (const auto& [id, c] : connections_) {
      if (c->phase == Phase::kReading && now - c->last_active > kIdleTimeout) idle.push_back(id);
    }
    for (const std::uint64_t id : idle) close(id);
  }

  void on_io(Connection& c, std::uint32_t events) {
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c.readable = true;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c.hangup_seen = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) c.writable = true;
    advance(c);
  }

  void on_timer(Connection& c) {
    switch (c.phase) {
      case Phase::kDelaying:
        c.phase = Phase::kSending;
        advance(c);
        return;
      case Phase::kSending:  // pacing tick
        c.body_allowed = std::min(c.reply.body.size, c.body_allowed + c.pace_chunk);
        c.next_release += c.pace_interval;
        advance(c);
        return;
      case Phase::kResetting:
        reset_when_acknowledged(c);
        return;
      case Phase::kLingering:
        close(c.id);
        return;
      case Phase::kReading:
      case Phase::kStalled:
        return;
    }
  }

  // Moves a connection as far as its socket allows. Every path that closes
  // the connection returns at once: `c` is gone after close().
  void advance(Connection& c) {
    for (;;) {
      if (!receive(c)) return close(c.id);
      switch (c.phase) {
        case Phase::kReading:
          if (start_next_request(c)) continue;
          if (c.peer_closed) return close(c.id);
          return;
        case Phase::kSending:
          switch (send_pending(c)) {
            case SendResult::kError:
              return close(c.id);
            case SendResult::kBlocked:
              return;
            case SendResult::kPaced:
              return arm(c, c.next_release);
            case SendResult::kDone:
              break;
          }
          if (!finish_reply(c)) return;
          continue;
        case Phase::kStalled:
        case Phase::kLingering:
          if (c.peer_closed) return close(c.id);
          return;
        case Phase::kDelaying:
        case Phase::kResetting:
          return;
      }
    }
  }

  // Reads what the socket has. In the reading, delaying and sending phases
  // bytes are kept (the next request may be pipelined) up to a bound; in the
  // others they are discarded. False on a socket error.
  bool receive(Connection& c) {
    const bool keep = c.phase == Phase::kReading || c.phase == Phase::kDelaying || c.phase == Phase::kSending;
    char buffer[kReadPiece];
    while (c.readable && !c.peer_closed) {
      if (keep && c.in.size() > kMaxHead) return true;  // enough to decide; leave the rest in the kernel
      const ssize_t n = ::recv(c.fd.get(), buffer, sizeof buffer, 0);
      if (n > 0) {
        if (keep) c.in.append(buffer, static_cast<std::size_t>(n));
        c.last_active = Clock::now();
        // A short read emptied the socket; with edge-triggered epoll any
        // later byte raises a new event, so skip the recv that would only
        // say EAGAIN. Not after a hang-up: its EOF raises no further event.
        if (static_cast<std::size_t>(n) < sizeof buffer && !c.hangup_seen) c.readable = false;
      } else if (n == 0) {
        c.peer_closed = true;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c.readable = false;
      } else if (errno != EINTR) {
        return false;
      }
    }
    return true;
  }

  // Parses the next request in `c.in` and starts its reply. False if no
  // complete request is buffered yet.
  bool start_next_request(Connection& c) {
    if (c.in.empty()) return false;
    detail::HttpRequest request;
    std::size_t consumed = 0;
    const detail::ParseStatus status = detail::parse_request(c.in, c.scanned, kMaxHead, request, consumed);
    if (status == detail::ParseStatus::kIncomplete) {
      c.scanned = c.in.size();
      return false;
    }
    Reply reply;
    bool head_only = false;
    bool keep_alive = false;
    bool http10 = false;
    if (status == detail::ParseStatus::kComplete) {
      try {
        reply = router_.route(request);
      } catch (const std::exception& e) {
        reply = detail::text_reply(500, std::string("server error: ") + e.what() + "\n");
      }
      head_only = request.method == "HEAD";
      keep_alive = wants_keep_alive(request);
      http10 = request.minor_version == 0;
    } else {
      reply = status == detail::ParseStatus::kTooLarge ? detail::text_reply(431, "request head larger than 16 KiB\n")
                                                       : detail::text_reply(400, "malformed request\n");
      consumed = c.in.size();
    }
    c.in.erase(0, consumed);  // `request` views die here
    c.scanned = 0;
    begin_reply(c, std::move(reply), head_only, keep_alive, http10);
    return true;
  }

  void begin_reply(Connection& c, Reply reply, bool head_only, bool keep_alive, bool http10) {
    counters_.requests.fetch_add(1, std::memory_order_relaxed);
    c.reply = std::move(reply);
    Reply& r = c.reply;
    if (http10 && r.chunked) {  // RFC 9112 7.1: no chunked coding for HTTP/1.0; close-delimit instead
      r.chunked = false;
      r.no_length = true;
      r.ending = Ending::kClose;
    }
    c.keep_alive = keep_alive && r.ending == Ending::kKeepAlive;

    std::string& out = c.out;
    if (r.raw) {
      // The route wrote every byte, head and framing included.
      c.body_sent = 0;
      c.last_chunk_due = false;
      c.body_allowed = r.body.size;
      c.phase = Phase::kSending;
      return;
    }
    out.append("HTTP/1.1 ").append(std::to_string(r.status)).append(" ").append(detail::reason_phrase(r.status));
    out.append("\r\nServer: fetchpool-local\r\n").append(r.fields);
    if (r.chunked) {
      out.append("Transfer-Encoding: chunked\r\n");
    } else if (!r.no_length) {
      out.append("Content-Length: ").append(std::to_string(r.declared_length.value_or(r.body.size))).append("\r\n");
    }
    if (!c.keep_alive) {
      out.append("Connection: close\r\n");
    } else if (http10) {
      out.append("Connection: keep-alive\r\n");
    }
    out.append("\r\n");

    if (head_only) r.body.size = 0;
    c.body_sent = 0;
    c.last_chunk_due = r.chunked && !head_only;
    c.body_allowed = r.body.size;
    if (r.bytes_per_second > 0) {
      // Release the body in about ten slices a second (one byte at a time
      // below 10 B/s), each on a timer: the pace costs no thread.
      c.pace_chunk = std::max<std::uint64_t>(1, r.bytes_per_second / 10);
      c.pace_interval = std::chrono::milliseconds(c.pace_chunk * 1000 / r.bytes_per_second);
      c.body_allowed = std::min(c.reply.body.size, c.pace_chunk);
      c.next_release = Clock::now() + c.pace_interval;
    }
    if (r.delay.count() > 0) {
      c.phase = Phase::kDelaying;
      arm(c, Clock::now() + r.delay);
      if (r.bytes_per_second > 0) c.next_release += r.delay;
    } else {
      c.phase = Phase::kSending;
    }
  }

  // Appends the next piece of body (with chunk framing) to `c.out`.
  void refill(Connection& c) {
    const std::uint64_t limit = std::min(c.body_allowed, c.reply.body.size);
    if (c.body_sent < limit) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(limit - c.body_sent, kWritePiece));
      if (c.reply.chunked) {
        char size_line[24];
        const int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
        c.out.append(size_line, static_cast<std::size_t>(len));
      }
      const std::size_t at = c.out.size();
      c.out.resize(at + n);
      c.reply.body.copy(c.body_sent, c.out.data() + at, n);
      if (c.reply.chunked) c.out.append("\r\n");
      c.body_sent += n;
    } else if (c.last_chunk_due && c.body_sent == c.reply.body.size) {
      c.out.append("0\r\n\r\n");
      c.last_chunk_due = false;
    }
  }

  enum class SendResult { kDone, kBlocked, kPaced, kError };

  SendResult send_pending(Connection& c) {
    for (;;) {
      if (c.out.size() - c.out_pos < kWritePiece) {
        // Top up so that the head and the first body bytes leave in one
        // segment; compact first so `out` stays within two pieces.
        c.out.erase(0, c.out_pos);
        c.out_pos = 0;
        refill(c);
      }
      if (c.out_pos == c.out.size()) break;
      if (!c.writable) return SendResult::kBlocked;
      const ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_pos += static_cast<std::size_t>(n);
        counters_.bytes_sent.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c.writable = false;
        return SendResult::kBlocked;
      } else if (n < 0 && errno != EINTR) {
        return SendResult::kError;  // EPIPE, ECONNRESET: the client is gone
      }
    }
    c.out.clear();
    c.out_pos = 0;
    if (c.body_sent < c.reply.body.size) return SendResult::kPaced;
    return SendResult::kDone;
  }

  // The reply is fully written: start what its ending asks for. False if
  // the connection is closed or now waits on a timer.
  bool finish_reply(Connection& c) {
    const Ending ending = c.reply.ending;
    c.reply = Reply{};  // drop the body (a shared gzip buffer, say)
    // A streamed body grew `out` to two pieces; an idle keep-alive
    // connection should not hold that.
    if (c.out.capacity() > kWritePiece) std::string().swap(c.out);
    c.last_active = Clock::now();
    switch (ending) {
      case Ending::kKeepAlive:
        if (c.keep_alive && !c.peer_closed) {
          c.phase = Phase::kReading;
          return true;
        }
        [[fallthrough]];
      case Ending::kClose:
        ::shutdown(c.fd.get(), SHUT_WR);
        c.phase = Phase::kLingering;
        arm(c, Clock::now() + kLingerTimeout);
        return true;
      case Ending::kReset:
        c.phase = Phase::kResetting;
        c.reset_deadline = Clock::now() + kResetWaitLimit;
        reset_when_acknowledged(c);
        return false;
      case Ending::kStall:
        c.phase = Phase::kStalled;
        return true;
    }
    return false;
  }

  // An RST discards whatever the kernel has not yet delivered, so wait until
  // the peer has acknowledged every byte (SIOCOUTQ == 0) before resetting;
  // the client then sees exactly the promised prefix, then the reset.
  void reset_when_acknowledged(Connection& c) {
    int unacknowledged = 0;
    if (ioctl(c.fd.get(), SIOCOUTQ, &unacknowledged) == 0 && unacknowledged > 0 && Clock::now() < c.reset_deadline) {
      arm(c, Clock::now() + kResetPoll);
      return;
    }
    const linger abort_on_close{1, 0};
    setsockopt(c.fd.get(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    close(c.id);
  }

  int listener_;
  detail::Router& router_;
  SharedCounters& counters_;
  UniqueFd epoll_;
  UniqueFd wake_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::uint64_t next_id_ = kFirstConnectionId;
  bool accept_paused_ = false;
  Clock::time_point accept_resume_;
};

// Creates the listening socket; `port` receives the bound port.
UniqueFd bind_listener(const ServerOptions& options, std::uint16_t& port) {
  const std::string where = options.bind_address + ":" + std::to_string(options.port);
  in_addr address{};
  const std::string host = options.bind_address == "localhost" ? "127.0.0.1" : options.bind_address;
  if (inet_pton(AF_INET, host.c_str(), &address) != 1) {
    throw std::system_error(EINVAL, std::generic_category(),
                            "LocalServer: bind address " + where + " is not an IPv4 literal");
  }
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw std::system_error(errno, std::system_category(), "LocalServer: socket() for " + where);
  // SO_REUSEADDR lets a restarted server take a port whose old connections
  // are in TIME_WAIT; it does not allow sharing a port another socket listens on.
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr = address;
  sa.sin_port = htons(options.port);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    throw std::system_error(errno, std::system_category(), "LocalServer: cannot bind " + where);
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) {
    throw std::system_error(errno, std::system_category(), "LocalServer: cannot listen on " + where);
  }
  socklen_t len = sizeof sa;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  port = ntohs(sa.sin_port);
  return fd;
}

std::string make_base_url(const ServerOptions& options, std::uint16_t port) {
  // A wildcard bind is reached through loopback.
  const bool wildcard = options.bind_address == "0.0.0.0" || options.bind_address == "localhost";
  return "http://" + (wildcard ? std::string("127.0.0.1") : options.bind_address) + ":" + std::to_string(port);
}

ServerOptions validated(ServerOptions options) {
  if (options.site.pages == 0) throw std::invalid_argument("LocalServer: site.pages must be at least 1");
  if (options.threads == 0) options.threads = 1;
  return options;
}

}  // namespace

class LocalServer::Impl {
 public:
  explicit Impl(ServerOptions options)
      : options_(validated(std::move(options))),
        listener_(bind_listener(options_, port_)),
        base_url_(make_base_url(options_, port_)),
        router_(options_, base_url_) {
    for (unsigned i = 0; i < options_.threads; ++i) {
      loops_.push_back(std::make_unique<EventLoop>(listener_.get(), router_, counters_));
    }
    try {
      for (auto& loop : loops_) {
        threads_.emplace_back([&loop = *loop] {
          pthread_setname_np(pthread_self(), "fetchpool-loop");  // for top -H and the benchmark
          try {
            loop.run();
          } catch (const std::exception& e) {
            std::fprintf(stderr, "LocalServer: event loop stopped: %s\n", e.what());
          }
        });
      }
    } catch (...) {
      stop();
      throw;
    }
  }

  ~Impl() { stop(); }

  void stop() {
    // The lock makes a second caller wait until the first has joined.
    MutexLock lock(stop_mutex_);
    if (stopped_) return;
    for (auto& loop : loops_) loop->wake();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
    listener_.reset();
    stopped_ = true;
  }

  ServerOptions options_;
  std::uint16_t port_ = 0;
  UniqueFd listener_;
  std::string base_url_;
  detail::Router router_;
  SharedCounters counters_;
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::vector<std::thread> threads_;
  Mutex stop_mutex_;
  bool stopped_ FETCHPOOL_GUARDED_BY(stop_mutex_) = false;
};

LocalServer::LocalServer(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

LocalServer::~LocalServer() = default;

std::uint16_t LocalServer::port() const noexcept { return impl_->port_; }

std::string LocalServer::base_url() const { return impl_->base_url_; }

void LocalServer::stop() { impl_->stop(); }

ServerCounters LocalServer::counters() const {
  const SharedCounters& c = impl_->counters_;
  return ServerCounters{c.requests.load(std::memory_order_relaxed), c.bytes_sent.load(std::memory_order_relaxed),
                        c.accepted.load(std::memory_order_relaxed), c.peak.load(std::memory_order_relaxed)};
}

std::uint64_t LocalServer::requests_for(std::string_view path) const { return impl_->router_.counts().get(path); }

}  // namespace fetchpool
