// The per-thread block cache in front of malloc (src/net/block_cache.hpp):
// a freed block comes back to the next allocation of its size on the same
// thread, what it keeps is bounded, and every block is still the C
// library's, so blocks may cross threads and a thread's cache is emptied when
// it ends (the ASan build's leak check runs over this program).
#include <catch2/catch.hpp>

#include <malloc.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "net/block_cache.hpp"

using fetchpool::detail::cached_calloc;
using fetchpool::detail::cached_free;
using fetchpool::detail::cached_malloc;
using fetchpool::detail::cached_realloc;
using fetchpool::detail::cached_strdup;
using fetchpool::detail::kBlockCacheMaxBytes;
using fetchpool::detail::kThreadBudgetBytes;
using fetchpool::detail::thread_block_cache_counts;

namespace {

// Runs `body` on a fresh thread, whose cache starts empty. A failed
// REQUIRE inside throws on that thread: only single-threaded bodies use it.
template <typename Body>
void on_fresh_thread(Body body) {
  std::thread thread(body);
  thread.join();
}

}  // namespace

TEST_CASE("a freed small block serves the next allocation of its size on the same thread", "[block_cache]") {
  on_fresh_thread([] {
    void* first = cached_malloc(40);
    REQUIRE(first != nullptr);
    std::memset(first, 'x', 40);
    cached_free(first);
    const auto kept = thread_block_cache_counts();
    CHECK(kept.blocks == 1);
    CHECK(kept.bytes >= 48);
    // Any size of the same class: 33..40 bytes take glibc's 48-byte chunk.
    void* second = cached_malloc(33);
    CHECK(second == first);
    CHECK(thread_block_cache_counts().blocks == 0);
    CHECK(::malloc_usable_size(second) >= 33);
    cached_free(second);
  });
}

TEST_CASE("a block bigger than the cache's largest size goes back to free()", "[block_cache]") {
  on_fresh_thread([] {
    void* big = cached_malloc(kBlockCacheMaxBytes + 64);
    REQUIRE(big != nullptr);
    cached_free(big);
    CHECK(thread_block_cache_counts().blocks == 0);
    cached_free(nullptr);  // as free(nullptr): nothing
    CHECK(thread_block_cache_counts().blocks == 0);
  });
}

TEST_CASE("calloc zeroes a reused block, realloc keeps the bytes, strdup copies", "[block_cache]") {
  on_fresh_thread([] {
    // 56 bytes: glibc's 64-byte chunk, whose usable size is exactly 56, so
    // the block lands in the same class under a sanitizer's malloc too.
    auto* dirty = static_cast<unsigned char*>(cached_malloc(56));
    REQUIRE(dirty != nullptr);
    std::memset(dirty, 0xAB, 56);
    cached_free(dirty);
    auto* zeroed = static_cast<unsigned char*>(cached_calloc(7, 8));
    REQUIRE(zeroed == dirty);
    for (std::size_t i = 0; i < 56; ++i) REQUIRE(zeroed[i] == 0);
    CHECK(cached_calloc(SIZE_MAX / 2, 4) == nullptr);  // count x size overflows

    std::memcpy(zeroed, "0123456789", 10);
    auto* grown = static_cast<char*>(cached_realloc(zeroed, 900));
    REQUIRE(grown != nullptr);
    CHECK(std::memcmp(grown, "0123456789", 10) == 0);
    CHECK(::malloc_usable_size(grown) >= 900);
    auto* shrunk = static_cast<char*>(cached_realloc(grown, 16));
    REQUIRE(shrunk != nullptr);
    CHECK(std::memcmp(shrunk, "0123456789", 10) == 0);
    cached_free(shrunk);

    char* copy = cached_strdup("a header line");
    REQUIRE(copy != nullptr);
    CHECK(std::strcmp(copy, "a header line") == 0);
    cached_free(copy);
    void* fresh = cached_realloc(nullptr, 24);  // as malloc
    REQUIRE(fresh != nullptr);
    cached_free(fresh);
  });
}

TEST_CASE("a thread keeps at most its budget of blocks and frees the rest", "[block_cache]") {
  on_fresh_thread([] {
    // One class: the per-class bound.
    std::vector<void*> same;
    same.reserve(200);
    for (int i = 0; i < 200; ++i) same.push_back(cached_malloc(100));
    for (void* block : same) cached_free(block);
    const auto one_class = thread_block_cache_counts();
    CHECK(one_class.blocks > 0);
    CHECK(one_class.blocks < 200);
    // Many classes: the byte budget.
    std::vector<void*> mixed;
    mixed.reserve(40 * (kBlockCacheMaxBytes / 16));
    for (int round = 0; round < 40; ++round) {
      for (std::size_t size = 16; size <= kBlockCacheMaxBytes; size += 16) mixed.push_back(cached_malloc(size));
    }
    for (void* block : mixed) cached_free(block);
    CHECK(thread_block_cache_counts().bytes <= kThreadBudgetBytes);
    CHECK(thread_block_cache_counts().bytes > kThreadBudgetBytes / 2);
  });
}

TEST_CASE("blocks made on one thread and freed on others are kept by the freeing thread", "[block_cache]") {
  constexpr int kThreads = 8;
  constexpr int kBlocksPerThread = 2000;
  std::mutex handed_mutex;
  std::vector<void*> handed;
  // Catch's assertions are not thread-safe: the threads count, the test checks.
  std::atomic<int> failed_allocations{0};
  std::atomic<int> over_budget{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kBlocksPerThread; ++i) {
        const std::size_t size = 8 + static_cast<std::size_t>((i * 37 + t * 11) % 700);
        auto* block = static_cast<unsigned char*>(cached_malloc(size));
        if (block == nullptr) {
          ++failed_allocations;
          continue;
        }
        std::memset(block, t, size);
        void* other = nullptr;
        {
          std::lock_guard<std::mutex> lock(handed_mutex);
          handed.push_back(block);
          if (handed.size() > 16) {
            other = handed.front();
            handed.erase(handed.begin());
          }
        }
        cached_free(other);  // another thread's block, most of the time
      }
      if (thread_block_cache_counts().bytes > kThreadBudgetBytes) ++over_budget;
    });
  }
  for (auto& thread : threads) thread.join();
  for (void* block : handed) cached_free(block);
  CHECK(failed_allocations.load() == 0);
  CHECK(over_budget.load() == 0);
}
