#pragma once
// In-process counters and gauges. Components register what they count once, at construction, and
// increment lock-free afterwards; the admin plane renders a snapshot (Prometheus text later).
// Thread-safe. Names follow Prometheus conventions: snake_case, `_total` for counters.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cg {

class Counter {
 public:
  void inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void set(std::int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  std::int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> v_{0};
};

// Labels rendered in a fixed order, e.g. {{"adapter","mqtt1"},{"reason","json"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  // Returns the same Counter for the same name+labels; references stay valid for the lifetime
  // of the Metrics object.
  Counter& counter(const std::string& name, const Labels& labels = {}, const std::string& help = "");
  Gauge& gauge(const std::string& name, const Labels& labels = {}, const std::string& help = "");

  struct Sample {
    std::string name;
    Labels labels;
    std::string help;
    bool is_counter;
    std::int64_t value;
  };
  std::vector<Sample> snapshot() const;
  // Convenience for tests and status: value of a counter/gauge or 0 if absent.
  std::int64_t value(const std::string& name, const Labels& labels = {}) const;

 private:
  struct Entry {
    std::string help;
    std::unique_ptr<Counter> c;
    std::unique_ptr<Gauge> g;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, Labels>, Entry> entries_;
};

}  // namespace cg
