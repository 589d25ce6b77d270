// A real redis-server on 127.0.0.1 for the Redis frontier tests: started on
// a free port with no persistence, ready once it answers PING (bounded), and
// killed and reaped by the destructor.
#pragma once

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): kill() is POSIX, <csignal> is only C
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace fetchpool::testing {

class RedisServer {
 public:
  // `port` 0: a free one. `persist_dir` empty: no persistence; otherwise an
  // append-only file synced on every write in that directory, so a server
  // killed with SIGKILL and started again on it comes back with its data.
  explicit RedisServer(std::uint16_t port = 0, const std::string& persist_dir = {}) {
    port_ = port != 0 ? port : free_port();
    std::vector<std::string> args{"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                  "--save",       "",       "--loglevel",          "warning"};
    for (const std::string& arg : persist_dir.empty() ? std::vector<std::string>{"--appendonly", "no", "--dir", "/tmp"}
                                                      : std::vector<std::string>{"--appendonly", "yes", "--appendfsync",
                                                                                 "always", "--dir", persist_dir}) {
      args.push_back(arg);
    }
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // Its start-up banner and warnings would bury the test output.
    posix_spawn_file_actions_t quiet;
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&quiet, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    const int spawned = posix_spawnp(&pid_, "redis-server", &quiet, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&quiet);
    if (spawned != 0) throw std::runtime_error("cannot start redis-server (install redis-server)");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!ping()) {
      if (std::chrono::steady_clock::now() > deadline) {
        stop();
        throw std::runtime_error("redis-server on port " + std::to_string(port_) + " did not answer PING within 10 s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a child process's readiness
    }
  }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  // SIGKILL now, as a crashed or lost server; the destructor then does nothing.
  void kill_now() { stop(); }
  std::string uri(const std::string& prefix) const {
    return "redis://127.0.0.1:" + std::to_string(port_) + "/" + prefix;
  }

 private:
  static std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("cannot find a free port on 127.0.0.1");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  bool ping() const {
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeval{1, 0});
    bool ok = false;
    if (c != nullptr && c->err == 0) {
      auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
      ok = r != nullptr && r->type == REDIS_REPLY_STATUS;
      if (r != nullptr) freeReplyObject(r);
    }
    if (c != nullptr) redisFree(c);
    return ok;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
  }

  std::uint16_t port_ = 0;
  pid_t pid_ = 0;
};

}  // namespace fetchpool::testing
