// Runs a function on a thread with a small, fixed stack.
//
// Engine workers may run with stacks as small as 512 KiB, while std::thread
// gives 8 MiB; code that recurses per input byte passes tests on std::thread
// and crashes in production. Catch2 assertions are not thread-safe, so `body`
// must record its results and the test asserts after this returns.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>

namespace fetchpool::testing {

inline constexpr std::size_t kWorkerStackBytes = std::size_t{512} * 1024;

inline void run_with_stack(std::size_t stack_bytes, const std::function<void()>& body) {
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  if (const int error = pthread_attr_setstacksize(&attributes, stack_bytes); error != 0) {
    pthread_attr_destroy(&attributes);
    throw std::runtime_error("pthread_attr_setstacksize failed: " + std::to_string(error));
  }
  auto trampoline = [](void* argument) -> void* {
    (*static_cast<const std::function<void()>*>(argument))();
    return nullptr;
  };
  pthread_t thread;
  const int error = pthread_create(&thread, &attributes, trampoline, const_cast<std::function<void()>*>(&body));
  pthread_attr_destroy(&attributes);
  if (error != 0) throw std::runtime_error("pthread_create failed: " + std::to_string(error));
  pthread_join(thread, nullptr);
}

}  // namespace fetchpool::testing
