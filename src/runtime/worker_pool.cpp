#include "runtime/worker_pool.hpp"

#include <spdlog/spdlog.h>

namespace cg::runtime {

WorkerPool::WorkerPool(std::size_t threads, Metrics& metrics)
    : size_(threads == 0 ? 1 : threads),
      queued_(metrics.gauge("worker_pool_queued_jobs", {}, "Blocking jobs waiting for a worker")),
      busy_workers_(metrics.gauge("worker_pool_busy_workers", {}, "Workers running a blocking job")) {}

WorkerPool::~WorkerPool() { stop(); }

void WorkerPool::submit(std::string key, std::function<void()> job) {
  std::lock_guard lk(mu_);
  if (stopping_) return;
  if (threads_.empty())
    for (std::size_t i = 0; i < size_; ++i) threads_.emplace_back([this] { run(); });
  auto& q = queues_[key];
  bool was_idle = q.empty() && !busy_[key];
  q.push_back(std::move(job));
  queued_.add(1);
  if (was_idle) {
    ready_.push_back(std::move(key));
    cv_.notify_one();
  }
}

void WorkerPool::run() {
  std::unique_lock lk(mu_);
  while (true) {
    cv_.wait(lk, [&] { return stopping_ || !ready_.empty(); });
    if (stopping_) return;
    std::string key = std::move(ready_.front());
    ready_.pop_front();
    auto& q = queues_[key];
    auto job = std::move(q.front());
    q.pop_front();
    queued_.add(-1);
    busy_[key] = true;
    busy_workers_.add(1);
    lk.unlock();
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("worker pool: job '{}' threw: {}", key, e.what());
    } catch (...) {
      spdlog::error("worker pool: job '{}' threw", key);
    }
    job = nullptr;  // captured state goes before the lock is retaken
    lk.lock();
    busy_workers_.add(-1);
    busy_[key] = false;
    auto& q2 = queues_[key];
    if (!q2.empty()) {
      ready_.push_back(key);
      cv_.notify_one();
    } else {
      queues_.erase(key);
      busy_.erase(key);
    }
  }
}

void WorkerPool::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    cv_.notify_all();
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard lk(mu_);
  for (auto& [k, q] : queues_) queued_.add(-static_cast<std::int64_t>(q.size()));
  queues_.clear();
  ready_.clear();
}

}  // namespace cg::runtime
