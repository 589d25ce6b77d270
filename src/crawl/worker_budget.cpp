#include "crawl/worker_budget.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <filesystem>
#include <system_error>

namespace fetchpool::detail {
namespace {

// Descriptors open now; /proc/self/fd lists them (the directory iterator's
// own descriptor is one of them, which only errs on the safe side).
std::uint64_t open_descriptors() {
  std::error_code ec;
  std::uint64_t count = 0;
  std::filesystem::directory_iterator it("/proc/self/fd", ec), end;
  for (; !ec && it != end; it.increment(ec)) ++count;
  return ec && count == 0 ? 3 : count;
}

}  // namespace

std::uint64_t raise_descriptor_limit() noexcept {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<std::uint64_t>(limit.rlim_cur);
}

void reserve_descriptor_table(std::uint32_t workers) noexcept {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == 0) return;
  const std::uint64_t wanted =
      kReservedDescriptors + std::uint64_t{std::max<std::uint32_t>(workers, 1)} * kDescriptorsPerWorker;
  const std::uint64_t highest =
      limit.rlim_cur == RLIM_INFINITY ? wanted : std::min<std::uint64_t>(wanted, limit.rlim_cur - 1);
  if (highest > static_cast<std::uint64_t>(INT_MAX)) return;
  // F_DUPFD, not dup2: it takes the lowest free number at or above the
  // target, so a descriptor already open there is never replaced.
  for (const int source : {STDERR_FILENO, STDOUT_FILENO, STDIN_FILENO}) {  // the first one open
    const int probe = ::fcntl(source, F_DUPFD_CLOEXEC, static_cast<int>(highest));
    if (probe >= 0) {
      ::close(probe);
      return;
    }
    if (errno != EBADF) return;
  }
}

WorkerBudget plan_workers(std::uint32_t requested) {
  WorkerBudget budget;
  budget.workers = std::max<std::uint32_t>(requested, 1);
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return budget;
  const auto soft = static_cast<std::uint64_t>(limit.rlim_cur);
  const std::uint64_t used = open_descriptors() + kReservedDescriptors;
  const std::uint64_t fit = soft > used ? (soft - used) / kDescriptorsPerWorker : 0;
  if (fit >= budget.workers) return budget;
  // One worker even when none "fits": it needs a descriptor or two, not six,
  // for plain list fetches, and without it no URL would get a record.
  budget.workers = static_cast<std::uint32_t>(std::max<std::uint64_t>(fit, 1));
  budget.limited_by = "open files limit (RLIMIT_NOFILE) " + std::to_string(soft) + ": -j " + std::to_string(requested) +
                      " needs about " + std::to_string(requested * kDescriptorsPerWorker + used) + " descriptors";
  return budget;
}

}  // namespace fetchpool::detail
