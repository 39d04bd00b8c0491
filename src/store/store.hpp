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
};

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

  // Outbox
  Result<LeaseResult> lease(std::size_t max_rows, std::chrono::milliseconds max_age) override;
  Result<void> settle(std::uint64_t batch_seq) override;
  OutboxStats outbox_stats() override;

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

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cg::store
