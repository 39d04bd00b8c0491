#pragma once
// Token bucket guarding one adapter instance against a flooding source (issue: "a per-instance
// rate limit with a counter"). One token per message (HTTP request, datagram, MQTT message, TCP
// line batch). Thread-safe; steady clock, so wall-clock steps do not refill or drain it.
#include <algorithm>
#include <chrono>
#include <mutex>

namespace cg::runtime {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // per_second <= 0: unlimited. burst < 1 is taken as 1.
  RateLimiter(double per_second, double burst)
      : rate_(per_second), burst_(std::max(1.0, burst)), tokens_(burst_), last_(Clock::now()) {}

  bool unlimited() const { return rate_ <= 0; }

  // Takes one token if there is one.
  bool try_take(Clock::time_point now = Clock::now()) {
    if (unlimited()) return true;
    std::lock_guard lk(mu_);
    refill(now);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

  // Seconds until a token is available (at least 1, for Retry-After).
  long retry_after_s(Clock::time_point now = Clock::now()) {
    if (unlimited()) return 1;
    std::lock_guard lk(mu_);
    refill(now);
    double need = std::max(0.0, 1.0 - tokens_) / rate_;
    return std::max(1L, static_cast<long>(need + 0.999));
  }

 private:
  void refill(Clock::time_point now) {
    double dt = std::chrono::duration<double>(now - last_).count();
    if (dt > 0) {
      tokens_ = std::min(burst_, tokens_ + dt * rate_);
      last_ = now;
    }
  }

  std::mutex mu_;
  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace cg::runtime
