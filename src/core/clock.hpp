#pragma once
// Time sources. Components take a Clock& so tests can drive time (backoff, batching ages)
// without sleeping.
#include <atomic>
#include <chrono>

#include "core/reading.hpp"

namespace cg {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimeNs now() const = 0;                                   // wall clock, UTC
  virtual std::chrono::steady_clock::time_point steady() const = 0;  // for intervals and ages
};

class SystemClock final : public Clock {
 public:
  TimeNs now() const override {
    return std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  }
  std::chrono::steady_clock::time_point steady() const override {
    return std::chrono::steady_clock::now();
  }
};

// A clock that only moves when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimeNs start = from_unix_ns(1'700'000'000'000'000'000)) : wall_ns_(to_unix_ns(start)) {}
  TimeNs now() const override { return from_unix_ns(wall_ns_.load()); }
  std::chrono::steady_clock::time_point steady() const override {
    return std::chrono::steady_clock::time_point{std::chrono::nanoseconds{steady_ns_.load()}};
  }
  void advance(std::chrono::nanoseconds d) {
    wall_ns_ += d.count();
    steady_ns_ += d.count();
  }
  void set_wall(TimeNs t) { wall_ns_ = to_unix_ns(t); }

 private:
  std::atomic<std::int64_t> wall_ns_;
  std::atomic<std::int64_t> steady_ns_{1'000'000'000};
};

}  // namespace cg
