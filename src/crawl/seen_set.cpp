#include "crawl/seen_set.hpp"

#include <algorithm>
#include <utility>

namespace fetchpool::detail {

bool SeenSet::insert(Hash128 h) {
  const Hash128 k = key(h);
  if (!shard(k).insert(k)) return false;
  ++size_;
  return true;
}

bool SeenSet::contains(Hash128 h) const noexcept {
  const Hash128 k = key(h);
  return shard(k).contains(k);
}

std::size_t SeenSet::capacity() const noexcept {
  std::size_t total = 0;
  for (const Table& t : shards_) total += t.capacity();
  return total;
}

bool SeenSet::Table::insert(Hash128 k) {
  if ((size_ + 1) * 10 > slots_.size() * 7) grow();
  Hash128& slot = slots_[find_slot(k)];
  if (slot == k) return false;
  slot = k;
  ++size_;
  return true;
}

bool SeenSet::Table::contains(Hash128 k) const noexcept { return !slots_.empty() && slots_[find_slot(k)] == k; }

std::size_t SeenSet::Table::find_slot(Hash128 k) const noexcept {
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = static_cast<std::size_t>(k.lo) & mask;  // the hash is already mixed: low bits are uniform
  while (!(slots_[i] == k) && !(slots_[i] == Hash128{})) i = (i + 1) & mask;
  return i;
}

void SeenSet::Table::grow() {
  std::vector<Hash128> old = std::exchange(slots_, std::vector<Hash128>(std::max<std::size_t>(64, slots_.size() * 2)));
  for (const Hash128& k : old) {
    if (!(k == Hash128{})) slots_[find_slot(k)] = k;
  }
}

}  // namespace fetchpool::detail
