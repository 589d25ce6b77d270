// SizedThread on glibc's stacks and on a StackArena's: every thread runs and
// is joined, arena stacks lie in the arena with a PROT_NONE guard page below
// each, and threads beyond the arena's stacks fall back to glibc's.
#include <catch2/catch.hpp>

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "base/sized_thread.hpp"
#include "support/sanitized.hpp"

using fetchpool::detail::SizedThread;
using fetchpool::detail::StackArena;

namespace {

// The engine's worker stack sizes: under ThreadSanitizer glibc puts libtsan's
// 767 KiB of static TLS at the top of each stack, so sanitized builds use more.
constexpr std::size_t kStackBytes = std::size_t{fetchpool::testing::kSanitized ? 2048 : 512} * 1024;

struct Seen {
  void* stack_low = nullptr;  // pthread_getattr_np's stack address (lowest byte)
  std::size_t stack_size = 0;
  const void* local = nullptr;  // a local of the thread's function
  bool wrote = false;
};

// Runs on the thread: where its stack is, and that most of it can be written.
void look(Seen& seen) {
  pthread_attr_t attr;
  REQUIRE(pthread_getattr_np(pthread_self(), &attr) == 0);
  pthread_attr_getstack(&attr, &seen.stack_low, &seen.stack_size);
  pthread_attr_destroy(&attr);
  volatile char deep[256 * 1024];
  std::memset(const_cast<char*>(deep), 1, sizeof deep);
  seen.local = const_cast<const char*>(deep);
  seen.wrote = deep[sizeof deep - 1] == 1;
}

// The permissions of the mapping holding `address` in /proc/self/maps ("rw-p"), "" if none.
std::string permissions_at(const void* address) {
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string range, perms;
    fields >> range >> perms;
    const auto dash = range.find('-');
    const auto low = std::stoull(range.substr(0, dash), nullptr, 16);
    const auto high = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (at >= low && at < high) return perms;
  }
  return "";
}

}  // namespace

TEST_CASE("SizedThread runs its body on a stack of the size asked and joins") {
  Seen seen;
  {
    SizedThread thread(kStackBytes, [&seen] { look(seen); });
  }
  CHECK(seen.wrote);
  CHECK(seen.stack_size >= kStackBytes);
}

TEST_CASE("SizedThread on a StackArena: stacks inside the arena, a guard page below each, glibc's beyond it") {
  constexpr std::size_t kStacks = 3;
  StackArena arena(kStacks, kStackBytes);
  REQUIRE(arena.stack_bytes() == kStackBytes);
  std::vector<Seen> seen(kStacks + 2);
  std::vector<std::unique_ptr<SizedThread>> threads;
  threads.reserve(seen.size());
  for (auto& each : seen) threads.push_back(std::make_unique<SizedThread>(arena, [&each] { look(each); }));
  for (auto& thread : threads) thread->join();
  for (std::size_t i = 0; i < seen.size(); ++i) {
    INFO("thread " << i);
    CHECK(seen[i].wrote);
    const bool on_arena = i < kStacks;
    CHECK(arena.contains(seen[i].local) == on_arena);
    CHECK(arena.contains(seen[i].stack_low) == on_arena);
    if (on_arena) {
      CHECK(seen[i].stack_size == kStackBytes);
      CHECK(permissions_at(seen[i].stack_low) == "rw-p");
      CHECK(permissions_at(static_cast<char*>(seen[i].stack_low) - 1) == "---p");
    } else {
      CHECK(seen[i].stack_size >= kStackBytes);
    }
  }
  // Every stack distinct.
  for (std::size_t i = 0; i < seen.size(); ++i)
    for (std::size_t j = i + 1; j < seen.size(); ++j) CHECK(seen[i].stack_low != seen[j].stack_low);
}

TEST_CASE("StackArena: many threads at once, all joined before the arena goes") {
  constexpr std::size_t kThreads = 64;
  std::atomic<std::size_t> ran{0};
  {
    StackArena arena(kThreads, kStackBytes);
    std::vector<std::unique_ptr<SizedThread>> threads;
    threads.reserve(kThreads);
    for (std::size_t i = 0; i < kThreads; ++i)
      threads.push_back(std::make_unique<SizedThread>(arena, [&ran] { ran.fetch_add(1); }));
    threads.clear();  // joins, then the arena is unmapped
  }
  CHECK(ran.load() == kThreads);
}

TEST_CASE("StackArena of no stacks: threads get glibc's stacks of the arena's size") {
  StackArena arena(0, kStackBytes);
  CHECK_FALSE(arena.take().has_value());
  Seen seen;
  {
    SizedThread thread(arena, [&seen] { look(seen); });
  }
  CHECK(seen.wrote);
  CHECK_FALSE(arena.contains(seen.local));
  CHECK(seen.stack_size >= kStackBytes);
}

TEST_CASE("StackArena rounds a small or odd size up to whole pages of at least PTHREAD_STACK_MIN") {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  StackArena tiny(1, 1);
  CHECK(tiny.stack_bytes() >= static_cast<std::size_t>(PTHREAD_STACK_MIN));
  CHECK(tiny.stack_bytes() % page == 0);
  StackArena odd(1, kStackBytes + 1);
  CHECK(odd.stack_bytes() == kStackBytes + page);
  const auto stack = odd.take();
  REQUIRE(stack.has_value());
  CHECK(stack->bytes() == odd.stack_bytes());
  CHECK_FALSE(odd.take().has_value());
}
