#pragma once
// The outbox as the uplink sees it (DESIGN §4). No SQLite here.
//
// A batch is formed once, at lease time, and written (fsync'd) to the store before it is handed
// out: it is the rows of one outbox class (core/records.hpp) with ids first_id..last_id — readings
// for telemetry/alert/report/backlog, records for status/summary — with a UUIDv7 batch_id and a
// per-incarnation batch_seq. A restart re-sends exactly the same rows under the same id.
//
// Several sinks share one outbox: each settles (or dead-letters) each batch on its own; the
// batch row goes when every configured sink is done with it. A sink may split a batch (HTTP 413)
// into parts; the split is persisted per sink, so a restart re-sends the same parts.
// Settling removes outbox entries only; the readings stay for queries until retention.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/reading.hpp"
#include "core/records.hpp"
#include "core/result.hpp"

namespace cg::store {

inline constexpr std::uint32_t kMaxParts = 62;  // parts_done is a bit mask in an INTEGER

struct Batch {
  std::uint64_t batch_seq = 0;
  std::string batch_id;
  std::string incarnation_id;
  RecordClass record_class = RecordClass::telemetry;
  std::int64_t first_id = 0;  // reading ids (or record ids), inclusive
  std::int64_t last_id = 0;
  std::int64_t rows = 0;
  std::int64_t bytes = 0;  // estimate, at formation
  TimeNs created{};
  // This sink's split of the batch: 0 = whole; else parts_done has bit k-1 set for each part k
  // already delivered or dead-lettered.
  std::uint32_t parts = 0;
  std::uint64_t parts_done = 0;
  std::vector<Reading> readings;
  std::vector<Record> records;
};

struct LeaseRequest {
  std::string sink;
  std::vector<std::uint64_t> exclude;  // batch_seqs this sink has in flight
  std::size_t max_rows = 5000;
  std::size_t max_bytes = 4 * 1024 * 1024;  // estimated encoded size
  std::chrono::milliseconds max_age{1000};
  bool allow_backlog = true;  // false while the sink's backlog drain rate has no budget
};

struct LeaseResult {
  std::optional<Batch> batch;
  // When nothing is ready: how long until a partial batch reaches max_age (nullopt: nothing
  // waits at all; wait for a commit notification).
  std::optional<std::chrono::milliseconds> retry_after;
};

struct ClassStats {
  std::int64_t rows = 0;   // not yet settled by every sink (in formed batches or waiting)
  std::int64_t bytes = 0;  // estimate
};

struct OutboxStats {
  std::int64_t unsent_rows = 0;      // readings and records not yet settled by every sink
  std::int64_t unsent_bytes = 0;     // estimate
  std::int64_t pending_batches = 0;  // formed but not settled
  std::int64_t dead_batches = 0;     // rows in dead_batches not replayed
  std::optional<TimeNs> oldest_unsent_received;
  std::chrono::milliseconds oldest_unsent_age{0};  // on the persisted monotonic clock
  ClassStats by_class[kRecordClassCount];
};

struct DeadBatch {
  std::int64_t id = 0;
  std::uint64_t batch_seq = 0;
  std::string batch_id;
  std::string sink;
  RecordClass record_class = RecordClass::telemetry;
  std::int64_t first_id = 0, last_id = 0, rows = 0;
  std::uint32_t part = 0, parts = 0;
  int status = 0;
  std::string reason;
  TimeNs created{}, dead_at{};
  std::optional<TimeNs> replayed_at;
};

class Outbox {
 public:
  virtual ~Outbox() = default;
  // The sinks that must settle every batch. Set before the first lease; batches already settled
  // by all of them are removed.
  virtual Result<void> set_sinks(std::vector<std::string> sinks) = 0;
  // The next batch for `req.sink`, in class priority order (kSendOrder), batch_seq order within a
  // class: a formed batch this sink has not finished (and does not have in flight), else a newly
  // formed one when a class has max_rows/max_bytes waiting or its oldest row waited max_age.
  // Blocks until the writer thread did it.
  virtual Result<LeaseResult> lease(const LeaseRequest& req) = 0;
  // The sink delivered the batch (part == 0) or part k of parts (then the batch is done for the
  // sink when every part is). Idempotent.
  virtual Result<void> settle(const std::string& sink, std::uint64_t batch_seq, std::uint32_t part = 0) = 0;
  // Records that `sink` sends the batch as `parts` parts from now on (persisted).
  virtual Result<void> split(const std::string& sink, std::uint64_t batch_seq, std::uint32_t parts) = 0;
  // The sink refused the batch (or part) for good: kept in dead_batches with the reason, done for
  // this sink; the batches behind it still go.
  virtual Result<void> dead_letter(const std::string& sink, const Batch& b, std::uint32_t part, int status,
                                   const std::string& reason) = 0;
  virtual OutboxStats outbox_stats() = 0;
};

}  // namespace cg::store
