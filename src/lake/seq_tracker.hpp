#pragma once
// Which batch_seq values of one gateway incarnation the lake accepted (internal to the lake; a
// header so that tests can reach it). Pure logic, no I/O.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <utility>

namespace cg::lake {

// Which batch_seq values of one (gateway, incarnation) were accepted: everything below `next_`,
// plus the disjoint, non-adjacent ranges in `above_` (all above `next_`). Memory grows with the
// number of holes, not with the number of batches; beyond kMaxRanges holes the oldest one is given
// up (counted in `forgotten_`), so a gateway that skips every other seq cannot exhaust memory.
// batch_seq starts at 1 in an incarnation; 0 and UINT64_MAX are not tracked (contains() is true).
class SeqTracker {
 public:
  static constexpr std::size_t kMaxRanges = 4096;
  using Range = std::pair<std::uint64_t, std::uint64_t>;  // inclusive

  bool contains(std::uint64_t seq) const {
    if (seq == 0 || seq == UINT64_MAX || seq < next_) return true;
    auto it = above_.upper_bound(seq);
    if (it == above_.begin()) return false;
    return std::prev(it)->second >= seq;
  }

  // Records `seq`; returns the hole that appeared because of it (seq beyond max + 1), if any.
  std::optional<Range> add(std::uint64_t seq) {
    if (contains(seq)) return std::nullopt;
    std::optional<Range> opened;
    if (seq > max_ + 1) opened = Range{max_ + 1, seq - 1};
    max_ = std::max(max_, seq);
    if (seq == next_) {
      next_ = seq + 1;
      if (auto it = above_.begin(); it != above_.end() && it->first == next_) {
        next_ = it->second + 1;
        above_.erase(it);
      }
      return opened;
    }
    auto it = above_.upper_bound(seq);  // first range starting after seq
    const bool joins_next = it != above_.end() && it->first == seq + 1;
    if (it != above_.begin() && std::prev(it)->second + 1 == seq) {
      auto p = std::prev(it);
      p->second = joins_next ? it->second : seq;
      if (joins_next) above_.erase(it);
    } else if (joins_next) {
      std::uint64_t to = it->second;
      above_.erase(it);
      above_.emplace(seq, to);
    } else {
      above_.emplace(seq, seq);
    }
    while (above_.size() > kMaxRanges) {  // give up the oldest hole
      auto first = above_.begin();
      forgotten_ += first->first - next_;
      next_ = first->second + 1;
      above_.erase(first);
    }
    return opened;
  }

  std::uint64_t max_seq() const { return max_; }
  std::uint64_t forgotten() const { return forgotten_; }

  template <class F>  // f(Range) for every missing range, ascending
  void for_each_missing(F&& f) const {
    std::uint64_t from = next_;
    for (const auto& [a, b] : above_) {
      f(Range{from, a - 1});
      from = b + 1;
    }
  }
  std::size_t missing_ranges() const { return above_.size(); }
  std::uint64_t missing_count() const {
    std::uint64_t n = 0;
    for_each_missing([&](Range r) { n += r.second - r.first + 1; });
    return n;
  }

 private:
  std::uint64_t next_ = 1;
  std::uint64_t max_ = 0;
  std::uint64_t forgotten_ = 0;
  std::map<std::uint64_t, std::uint64_t> above_;
};

}  // namespace cg::lake
