#pragma once
// Waiting without sleeping blindly: poll a condition until it holds or a deadline passes.
#include <chrono>
#include <functional>
#include <thread>

namespace cg::test {

// Returns true as soon as cond() is true; false if `timeout` passes first. Polls every few ms
// (a bounded back-off), so a test waits only as long as the condition takes.
inline bool wait_until(const std::function<bool()>& cond,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto step = std::chrono::milliseconds(1);
  while (true) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return cond();
    std::this_thread::sleep_for(step);  // poll interval, not a wait for an event
    if (step < std::chrono::milliseconds(50)) step *= 2;
  }
}

}  // namespace cg::test
