#include "base/murmur_hash3.hpp"

#include <cstring>

namespace fetchpool::detail {

namespace {

std::uint64_t rotl64(std::uint64_t x, int r) noexcept { return (x << r) | (x >> (64 - r)); }

std::uint64_t fmix64(std::uint64_t k) noexcept {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

std::uint64_t load64(const unsigned char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);  // unaligned-safe; little-endian, as the reference code on x86
  return v;
}

}  // namespace

Hash128 murmur_hash3_x64_128(std::string_view text, std::uint32_t seed) noexcept {
  constexpr std::uint64_t c1 = 0x87c37b91114253d5ULL;
  constexpr std::uint64_t c2 = 0x4cf5ad432745937fULL;
  const auto* data = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t len = text.size();
  const std::size_t nblocks = len / 16;

  std::uint64_t h1 = seed;
  std::uint64_t h2 = seed;
  for (std::size_t i = 0; i < nblocks; ++i) {
    std::uint64_t k1 = load64(data + i * 16);
    std::uint64_t k2 = load64(data + i * 16 + 8);
    k1 *= c1;
    k1 = rotl64(k1, 31);
    k1 *= c2;
    h1 ^= k1;
    h1 = rotl64(h1, 27);
    h1 += h2;
    h1 = h1 * 5 + 0x52dce729;
    k2 *= c2;
    k2 = rotl64(k2, 33);
    k2 *= c1;
    h2 ^= k2;
    h2 = rotl64(h2, 31);
    h2 += h1;
    h2 = h2 * 5 + 0x38495ab5;
  }

  const unsigned char* tail = data + nblocks * 16;
  std::uint64_t k1 = 0;
  std::uint64_t k2 = 0;
  const auto byte = [tail](std::size_t i, int shift) { return std::uint64_t{tail[i]} << shift; };
  switch (len & 15) {
    case 15:
      k2 ^= byte(14, 48);
      [[fallthrough]];
    case 14:
      k2 ^= byte(13, 40);
      [[fallthrough]];
    case 13:
      k2 ^= byte(12, 32);
      [[fallthrough]];
    case 12:
      k2 ^= byte(11, 24);
      [[fallthrough]];
    case 11:
      k2 ^= byte(10, 16);
      [[fallthrough]];
    case 10:
      k2 ^= byte(9, 8);
      [[fallthrough]];
    case 9:
      k2 ^= byte(8, 0);
      k2 *= c2;
      k2 = rotl64(k2, 33);
      k2 *= c1;
      h2 ^= k2;
      [[fallthrough]];
    case 8:
      k1 ^= byte(7, 56);
      [[fallthrough]];
    case 7:
      k1 ^= byte(6, 48);
      [[fallthrough]];
    case 6:
      k1 ^= byte(5, 40);
      [[fallthrough]];
    case 5:
      k1 ^= byte(4, 32);
      [[fallthrough]];
    case 4:
      k1 ^= byte(3, 24);
      [[fallthrough]];
    case 3:
      k1 ^= byte(2, 16);
      [[fallthrough]];
    case 2:
      k1 ^= byte(1, 8);
      [[fallthrough]];
    case 1:
      k1 ^= byte(0, 0);
      k1 *= c1;
      k1 = rotl64(k1, 31);
      k1 *= c2;
      h1 ^= k1;
      break;
    default:
      break;
  }

  h1 ^= len;
  h2 ^= len;
  h1 += h2;
  h2 += h1;
  h1 = fmix64(h1);
  h2 = fmix64(h2);
  h1 += h2;
  h2 += h1;
  return {h1, h2};
}

}  // namespace fetchpool::detail
