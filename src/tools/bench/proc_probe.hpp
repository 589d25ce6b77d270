// What the benchmark reads about processes from Linux: /proc/self/status
// (RSS, peak RSS, thread count), the peak-RSS reset through clear_refs,
// getrusage() CPU time, and the CPUs this process may run on.
// Private to the benchmark component.
#pragma once

#include <cstdint>
#include <optional>

namespace fetchpool::bench {

struct ProcStatus {
  bool read = false;
  std::uint64_t rss_kib = 0;  // VmRSS
  std::uint64_t hwm_kib = 0;  // VmHWM: peak RSS since start or since the last reset
  int threads = 0;
};

ProcStatus read_proc_status();

// Writing "5" to clear_refs sets VmHWM back to the current RSS (Linux 4.0+),
// so a run's own peak can be told apart from earlier runs'.
bool reset_peak_rss();

// User + system seconds of getrusage(who): RUSAGE_SELF or RUSAGE_CHILDREN.
double cpu_seconds(int who);

unsigned usable_cores();  // from the affinity mask; at least 1

// This run's peak RSS growth over its start, per worker.
class PeakProbe {
 public:
  PeakProbe();  // resets the peak and reads the baseline
  std::optional<double> per_worker_kib(std::uint32_t workers) const;

 private:
  bool known_ = false;  // the peak could be reset and the baseline read
  std::uint64_t baseline_kib_ = 0;
};

}  // namespace fetchpool::bench
