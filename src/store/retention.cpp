// Retention, the disk budget, disk-full back-pressure, the persisted monotonic clock and
// corruption quarantine (DESIGN §4). Everything here runs on the writer thread (maintenance()
// between commit groups), except quarantine() and inspect_store(), which run before a Store exists.
#include <sys/statvfs.h>

#include <algorithm>
#include <cmath>

#include "store/store_impl.hpp"

namespace cg::store {

namespace {

constexpr std::int64_t kChunkRows = 5000;             // rows deleted per transaction
constexpr auto kMaintenanceBudget = std::chrono::milliseconds(500);  // writer time per pass
constexpr std::int64_t kMarkEveryNs = 60'000'000'000;  // a clock mark per minute
// Wall clocks before this are not believed (a box booting at 1970 before NTP).
constexpr std::int64_t kPlausibleWallNs = 1'577'836'800'000'000'000;  // 2020-01-01T00:00:00Z
constexpr std::size_t kDeadBatchesKept = 10000;

std::int64_t fs_free_bytes(const std::filesystem::path& p) {
  struct statvfs v {};
  if (::statvfs(p.c_str(), &v) != 0) return -1;
  return static_cast<std::int64_t>(v.f_bavail) * static_cast<std::int64_t>(v.f_frsize);
}

std::int64_t file_size_or_0(const std::filesystem::path& p) {
  std::error_code ec;
  auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : static_cast<std::int64_t>(n);
}

std::int64_t pragma_i64(sql::Db& db, const char* q) {
  sql::Stmt s(db, q);
  s.step();
  return s.i64(0);
}

struct Agg {
  AggregateRecord a;
  bool any = false;
};

}  // namespace

// ---------------------------------------------------------------- clock
void Store::Impl::clock_open() {
  steady_open = clock.steady();
  const auto wall = to_unix_ns(clock.now());
  {
    sql::Stmt s(wdb, "SELECT coalesce(max(received_ns), 0) FROM readings");
    s.step();
    max_wall_seen_ns = s.i64(0);
  }
  wall_offset_ns = wall - mono_ns();
  // Booting with a wall clock behind what this store has already seen (or before 2025) means the
  // clock is not set yet: readings are flagged until it looks right.
  if (wall < kPlausibleWallNs || wall + opts.clock_step_tolerance.count() * 1'000'000 < max_wall_seen_ns) {
    clock_suspect = true;
    spdlog::warn("store: the wall clock ({}) is behind what this store has seen or implausible; readings are "
                 "flagged clock_unsynced until it is set",
                 wall / 1'000'000'000);
  }
  page_size = pragma_i64(wdb, "PRAGMA page_size");
  {
    // The WAL grows to wal_autocheckpoint pages between checkpoints. On a small filesystem that
    // would be most of it: keep the WAL under ~2% of the filesystem (at least 100 pages).
    struct statvfs v {};
    const auto dir = opts.path.has_parent_path() ? opts.path.parent_path() : std::filesystem::path(".");
    if (::statvfs(dir.c_str(), &v) == 0) {
      const auto total = static_cast<std::int64_t>(v.f_blocks) * static_cast<std::int64_t>(v.f_frsize);
      const auto pages = std::clamp<std::int64_t>(total / 50 / page_size, 100, 4000);
      if (pages < 4000) {
        wdb.exec(("PRAGMA wal_autocheckpoint=" + std::to_string(pages)).c_str());
        wdb.exec(("PRAGMA journal_size_limit=" + std::to_string(pages * page_size * 2)).c_str());
      }
    }
  }
  if (opts.disk_budget_bytes > 0) {
    auto pages = static_cast<std::int64_t>(opts.disk_budget_bytes) / page_size;
    wdb.exec(("PRAGMA max_page_count=" + std::to_string(std::max<std::int64_t>(pages, 64))).c_str());
  }
  reserve_path = opts.path.string() + ".reserve";
  make_reserve();
}

std::uint32_t Store::Impl::clock_flags(std::int64_t wall_ns) {
  const auto mono = mono_ns();
  const auto offset = wall_ns - mono;
  const auto tol = std::chrono::duration_cast<std::chrono::nanoseconds>(opts.clock_step_tolerance).count();
  std::uint32_t flags = 0;
  if (clock_suspect) {
    if (wall_ns >= kPlausibleWallNs && wall_ns + tol >= max_wall_seen_ns) {
      clock_suspect = false;  // the clock was set: take it as the new baseline
      wall_offset_ns = offset;
      step_since.reset();
      spdlog::info("store: the wall clock looks set now; readings are no longer flagged");
    } else {
      return quality::kClockUnsynced | quality::kClockStepped;
    }
  }
  // Before 2020, or behind what this store has already seen: the wall clock is not set right.
  if (wall_ns < kPlausibleWallNs || wall_ns + tol < max_wall_seen_ns) flags |= quality::kClockUnsynced;
  if (std::llabs(offset - wall_offset_ns) > tol) {
    // The wall clock stepped against the monotonic clock. Flag readings until the new offset has
    // held for clock_settle (NTP corrected a wrong clock) — never trust a step straight away.
    if (!step_since || std::llabs(offset - step_offset_ns) > tol) {
      if (!step_since) {
        c_clock_steps.inc();
        spdlog::warn("store: the wall clock stepped by {} s; readings are flagged clock_stepped until it settles",
                     (offset - wall_offset_ns) / 1'000'000'000);
      }
      step_since = clock.steady();
      step_offset_ns = offset;
    } else if (clock.steady() - *step_since >= opts.clock_settle) {
      spdlog::info("store: the wall clock has kept its new offset for {} s; taken as the baseline",
                   std::chrono::duration_cast<std::chrono::seconds>(opts.clock_settle).count());
      wall_offset_ns = offset;
      max_wall_seen_ns = wall_ns;
      step_since.reset();
      return flags;
    }
    flags |= quality::kClockStepped;
  } else if (step_since) {
    spdlog::info("store: the wall clock is back in step");
    step_since.reset();
  }
  if (!(flags & quality::kClockUnsynced)) max_wall_seen_ns = std::max(max_wall_seen_ns, wall_ns);
  return flags;
}

void Store::Impl::mark_clock() {
  const auto mono = mono_ns();
  if (last_mark_mono >= 0 && mono - last_mark_mono < kMarkEveryNs) return;
  sql::Stmt ins(wdb, "INSERT INTO clock_marks(reading_id, mono_ns, wall_ns) VALUES(?,?,?)");
  ins.bind(1, last_id).bind(2, mono).bind(3, to_unix_ns(clock.now())).run();
  put_meta("mono_ns", std::to_string(mono));
  last_mark_mono = mono;
}

// ---------------------------------------------------------------- disk
void Store::Impl::make_reserve() {
  if (opts.reserve_bytes == 0) return;
  if (file_size_or_0(reserve_path) >= static_cast<std::int64_t>(opts.reserve_bytes)) return;
  int fd = ::open(reserve_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  // Real blocks (not a sparse file): releasing it must give space back.
  int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(opts.reserve_bytes));
  ::close(fd);
  if (rc != 0) {
    std::error_code ec;
    std::filesystem::remove(reserve_path, ec);
  }
}

void Store::Impl::on_disk_full(const char* what) {
  if (!disk_full.exchange(true)) {
    c_disk_full.inc();
    spdlog::error("store: {} — ingest paused (sources get 503 / no PUBACK); releasing the {} MiB reserve, "
                  "evicting by the retention order, resuming when space returns",
                  what, opts.reserve_bytes / (1024 * 1024));
    std::error_code ec;
    std::filesystem::remove(reserve_path, ec);
    // No explicit budget: the filesystem is the budget. Evict down from what the database holds now.
    if (opts.disk_budget_bytes == 0) learned_budget = used_bytes();
  }
}

void Store::Impl::probe_disk() {
  const auto free = fs_free_bytes(opts.path.has_parent_path() ? opts.path.parent_path() : ".");
  const auto budget = effective_budget();
  const bool under = budget == 0 || used_bytes() < static_cast<std::int64_t>(budget * opts.high_water);
  const bool room = free < 0 || free >= static_cast<std::int64_t>(opts.reserve_bytes) / 2 + 1024 * 1024;
  if (disk_full && under && room) {
    sqlite3_exec(wdb.get(), "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
    make_reserve();
    disk_full = false;
    spdlog::info("store: space available again ({} MiB free); ingest resumes", free / (1024 * 1024));
  }
  // The filesystem has room again: forget the budget learnt from it being full.
  if (!disk_full && learned_budget > 0 && free >= static_cast<std::int64_t>(opts.reserve_bytes) * 4 + used_bytes() / 4)
    learned_budget = 0;
}

std::int64_t Store::Impl::effective_budget() const {
  auto b = static_cast<std::int64_t>(opts.disk_budget_bytes);
  if (learned_budget > 0 && (b == 0 || learned_budget < b)) return learned_budget;
  return b;
}

std::int64_t Store::Impl::used_bytes() {
  return (pragma_i64(wdb, "PRAGMA page_count") - pragma_i64(wdb, "PRAGMA freelist_count")) * page_size;
}

// The smallest reading id some configured sink still has to deliver. Rows below it went to every
// sink (or were dead-lettered: kept for replay until retention, but not holding it back).
std::int64_t Store::Impl::forwarded_below() {
  std::int64_t low = last_id + 1;
  {
    sql::Stmt s(wdb, "SELECT min(first_id) FROM batches WHERE class IN (0,1,2,5)");
    if (s.step() && !s.is_null(0)) low = std::min(low, s.i64(0));
  }
  {
    sql::Stmt s(wdb, "SELECT min(from_id) FROM backlog_ranges");
    if (s.step() && !s.is_null(0)) low = std::min(low, s.i64(0));
  }
  if (last_id > cursor[0]) low = std::min(low, cursor[0] + 1);
  for (int c : {1, 2}) {
    sql::Stmt s(wdb, "SELECT min(id) FROM readings WHERE class=? AND id > ?");
    s.bind(1, std::int64_t{c}).bind(2, cursor[c]);
    if (s.step() && !s.is_null(0)) low = std::min(low, s.i64(0));
  }
  if (sinks.empty()) low = std::min(low, cursor[0] + 1);  // nothing is forwarded without a sink
  return low;
}

namespace {
// Deletes readings with id < below (oldest first) but never a stream's newest reading (the
// latest-value API reads it). Returns rows deleted. Inside the caller's transaction.
std::int64_t delete_readings_below(sql::Db& db, std::int64_t below, std::int64_t max_rows) {
  sql::Stmt d(db,
              "DELETE FROM readings WHERE id IN (SELECT id FROM readings WHERE id < ? AND id NOT IN "
              "(SELECT last_id FROM streams WHERE last_id IS NOT NULL) ORDER BY id LIMIT ?)");
  d.bind(1, below).bind(2, max_rows).run();
  return sqlite3_changes(db.get());
}
}  // namespace

void Store::Impl::expire_forwarded() {
  // Readings every sink has: kept `retention` for queries, measured on the persisted monotonic
  // clock (the newest clock mark at least `retention` old bounds what may go).
  const auto cut = mono_ns() - std::chrono::duration_cast<std::chrono::nanoseconds>(opts.retention).count();
  std::int64_t ttl_upto = 0;
  {
    sql::Stmt s(wdb, "SELECT max(reading_id) FROM clock_marks WHERE mono_ns <= ?");
    s.bind(1, cut);
    if (s.step() && !s.is_null(0)) ttl_upto = s.i64(0);
  }
  const auto below = std::min(ttl_upto + 1, forwarded_below());
  const auto deadline = steady::now() + kMaintenanceBudget;
  while (steady::now() < deadline) {
    wdb.exec("BEGIN IMMEDIATE");
    auto n = delete_readings_below(wdb, below, kChunkRows);
    wdb.exec("COMMIT");
    if (n > 0) metrics.counter("store_retention_deleted_total", {}, "Forwarded readings deleted after their retention").inc(n);
    if (n < kChunkRows) break;
  }
  // Forwarded records and old bookkeeping.
  wdb.exec("BEGIN IMMEDIATE");
  for (int c : {3, 4}) {
    sql::Stmt d(wdb,
                "DELETE FROM records WHERE class=?1 AND id <= ?2 AND id < coalesce((SELECT min(first_id) FROM batches "
                "WHERE class=?1), ?2 + 1)");
    d.bind(1, std::int64_t{c}).bind(2, cursor[c]).run();
  }
  {
    sql::Stmt d(wdb,
                "DELETE FROM clock_marks WHERE reading_id < coalesce((SELECT min(id) FROM readings), 0) AND id < "
                "(SELECT max(id) FROM clock_marks WHERE reading_id < coalesce((SELECT min(id) FROM readings), 0))");
    d.run();
    sql::Stmt dd(wdb, "DELETE FROM dead_batches WHERE id <= (SELECT max(id) FROM dead_batches) - ?");
    dd.bind(1, static_cast<std::int64_t>(kDeadBatchesKept)).run();
  }
  wdb.exec("COMMIT");
}

// Evicts up to max_rows of the oldest unforwarded telemetry (backlog first, then live rows not
// yet batched), summarised first: per-minute aggregates of numeric streams and one gap record
// per device (its gateway seq range) go upstream in the summary class, in the same transaction
// as the delete — an eviction is never silent. Rows in formed batches are never evicted.
std::int64_t Store::Impl::evict_reading_class(RecordClass cls, std::int64_t max_rows) {
  std::int64_t from = 0, to = 0;
  bool from_backlog = false;
  const int rc = cls == RecordClass::backlog ? 0 : static_cast<int>(cls);
  if (cls == RecordClass::backlog) {
    sql::Stmt r(wdb, "SELECT from_id, to_id FROM backlog_ranges ORDER BY from_id LIMIT 1");
    if (!r.step()) return 0;
    from = r.i64(0);
    to = r.i64(1);
    from_backlog = true;
  } else {
    from = cursor[rc] + 1;
    to = last_id;
    if (from > to) return 0;
  }
  sql::Stmt s(wdb,
              "SELECT r.id, d.name, st.metric, st.unit, r.seq, r.observed_ns, r.vtype, r.value FROM readings r "
              "JOIN streams st ON st.stream_id=r.stream_id JOIN devices d ON d.dev_id=st.dev_id "
              "WHERE r.id BETWEEN ? AND ? AND r.class=? ORDER BY r.id LIMIT ?");
  s.bind(1, from).bind(2, to).bind(3, std::int64_t{rc}).bind(4, max_rows);
  std::map<std::tuple<std::string, std::string, std::string, std::int64_t>, Agg> aggs;
  std::map<std::string, GapRecord> gaps;
  std::int64_t last = from - 1, n = 0;
  const auto now = clock.now();
  while (s.step()) {
    last = s.i64(0);
    ++n;
    auto dev = s.text(1);
    auto seq = static_cast<std::uint64_t>(s.i64(4));
    auto obs = from_unix_ns(s.i64(5));
    auto& g = gaps[dev];
    if (g.count == 0) {
      g.kind = GapRecord::Kind::evicted;
      g.device = dev;
      g.first = g.last = seq;
      g.from = g.to = obs;
      g.detected = now;
      g.reason = "evicted unforwarded to stay within the disk budget (summarised as per-minute aggregates)";
    }
    g.first = std::min(g.first, seq);
    g.last = std::max(g.last, seq);
    g.from = std::min(g.from, obs);
    g.to = std::max(g.to, obs);
    ++g.count;
    auto vt = static_cast<ValueType>(s.i64(6));
    if (vt != ValueType::f64 && vt != ValueType::i64 && vt != ValueType::u64) continue;
    double v = vt == ValueType::f64 ? (s.is_null(7) ? std::nan("") : s.f64(7))
               : vt == ValueType::i64 ? static_cast<double>(s.i64(7))
                                      : static_cast<double>(static_cast<std::uint64_t>(s.i64(7)));
    if (std::isnan(v)) continue;
    const auto minute_ns = (s.i64(5) / 60'000'000'000) * 60'000'000'000 - (s.i64(5) < 0 && s.i64(5) % 60'000'000'000 ? 60'000'000'000 : 0);
    auto& a = aggs[{dev, s.text(2), s.text(3), minute_ns}];
    if (!a.any) {
      a.any = true;
      a.a = AggregateRecord{dev, s.text(2), s.text(3), from_unix_ns(minute_ns), 0, v, v, 0, v, seq, seq};
    }
    a.a.count++;
    a.a.min = std::min(a.a.min, v);
    a.a.max = std::max(a.a.max, v);
    a.a.sum += v;
    a.a.last = v;
    a.a.first_seq = std::min(a.a.first_seq, seq);
    a.a.last_seq = std::max(a.a.last_seq, seq);
  }
  s.reset();
  if (n == 0) {
    if (from_backlog) {
      sql::Stmt d(wdb, "DELETE FROM backlog_ranges WHERE from_id=?");
      d.bind(1, from).run();
    }
    return 0;
  }
  const auto at = to_unix_ns(now);
  sql::Stmt del(wdb, "DELETE FROM readings WHERE id BETWEEN ? AND ? AND class=?");
  del.bind(1, from).bind(2, last).bind(3, std::int64_t{rc}).run();
  for (auto& [k, a] : aggs) insert_record(a.a, RecordClass::summary, at);
  for (auto& [d, g] : gaps) insert_record(g, RecordClass::summary, at);
  if (from_backlog) {
    sql::Stmt d(wdb, "DELETE FROM backlog_ranges WHERE from_id=?");
    d.bind(1, from).run();
    if (last < to) {
      sql::Stmt r(wdb, "INSERT INTO backlog_ranges(from_id, to_id) VALUES(?,?)");
      r.bind(1, last + 1).bind(2, to).run();
    }
  } else {
    cursor[rc] = last;
    put_cursor(static_cast<RecordClass>(rc), last);
  }
  // Counted once the transaction commits (enforce_budget): a rolled-back eviction evicted nothing.
  pending_evictions.emplace_back(cls, n);
  pending_eviction_gaps += static_cast<std::int64_t>(gaps.size());
  // The total survives restarts (status records, `citygate status`): written with the delete.
  pending_evicted_readings += n;
  put_meta("evicted_readings", std::to_string(evicted_total + pending_evicted_readings));
  return n;
}

// Evicts the oldest unsent aggregate records of the summary class. Gap records are never
// evicted: they are the account of what is missing (one per device and eviction, small).
std::int64_t Store::Impl::evict_records(RecordClass cls, std::int64_t max_rows) {
  const int c = static_cast<int>(cls);
  sql::Stmt d(wdb,
              "DELETE FROM records WHERE id IN (SELECT id FROM records WHERE class=? AND kind=2 AND id > ? ORDER BY id "
              "LIMIT ?)");
  d.bind(1, std::int64_t{c}).bind(2, cursor[c]).bind(3, max_rows).run();
  auto n = static_cast<std::int64_t>(sqlite3_changes(wdb.get()));
  if (n > 0) pending_evictions.emplace_back(cls, n);
  return n;
}

// After the eviction transaction: count what it evicted, or (rolled back) forget it and take the
// cursors back from the database, so no row is skipped that was not evicted.
void Store::Impl::eviction_done(bool committed) {
  if (committed) {
    for (auto [cls, n] : pending_evictions) {
      metrics.counter("store_evicted_rows_total", {{"class", std::string(record_class_name(cls))}},
                      "Unforwarded rows evicted to stay within the disk budget (each covered by a gap record)")
          .inc(n);
    }
    evicted_total += pending_evicted_readings;
    if (pending_eviction_gaps)
      metrics.counter("store_eviction_gaps_total", {}, "Gap records written for evictions").inc(pending_eviction_gaps);
  } else {
    sql::Stmt g(wdb, "SELECT key, value FROM meta WHERE key LIKE 'cursor_%'");
    while (g.step())
      if (auto c = record_class_from_name(g.text(0).substr(7))) cursor[static_cast<int>(*c)] = std::stoll(g.text(1));
  }
  pending_evictions.clear();
  pending_eviction_gaps = 0;
  pending_evicted_readings = 0;
}

std::int64_t Store::Impl::evict_oldest_unforwarded(std::int64_t target_rows) {
  // A class over its quota goes first: an alert storm must not push out everything else.
  const auto budget = effective_budget();
  if (budget > 0) {
    const auto used = used_bytes();
    const auto readings_n = std::max<std::int64_t>(1, approx_reading_count(wdb));
    const double avg = static_cast<double>(used) / static_cast<double>(readings_n);
    struct Q {
      RecordClass cls;
      int pct;
    };
    for (const Q q : {Q{RecordClass::summary, opts.summary_quota_pct}, Q{RecordClass::report, opts.report_quota_pct},
                      Q{RecordClass::alert, opts.alert_quota_pct}}) {
      const int c = static_cast<int>(q.cls);
      double bytes = 0;
      if (q.cls == RecordClass::summary) {
        sql::Stmt s(wdb, "SELECT coalesce(sum(length(body) + 16), 0) FROM records WHERE class=4 AND id > ?");
        s.bind(1, cursor[c]);
        s.step();
        bytes = static_cast<double>(s.i64(0));
      } else {
        sql::Stmt s(wdb, "SELECT count(*) FROM readings WHERE class=? AND id > ?");
        s.bind(1, std::int64_t{c}).bind(2, cursor[c]);
        s.step();
        bytes = static_cast<double>(s.i64(0)) * avg;
      }
      if (bytes <= static_cast<double>(budget) * q.pct / 100.0) continue;
      auto n = q.cls == RecordClass::summary ? evict_records(q.cls, target_rows) : evict_reading_class(q.cls, target_rows);
      if (n > 0) return n;
    }
  }
  // Retention order: telemetry (backlog first, then live), summary records, reports, alerts.
  // Status records are never evicted.
  for (auto cls : {RecordClass::backlog, RecordClass::telemetry}) {
    if (auto n = evict_reading_class(cls, target_rows); n > 0) return n;
  }
  if (auto n = evict_records(RecordClass::summary, target_rows); n > 0) return n;
  for (auto cls : {RecordClass::report, RecordClass::alert}) {
    if (auto n = evict_reading_class(cls, target_rows); n > 0) return n;
  }
  return 0;
}

void Store::Impl::enforce_budget() {
  const auto budget = effective_budget();
  if (budget <= 0) return;
  auto used = used_bytes();
  if (used < static_cast<std::int64_t>(budget * opts.high_water)) return;
  const auto low = static_cast<std::int64_t>(budget * opts.low_water);
  // Deletes free pages for reuse (the file does not shrink); the records an eviction writes need
  // a few pages too, so the page cap is lifted by the reserve while it runs.
  if (opts.disk_budget_bytes > 0)
    wdb.exec(("PRAGMA max_page_count=" +
              std::to_string((static_cast<std::int64_t>(opts.disk_budget_bytes + opts.reserve_bytes)) / page_size))
                 .c_str());
  const auto deadline = steady::now() + kMaintenanceBudget;
  bool logged = false;
  while (used >= low && steady::now() < deadline) {
    std::int64_t n = 0;
    try {
      wdb.exec("BEGIN IMMEDIATE");
      n = delete_readings_below(wdb, forwarded_below(), kChunkRows);
      if (n > 0) {
        metrics.counter("store_retention_deleted_total", {}, "Forwarded readings deleted after their retention").inc(n);
      } else {
        n = evict_oldest_unforwarded(kChunkRows);
        if (n > 0 && !logged && !budget_evicting && steady::now() - last_budget_log >= std::chrono::minutes(10)) {
          last_budget_log = steady::now();
          spdlog::warn("store: disk budget ({} MiB) reached with unforwarded data: evicting the oldest telemetry into "
                       "per-minute aggregates and gap records",
                       budget / (1024 * 1024));
          budget_evicting = logged = true;
        }
      }
      wdb.exec("COMMIT");
      eviction_done(true);
    } catch (const sql::SqlError& e) {
      sqlite3_exec(wdb.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      try {
        eviction_done(false);
      } catch (const sql::SqlError&) {
      }
      spdlog::error("store: eviction failed (rolled back, retried at the next pass): {}", e.what());
      break;
    }
    if (n == 0) break;
    used = used_bytes();
  }
  // "Back under" is logged only once the budget has not needed eviction for a while: under a
  // steady overflow each pass evicts a little, and that is one condition, not many.
  if (used < low && budget_evicting && steady::now() - last_budget_log >= std::chrono::minutes(10)) {
    budget_evicting = false;
    spdlog::info("store: no eviction needed for 10 minutes; back under the disk budget");
  }
  if (opts.disk_budget_bytes > 0)
    wdb.exec(("PRAGMA max_page_count=" + std::to_string(static_cast<std::int64_t>(opts.disk_budget_bytes) / page_size)).c_str());
}

void Store::Impl::maintenance() {
  try {
    if (disk_full) {
      // First give the WAL back to the filesystem (the released reserve lets the database file
      // take the pages it holds), so that the deletes below have room to be logged.
      sqlite3_exec(wdb.get(), "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
    }
    wdb.exec("BEGIN IMMEDIATE");
    mark_clock();
    wdb.exec("COMMIT");
    if (replay_pending) {
      try {
        recover_state();
        spdlog::info("store: device state rebuilt now that the disk has room");
      } catch (const sql::SqlError&) {
        recover_state_refused();
      }
    }
    expire_forwarded();
    enforce_budget();
    if (disk_full) sqlite3_exec(wdb.get(), "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
    probe_disk();
  } catch (const sql::SqlError& e) {
    sqlite3_exec(wdb.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    if (e.code == SQLITE_FULL) on_disk_full(e.what());
    else spdlog::warn("store: maintenance: {}", e.what());
  }
}

// ---------------------------------------------------------------- public
std::int64_t Store::mono_now() const { return impl_->mono_ns(); }

void Store::run_maintenance() { (void)impl_->on_writer([this] { impl_->maintenance(); }); }

StoreStatus Store::status(bool count_readings) {
  auto& m = *impl_;
  StoreStatus s;
  s.incarnation_id = m.incarnation;
  s.path = m.opts.path.string();
  s.disk_budget_bytes = static_cast<std::int64_t>(m.opts.disk_budget_bytes);
  s.disk_full = m.disk_full;
  s.evicted_rows = m.evicted_total;
  s.mono_ns = m.mono_ns();
  s.clock_suspect = m.clock_suspect;
  s.file_bytes = file_size_or_0(m.opts.path) + file_size_or_0(m.wal_path);
  s.disk_free_bytes = fs_free_bytes(m.opts.path.has_parent_path() ? m.opts.path.parent_path() : ".");
  {
    std::lock_guard il(m.ingest_mu);
    for (const auto& [a, t] : m.last_ingest) s.last_ingest.emplace_back(a, t);
  }
  try {
    std::lock_guard lk(m.qmu);
    s.db_bytes = (pragma_i64(m.qdb, "PRAGMA page_count") - pragma_i64(m.qdb, "PRAGMA freelist_count")) *
                 pragma_i64(m.qdb, "PRAGMA page_size");
    s.readings = count_readings ? pragma_i64(m.qdb, "SELECT count(*) FROM readings") : -1;
    s.rejected_payloads = pragma_i64(m.qdb, "SELECT count(*) FROM rejected_payloads");
    s.outbox = compute_outbox_stats(m.qdb, s.mono_ns);
  } catch (const sql::SqlError& e) {
    spdlog::warn("store: status: {}", e.what());
  }
  return s;
}

std::filesystem::path Store::quarantine(const std::filesystem::path& db) {
  std::error_code ec;
  if (!std::filesystem::exists(db, ec)) return {};
  const auto stamp = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
  std::filesystem::path target = db.string() + ".corrupt-" + stamp;
  for (int i = 1; std::filesystem::exists(target, ec); ++i) target = db.string() + ".corrupt-" + stamp + "-" + std::to_string(i);
  std::filesystem::rename(db, target, ec);
  if (ec) return {};
  for (const char* suffix : {"-wal", "-shm"}) {
    std::filesystem::path side = db.string() + suffix;
    if (std::filesystem::exists(side, ec)) std::filesystem::rename(side, target.string() + suffix, ec);
  }
  return target;
}

Result<StoreStatus> inspect_store(const std::filesystem::path& db) {
  std::error_code ec;
  if (!std::filesystem::exists(db, ec)) return fail(Error::fatal("store", "no database at " + db.string()));
  try {
    sql::Db d(db.string(), SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
    sqlite3_busy_timeout(d.get(), 2000);
    StoreStatus s;
    s.path = db.string();
    {
      sql::Stmt m(d, "SELECT key, value FROM meta WHERE key IN ('incarnation_id','mono_ns')");
      while (m.step()) {
        if (m.text(0) == "incarnation_id") s.incarnation_id = m.text(1);
        else s.mono_ns = std::stoll(m.text(1));
      }
    }
    s.db_bytes = (pragma_i64(d, "PRAGMA page_count") - pragma_i64(d, "PRAGMA freelist_count")) *
                 pragma_i64(d, "PRAGMA page_size");
    s.file_bytes = file_size_or_0(db) + file_size_or_0(db.string() + "-wal");
    s.disk_free_bytes = fs_free_bytes(db.has_parent_path() ? db.parent_path() : ".");
    s.readings = pragma_i64(d, "SELECT count(*) FROM readings");
    s.rejected_payloads = pragma_i64(d, "SELECT count(*) FROM rejected_payloads");
    s.outbox = compute_outbox_stats(d, s.mono_ns);
    return s;
  } catch (const sql::SqlError& e) {
    return fail(Error::fatal("store", e.what()));
  }
}

}  // namespace cg::store
