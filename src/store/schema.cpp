#include "store/schema.hpp"

#include <string>

namespace cg::store {

namespace {
// Migration N brings user_version from N-1 to N. Append only; never edit a shipped migration.
constexpr const char* kMigrations[] = {
    // 1: the skeleton's schema
    R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
-- One row per device key seen. next_seq is the next gateway seq for the device (gap-free).
-- devices.next_seq/last_seen_ns and streams.last_id are written back lazily (every
-- state_flush_interval) to keep one commit per MQTT message cheap; they are exact for readings up
-- to meta.state_upto, and opening the store replays the readings after it.
CREATE TABLE devices(
  dev_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  adapter TEXT NOT NULL DEFAULT '',
  next_seq INTEGER NOT NULL DEFAULT 1,
  first_seen_ns INTEGER NOT NULL,
  last_seen_ns INTEGER NOT NULL);
-- A stream is (device, metric, unit); last_id points at its newest reading.
CREATE TABLE streams(
  stream_id INTEGER PRIMARY KEY,
  dev_id INTEGER NOT NULL,
  metric TEXT NOT NULL,
  unit TEXT NOT NULL,
  last_id INTEGER,
  UNIQUE(dev_id, metric, unit));
-- value has no declared type: REAL, INTEGER (u64 stored bit-cast), TEXT or BLOB per vtype.
-- tags: NULL, or length-prefixed key/value pairs (see store.cpp encode_tags).
-- dedup_key/dedup_hash: on the first reading of a broker delivery, (source_id << 16 | packet id)
-- and the payload hash, written in the same transaction: recognises an MQTT redelivery (DUP) of a
-- message whose readings were committed but whose PUBACK was lost.
CREATE TABLE readings(
  id INTEGER PRIMARY KEY,
  stream_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  src_seq INTEGER,
  observed_ns INTEGER NOT NULL,
  received_ns INTEGER NOT NULL,
  quality INTEGER NOT NULL,
  vtype INTEGER NOT NULL,
  value,
  tags BLOB,
  dedup_key INTEGER,
  dedup_hash INTEGER);
-- Outbox: formed, unsettled batches (ranges of reading ids). Rows above meta.batched_upto are
-- waiting to be batched.
CREATE TABLE batches(
  batch_seq INTEGER PRIMARY KEY,
  batch_id TEXT NOT NULL UNIQUE,
  first_id INTEGER NOT NULL,
  last_id INTEGER NOT NULL,
  created_ns INTEGER NOT NULL);
CREATE TABLE rejected_payloads(
  id INTEGER PRIMARY KEY,
  at_ns INTEGER NOT NULL,
  adapter TEXT NOT NULL,
  source TEXT NOT NULL,
  reason TEXT NOT NULL,
  payload BLOB NOT NULL);
-- Broker delivery sources (broker session + adapter), interned for dedup_key.
CREATE TABLE sources(source_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
)sql",
    // 2: store-and-forward (issue 4): outbox classes, per-sink settlement, dead batches, records
    // (gaps, aggregates, status), backlog ranges, the persisted monotonic clock.
    R"sql(
-- Outbox class of the reading (core/records.hpp RecordClass: 0 telemetry, 1 alert, 2 report).
-- Telemetry is by far the most; the partial index serves batching of the rare other classes.
ALTER TABLE readings ADD COLUMN class INTEGER NOT NULL DEFAULT 0;
CREATE INDEX readings_priority ON readings(class, id) WHERE class != 0;
-- A batch is the rows of one class with ids first_id..last_id: readings for reading classes,
-- records for status/summary. rows/bytes: what it held when it was formed (bytes estimated).
ALTER TABLE batches ADD COLUMN class INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN rows INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
-- Per-sink progress of a formed batch. state 0: pending (possibly split: parts, parts_done is a
-- bit mask of the parts delivered or dead-lettered, bit k-1 for part k), 1: settled, 2: dead.
-- A batch row goes when every configured sink has state 1 or 2.
CREATE TABLE batch_sinks(
  batch_seq INTEGER NOT NULL,
  sink TEXT NOT NULL,
  state INTEGER NOT NULL,
  parts INTEGER NOT NULL DEFAULT 0,
  parts_done INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(batch_seq, sink)) WITHOUT ROWID;
-- Batches (or parts) a sink refused for good (4xx other than 408/409/413/429; a part that cannot
-- be split further). Kept for inspection and replay; the readings stay until retention.
CREATE TABLE dead_batches(
  id INTEGER PRIMARY KEY,
  batch_seq INTEGER NOT NULL,
  batch_id TEXT NOT NULL,
  sink TEXT NOT NULL,
  class INTEGER NOT NULL,
  first_id INTEGER NOT NULL,
  last_id INTEGER NOT NULL,
  rows INTEGER NOT NULL,
  part INTEGER NOT NULL,
  parts INTEGER NOT NULL,
  status INTEGER NOT NULL,
  reason TEXT NOT NULL,
  created_ns INTEGER NOT NULL,
  dead_at_ns INTEGER NOT NULL,
  replayed_at_ns INTEGER);
-- Non-reading records sent upstream: kind 1 gap, 2 aggregate, 3 status; class 3 status or 4
-- summary. body: the record's fields as length-prefixed key/value pairs (see records_codec.cpp).
-- AUTOINCREMENT: an id is never reused after the newest rows were deleted (the outbox cursor of
-- the record classes is an id).
CREATE TABLE records(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  class INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  at_ns INTEGER NOT NULL,
  body BLOB NOT NULL);
CREATE INDEX records_class ON records(class, id);
-- Telemetry found waiting after an outage: drained as class backlog, beside live telemetry.
CREATE TABLE backlog_ranges(from_id INTEGER PRIMARY KEY, to_id INTEGER NOT NULL);
-- The persisted monotonic clock: every minute (and at open) the newest reading id with the
-- monotonic and wall time. Ages and TTLs are computed from these, never from the wall clock.
CREATE TABLE clock_marks(id INTEGER PRIMARY KEY, reading_id INTEGER NOT NULL, mono_ns INTEGER NOT NULL,
                         wall_ns INTEGER NOT NULL);
CREATE INDEX clock_marks_reading ON clock_marks(reading_id);
-- The last src_seq seen per device (gap detection), written back with the lazy device state.
ALTER TABLE devices ADD COLUMN last_src_seq INTEGER;
)sql",
};
}  // namespace

void migrate(sql::Db& db) {
  sql::Stmt v(db, "PRAGMA user_version");
  v.step();
  int current = static_cast<int>(v.i64(0));
  v.reset();
  if (current > kSchemaVersion)
    throw sql::SqlError(SQLITE_ERROR, "database schema version " + std::to_string(current) +
                                          " is newer than this citygate (" + std::to_string(kSchemaVersion) + ")");
  for (int n = current + 1; n <= kSchemaVersion; ++n) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(kMigrations[n - 1]);
      db.exec(("PRAGMA user_version = " + std::to_string(n)).c_str());
      db.exec("COMMIT");
    } catch (...) {
      sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }
}

}  // namespace cg::store
