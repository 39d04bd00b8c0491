#pragma once
// The door from adapters into the store. Contract (DESIGN §4): `done` is called exactly once,
// after the transaction holding the readings has committed — never before — so whoever
// acknowledges the source (MQTT PUBACK, HTTP 2xx) does it from `done`.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/reading.hpp"
#include "core/records.hpp"

namespace cg {

enum class Durability {
  committed,  // committed; on disk within store.sync_interval (process crash safe at once)
  fsynced,    // committed and fsync'd before `done` (power-cut safe); group commit shares fsyncs
};

enum class CommitStatus {
  committed,  // durable as requested; seq assigned
  duplicate,  // a redelivery of a message already committed (dedup key matched); nothing stored
  throttled,  // the ingest queue is full: nothing stored, the source should retry later
  failed,     // the store failed (I/O, disk full): nothing stored
};

// Identifies one broker delivery so a redelivery (MQTT DUP) of an already committed message is
// recognised. Written in the same transaction as the readings it carried.
struct DedupKey {
  std::string source;          // broker/client identity
  std::uint32_t packet_id = 0; // MQTT packet identifier
  std::uint64_t payload_hash = 0;
  bool is_redelivery = false;  // the DUP flag: only then is the key looked up
};

struct SubmitOptions {
  Durability durability = Durability::committed;
  std::optional<DedupKey> dedup;
  // Outbox class of the readings: telemetry, alert or report (the adapter instance's `class`).
  RecordClass record_class = RecordClass::telemetry;
};

using CommitCallback = std::function<void(CommitStatus)>;

class ReadingSink {
 public:
  virtual ~ReadingSink() = default;
  // Thread-safe. `done` runs on the store's writer thread, or — when the writer is idle and the
  // job small — on the calling thread before submit() returns (the caller then did the commit
  // itself, typically tens of microseconds; never an fsync). Keep `done` short either way, and
  // do not hold a lock in the caller that `done` takes. An empty `readings` is valid.
  virtual void submit(std::vector<Reading> readings, SubmitOptions opts, CommitCallback done) = 0;

  // Keeps a payload that could not be decoded for inspection (bounded table; oldest dropped).
  // Best effort, never blocks.
  virtual void reject_payload(const std::string& adapter, const std::string& source,
                              std::span<const std::uint8_t> payload, const std::string& reason) = 0;

  // Records data known to be missing that no reading can carry — a poll that got no answer
  // (DESIGN §4: "a missed poll is recorded as a gap"). Kept as a gap record and sent upstream in
  // the summary class; `detected` is stamped when unset. Thread-safe, never blocks; best effort
  // on a full disk (logged), like every record.
  virtual void report_gap(GapRecord gap) = 0;
};

}  // namespace cg
