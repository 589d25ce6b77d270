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

#include <cstddef>
#include <functional>
#include <memory>
#include <system_error>
#include <utility>

namespace fetchpool::detail {

class SizedThread {
 public:
  SizedThread(std::size_t stack_bytes, std::function<void()> body)
      : body_(std::make_unique<std::function<void()>>(std::move(body))) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack_bytes);
    const int rc = pthread_create(&thread_, &attr, &SizedThread::trampoline, body_.get());
    pthread_attr_destroy(&attr);
    if (rc != 0) throw std::system_error(rc, std::generic_category(), "pthread_create");
    joinable_ = true;
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
  static void* trampoline(void* body) {
    (*static_cast<std::function<void()>*>(body))();  // the body must not throw: workers catch at their boundary
    return nullptr;
  }

  std::unique_ptr<std::function<void()>> body_;
  pthread_t thread_{};
  bool joinable_ = false;
};

}  // namespace fetchpool::detail
