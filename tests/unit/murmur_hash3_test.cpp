#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "base/murmur_hash3.hpp"

TEST_CASE("MurmurHash3_x64_128 matches SMHasher's verification value", "[murmur_hash3]") {
  // SMHasher's VerificationTest: hash keys {}, {0}, {0,1}, ... {0..254} with
  // seed 256 - length, hash the concatenated results with seed 0, and take the
  // first four bytes little-endian.
  std::array<unsigned char, 256> key{};
  std::vector<unsigned char> hashes(std::size_t{16} * 256);
  for (int i = 0; i < 256; ++i) {
    key[static_cast<std::size_t>(i)] = static_cast<unsigned char>(i);
    const auto h = fetchpool::detail::murmur_hash3_x64_128(
        std::string_view(reinterpret_cast<const char*>(key.data()), static_cast<std::size_t>(i)),
        static_cast<std::uint32_t>(256 - i));
    for (int b = 0; b < 8; ++b) {
      hashes[static_cast<std::size_t>(i) * 16 + static_cast<std::size_t>(b)] =
          static_cast<unsigned char>(h.lo >> (8 * b));
      hashes[static_cast<std::size_t>(i) * 16 + 8 + static_cast<std::size_t>(b)] =
          static_cast<unsigned char>(h.hi >> (8 * b));
    }
  }
  const auto final_hash = fetchpool::detail::murmur_hash3_x64_128(
      std::string_view(reinterpret_cast<const char*>(hashes.data()), hashes.size()), 0);
  REQUIRE(static_cast<std::uint32_t>(final_hash.lo) == 0x6384BA69u);
}

TEST_CASE("the URL hash is MurmurHash3_x64_128 with the fixed URL seed", "[murmur_hash3]") {
  const std::string_view url = "https://www.example.com/";
  REQUIRE(fetchpool::detail::hash_url(url) == fetchpool::detail::murmur_hash3_x64_128(url, 0x9747b28c));
  REQUIRE_FALSE(fetchpool::detail::hash_url(url) == fetchpool::detail::murmur_hash3_x64_128(url, 0));
}
