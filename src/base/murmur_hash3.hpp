// MurmurHash3_x64_128 (Austin Appleby, public domain) and the URL hash built on
// it. Both URL seen sets use it: the memory frontier's SeenSet and the Redis
// frontier's seen set, which is why it sits below both layers.
#pragma once

#include <cstdint>
#include <string_view>

namespace fetchpool::detail {

struct Hash128 {
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;
  friend bool operator==(const Hash128&, const Hash128&) = default;
};

// MurmurHash3_x64_128 of the bytes of `text`, as the reference code computes
// it on a little-endian machine.
Hash128 murmur_hash3_x64_128(std::string_view text, std::uint32_t seed) noexcept;

// The seed is arbitrary, but fixed: the Redis frontier stores these hashes in
// its shared seen set, so every process of a crawl (and a later run resuming
// it) must hash URLs the same way.
inline constexpr std::uint32_t kUrlHashSeed = 0x9747b28c;

inline Hash128 hash_url(std::string_view url) noexcept { return murmur_hash3_x64_128(url, kUrlHashSeed); }

}  // namespace fetchpool::detail
