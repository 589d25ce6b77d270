// How many workers the process limits allow, worked out before spawning.
//
// Why: a worker that cannot get a descriptor for its connection fails every
// URL it leases, and one that cannot be created at all used to abort the
// process. Servers raise the soft RLIMIT_NOFILE to the hard limit at start;
// after that, a request for more workers than the descriptors can carry runs
// with the workers that fit (the caller says so once) instead of failing.
// Threads and memory are not budgeted ahead: their limits are shared with
// other processes, so the spawner catches a failed thread creation instead.
#pragma once

#include <cstdint>
#include <string>

namespace fetchpool::detail {

// Descriptors one busy worker may hold at once: its connection, a second
// happy-eyeballs attempt, the multi handle's wake-up socketpair, the threaded
// resolver's socketpair during a lookup, and a download's file.
inline constexpr std::uint64_t kDescriptorsPerWorker = 6;
// Kept for everything else: results file, journal, SQLite and its journal,
// the shared stop eventfd, logs, and what libraries open on their own.
inline constexpr std::uint64_t kReservedDescriptors = 32;

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit in
// force afterwards (0 if it cannot be read).
std::uint64_t raise_descriptor_limit() noexcept;

// Grows the process's descriptor table now to hold what `workers` workers
// may open (capped by the soft RLIMIT_NOFILE), so it never grows while they
// run. Why: the kernel grows the table by doubling, and in a process with
// more than one thread every doubling waits for an RCU grace period (8 to
// 24 ms measured here) while every other thread's socket() or socketpair()
// waits behind it; -j 500 crosses 256, 512, 1024 and 2048 descriptors during
// its first wave of connections. With one thread the growth is immediate, so
// call this before the first thread starts. Opens and closes one descriptor
// above those in use; no descriptor in use is touched.
void reserve_descriptor_table(std::uint32_t workers) noexcept;

struct WorkerBudget {
  std::uint32_t workers = 0;  // what fits, at least 1 and at most the request
  std::string limited_by;     // empty when the request fits; else why, for the warning and --stats-json
};

// The workers that fit the descriptor limit now in force, counting the
// descriptors the process already holds.
WorkerBudget plan_workers(std::uint32_t requested);

}  // namespace fetchpool::detail
