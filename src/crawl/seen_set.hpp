// Private to frontier: the compact set of URLs already accepted.
//
// A crawl of millions of URLs cannot afford to keep every URL string twice
// (a std::string of a typical 60-byte URL is ~90 bytes on the heap plus a
// hash-node of ~40). The set keeps a 128-bit MurmurHash3 of each URL
// (hash_url in base/murmur_hash3.hpp) instead, in a flat open-addressing table
// with linear probing: 16 bytes per slot at a load factor of at most 0.7, so
// 23..46 bytes per URL, and one cache miss per lookup.
//
// Collision trade-off: two different URLs with the same 128-bit hash make the
// second one count as a duplicate and never be fetched. For n URLs the chance
// of any such pair is about n^2 / 2^129: 1.5e-21 for a billion URLs, far below
// the rate of hardware memory errors. MurmurHash3 is not a cryptographic hash,
// so a hostile site that knows the (fixed) seed could craft a URL that shadows
// another one; the cost is one page not crawled, never a wrong page.
//
// Not thread-safe: the frontier calls it under its mutex. Growth rehashes one
// shard (amortised O(1); one insert in ~n/64 pays O(n/64)).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/murmur_hash3.hpp"

namespace fetchpool::detail {

class SeenSet {
 public:
  // Adds `h`; returns false if it was already present.
  bool insert(Hash128 h);
  bool contains(Hash128 h) const noexcept;
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept;  // slots allocated, for memory accounting

 private:
  // One open-addressing table. {0,0} marks an empty slot; a real hash of
  // {0,0} is stored as {1,0}.
  class Table {
   public:
    bool insert(Hash128 k);
    bool contains(Hash128 k) const noexcept;
    std::size_t capacity() const noexcept { return slots_.size(); }

   private:
    std::size_t find_slot(Hash128 k) const noexcept;  // the slot holding k, or the empty slot where it belongs
    void grow();
    std::vector<Hash128> slots_;  // size is 0 or a power of two
    std::size_t size_ = 0;
  };

  // The set is split by the top bits of the hash into shards that grow on
  // their own, so that one rehash (which runs under the frontier's lock)
  // moves 1/64 of the set: ~0.5 MB at a million URLs instead of 32 MB.
  static constexpr int kShardBits = 6;
  static Hash128 key(Hash128 h) noexcept { return (h.lo == 0 && h.hi == 0) ? Hash128{1, 0} : h; }
  Table& shard(Hash128 k) noexcept { return shards_[static_cast<std::size_t>(k.hi >> (64 - kShardBits))]; }
  const Table& shard(Hash128 k) const noexcept { return shards_[static_cast<std::size_t>(k.hi >> (64 - kShardBits))]; }

  std::array<Table, std::size_t{1} << kShardBits> shards_;
  std::size_t size_ = 0;
};

}  // namespace fetchpool::detail
