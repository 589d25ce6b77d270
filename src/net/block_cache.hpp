// A per-thread cache of small heap blocks in front of the C library's
// allocator, for libcurl's allocations (init_curl_global routes them here).
//
// Why: libcurl 7.88 allocates and frees about 60 small blocks per request
// (URL parts, header records, connection-cache keys, the request head), and
// glibc's malloc/free pair costs ~135 instructions even when its own tcache
// answers (free always runs _int_free; callgrind, 2,000 requests): about a
// seventh of a small page's client CPU. A block freed here waits in the
// freeing thread's list of blocks of its size class and is handed to the
// next allocation of that class on the same thread, for ~20 instructions.
//
// Every block is the C library's own: one freed on another thread than the
// one that allocated it simply joins that thread's lists, and a block the
// cache does not keep (too big, the class or the thread's byte budget full,
// the thread exiting) goes to free() as always. The lists are bounded per
// class and per thread (kThreadBudgetBytes), and emptied into free() when
// the thread ends, so the memory a thread keeps is what one request's
// blocks take, which its glibc tcache and arena would hold anyway.
#pragma once

#include <cstddef>

namespace fetchpool::detail {

// Largest request size the cache serves: glibc's tcache range (1,032 usable
// bytes); larger blocks are rarer and go straight to malloc.
inline constexpr std::size_t kBlockCacheMaxBytes = 1032;
// Bytes of cached blocks one thread may keep.
inline constexpr std::size_t kThreadBudgetBytes = std::size_t{16} * 1024;

// malloc/calloc/free/realloc/strdup semantics; null on allocation failure.
void* cached_malloc(std::size_t size) noexcept;
void* cached_calloc(std::size_t count, std::size_t size) noexcept;
void cached_free(void* block) noexcept;
void* cached_realloc(void* block, std::size_t size) noexcept;
char* cached_strdup(const char* text) noexcept;

// What the calling thread's cache holds (tests).
struct BlockCacheCounts {
  std::size_t blocks = 0;
  std::size_t bytes = 0;
};
BlockCacheCounts thread_block_cache_counts() noexcept;

}  // namespace fetchpool::detail
