#include "tools/cli/signals.hpp"

#include <spdlog/spdlog.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <system_error>

namespace fetchpool::cli {

SignalWatcher::SignalWatcher(std::function<void()> on_first) : on_first_(std::move(on_first)) {
  sigemptyset(&watched_);
  sigaddset(&watched_, SIGINT);
  sigaddset(&watched_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &watched_, &previous_);
  signal_fd_ = ::signalfd(-1, &watched_, SFD_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (signal_fd_ < 0 || wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "signal watcher");
  thread_ = std::thread([this] {
    for (;;) {
      pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) continue;  // EINTR
      if ((fds[1].revents & POLLIN) != 0) return;
      signalfd_siginfo info{};
      if ((fds[0].revents & POLLIN) == 0 || ::read(signal_fd_, &info, sizeof info) != static_cast<ssize_t>(sizeof info))
        continue;
      if (seen_.fetch_add(1) == 0) {
        spdlog::warn("{}: stopping; finishing records gathered so far (send it again to quit at once)",
                     info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
        on_first_();
      } else {
        std::_Exit(130);
      }
    }
  });
}

SignalWatcher::~SignalWatcher() {
  const std::uint64_t one = 1;
  // A failed write would leave the join waiting; eventfd only fails on overflow, impossible here.
  [[maybe_unused]] const auto written = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  ::close(signal_fd_);
  ::close(wake_fd_);
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

namespace {
sigset_t termination_signals() {
  sigset_t watched;
  sigemptyset(&watched);
  sigaddset(&watched, SIGINT);
  sigaddset(&watched, SIGTERM);
  return watched;
}
}  // namespace

void block_termination_signals() {
  const sigset_t watched = termination_signals();
  pthread_sigmask(SIG_BLOCK, &watched, nullptr);
}

int wait_for_termination_signal() {
  const sigset_t watched = termination_signals();
  int signal = 0;
  while (sigwait(&watched, &signal) != 0) {
  }
  return signal;
}

}  // namespace fetchpool::cli
