#pragma once
// A small stand-in for the runtime's side of AdapterContext, with real threads: a strand per
// adapter (posted and timed work, in order, on one thread) and a shared worker pool that runs
// run_blocking jobs of one key one at a time and different keys in parallel (like
// src/runtime/worker_pool). Clock, sink and log are fakes; the Modbus servers in the tests are real.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <queue>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "adapter_api/adapter.hpp"
#include "core/clock.hpp"
#include "core/metrics.hpp"

namespace cg::test {

// Jobs of one key run one at a time, in order; different keys in parallel up to `threads`.
// hold(true) keeps queued jobs waiting (to make a device look slow without a slow device).
class TestPool {
 public:
  explicit TestPool(std::size_t threads) {
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
  }
  ~TestPool() { stop(); }

  void submit(std::string key, std::function<void()> job) {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    keys_seen_.insert(key);
    ++submitted_[key];
    queues_[key].push_back(std::move(job));
    cv_.notify_all();
  }
  void hold(bool on) {
    std::lock_guard lk(mu_);
    held_ = on;
    cv_.notify_all();
  }
  // Lets running jobs finish, drops queued ones, joins.
  void stop() {
    {
      std::lock_guard lk(mu_);
      if (stopping_ && threads_.empty()) return;
      stopping_ = true;
      queues_.clear();
      cv_.notify_all();
    }
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  int submitted(const std::string& key) {
    std::lock_guard lk(mu_);
    return submitted_[key];
  }
  std::set<std::string> keys_seen() {
    std::lock_guard lk(mu_);
    return keys_seen_;
  }

 private:
  void run() {
    std::unique_lock lk(mu_);
    while (true) {
      std::string key;
      cv_.wait(lk, [&] {
        if (stopping_) return true;
        if (held_) return false;
        for (auto& [k, q] : queues_)
          if (!q.empty() && !running_.contains(k)) {
            key = k;
            return true;
          }
        return false;
      });
      if (stopping_) return;
      auto job = std::move(queues_[key].front());
      queues_[key].pop_front();
      running_.insert(key);
      lk.unlock();
      job();
      lk.lock();
      running_.erase(key);
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::deque<std::function<void()>>> queues_;
  std::set<std::string> running_;
  std::set<std::string> keys_seen_;
  std::map<std::string, int> submitted_;
  bool held_ = false;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

class CollectingSink final : public ReadingSink {
 public:
  struct Batch {
    std::chrono::steady_clock::time_point at;
    std::vector<Reading> readings;
  };
  void submit(std::vector<Reading> readings, SubmitOptions, CommitCallback done) override {
    if (refuse_next > 0) {  // a store that is full: nothing kept
      --refuse_next;
      done(CommitStatus::throttled);
      return;
    }
    {
      std::lock_guard lk(mu_);
      batches_.push_back({std::chrono::steady_clock::now(), std::move(readings)});
    }
    done(CommitStatus::committed);
  }
  std::atomic<int> refuse_next{0};
  void reject_payload(const std::string&, const std::string&, std::span<const std::uint8_t>,
                      const std::string&) override {}
  void report_gap(GapRecord g) override {
    std::lock_guard lk(mu_);
    gaps_.push_back(std::move(g));
  }
  std::vector<GapRecord> gaps() {
    std::lock_guard lk(mu_);
    return gaps_;
  }
  std::vector<Batch> batches() {
    std::lock_guard lk(mu_);
    return batches_;
  }
  // Batches whose readings are from `device`.
  std::vector<Batch> of(const std::string& device) {
    std::vector<Batch> out;
    for (auto& b : batches())
      if (!b.readings.empty() && b.readings.front().device == device) out.push_back(std::move(b));
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<Batch> batches_;
  std::vector<GapRecord> gaps_;
};

class CollectingLog final : public AdapterLog {
 public:
  void debug(std::string_view m) override { add("debug", m); }
  void info(std::string_view m) override { add("info", m); }
  void warn(std::string_view m) override { add("warn", m); }
  void error(std::string_view m) override { add("error", m); }
  // Lines of `level` containing `needle`.
  std::vector<std::string> lines(const std::string& level, const std::string& needle = "") {
    std::lock_guard lk(mu_);
    std::vector<std::string> out;
    for (const auto& [l, m] : lines_)
      if (l == level && m.find(needle) != std::string::npos) out.push_back(m);
    return out;
  }

 private:
  void add(const char* level, std::string_view m) {
    std::lock_guard lk(mu_);
    lines_.emplace_back(level, std::string(m));
  }
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> lines_;
};

// One adapter's context: its own strand thread, the shared pool.
class TestContext final : public AdapterContext {
 public:
  TestContext(std::string id, TestPool& pool, Metrics& metrics) : id_(std::move(id)), pool_(pool), metrics_(metrics) {
    thread_ = std::thread([this] { loop(); });
  }
  ~TestContext() override {
    {
      std::lock_guard lk(mu_);
      quit_ = true;
      cv_.notify_all();
    }
    thread_.join();
  }

  std::string_view instance_id() const override { return id_; }
  ReadingSink& sink() override { return sink_; }
  const Clock& clock() const override { return *wall_; }
  // The wall clock the adapter sees (a ManualClock to move time); timers keep the real one.
  // Before start().
  void use_clock(const Clock& c) { wall_ = &c; }
  Metrics& metrics() override { return metrics_; }
  AdapterLog& log() override { return log_; }
  void post(std::function<void()> fn) override { at(std::chrono::steady_clock::now(), std::move(fn)); }
  void schedule(std::chrono::steady_clock::duration delay, std::function<void()> fn) override {
    at(std::chrono::steady_clock::now() + delay, [this, fn = std::move(fn)] {
      if (!stopped_) fn();
    });
  }
  Result<void> subscribe_mqtt(std::string_view, std::string, int, MqttDecodeFn) override {
    return fail(Error::fatal("unsupported", "no MQTT here"));
  }
  Result<void> publish_mqtt(std::string_view, std::string, std::vector<std::uint8_t>, int, bool) override {
    return fail(Error::fatal("unsupported", "no MQTT here"));
  }
  Result<void> set_mqtt_presence(std::string_view, MqttPresence) override {
    return fail(Error::fatal("unsupported", "no MQTT here"));
  }
  Result<void> route_http(HttpIngestRoute, IngestDecodeFn) override {
    return fail(Error::fatal("unsupported", "no HTTP here"));
  }
  Result<void> listen_stream(StreamListen, IngestDecodeFn) override {
    return fail(Error::fatal("unsupported", "no listeners here"));
  }
  void run_blocking(std::string key, std::function<void()> fn) override {
    pool_.submit(std::move(key), [this, fn = std::move(fn)] {
      if (!stopped_) fn();  // jobs of a stopped adapter are skipped
    });
  }

  // Runs fn on the strand and waits for it (start/stop the adapter there, as the runtime does).
  void run_on_strand(std::function<void()> fn) {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    post([&] {
      fn();
      std::lock_guard lk(m);
      done = true;
      cv.notify_all();
    });
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return done; });
  }
  void start(Adapter& a) {
    Result<void> r;
    run_on_strand([&] { r = a.start(*this); });
    REQUIRE(r);
  }
  void stop(Adapter& a) {
    run_on_strand([&] {
      stopped_ = true;
      a.stop();
    });
  }

  CollectingSink sink_;
  CollectingLog log_;

 private:
  struct Item {
    std::chrono::steady_clock::time_point due;
    std::uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Item& o) const { return std::tie(due, seq) > std::tie(o.due, o.seq); }
  };

  void at(std::chrono::steady_clock::time_point due, std::function<void()> fn) {
    std::lock_guard lk(mu_);
    if (quit_) return;
    items_.push(Item{due, next_seq_++, std::move(fn)});
    cv_.notify_all();
  }

  void loop() {
    std::unique_lock lk(mu_);
    while (!quit_) {
      if (items_.empty()) {
        cv_.wait(lk);
        continue;
      }
      auto due = items_.top().due;
      if (std::chrono::steady_clock::now() < due) {
        cv_.wait_until(lk, due);
        continue;
      }
      auto fn = std::move(const_cast<Item&>(items_.top()).fn);
      items_.pop();
      lk.unlock();
      fn();
      lk.lock();
    }
  }

  std::string id_;
  TestPool& pool_;
  Metrics& metrics_;
  SystemClock clock_;
  const Clock* wall_ = &clock_;
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> items_;
  std::uint64_t next_seq_ = 0;
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace cg::test
