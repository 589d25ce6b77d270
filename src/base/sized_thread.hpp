// A joining thread with a chosen stack size (std::jthread cannot set one).
//
// Why: a worker's deepest stack use is libcurl plus gumbo's non-recursive
// parser, far below glibc's 8 MiB default. Spawning 500 workers with 8 MiB
// stacks costs about twice the time of 512 KiB ones (mmap, guard pages, page
// tables), and that start-up time is paid before the first request. Like
// std::jthread, the destructor joins. Not copyable or movable (the thread
// holds a pointer to its function).
//
// What a worker costs in RSS is not this size but the stack pages it ever
// touched, counted from the top of the mapping, where glibc puts struct
// pthread and every object's static TLS (4.9 KiB here) above the first
// frame. A list fetch's deepest point is libcurl's printf under
// Fetcher::fetch: 14.6 KiB, four pages; tests/integration/stack_depth_test
// holds it there. Keep thread_local objects small (heap-allocate big ones)
// and cold locals out of the frames on that path.
#pragma once

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>

namespace fetchpool::detail {

// Stacks for many threads in one reservation, each with a PROT_NONE guard
// page below it, unmapped at once when the arena goes.
//
// Why: glibc maps each thread's stack on its own (mmap + mprotect), advises
// all but its top away when the thread ends (madvise) and unmaps it when it
// is joined (munmap) once its 40 MiB stack cache is full; the madvise and
// the munmap each shoot down the TLB of the other cores. A -j 500 list fetch
// of 2000 URLs made 684 mmap, ~550 madvise and ~450 munmap calls, 1,500 of
// its ~31,000 syscalls (perf stat). A stack handed to pthread_create is none
// of glibc's business: take() costs one mprotect, the thread's end nothing,
// the arena one munmap (it frees the same pages, so the run's tail after the
// last response is as long as before: ~2 ms). The pages a thread touched
// stay resident until then, which does not raise the peak: it is reached
// while every worker is alive.
//
// take() may be called from any thread; the arena must outlive every thread
// running on one of its stacks (join them first).
class StackArena {
 public:
  class Stack {
   public:
    void* base() const noexcept { return base_; }  // lowest address; the guard page is just below
    std::size_t bytes() const noexcept { return bytes_; }

   private:
    friend class StackArena;
    Stack(void* base, std::size_t bytes) : base_(base), bytes_(bytes) {}
    void* base_;
    std::size_t bytes_;
  };

  // Reserves address space only (no memory is committed until take()). A
  // failed reservation leaves an empty arena: take() then returns nothing
  // and threads get glibc's stacks.
  StackArena(std::size_t stacks, std::size_t stack_bytes) {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    stack_bytes_ = (std::max<std::size_t>(stack_bytes, PTHREAD_STACK_MIN) + page - 1) / page * page;
    guard_bytes_ = page;
    const std::size_t slot = stack_bytes_ + guard_bytes_;
    if (stacks == 0 || stacks > std::numeric_limits<std::size_t>::max() / slot) return;
    void* region =
        ::mmap(nullptr, stacks * slot, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (region == MAP_FAILED) return;
    region_ = static_cast<char*>(region);
    stacks_ = stacks;
  }
  ~StackArena() {
    if (region_ != nullptr) ::munmap(region_, stacks_ * (stack_bytes_ + guard_bytes_));
  }
  StackArena(const StackArena&) = delete;
  StackArena& operator=(const StackArena&) = delete;

  // The next unused stack, readable and writable; nothing when every stack
  // is taken or the kernel refuses the mapping (then that slot is lost).
  std::optional<Stack> take() noexcept {
    if (region_ == nullptr) return std::nullopt;
    const std::size_t index = next_.fetch_add(1, std::memory_order_relaxed);
    if (index >= stacks_) return std::nullopt;
    char* base = region_ + index * (stack_bytes_ + guard_bytes_) + guard_bytes_;
    if (::mprotect(base, stack_bytes_, PROT_READ | PROT_WRITE) != 0) return std::nullopt;
    return Stack(base, stack_bytes_);
  }

  std::size_t stack_bytes() const noexcept { return stack_bytes_; }
  bool contains(const void* address) const noexcept {
    const auto* byte = static_cast<const char*>(address);
    return region_ != nullptr && byte >= region_ && byte < region_ + stacks_ * (stack_bytes_ + guard_bytes_);
  }

 private:
  char* region_ = nullptr;
  std::size_t stacks_ = 0;
  std::size_t stack_bytes_ = 0;
  std::size_t guard_bytes_ = 0;
  std::atomic<std::size_t> next_{0};
};

class SizedThread {
 public:
  SizedThread(std::size_t stack_bytes, std::function<void()> body)
      : body_(std::make_unique<std::function<void()>>(std::move(body))) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack_bytes);
    start(attr);
  }
  // On a stack of `arena` when one is left, else on one of glibc's of the
  // arena's size.
  SizedThread(StackArena& arena, std::function<void()> body)
      : body_(std::make_unique<std::function<void()>>(std::move(body))) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (const auto stack = arena.take()) {
      pthread_attr_setstack(&attr, stack->base(), stack->bytes());
    } else {
      pthread_attr_setstacksize(&attr, arena.stack_bytes());
    }
    start(attr);
  }
  SizedThread(const SizedThread&) = delete;
  SizedThread& operator=(const SizedThread&) = delete;
  ~SizedThread() { join(); }

  void join() {
    if (!joinable_) return;
    pthread_join(thread_, nullptr);
    joinable_ = false;
  }

 private:
  void start(pthread_attr_t& attr) {
    const int rc = pthread_create(&thread_, &attr, &SizedThread::trampoline, body_.get());
    pthread_attr_destroy(&attr);
    if (rc != 0) throw std::system_error(rc, std::generic_category(), "pthread_create");
    joinable_ = true;
  }
  static void* trampoline(void* body) {
    (*static_cast<std::function<void()>*>(body))();  // the body must not throw: workers catch at their boundary
    return nullptr;
  }

  std::unique_ptr<std::function<void()>> body_;
  pthread_t thread_{};
  bool joinable_ = false;
};

}  // namespace fetchpool::detail
