#pragma once
// The outbox as the uplink sees it (DESIGN §4). No SQLite here.
//
// A batch is formed once, at lease time, and written to the store: it is a contiguous range of
// reading ids with a UUIDv7 batch_id and a batch_seq. Until it is settled, every lease returns the
// same batch (oldest first), so a restart re-sends exactly the same readings under the same id.
// Settling removes the outbox entry only; the readings stay for queries until retention.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/reading.hpp"
#include "core/result.hpp"

namespace cg::store {

struct Batch {
  std::uint64_t batch_seq = 0;
  std::string batch_id;
  std::string incarnation_id;
  std::int64_t first_id = 0;  // reading ids, inclusive
  std::int64_t last_id = 0;
  TimeNs created{};
  std::vector<Reading> readings;
};

struct LeaseResult {
  std::optional<Batch> batch;  // set when there is something to send
  // When nothing is ready: how long until the oldest unbatched reading reaches batch_max_age
  // (or nullopt when the outbox is empty; wait for a commit notification then).
  std::optional<std::chrono::milliseconds> retry_after;
};

struct OutboxStats {
  std::int64_t unsent_rows = 0;      // readings not yet in a settled batch
  std::int64_t pending_batches = 0;  // formed but not settled
  std::optional<TimeNs> oldest_unsent_received;
};

class Outbox {
 public:
  virtual ~Outbox() = default;
  // Returns the oldest unsettled batch, or forms a new one of up to max_rows readings when at
  // least max_rows are waiting or the oldest has waited max_age (wall-clock receive time; a clock
  // stepping backwards makes readings look young for a while, never lost). Blocks until the
  // writer thread did it.
  virtual Result<LeaseResult> lease(std::size_t max_rows, std::chrono::milliseconds max_age) = 0;
  // Upstream acknowledged the batch: remove its outbox entry. Idempotent.
  virtual Result<void> settle(std::uint64_t batch_seq) = 0;
  virtual OutboxStats outbox_stats() = 0;
};

}  // namespace cg::store
