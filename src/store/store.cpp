#include "store/store.hpp"

#include "store/store_impl.hpp"

namespace cg::store {

// ------------------------------------------------------------------ public
Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Store>> Store::open(const StoreOptions& opts, const Clock& clock, Metrics& metrics) {
  const std::filesystem::path marker = opts.path.string() + ".corrupt-detected";
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto impl = std::make_unique<Impl>(opts, clock, metrics);
    try {
      if (opts.path.has_parent_path()) std::filesystem::create_directories(opts.path.parent_path());
      std::error_code ec;
      if (std::filesystem::exists(marker, ec)) {
        // The last run hit SQLITE_CORRUPT: check the file before trusting it again.
        sql::Db probe(opts.path.string(), SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
        sql::Stmt qc(probe, "PRAGMA quick_check(1)");
        if (!qc.step() || qc.text(0) != "ok") throw sql::SqlError(SQLITE_CORRUPT, "quick_check: " + qc.text(0));
        std::filesystem::remove(marker, ec);
      }
      impl->open();
      return std::unique_ptr<Store>(new Store(std::move(impl)));
    } catch (const sql::SqlError& e) {
      const int primary = e.code & 0xFF;
      if (attempt == 0 && (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB)) {
        impl.reset();
        auto moved = quarantine(opts.path);
        std::error_code ec;
        std::filesystem::remove(marker, ec);
        if (moved.empty()) return fail(Error::fatal("store_open", std::string(e.what()) + " (and it could not be moved aside)"));
        metrics.counter("store_corruption_quarantined_total", {}, "Corrupt database files moved aside").inc();
        spdlog::critical("store: {} is corrupt ({}); moved aside to {} (kept, not deleted); starting on a fresh "
                         "database with a new incarnation",
                         opts.path.string(), e.what(), moved.string());
        continue;
      }
      return fail(Error::fatal("store_open", e.what()));
    } catch (const std::exception& e) {
      return fail(Error::fatal("store_open", e.what()));
    }
  }
  return fail(Error::fatal("store_open", "unreachable"));
}

Store::~Store() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->writer.joinable()) impl_->writer.join();
}

void Store::submit(std::vector<Reading> readings, SubmitOptions opts, CommitCallback done) {
  submit_from(std::string(), std::move(readings), std::move(opts), std::move(done));
}

void Store::submit_from(const std::string& adapter, std::vector<Reading> readings, SubmitOptions opts,
                        CommitCallback done) {
  auto& m = *impl_;
  std::unique_lock lk(m.mu);
  if (m.stopping || m.disk_full || m.queued_rows + readings.size() > m.opts.queue_max_rows) {
    lk.unlock();
    m.c_throttled.inc();
    if (done) done(CommitStatus::throttled);
    return;
  }
  // Writer idle and nothing queued: commit on the caller's thread (same transaction code, same
  // connection, serialised by `busy`). Not for fsync requests (they should share a group fsync)
  // nor for big jobs (they would hold an io thread).
  if (!m.busy && m.ingest.empty() && m.execs.empty() && opts.durability == Durability::committed &&
      readings.size() <= 1000) {
    m.busy = true;
    bool had_unsynced = m.unsynced_since.has_value();
    lk.unlock();
    std::vector<IngestJob> jobs;
    jobs.push_back({adapter, std::move(readings), std::move(opts), std::move(done)});
    m.commit_group(jobs);
    lk.lock();
    m.busy = false;
    // wake the writer only if it has something new to do: queued work, or a first unsynced
    // commit whose fsync deadline it must now wait for (a wake-up per message would cost more
    // than the commit)
    bool wake = !m.ingest.empty() || !m.execs.empty() || (!had_unsynced && m.unsynced_since) || m.stopping;
    lk.unlock();
    if (wake) m.cv.notify_all();
    return;
  }
  m.queued_rows += readings.size();
  m.g_queue.set(static_cast<std::int64_t>(m.queued_rows));
  m.ingest.push_back({adapter, std::move(readings), std::move(opts), std::move(done)});
  lk.unlock();
  m.cv.notify_one();
}

void Store::reject_payload(const std::string& adapter, const std::string& source, std::span<const std::uint8_t> payload,
                           const std::string& reason) {
  auto& m = *impl_;
  std::vector<std::uint8_t> copy(payload.begin(), payload.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(payload.size(), 256 * 1024)));
  auto at = to_unix_ns(m.clock.now());
  std::lock_guard lk(m.mu);
  if (m.stopping || m.execs.size() > 10000) return;  // best effort: never let inspection data back up ingest
  m.execs.push_back([&m, adapter, source, copy = std::move(copy), reason, at] {
    try {
      sql::Stmt ins(m.wdb, "INSERT INTO rejected_payloads(at_ns, adapter, source, reason, payload) VALUES(?,?,?,?,?)");
      ins.bind(1, at).bind_text(2, adapter).bind_text(3, source).bind_text(4, reason).bind_blob(5, copy).run();
      auto id = sqlite3_last_insert_rowid(m.wdb.get());
      sql::Stmt del(m.wdb, "DELETE FROM rejected_payloads WHERE id <= ?");
      del.bind(1, static_cast<std::int64_t>(id - static_cast<std::int64_t>(m.opts.rejected_max))).run();
      m.c_rejected.inc();
      if (!m.unsynced_since) m.unsynced_since = m.clock.steady();
    } catch (const sql::SqlError& e) {
      spdlog::warn("store: could not keep rejected payload: {}", e.what());
    }
  });
  m.cv.notify_one();
}

namespace {
std::vector<DeviceSummary> query_devices(sql::Db& db, std::optional<std::string_view> only) {
  std::string q =
      "SELECT d.name, d.adapter, d.last_seen_ns, st.metric, st.unit, r.vtype, r.value, r.observed_ns, r.id "
      "FROM devices d LEFT JOIN streams st ON st.dev_id=d.dev_id LEFT JOIN readings r ON r.id=st.last_id ";
  if (only) q += "WHERE d.name=? ";
  q += "ORDER BY d.name, st.metric, r.id";
  sql::Stmt s(db, q.c_str());
  if (only) s.bind_text(1, *only);
  std::vector<DeviceSummary> out;
  while (s.step()) {
    auto name = s.text(0);
    if (out.empty() || out.back().id != name) {
      DeviceSummary d;
      d.id = name;
      d.adapter = s.text(1);
      d.last_seen = from_unix_ns(s.i64(2));
      out.push_back(std::move(d));
    }
    if (s.is_null(8)) continue;
    LatestValue v{s.text(3), read_value(s, 5, 6), s.text(4), from_unix_ns(s.i64(7))};
    auto& latest = out.back().latest;
    // one entry per metric: a metric reported under two units keeps the newest
    if (!latest.empty() && latest.back().metric == v.metric) latest.back() = std::move(v);
    else latest.push_back(std::move(v));
  }
  return out;
}
}  // namespace

std::vector<DeviceSummary> Store::list_devices() {
  std::lock_guard lk(impl_->qmu);
  try {
    return query_devices(impl_->qdb, std::nullopt);
  } catch (const sql::SqlError& e) {
    spdlog::warn("store: device query: {}", e.what());
    return {};
  }
}

std::optional<DeviceSummary> Store::get_device(std::string_view id) {
  std::lock_guard lk(impl_->qmu);
  try {
    auto v = query_devices(impl_->qdb, id);
    if (v.empty()) return std::nullopt;
    return std::move(v.front());
  } catch (const sql::SqlError& e) {
    spdlog::warn("store: device query: {}", e.what());
    return std::nullopt;
  }
}

void Store::set_commit_listener(std::function<void()> fn) {
  std::lock_guard lk(impl_->mu);
  impl_->commit_listener = std::move(fn);
}

std::string Store::incarnation_id() const { return impl_->incarnation; }

std::int64_t Store::rejected_payload_count() {
  std::lock_guard lk(impl_->qmu);
  sql::Stmt s(impl_->qdb, "SELECT count(*) FROM rejected_payloads");
  s.step();
  return s.i64(0);
}

void Store::flush() {
  auto& m = *impl_;
  // An exec job runs after every ingest job queued before it (same loop iteration or later).
  (void)m.on_writer([&] {
    if (!m.dirty_devs.empty() || !m.dirty_streams.empty() || m.state_upto != m.last_id) {
      m.wdb.exec("BEGIN IMMEDIATE");
      m.flush_state();
      m.wdb.exec("COMMIT");
    }
    m.fsync_wal();
  });
}

std::string Store::integrity_check() {
  std::lock_guard lk(impl_->qmu);
  sql::Stmt s(impl_->qdb, "PRAGMA integrity_check");
  std::string out;
  while (s.step()) {
    if (!out.empty()) out += "\n";
    out += s.text(0);
  }
  return out;
}

}  // namespace cg::store

