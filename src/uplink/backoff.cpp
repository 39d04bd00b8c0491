#include "uplink/backoff.hpp"

#include <algorithm>

namespace cg::uplink {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds cap,
                 std::function<std::int64_t(std::int64_t)> uniform)
    : initial_(initial), cap_(cap), uniform_(std::move(uniform)) {
  if (!uniform_) {
    uniform_ = [this](std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(0, hi)(rng_); };
  }
}

std::chrono::milliseconds Backoff::ceiling() const {
  // initial * 2^attempt, saturating at cap (no overflow for large attempt counts)
  auto c = initial_;
  for (int i = 0; i < attempt_ && c < cap_; ++i) c *= 2;
  return std::min(c, cap_);
}

std::chrono::milliseconds Backoff::next() {
  auto hi = ceiling();
  if (attempt_ < 64) ++attempt_;
  return std::chrono::milliseconds(uniform_(hi.count()));
}

}  // namespace cg::uplink
