// A raw TCP server on 127.0.0.1 whose answers are scripts: send these bytes,
// wait, reset the connection, hang. For the faults a well-behaved HTTP
// server library will not produce (a body shorter than its Content-Length,
// a reset mid-body, a stall, a trickle, odd header spelling), in the spirit
// of curl's tests/server/sws.c.
//
// Connections are served one at a time on one thread: the server reads a
// request head (up to the blank line), records it, and runs the script on
// the connection; then closes it. Every wait is bounded and ends early when
// the client closes or the server is destroyed.
// Thread-safety: requests() and wait_for_requests() may be called from any
// thread; the script runs on the server thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace fetchpool::test {

// A one-shot event (abseil Notification): set once, waited on by anyone.
class Event {
 public:
  void set() {
    {
      std::lock_guard lock(mutex_);
      set_ = true;
    }
    cv_.notify_all();
  }
  bool wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return set_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool set_ = false;
};

// One accepted connection, as seen by a script.
class ScriptedConnection {
 public:
  ScriptedConnection(int fd, int stop_fd) : fd_(fd), stop_fd_(stop_fd) {}

  // Sends all bytes; false if the client has gone.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

  // Waits `duration`; false if the client closed or the server is stopping
  // first (so a trickle loop ends as soon as nobody listens).
  bool pause(std::chrono::milliseconds duration) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int ready = ::poll(fds, 2, static_cast<int>(duration.count()));
    if (ready == 0) return true;
    if (fds[1].revents != 0) return false;
    char byte = 0;
    // Readable: either the client closed (0) or sent more; treat both as gone.
    return ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
  }

  // Keeps the connection open and silent until the client closes it, the
  // server stops, or `limit` passes.
  void hang(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!pause(std::chrono::milliseconds(100))) return;
    }
  }

  // Closes with SO_LINGER 0, so the client sees a TCP RST, not a FIN.
  void reset() {
    linger option{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &option, sizeof option);
    ::close(fd_);
    fd_ = -1;
  }

  int fd() const noexcept { return fd_; }

 private:
  int fd_;
  int stop_fd_;
};

class ScriptedServer {
 public:
  using Script = std::function<void(ScriptedConnection&, const std::string& request)>;

  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
    if (listen_fd_ < 0 || stop_fd_ < 0) throw std::runtime_error("ScriptedServer: socket/eventfd failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("ScriptedServer: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }

  ~ScriptedServer() {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(stop_fd_, &one, sizeof one);
    thread_.join();
    ::close(listen_fd_);
    ::close(stop_fd_);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  int port() const noexcept { return port_; }
  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    for (;;) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 || fds[1].revents != 0) return;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ScriptedConnection connection(fd, stop_fd_);
      std::string request;
      if (read_head(fd, request)) {
        {
          std::lock_guard lock(mutex_);
          requests_.push_back(request);
        }
        script_(connection, request);
      }
      if (connection.fd() >= 0) ::close(connection.fd());
    }
  }

  // Reads up to the blank line ending the request head; bounded in time and size.
  bool read_head(int fd, std::string& head) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    char buffer[4096];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      if (::poll(fds, 2, 100) < 0 || fds[1].revents != 0) return false;
      if (fds[0].revents == 0) continue;
      const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
      if (got <= 0) return false;
      head.append(buffer, static_cast<std::size_t>(got));
    }
    return true;
  }

  Script script_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

}  // namespace fetchpool::test
