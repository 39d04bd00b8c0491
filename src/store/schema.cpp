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
