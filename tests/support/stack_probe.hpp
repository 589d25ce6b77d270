// How deep a thread has written into its stack, measured from the top of the
// thread's stack mapping.
//
// glibc puts a thread's struct pthread and its static TLS at the top of the
// stack mapping and the first frame below them, so the depth from the top
// counts all three, and ceil(depth / 4096) is the number of stack pages the
// thread touched (and keeps for its whole life: issue 14, worker RSS).
// paint_stack_below_caller() fills the unused stack below its caller with a
// pattern; stack_written_depth() then finds the lowest word that no longer
// holds it. Both run uninstrumented: they read and write stack memory below
// the stack pointer, which the sanitizers rightly treat as dead.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <cstdint>

namespace fetchpool::testing {

inline constexpr std::uint64_t kStackPaint = 0x5ca1ab1e0ddba115ULL;

struct StackRange {
  std::uintptr_t floor = 0;  // the lowest address probed
  std::uintptr_t top = 0;    // the top of the thread's stack mapping
  std::size_t bytes() const { return top - floor; }
};

// This thread's whole stack but its lowest page; {0, 0} if glibc cannot
// tell. The whole stack, not a fixed window below the top: the static TLS
// above the first frame is 0.2 KiB in a Release build but 767 KiB under
// ThreadSanitizer (libtsan's per-thread state), so no fixed window holds
// the frames in every build.
inline StackRange probed_stack_range() {
  constexpr std::size_t kPage = 4096;
  pthread_attr_t attributes;
  if (pthread_getattr_np(pthread_self(), &attributes) != 0) return {};
  void* low = nullptr;
  std::size_t size = 0;
  const int error = pthread_attr_getstack(&attributes, &low, &size);
  pthread_attr_destroy(&attributes);
  if (error != 0 || size <= 2 * kPage) return {};
  const auto floor = reinterpret_cast<std::uintptr_t>(low) + kPage;
  return {floor, reinterpret_cast<std::uintptr_t>(low) + size};
}

// Paints [range.floor, 512 bytes below this function's frame): everything
// below the caller is dead stack. No calls inside the loop, so nothing of
// this frame lands in the painted part.
[[gnu::noinline]] __attribute__((no_sanitize("address", "thread"))) inline void paint_stack_below_caller(
    StackRange range) {
  const auto here = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  const std::uintptr_t end = (here - 512) & ~std::uintptr_t{7};
  for (std::uintptr_t word = range.floor; word < end; word += 8)
    *reinterpret_cast<volatile std::uint64_t*>(word) = kStackPaint;
}

// Bytes from range.top down to the lowest word written since the paint;
// range.bytes() when even the floor was overwritten (deeper than probed).
__attribute__((no_sanitize("address", "thread"))) inline std::size_t stack_written_depth(StackRange range) {
  for (std::uintptr_t word = range.floor; word < range.top; word += 8) {
    if (*reinterpret_cast<const volatile std::uint64_t*>(word) != kStackPaint) return range.top - word;
  }
  return 0;
}

}  // namespace fetchpool::testing
