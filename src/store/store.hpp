#pragma once
// The store: the single source of truth (DESIGN §1, §3, §4). The only module that includes
// sqlite3.h (in its .cpp files only).
//
// Threads: one read-write connection. The writer thread commits in groups — as soon as it is idle
// it commits whatever arrived while the previous commit ran (no timer makes a lone reading wait).
// When the writer is idle and nothing is queued, a small submission is committed by the
// submitting thread itself (one at a time, same code): a lone MQTT message then costs no thread
// hand-off. Queries use their own read-only connections (WAL), so readers never block the
// writer. Every public member is thread-safe.
//
// Durability: WAL with synchronous=NORMAL, so a commit survives a crash of the process at once.
// For power cuts, the WAL is fsync'd at least every `sync_interval` after a commit, and before
// `done` for submissions that ask for Durability::fsynced (many share one fsync: group commit).
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "adapter_api/sink.hpp"
#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/queries.hpp"
#include "core/result.hpp"
#include "store/outbox.hpp"

namespace cg::store {

struct StoreOptions {
  std::filesystem::path path;
  std::chrono::milliseconds sync_interval{100};
  std::size_t queue_max_rows = 200000;  // ingest queue bound: beyond it submit() answers throttled
  std::size_t max_rows_per_txn = 20000;
  std::size_t rejected_max = 10000;     // rejected_payloads keeps at most this many rows
  // Disk budget (retention.cpp): the database never grows past disk_budget_bytes (SQLite
  // max_page_count). Above high_water of it, forwarded readings go first, then the oldest
  // unforwarded telemetry is downsampled into per-minute aggregates and evicted (gap records),
  // then summary records, then alerts and reports; status records never. 0 = no budget.
  std::uint64_t disk_budget_bytes = 0;
  // Per-class quotas under the budget, in percent of it: a class above its quota (an alert storm)
  // is evicted first, before telemetry; below it, it goes only after telemetry.
  int alert_quota_pct = 20;
  int report_quota_pct = 20;
  int summary_quota_pct = 20;
  double high_water = 0.90;
  double low_water = 0.80;
  // A file of this size is kept beside the database and released when the filesystem is full, so
  // deletes and checkpoints still work; ingest answers "throttled" until space returns.
  std::uint64_t reserve_bytes = 16 * 1024 * 1024;
  // Forwarded readings are kept this long for queries (on the persisted monotonic clock).
  std::chrono::seconds retention{std::chrono::hours(24 * 7)};
  // After an outage, unbatched telemetry beyond this many rows becomes the backlog class.
  std::size_t backlog_threshold_rows = 50000;
  // Wall-clock steps larger than this (against the monotonic clock) flag readings
  // (quality::kClockStepped) until the new offset has held for clock_settle.
  std::chrono::milliseconds clock_step_tolerance{10000};
  std::chrono::milliseconds clock_settle{std::chrono::minutes(10)};
  std::chrono::milliseconds maintenance_interval{1000};
};

// What `citygate status` shows about the store (also the source of the status record).
struct StoreStatus {
  std::string incarnation_id;
  std::string path;
  std::int64_t db_bytes = 0;       // pages in use
  std::int64_t file_bytes = 0;     // database + WAL files
  std::int64_t disk_budget_bytes = 0;
  std::int64_t disk_free_bytes = 0;
  bool disk_full = false;
  std::int64_t evicted_rows = 0;  // readings evicted unforwarded since the store was created (persisted)
  std::int64_t readings = 0;  // -1: not counted
  std::int64_t rejected_payloads = 0;
  std::int64_t mono_ns = 0;        // the persisted monotonic clock
  bool clock_suspect = false;
  std::vector<std::pair<std::string, TimeNs>> last_ingest;  // adapter → last commit (this run)
  OutboxStats outbox;
};

// Read-only inspection of a store file that no gateway has open (citygate status/dead-batches
// when the service is stopped). Never writes, never migrates.
Result<StoreStatus> inspect_store(const std::filesystem::path& db);
Result<std::vector<DeadBatch>> inspect_dead_batches(const std::filesystem::path& db);
// One dead batch and up to `limit` of its readings; Disposition::reject "not_found" if absent.
Result<std::pair<DeadBatch, std::vector<Reading>>> inspect_dead_batch(const std::filesystem::path& db, std::int64_t id,
                                                                      std::size_t limit);

class Store final : public ReadingSink, public Outbox, public DeviceQueries {
 public:
  // Opens (creating and migrating if needed) and starts the writer thread.
  static Result<std::unique_ptr<Store>> open(const StoreOptions& opts, const Clock& clock, Metrics& metrics);
  ~Store() override;  // stops the writer after draining the queue

  // ReadingSink. `opts` source adapter: see submit_from().
  void submit(std::vector<Reading> readings, SubmitOptions opts, CommitCallback done) override;
  // Same, recording which adapter instance delivered the readings (shown by the device API).
  void submit_from(const std::string& adapter, std::vector<Reading> readings, SubmitOptions opts,
                   CommitCallback done);
  void reject_payload(const std::string& adapter, const std::string& source, std::span<const std::uint8_t> payload,
                      const std::string& reason) override;
  void report_gap(GapRecord gap) override;

  // Outbox (outbox_store.cpp)
  Result<void> set_sinks(std::vector<std::string> sinks) override;
  Result<LeaseResult> lease(const LeaseRequest& req) override;
  Result<void> settle(const std::string& sink, std::uint64_t batch_seq, std::uint32_t part = 0) override;
  Result<void> split(const std::string& sink, std::uint64_t batch_seq, std::uint32_t parts) override;
  Result<void> dead_letter(const std::string& sink, const Batch& b, std::uint32_t part, int status,
                           const std::string& reason) override;
  OutboxStats outbox_stats() override;

  // Queues a record (status, gap) for upstream in `cls` (status or summary). Best effort like
  // reject_payload: never blocks ingest.
  void add_record(Record rec, RecordClass cls);
  std::vector<DeadBatch> dead_batches(std::size_t limit = 1000);
  std::optional<DeadBatch> dead_batch(std::int64_t id);
  // Puts a dead batch (or part) back in the outbox for its sink, under its original batch_id and
  // batch_seq. Errors: not_found, already replayed, rows evicted since.
  Result<void> replay_dead_batch(std::int64_t id);
  // The rows of a dead batch (at most `limit`), for `citygate dead-batches show`.
  std::vector<Reading> dead_batch_readings(const DeadBatch& d, std::size_t limit);
  // `count_readings` false leaves StoreStatus::readings at -1: counting rows scans the table,
  // which the periodic status record and gauges do not need.
  StoreStatus status(bool count_readings = true);
  // Runs the retention/disk-budget pass now (the writer also runs it every maintenance_interval).
  void run_maintenance();
  // The persisted monotonic clock (ns): never goes back, not moved by wall-clock steps.
  std::int64_t mono_now() const;

  // DeviceQueries
  std::vector<DeviceSummary> list_devices() override;
  std::optional<DeviceSummary> get_device(std::string_view id) override;

  // Called on the writer thread after every commit that stored readings. Set before traffic.
  void set_commit_listener(std::function<void()> fn);

  std::string incarnation_id() const;
  std::int64_t rejected_payload_count();
  // Blocks until everything submitted so far is committed and fsync'd, and the device state the
  // queries read (latest values, which otherwise lag commits by up to 250 ms) is written.
  void flush();
  // Runs `PRAGMA integrity_check` on a read connection; "ok" when healthy.
  std::string integrity_check();

  struct Impl;

  // The database file could not be used (corrupt, not a database): it and its -wal/-shm are
  // renamed to <path>.corrupt-<unix seconds> and the store starts on a fresh file (a new
  // incarnation). Returns the quarantined path, or empty when nothing was moved. open() does
  // this by itself; public for tests.
  static std::filesystem::path quarantine(const std::filesystem::path& db);

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cg::store
