#pragma once
// Retry timing for the uplink: exponential backoff with full jitter (the delay is uniform in
// [0, min(cap, initial * 2^attempt)]), never giving up. Pure: the random source is injected so
// tests can check the bounds without waiting.
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>

namespace cg::uplink {

class Backoff {
 public:
  // `uniform(hi)` returns a value in [0, hi]; default uses a seeded std::mt19937_64.
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds cap,
          std::function<std::int64_t(std::int64_t)> uniform = {});
  std::chrono::milliseconds next();   // delay before the next attempt; grows the ceiling
  std::chrono::milliseconds ceiling() const;  // current upper bound
  void reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  std::chrono::milliseconds initial_, cap_;
  int attempt_ = 0;
  std::function<std::int64_t(std::int64_t)> uniform_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace cg::uplink
