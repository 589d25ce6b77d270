// The program's own C++ allocations go through the same per-thread block
// cache as libcurl's (src/net/block_cache.hpp): a request costs the engine
// about twenty small blocks (URL strings of its item, lease, request, answer
// and record), each a malloc/free pair of ~135 instructions in glibc, one of
// them freed on another thread than the one that made it. Replaced in the
// program only, not in the library a user links: a program chooses its
// allocator. Not under a sanitizer, whose own operator new checks that every
// delete matches its new.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)

#include <cstddef>
#include <new>

#include "net/block_cache.hpp"

void* operator new(std::size_t size) {
  for (;;) {
    if (void* block = fetchpool::detail::cached_malloc(size)) return block;
    const std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* operator new[](std::size_t size) { return ::operator new(size); }

void operator delete(void* block) noexcept { fetchpool::detail::cached_free(block); }
void operator delete[](void* block) noexcept { fetchpool::detail::cached_free(block); }
void operator delete(void* block, std::size_t) noexcept { fetchpool::detail::cached_free(block); }
void operator delete[](void* block, std::size_t) noexcept { fetchpool::detail::cached_free(block); }

#endif
