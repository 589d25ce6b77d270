#include "cli/signals.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>

namespace fetchpool::cli {

SignalWatcher::SignalWatcher(std::function<void()> on_first) : on_first_(std::move(on_first)) {
  sigemptyset(&watched_);
  sigaddset(&watched_, SIGINT);
  sigaddset(&watched_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &watched_, &previous_);
  thread_ = std::thread([this] {
    const timespec tick{0, 100'000'000};
    while (!done_.load()) {
      const int signal = sigtimedwait(&watched_, nullptr, &tick);
      if (signal < 0) continue;  // EAGAIN (tick) or EINTR
      if (seen_.fetch_add(1) == 0) {
        spdlog::warn("{}: stopping; finishing records gathered so far (send it again to quit at once)",
                     signal == SIGINT ? "SIGINT" : "SIGTERM");
        on_first_();
      } else {
        std::_Exit(130);
      }
    }
  });
}

SignalWatcher::~SignalWatcher() {
  done_.store(true);
  thread_.join();
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
