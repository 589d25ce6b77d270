// Termination signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT) handled without
// async-signal-unsafe code.
//
// Instead of a handler, the signals are blocked in the constructing thread
// (and so in every thread it creates afterwards) and a dedicated thread reads
// them from a signalfd. All four stop a run the same way: a closed terminal
// (SIGHUP) or Ctrl-\ (SIGQUIT) must not lose the records gathered, as Ctrl-C
// does not. The first signal calls `on_first` on that thread, where locking
// and logging are allowed, and makes input_stop_fd() readable so a reader
// blocked on a pipe that stays open returns. A second one calls `on_last`
// (which must not block: whole buffered lines only) and ends the process at
// once with status 128 + the signal's number, as a shell reports a death by
// that signal. The thread also polls an eventfd that the destructor writes,
// so it is joined at once rather than after a timeout tick.
#pragma once

#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX sigset_t, not in <csignal>

#include <atomic>
#include <functional>
#include <thread>

namespace fetchpool::cli {

class SignalWatcher {
 public:
  explicit SignalWatcher(std::function<void()> on_first, std::function<void()> on_last = {});
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;
  int signals_seen() const noexcept { return seen_.load(); }
  // Readable once the run is stopping (a signal, or stop_input()); never read
  // from, so every poller sees it.
  int input_stop_fd() const noexcept { return input_stop_fd_; }
  // Makes input_stop_fd() readable: for stops that are not a signal (the
  // results output failed). Thread-safe.
  void stop_input() const noexcept;

 private:
  std::function<void()> on_first_;
  std::function<void()> on_last_;
  sigset_t watched_{};
  sigset_t previous_{};
  int signal_fd_ = -1;
  int wake_fd_ = -1;
  int input_stop_fd_ = -1;
  std::atomic<int> seen_{0};
  std::thread thread_;
};

// The signals that stop a run: SIGINT, SIGTERM, SIGHUP, SIGQUIT.
sigset_t termination_signals();

// For `serve`: block the termination signals before starting threads, then wait for one.
void block_termination_signals();
int wait_for_termination_signal();

}  // namespace fetchpool::cli
