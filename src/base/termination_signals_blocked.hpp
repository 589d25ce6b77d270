// Private: start helper threads that never take SIGINT/SIGTERM.
//
// The CLI takes termination signals on one thread (SignalWatcher, signalfd)
// and blocks them in the threads it creates after it. A component that starts
// a thread earlier (the state journal's flusher, the Redis frontier's lease
// renewer) would otherwise be the one thread the kernel can deliver a
// process-directed SIGINT to, and the default action would end the process
// without the clean stop. A thread inherits its creator's signal mask, so the
// creator blocks the signals just around the creation.
#pragma once

#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX sigset_t and pthread_sigmask, not in <csignal>

namespace fetchpool::detail {

class TerminationSignalsBlocked {
 public:
  TerminationSignalsBlocked() {
    sigset_t termination;
    sigemptyset(&termination);
    for (const int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&termination, signal);
    pthread_sigmask(SIG_BLOCK, &termination, &previous_);
  }
  ~TerminationSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
  TerminationSignalsBlocked(const TerminationSignalsBlocked&) = delete;
  TerminationSignalsBlocked& operator=(const TerminationSignalsBlocked&) = delete;

 private:
  sigset_t previous_{};
};

}  // namespace fetchpool::detail
