// A real HTTP/1.1 server (cpp-httplib) on 127.0.0.1 and an ephemeral port,
// for tests that need ordinary routes with keep-alive. Routes are registered
// through server() before start(); the destructor stops and joins.
// Thread-safety: construct, register and start on one thread; handlers run
// on the server's pool threads.
#pragma once

#include <httplib.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace fetchpool::test {

class HttplibServer {
 public:
  HttplibServer() {
    // Enough threads for the concurrent tests' keep-alive connections: each
    // open connection holds a pool thread for as long as it is kept alive.
    server_.new_task_queue = [] { return new httplib::ThreadPool(24); };
    server_.set_keep_alive_max_count(100000);
    server_.set_keep_alive_timeout(2);
    // httplib writes head and body in two sends; with Nagle on, each
    // kept-alive response would wait ~40 ms for the client's delayed ACK.
    server_.set_tcp_nodelay(true);
  }
  ~HttplibServer() { stop(); }
  HttplibServer(const HttplibServer&) = delete;
  HttplibServer& operator=(const HttplibServer&) = delete;

  httplib::Server& server() { return server_; }

  void start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("HttplibServer: cannot bind 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // Debian's 0.11.4 has no wait_until_ready(); the socket already listens,
    // this only makes sure stop() will not race listen_after_bind's start.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!server_.is_running()) throw std::runtime_error("HttplibServer: did not start within 5 s");
  }

  void stop() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }

  int port() const noexcept { return port_; }
  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace fetchpool::test
