#include "net/block_cache.hpp"

#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace fetchpool::detail {
namespace {

// Size classes are glibc's chunk sizes (16-byte steps, 32 bytes the
// smallest): a request of n bytes takes a chunk of max(32, n + 8 rounded up
// to 16) and can use chunk - 8 bytes of it.
constexpr std::size_t kClassStep = 16;
constexpr std::size_t kSmallestClass = 2;
constexpr std::size_t kClasses = (kBlockCacheMaxBytes + 8) / kClassStep + 1;
// Enough for the blocks of one request's most common size (a header record,
// a URL part): libcurl frees about twenty of them at once.
constexpr std::size_t kMaxBlocksPerClass = 32;

std::size_t class_for_request(std::size_t size) noexcept {
  const std::size_t chunk = (size + 8 + kClassStep - 1) & ~(kClassStep - 1);
  return std::max(chunk / kClassStep, kSmallestClass);
}

// The largest class whose every request fits in `usable` bytes. For glibc's
// blocks that is the class they were made for; a sanitizer's malloc reports
// the size asked for, which may land a block one class lower: still safe.
std::size_t class_for_usable(std::size_t usable) noexcept { return (usable + 8) / kClassStep; }

struct FreeBlock {
  FreeBlock* next;
};

// Lives on the heap, made by the first block a thread keeps: each thread's
// static TLS sits at the top of its stack, in pages every thread touches, so
// only a pointer to it is thread_local (stack_depth_test).
struct ThreadCache {
  FreeBlock* head[kClasses];
  std::uint8_t count[kClasses];
  std::size_t bytes;
};
static_assert(kMaxBlocksPerClass <= UINT8_MAX);

thread_local ThreadCache* tls_cache = nullptr;
thread_local bool tls_retired = false;

// Gives every cached block back to free() when its thread ends; from then on
// (a thread-exit handler that runs later may still free) blocks go straight
// to free().
struct ThreadCacheRetirer {
  bool constructed = false;
  ThreadCacheRetirer() = default;
  ThreadCacheRetirer(const ThreadCacheRetirer&) = delete;
  ThreadCacheRetirer& operator=(const ThreadCacheRetirer&) = delete;
  ~ThreadCacheRetirer() {
    ThreadCache* cache = tls_cache;
    tls_cache = nullptr;
    tls_retired = true;
    if (cache == nullptr) return;
    for (FreeBlock* list : cache->head) {
      while (list != nullptr) {
        FreeBlock* next = list->next;
        std::free(list);
        list = next;
      }
    }
    std::free(cache);
  }
};
thread_local ThreadCacheRetirer tls_retirer;

// The first block a thread would keep: makes its cache and registers the
// retirer (constructing a thread_local with a destructor registers it for the
// thread's exit). Null after the retirer ran, or when memory is short.
[[gnu::noinline]] ThreadCache* make_thread_cache() noexcept {
  if (tls_retired) return nullptr;
  auto* cache = static_cast<ThreadCache*>(std::calloc(1, sizeof(ThreadCache)));
  if (cache == nullptr) return nullptr;
  tls_retirer.constructed = true;
  tls_cache = cache;
  return cache;
}

}  // namespace

void* cached_malloc(std::size_t size) noexcept {
  ThreadCache* cache = tls_cache;
  if (cache != nullptr && size <= kBlockCacheMaxBytes) {
    const std::size_t cls = class_for_request(size);
    if (FreeBlock* block = cache->head[cls]) {
      cache->head[cls] = block->next;
      --cache->count[cls];
      cache->bytes -= cls * kClassStep;
      return block;
    }
  }
  return std::malloc(size);
}

void cached_free(void* block) noexcept {
  if (block == nullptr) return;
  const std::size_t cls = class_for_usable(::malloc_usable_size(block));
  if (cls >= kSmallestClass && cls < kClasses) {
    ThreadCache* cache = tls_cache;
    if (cache == nullptr) cache = make_thread_cache();
    const std::size_t bytes = cls * kClassStep;
    if (cache != nullptr && cache->count[cls] < kMaxBlocksPerClass && cache->bytes + bytes <= kThreadBudgetBytes) {
      auto* cached = static_cast<FreeBlock*>(block);
      cached->next = cache->head[cls];
      cache->head[cls] = cached;
      ++cache->count[cls];
      cache->bytes += bytes;
      return;
    }
  }
  std::free(block);
}

void* cached_calloc(std::size_t count, std::size_t size) noexcept {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(count, size, &bytes)) return nullptr;
  void* block = cached_malloc(bytes);
  if (block == nullptr) return nullptr;
  // The pointer escapes into an empty asm: without it a compiler may fuse the
  // inlined malloc path and this memset back into calloc, which glibc serves
  // past the tcache.
  asm volatile("" : : "r"(block) : "memory");
  std::memset(block, 0, bytes);
  return block;
}

// Growing through malloc, copy and free rather than realloc: glibc's realloc
// takes the new chunk past the tcache (libcurl grows its request head's
// buffer on every transfer). Shrinking stays glibc's, in place.
void* cached_realloc(void* block, std::size_t size) noexcept {
  if (block == nullptr) return cached_malloc(size);
  const std::size_t usable = ::malloc_usable_size(block);
  if (size <= usable) return std::realloc(block, size);
  void* grown = cached_malloc(size);
  if (grown == nullptr) return nullptr;
  std::memcpy(grown, block, usable);
  cached_free(block);
  return grown;
}

char* cached_strdup(const char* text) noexcept {
  const std::size_t bytes = std::strlen(text) + 1;
  void* copy = cached_malloc(bytes);
  if (copy != nullptr) std::memcpy(copy, text, bytes);
  return static_cast<char*>(copy);
}

BlockCacheCounts thread_block_cache_counts() noexcept {
  BlockCacheCounts counts;
  const ThreadCache* cache = tls_cache;
  if (cache == nullptr) return counts;
  for (const std::uint8_t count : cache->count) counts.blocks += count;
  counts.bytes = cache->bytes;
  return counts;
}

}  // namespace fetchpool::detail
