#pragma once
// Store-and-forward policy (DESIGN §4–5). Every sink runs its own workers (threads: sinks block,
// never on an io thread), each looping lease → encode → send → settle on the shared outbox, so a
// slow or failing sink never holds back another one. Per sink:
//
//   order     class priority (status, alert, report, summary, telemetry, backlog), batch_seq
//             order within a class; as many batches in flight as the slot has workers.
//   answers   settled → settle; wait (429/503) → Retry-After if given, else backoff; retry (5xx,
//             timeout, connection) → exponential backoff with full jitter (initial → max),
//             forever; rejected (other 4xx) → dead_batches for this sink, the next batch goes;
//             too_large (413) → split into parts keeping batch_id/batch_seq (part k/n), doubled
//             while no part got through, a part that cannot shrink further → dead_batches.
//   pacing    `bandwidth_bytes_per_s` caps what the sink sends; `backlog_rows_per_s` caps how fast
//             the backlog class drains, so live data keeps flowing after an outage.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "store/outbox.hpp"
#include "uplink/sink.hpp"

namespace cg::uplink {

struct SinkPolicy {
  std::uint64_t bandwidth_bytes_per_s = 0;  // 0: unlimited
  double backlog_rows_per_s = 0;            // 0: unlimited
};

// One configured sink: `workers` holds one instance of the sink per batch it may have in flight
// (`max_in_flight` of the config; each with its own connection), all with the same id().
struct SinkSlot {
  std::string id;
  SinkPolicy policy;
  std::vector<std::unique_ptr<Sink>> workers;
};

struct UplinkOptions {
  std::string gateway_id;
  std::size_t batch_max_rows = 5000;
  std::size_t batch_max_bytes = 4 * 1024 * 1024;
  std::chrono::milliseconds batch_max_age{1000};
  std::chrono::milliseconds backoff_initial{1000};
  std::chrono::milliseconds backoff_max{60000};
};

class Uplink {
 public:
  Uplink(store::Outbox& outbox, std::vector<SinkSlot> sinks, UplinkOptions opts, const Clock& clock, Metrics& metrics);
  ~Uplink();
  // Registers the sinks with the outbox and starts the workers. Errors: the outbox refused.
  Result<void> start();
  void stop();
  // New rows were committed: wake workers waiting for data (cheap; any thread).
  void notify();
  bool healthy() const;  // false while the last attempt of some sink failed

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cg::uplink
