#pragma once
// Store-and-forward policy (DESIGN §4–5): lease a batch from the outbox, encode it once, hand it
// to every sink, settle it when all of them acknowledged. Runs on its own thread because sinks
// block (libcurl); it never touches the io threads.
//
// Answers: settled (2xx/409) → next sink / settle; wait (429/503) → Retry-After if given, else
// backoff; everything else → exponential backoff with full jitter, retried forever. Order is
// batch_seq order with one batch in flight.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "store/outbox.hpp"
#include "uplink/sink.hpp"

namespace cg::uplink {

struct UplinkOptions {
  std::string gateway_id;
  std::size_t batch_max_rows = 5000;
  std::chrono::milliseconds batch_max_age{1000};
  std::chrono::milliseconds backoff_initial{1000};
  std::chrono::milliseconds backoff_max{60000};
};

class Uplink {
 public:
  Uplink(store::Outbox& outbox, std::vector<std::unique_ptr<Sink>> sinks, UplinkOptions opts, const Clock& clock,
         Metrics& metrics);
  ~Uplink();
  void start();
  void stop();
  // New readings were committed: wake up if waiting for data (cheap; call from any thread).
  void notify();
  bool healthy() const;  // false while the last attempt failed

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cg::uplink
