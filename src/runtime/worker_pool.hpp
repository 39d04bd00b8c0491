#pragma once
// The runtime's bounded pool for libraries that only block (libmodbus; DESIGN §3). Jobs carry a
// key: jobs of one key run one at a time in submission order (one Modbus context per device or
// bus is never used by two threads), jobs of different keys run in parallel up to the pool size,
// so one silent device occupies at most one worker for at most its timeout.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.hpp"

namespace cg::runtime {

class WorkerPool {
 public:
  // `threads` >= 1. Threads start lazily at the first job (a gateway without blocking adapters
  // has none).
  WorkerPool(std::size_t threads, Metrics& metrics);
  ~WorkerPool();  // stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Thread-safe. After stop() jobs are dropped (the adapters are stopped by then).
  void submit(std::string key, std::function<void()> job);
  // Lets running jobs finish, drops queued ones, joins the threads.
  void stop();

 private:
  void run();

  std::size_t size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::deque<std::function<void()>>, std::less<>> queues_;  // waiting, per key
  std::map<std::string, bool, std::less<>> busy_;  // key -> a job of it is running
  std::deque<std::string> ready_;                  // keys with waiting jobs and none running
  std::vector<std::thread> threads_;
  bool stopping_ = false;
  Gauge& queued_;
  Gauge& busy_workers_;
};

}  // namespace cg::runtime
