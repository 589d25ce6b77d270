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

namespace {

const char* signal_name(std::uint32_t signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    case SIGQUIT:
      return "SIGQUIT";
    default:
      return "signal";
  }
}

void post(int event_fd) {
  const std::uint64_t one = 1;
  // eventfd only fails on counter overflow, impossible with a handful of posts.
  [[maybe_unused]] const auto written = ::write(event_fd, &one, sizeof one);
}

}  // namespace

sigset_t termination_signals() {
  sigset_t watched;
  sigemptyset(&watched);
  for (const int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&watched, signal);
  return watched;
}

SignalWatcher::SignalWatcher(std::function<void()> on_first, std::function<void()> on_last)
    : on_first_(std::move(on_first)), on_last_(std::move(on_last)), watched_(termination_signals()) {
  pthread_sigmask(SIG_BLOCK, &watched_, &previous_);
  signal_fd_ = ::signalfd(-1, &watched_, SFD_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  input_stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (signal_fd_ < 0 || wake_fd_ < 0 || input_stop_fd_ < 0)
    throw std::system_error(errno, std::generic_category(), "signal watcher");
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
                     signal_name(info.ssi_signo));
        stop_input();
        on_first_();
      } else {
        if (on_last_) on_last_();
        std::_Exit(128 + static_cast<int>(info.ssi_signo));
      }
    }
  });
}

SignalWatcher::~SignalWatcher() {
  post(wake_fd_);
  thread_.join();
  ::close(signal_fd_);
  ::close(wake_fd_);
  ::close(input_stop_fd_);
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

void SignalWatcher::stop_input() const noexcept { post(input_stop_fd_); }

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
