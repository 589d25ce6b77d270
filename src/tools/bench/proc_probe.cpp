#include "tools/bench/proc_probe.hpp"

#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

namespace fetchpool::bench {

ProcStatus read_proc_status() {
  ProcStatus status;
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    auto value = [&line](std::string_view key) -> std::optional<std::uint64_t> {
      if (line.rfind(key, 0) != 0) return std::nullopt;
      return std::strtoull(line.c_str() + key.size(), nullptr, 10);
    };
    if (auto v = value("VmRSS:")) status.rss_kib = *v;
    if (auto v = value("VmHWM:")) status.hwm_kib = *v;
    if (auto v = value("Threads:")) {
      status.threads = static_cast<int>(*v);
      status.read = true;
    }
  }
  return status;
}

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

double cpu_seconds(int who) {
  rusage usage{};
  getrusage(who, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

unsigned usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return static_cast<unsigned>(std::max(CPU_COUNT(&set), 1));
  return 1;
}

PeakProbe::PeakProbe() {
  if (reset_peak_rss()) {
    const auto status = read_proc_status();
    known_ = status.read;
    baseline_kib_ = status.rss_kib;
  }
}

std::optional<double> PeakProbe::per_worker_kib(std::uint32_t workers) const {
  if (!known_) return std::nullopt;
  const auto status = read_proc_status();
  if (!status.read) return std::nullopt;
  const auto growth = status.hwm_kib > baseline_kib_ ? status.hwm_kib - baseline_kib_ : 0;
  return static_cast<double>(growth) / workers;
}

}  // namespace fetchpool::bench
