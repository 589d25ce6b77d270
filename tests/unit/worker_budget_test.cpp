// worker_budget: the descriptor table grown ahead of the workers, read back
// from the kernel (/proc/self/status FDSize), and no open descriptor touched.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "crawl/worker_budget.hpp"

namespace {

// Descriptor slots the kernel's table has now.
long table_size() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("FDSize:", 0) == 0) return std::stol(line.substr(7));
  return -1;
}

long open_descriptors() {
  long count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

}  // namespace

TEST_CASE("reserving the descriptor table grows it for the workers and leaves no descriptor behind",
          "[worker_budget]") {
  using fetchpool::detail::kDescriptorsPerWorker;
  using fetchpool::detail::kReservedDescriptors;
  const std::uint32_t workers = 300;
  const auto wanted = static_cast<long>(kReservedDescriptors + workers * kDescriptorsPerWorker);
  fetchpool::detail::raise_descriptor_limit();
  REQUIRE(table_size() > 0);
  const long before = open_descriptors();
  fetchpool::detail::reserve_descriptor_table(workers);
  CHECK(table_size() > wanted);
  CHECK(open_descriptors() == before);
}

TEST_CASE("reserving the descriptor table never replaces a descriptor open at the number it probes",
          "[worker_budget]") {
  using fetchpool::detail::kDescriptorsPerWorker;
  using fetchpool::detail::kReservedDescriptors;
  const std::uint32_t workers = 20;
  const int probed = static_cast<int>(kReservedDescriptors + workers * kDescriptorsPerWorker);
  const int held = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(held >= 0);
  const int at_probe = ::fcntl(held, F_DUPFD_CLOEXEC, probed);
  ::close(held);
  REQUIRE(at_probe == probed);  // nothing else of this test program sits that high
  struct stat held_stat {};
  REQUIRE(::fstat(at_probe, &held_stat) == 0);
  const long before = open_descriptors();
  fetchpool::detail::reserve_descriptor_table(workers);
  struct stat after_stat {};
  CHECK(::fstat(at_probe, &after_stat) == 0);
  CHECK(after_stat.st_ino == held_stat.st_ino);
  CHECK(after_stat.st_dev == held_stat.st_dev);
  CHECK(open_descriptors() == before);
  ::close(at_probe);
}
