// SIGINT/SIGTERM handling without async-signal-unsafe code.
//
// Instead of a handler, the signals are blocked in the constructing thread
// (and so in every thread it creates afterwards) and a dedicated thread reads
// them from a signalfd. The first signal calls `on_first` on that thread,
// where locking and logging are allowed; a second one ends the process at
// once with status 130, as wget2 and scrapy do. The thread also polls an
// eventfd that the destructor writes, so it is joined at once rather than
// after a timeout tick (a 100 ms tick used to add up to 100 ms to every run).
#pragma once

#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX sigset_t, not in <csignal>

#include <atomic>
#include <functional>
#include <thread>

namespace fetchpool::cli {

class SignalWatcher {
 public:
  explicit SignalWatcher(std::function<void()> on_first);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;
  int signals_seen() const noexcept { return seen_.load(); }

 private:
  std::function<void()> on_first_;
  sigset_t watched_{};
  sigset_t previous_{};
  int signal_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<int> seen_{0};
  std::thread thread_;
};

// For `serve`: block SIGINT/SIGTERM before starting threads, then wait for one.
void block_termination_signals();
int wait_for_termination_signal();

}  // namespace fetchpool::cli
