#pragma once
// Private to src/store: the Store's internals, shared by its translation units (store.cpp: open,
// ingest, queries; outbox_store.cpp: batches, sinks, dead batches, records; retention.cpp: disk
// budget, eviction, downsampling, clock). Nobody outside src/store includes this.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "core/uuid.hpp"
#include "store/schema.hpp"
#include "store/sqlite_util.hpp"
#include "store/store.hpp"

namespace cg::store {

namespace detail {

using steady = std::chrono::steady_clock;

// ---- tags: NULL or [varint klen][key][varint vlen][value]... -------------------------------
inline void put_varint(std::vector<std::uint8_t>& out, std::size_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}
inline bool get_varint(std::span<const std::uint8_t>& in, std::size_t& v) {
  v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (in.empty()) return false;
    std::uint8_t b = in.front();
    in = in.subspan(1);
    v |= static_cast<std::size_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}
inline std::vector<std::uint8_t> encode_tags(const Tags& tags) {
  std::vector<std::uint8_t> out;
  for (const auto& [k, v] : tags) {
    put_varint(out, k.size());
    out.insert(out.end(), k.begin(), k.end());
    put_varint(out, v.size());
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}
inline Tags decode_tags(std::span<const std::uint8_t> in) {
  Tags t;
  while (!in.empty()) {
    std::size_t kl, vl;
    if (!get_varint(in, kl) || kl > in.size()) break;
    std::string k(reinterpret_cast<const char*>(in.data()), kl);
    in = in.subspan(kl);
    if (!get_varint(in, vl) || vl > in.size()) break;
    std::string v(reinterpret_cast<const char*>(in.data()), vl);
    in = in.subspan(vl);
    t.emplace_back(std::move(k), std::move(v));
  }
  return t;
}

inline void bind_value(sql::Stmt& s, int i, const Value& v) {
  struct B {
    sql::Stmt& s;
    int i;
    // SQLite turns a bound NaN into NULL; vtype f64 + NULL reads back as NaN.
    void operator()(double d) { s.bind(i, d); }
    void operator()(std::int64_t x) { s.bind(i, x); }
    void operator()(std::uint64_t x) {
      std::int64_t y;
      std::memcpy(&y, &x, sizeof y);
      s.bind(i, y);
    }
    void operator()(bool b) { s.bind(i, std::int64_t{b ? 1 : 0}); }
    void operator()(const std::string& t) { s.bind_text(i, t); }
    void operator()(const Bytes& b) { s.bind_blob(i, b.data); }
  };
  std::visit(B{s, i}, v);
}

inline Value read_value(const sql::Stmt& s, int vtype_col, int value_col) {
  switch (static_cast<ValueType>(s.i64(vtype_col))) {
    case ValueType::f64: return s.is_null(value_col) ? std::numeric_limits<double>::quiet_NaN() : s.f64(value_col);
    case ValueType::i64: return s.i64(value_col);
    case ValueType::u64: {
      std::int64_t y = s.i64(value_col);
      std::uint64_t x;
      std::memcpy(&x, &y, sizeof x);
      return x;
    }
    case ValueType::boolean: return s.i64(value_col) != 0;
    case ValueType::string: return s.text(value_col);
    case ValueType::bytes: {
      auto b = s.blob(value_col);
      return Bytes{{b.begin(), b.end()}};
    }
  }
  return std::string();
}

struct IngestJob {
  std::string adapter;
  std::vector<Reading> readings;
  SubmitOptions opts;
  CommitCallback done;
};

struct DevState {
  std::int64_t dev_id = 0;
  std::uint64_t next_seq = 1;
  std::int64_t last_seen = 0;
  std::string adapter;
  std::optional<std::uint64_t> last_src_seq;
  bool dirty = false;
};

struct StreamState {
  std::int64_t stream_id = 0;
  std::int64_t last_id = 0;
  bool dirty = false;
};

// Readings in the table, estimated from the ends of the rowid range (two index seeks, not a
// scan of millions of rows; holes left by retention make it an over-estimate). For averages.
inline std::int64_t approx_reading_count(sql::Db& db) {
  sql::Stmt s(db, "SELECT coalesce(max(id) - min(id) + 1, 0) FROM readings");
  s.step();
  return s.i64(0);
}

// meta key of a class's outbox cursor: "cursor_<class name>" (parsed back at open).
inline std::string meta_key_cursor(RecordClass c) { return "cursor_" + std::string(record_class_name(c)); }

}  // namespace detail

using namespace detail;

// outbox_store.cpp: outbox figures from any connection (the gateway's query connection, or a
// read-only inspection of a stopped gateway's file).
OutboxStats compute_outbox_stats(sql::Db& db, std::int64_t mono_now_ns);

struct Store::Impl {
  StoreOptions opts;
  const Clock& clock;
  Metrics& metrics;
  std::string incarnation;
  std::string wal_path;

  // ---- writer side (writer thread only, except the queue) ----
  sql::Db wdb;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<IngestJob> ingest;
  std::deque<std::function<void()>> execs;
  std::size_t queued_rows = 0;
  bool stopping = false;
  // The right to use the read-write connection. Held by the writer thread while it commits, or by
  // a submitting thread that found the writer idle and commits its own small job itself (saves two
  // thread hand-offs per MQTT message). Guarded by `mu`; the connection itself is used without it.
  bool busy = false;
  std::thread writer;
  std::function<void()> commit_listener;

  std::unordered_map<std::string, DevState> devs;
  std::unordered_map<std::string, StreamState> streams;  // key: dev_id \0 metric \0 unit
  std::optional<steady::time_point> unsynced_since;
  std::int64_t state_upto = 0;
  std::uint64_t next_batch_seq = 1;

  // ---- outbox (outbox_store.cpp; writer thread) ----
  // Per class: the highest row id already put in a batch (readings for telemetry/alert/report,
  // records for status/summary; backlog rows come from backlog_ranges). Persisted in meta.
  std::int64_t cursor[kRecordClassCount] = {};
  // When the oldest row not yet batched of a class was committed (this run); unset: unknown
  // (after a restart: due at once) or nothing waiting.
  std::optional<steady::time_point> waiting_since[kRecordClassCount];
  bool maybe_waiting[kRecordClassCount] = {true, true, true, true, true, true};
  std::vector<std::string> sinks;

  // ---- persisted monotonic clock and wall-clock checks (retention.cpp) ----
  std::int64_t mono_base_ns = 0;    // persisted value at open
  steady::time_point steady_open{};
  std::int64_t last_mark_mono = -1;
  std::int64_t wall_offset_ns = 0;  // wall - mono, the accepted baseline
  std::int64_t max_wall_seen_ns = 0;
  std::optional<steady::time_point> step_since;  // the offset left tolerance at
  std::int64_t step_offset_ns = 0;
  std::atomic<bool> clock_suspect{false};

  // ---- disk budget (retention.cpp) ----
  std::atomic<bool> disk_full{false};
  std::filesystem::path reserve_path;
  std::int64_t page_size = 4096;
  steady::time_point next_maintenance{};
  std::atomic<std::int64_t> evicted_total{0};
  std::int64_t learned_budget = 0;  // the filesystem filled up without a configured budget
  // What the open eviction transaction evicted; counted when it commits (eviction_done).
  std::vector<std::pair<RecordClass, std::int64_t>> pending_evictions;
  std::int64_t pending_eviction_gaps = 0;
  std::int64_t pending_evicted_readings = 0;  // of the eviction transaction in progress
  // The device-state replay of the readings after state_upto could not be written (a full
  // disk): state_upto must stay where it is — devices not loaded since still have their old
  // rows — until a replay succeeds (retried by maintenance).
  bool replay_pending = false;
  bool budget_evicting = false;
  steady::time_point last_budget_log{};

  std::mutex ingest_mu;  // last_ingest
  std::map<std::string, TimeNs> last_ingest;

  sql::Stmt st_begin, st_commit;  // prepared once: sqlite3_exec would re-parse them per message
  sql::Stmt st_dev_get, st_dev_ins, st_dev_upd, st_stream_get, st_stream_ins, st_stream_upd, st_reading_ins,
      st_meta_put;

  // Device/stream state written back lazily (see schema.cpp): what changed since the last flush.
  std::vector<std::string> dirty_devs;
  std::vector<std::string> dirty_streams;
  steady::time_point last_state_flush{};
  std::int64_t last_id = 0;  // newest reading id committed
  static constexpr auto kStateFlushInterval = std::chrono::milliseconds(250);

  // Recent broker deliveries: (source_id << 16 | packet id) -> payload hash. Only the message in
  // Paho's callback at a crash can be committed but unacknowledged, so the tail of the table
  // (kDedupTail rows) loaded at open is ample.
  std::unordered_map<std::uint64_t, std::uint64_t> recent;
  std::unordered_map<std::string, std::int64_t> source_ids;
  std::set<std::string> gap_logged;  // devices whose first src_seq gap was logged (once each)
  static constexpr std::int64_t kDedupTail = 200000;

  // ---- read side ----
  std::mutex qmu;  // HTTP queries
  sql::Db qdb;
  std::mutex umu;  // uplink reads
  sql::Db udb;

  Counter& c_commits;
  Counter& c_readings;
  Counter& c_throttled;
  Counter& c_failures;
  Counter& c_fsyncs;
  Counter& c_dups;
  Counter& c_rejected;
  Gauge& g_queue;
  Counter& c_gaps;
  Counter& c_gap_missing;
  Counter& c_disk_full;
  Counter& c_clock_steps;

  Impl(const StoreOptions& o, const Clock& c, Metrics& m)
      : opts(o),
        clock(c),
        metrics(m),
        c_commits(m.counter("store_commits_total", {}, "Write transactions committed")),
        c_readings(m.counter("store_readings_committed_total", {}, "Readings committed")),
        c_throttled(m.counter("store_throttled_total", {}, "Submissions refused because the ingest queue was full")),
        c_failures(m.counter("store_commit_failures_total", {}, "Write transactions that failed and rolled back")),
        c_fsyncs(m.counter("store_fsyncs_total", {}, "WAL fsyncs")),
        c_dups(m.counter("mqtt_redeliveries_deduplicated_total", {}, "MQTT redeliveries recognised and not stored twice")),
        c_rejected(m.counter("rejected_payloads_total", {}, "Payloads kept in rejected_payloads")),
        g_queue(m.gauge("store_ingest_queue_rows", {}, "Readings waiting for the writer")),
        c_gaps(m.counter("src_seq_gaps_total", {}, "Gaps detected in devices' own counters (src_seq)")),
        c_gap_missing(m.counter("src_seq_missing_total", {}, "Device counter values missing in those gaps")),
        c_disk_full(m.counter("store_disk_full_total", {}, "Times the filesystem or the disk budget refused a write")),
        c_clock_steps(m.counter("clock_steps_total", {}, "Wall-clock steps detected against the monotonic clock")) {}

  // retention.cpp
  std::int64_t mono_ns() const {
    return mono_base_ns + std::chrono::duration_cast<std::chrono::nanoseconds>(clock.steady() - steady_open).count();
  }
  void clock_open();                      // in open(), inside its transaction
  std::uint32_t clock_flags(std::int64_t wall_ns);  // per commit group, writer
  void maintenance();                     // writer thread, between groups
  void mark_clock();
  void enforce_budget();
  void expire_forwarded();
  std::int64_t used_bytes();
  std::int64_t forwarded_below();
  std::int64_t evict_oldest_unforwarded(std::int64_t target_rows);
  std::int64_t evict_records(RecordClass cls, std::int64_t max_rows);
  std::int64_t evict_reading_class(RecordClass cls, std::int64_t max_rows);
  void on_disk_full(const char* what);
  void probe_disk();
  void make_reserve();
  std::int64_t effective_budget() const;
  void eviction_done(bool committed);
  // outbox_store.cpp
  void outbox_open();
  std::int64_t reading_class_pending_min(RecordClass cls);
  void insert_record(const Record& rec, RecordClass cls, std::int64_t at_ns);
  void note_waiting(RecordClass cls, steady::time_point now);

  // ---------------------------------------------------------------- open
  void open() {
    const int rw = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    wdb = sql::Db(opts.path.string(), rw);
    sqlite3_busy_timeout(wdb.get(), 10000);
    {
      sql::Stmt jm(wdb, "PRAGMA journal_mode=WAL");
      jm.step();
      if (jm.text(0) != "wal") throw sql::SqlError(SQLITE_ERROR, "cannot enable WAL mode");
    }
    wdb.exec("PRAGMA synchronous=NORMAL");
    wdb.exec("PRAGMA foreign_keys=OFF");
    wdb.exec("PRAGMA temp_store=MEMORY");
    wdb.exec("PRAGMA cache_size=-8192");  // 8 MiB: bounded memory on small boxes
    // Checkpoints fsync twice; with one commit per MQTT message the default (1000 pages) would
    // checkpoint every few hundred messages. 4000 pages bounds the WAL near 16 MiB.
    wdb.exec("PRAGMA wal_autocheckpoint=4000");
    wdb.exec("PRAGMA journal_size_limit=67108864");
    migrate(wdb);
    wal_path = opts.path.string() + "-wal";

    st_meta_put = sql::Stmt(wdb, "INSERT INTO meta(key,value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value");
    wdb.exec("BEGIN IMMEDIATE");
    {
      sql::Stmt g(wdb, "SELECT key, value FROM meta");
      while (g.step()) {
        auto k = g.text(0);
        if (k == "incarnation_id") incarnation = g.text(1);
        else if (k == "batched_upto") cursor[0] = std::stoll(g.text(1));
        else if (k == "next_batch_seq") next_batch_seq = std::stoull(g.text(1));
        else if (k == "state_upto") state_upto = std::stoll(g.text(1));
        else if (k == "mono_ns") mono_base_ns = std::stoll(g.text(1));
        else if (k == "evicted_readings") evicted_total = std::stoll(g.text(1));
        else if (k.rfind("cursor_", 0) == 0) {
          auto c = record_class_from_name(k.substr(7));
          if (c) cursor[static_cast<int>(*c)] = std::stoll(g.text(1));
        }
      }
    }
    if (incarnation.empty()) {
      incarnation = uuid_v7(clock.now());
      st_meta_put.bind_text(1, "incarnation_id").bind_text(2, incarnation).run();
      st_meta_put.bind_text(1, "created_at_ns").bind_text(2, std::to_string(to_unix_ns(clock.now()))).run();
    }
    outbox_open();
    clock_open();
    // Rows from before this start wait for max_age from now, like rows that arrive now.
    for (auto& w : waiting_since) w = clock.steady();
    wdb.exec("COMMIT");

    st_begin = sql::Stmt(wdb, "BEGIN IMMEDIATE");
    st_commit = sql::Stmt(wdb, "COMMIT");
    st_dev_get = sql::Stmt(wdb, "SELECT dev_id, next_seq, last_seen_ns, adapter, last_src_seq FROM devices WHERE name=?");
    st_dev_ins = sql::Stmt(wdb, "INSERT INTO devices(name, adapter, next_seq, first_seen_ns, last_seen_ns) VALUES(?,?,1,?,?)");
    st_dev_upd = sql::Stmt(wdb, "UPDATE devices SET next_seq=?, last_seen_ns=?, adapter=?, last_src_seq=? WHERE dev_id=?");
    st_stream_get = sql::Stmt(wdb, "SELECT stream_id, last_id FROM streams WHERE dev_id=? AND metric=? AND unit=?");
    st_stream_ins = sql::Stmt(wdb, "INSERT INTO streams(dev_id, metric, unit) VALUES(?,?,?)");
    st_stream_upd = sql::Stmt(wdb, "UPDATE streams SET last_id=? WHERE stream_id=?");
    st_reading_ins = sql::Stmt(wdb,
                               "INSERT INTO readings(stream_id, seq, src_seq, observed_ns, received_ns, quality, vtype, value, tags, "
                               "dedup_key, dedup_hash, class, id) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
    try {
      recover_state();
    } catch (const sql::SqlError& e) {
      // A full disk must not keep the gateway from starting: it starts with ingest paused and
      // eviction makes room, as when the disk fills while it runs.
      if ((e.code & 0xFF) != SQLITE_FULL) throw;
      recover_state_refused();
      on_disk_full(e.what());
    }

    const int ro = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
    qdb = sql::Db(opts.path.string(), ro);
    udb = sql::Db(opts.path.string(), ro);
    sqlite3_busy_timeout(qdb.get(), 5000);
    sqlite3_busy_timeout(udb.get(), 5000);

    writer = std::thread([this] { run(); });
  }

  // The highest reading id ever handed out. The outbox cursors, batches and backlog ranges are
  // reading ids, and rows they cover may have been deleted since (retention, eviction): SQLite
  // would give the next row max(rowid)+1 and could so reuse an id below a cursor — a reading
  // that is never batched. New readings take their ids from this mark instead (commit_group).
  std::int64_t reading_id_high_water() {
    sql::Stmt mx(wdb,
                 "SELECT max(coalesce((SELECT max(id) FROM readings), 0), "
                 "coalesce((SELECT max(last_id) FROM batches WHERE class IN (0,1,2,5)), 0), "
                 "coalesce((SELECT max(to_id) FROM backlog_ranges), 0))");
    mx.step();
    return std::max({mx.i64(0), cursor[0], cursor[1], cursor[2]});
  }

  // Replays readings committed after the last state flush (a crash) into devices/streams, and
  // loads the recent delivery keys. At open (before the writer thread starts), after a
  // rolled-back commit, and from maintenance while a refused replay is pending.
  void recover_state() {
    wdb.exec("BEGIN IMMEDIATE");
    last_id = reading_id_high_water();
    if (last_id > state_upto) {
      sql::Stmt tail(wdb,
                     "SELECT r.id, r.stream_id, r.seq, r.received_ns, s.dev_id, r.src_seq FROM readings r "
                     "JOIN streams s ON s.stream_id=r.stream_id WHERE r.id > ? ORDER BY r.id");
      tail.bind(1, state_upto);
      sql::Stmt dev(wdb, "UPDATE devices SET next_seq=max(next_seq, ?), last_seen_ns=max(last_seen_ns, ?), "
                         "last_src_seq=coalesce(?, last_src_seq) WHERE dev_id=?");
      sql::Stmt str(wdb, "UPDATE streams SET last_id=? WHERE stream_id=?");
      std::size_t n = 0;
      while (tail.step()) {
        dev.bind(1, tail.i64(2) + 1).bind(2, tail.i64(3));
        if (tail.is_null(5)) dev.bind_null(3); else dev.bind(3, tail.i64(5));
        dev.bind(4, tail.i64(4)).run();
        str.bind(1, tail.i64(0)).bind(2, tail.i64(1)).run();
        ++n;
      }
      put_meta("state_upto", std::to_string(last_id));
      state_upto = last_id;
      spdlog::info("store: replayed {} readings into device state after an unclean stop", n);
    }
    load_sources_and_recent();
    wdb.exec("COMMIT");
    replay_pending = false;
  }

  // Redelivery keys of the newest readings and the source ids (reads only).
  void load_sources_and_recent() {
    source_ids.clear();
    sql::Stmt src(wdb, "SELECT source_id, name FROM sources");
    while (src.step()) source_ids.emplace(src.text(1), src.i64(0));
    sql::Stmt d(wdb, "SELECT dedup_key, dedup_hash FROM readings WHERE id > ? AND dedup_key IS NOT NULL ORDER BY id");
    d.bind(1, last_id - kDedupTail);
    while (d.step()) recent[static_cast<std::uint64_t>(d.i64(0))] = static_cast<std::uint64_t>(d.i64(1));
  }

  // After recover_state() failed and was rolled back (a full disk refuses the replay's writes):
  // state_upto is what the database says again, so that device() takes next seqs from the
  // readings themselves; the read-only state is loaded all the same.
  void recover_state_refused() {
    sqlite3_exec(wdb.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    replay_pending = true;
    try {
      sql::Stmt g(wdb, "SELECT value FROM meta WHERE key='state_upto'");
      state_upto = g.step() ? std::stoll(g.text(0)) : std::int64_t{0};
      last_id = reading_id_high_water();
      load_sources_and_recent();
    } catch (const sql::SqlError&) {
      state_upto = 0;  // unknown: every device load scans its readings for the next seq
    }
  }

  std::int64_t source_id(const std::string& name) {
    auto it = source_ids.find(name);
    if (it != source_ids.end()) return it->second;
    sql::Stmt ins(wdb, "INSERT INTO sources(name) VALUES(?)");
    ins.bind_text(1, name).run();
    std::int64_t id = sqlite3_last_insert_rowid(wdb.get());
    return source_ids.emplace(name, id).first->second;
  }

  // Writes the lazily kept device/stream state (inside the caller's transaction).
  void flush_state() {
    for (const auto& name : dirty_devs) {
      auto it = devs.find(name);
      if (it == devs.end()) continue;
      auto& d = it->second;
      st_dev_upd.bind(1, static_cast<std::int64_t>(d.next_seq)).bind(2, d.last_seen).bind_text(3, d.adapter);
      if (d.last_src_seq) st_dev_upd.bind(4, static_cast<std::int64_t>(*d.last_src_seq)); else st_dev_upd.bind_null(4);
      st_dev_upd.bind(5, d.dev_id).run();
      d.dirty = false;
    }
    for (const auto& key : dirty_streams) {
      auto it = streams.find(key);
      if (it == streams.end()) continue;
      st_stream_upd.bind(1, it->second.last_id).bind(2, it->second.stream_id).run();
      it->second.dirty = false;
    }
    dirty_devs.clear();
    dirty_streams.clear();
    if (!replay_pending) {
      put_meta("state_upto", std::to_string(last_id));
      state_upto = last_id;
    }
    put_meta("mono_ns", std::to_string(mono_ns()));
  }

  // ---------------------------------------------------------------- writer loop
  void fsync_wal() {
    int fd = ::open(wal_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::fdatasync(fd);
      ::close(fd);
    }
    c_fsyncs.inc();
    unsynced_since.reset();
  }

  void run() {
    std::unique_lock lk(mu);
    auto has_work = [&] { return !ingest.empty() || !execs.empty(); };
    // The maintenance timer runs on the real steady clock (it is a period, not an age).
    auto next_maint = steady::now() + opts.maintenance_interval;
    while (true) {
      if (!busy && !stopping && steady::now() >= next_maint) {
        busy = true;
        lk.unlock();
        maintenance();
        lk.lock();
        busy = false;
        next_maint = steady::now() + opts.maintenance_interval;
        continue;
      }
      if (busy || !has_work()) {
        if (stopping && !busy && !has_work()) break;
        if (unsynced_since && !busy) {
          auto deadline = *unsynced_since + opts.sync_interval;
          if (!cv.wait_until(lk, std::min(deadline, next_maint), [&] { return stopping || (!busy && has_work()); }) &&
              !busy && clock.steady() >= deadline) {
            // idle: bound the power-cut window without waiting for the next commit
            busy = true;
            lk.unlock();
            fsync_wal();
            lk.lock();
            busy = false;
          }
          continue;
        }
        cv.wait_until(lk, next_maint, [&] { return (stopping && !busy) || (!busy && (has_work() || unsynced_since)); });
        continue;
      }
      std::vector<IngestJob> jobs;
      std::size_t rows = 0;
      while (!ingest.empty() && (jobs.empty() || rows + ingest.front().readings.size() <= opts.max_rows_per_txn)) {
        rows += ingest.front().readings.size();
        jobs.push_back(std::move(ingest.front()));
        ingest.pop_front();
      }
      queued_rows -= rows;
      g_queue.set(static_cast<std::int64_t>(queued_rows));
      std::deque<std::function<void()>> ex;
      ex.swap(execs);
      busy = true;
      lk.unlock();
      if (!jobs.empty()) commit_group(jobs);
      for (auto& f : ex) f();
      lk.lock();
      busy = false;
    }
    lk.unlock();
    try {
      if (!dirty_devs.empty() || !dirty_streams.empty() || state_upto != last_id) {
        wdb.exec("BEGIN IMMEDIATE");
        flush_state();
        wdb.exec("COMMIT");
      }
    } catch (const sql::SqlError& e) {
      sqlite3_exec(wdb.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      spdlog::warn("store: final state flush failed (replayed at next open): {}", e.what());
    }
    fsync_wal();
  }

  // After a failed transaction the in-memory seqs may be ahead of the database. Rebuild the
  // committed state from the database itself (replay after state_upto), then start clean.
  void drop_caches_after_rollback() {
    devs.clear();
    streams.clear();
    source_ids.clear();
    dirty_devs.clear();
    dirty_streams.clear();
    auto committed_state_upto = [&] {
      sql::Stmt g(wdb, "SELECT value FROM meta WHERE key='state_upto'");
      return g.step() ? std::stoll(g.text(0)) : std::int64_t{0};
    };
    try {
      state_upto = committed_state_upto();
      recover_state();
    } catch (const sql::SqlError& e) {
      recover_state_refused();
      spdlog::error("store: cannot write the rebuilt device state after a failed commit ({}); next seqs are taken "
                    "from the readings",
                    e.what());
    }
  }

  DevState& device(const std::string& name, const std::string& adapter, std::int64_t now_ns) {
    auto it = devs.find(name);
    if (it != devs.end()) return it->second;
    DevState d;
    st_dev_get.bind_text(1, name);
    if (st_dev_get.step()) {
      d.dev_id = st_dev_get.i64(0);
      d.next_seq = static_cast<std::uint64_t>(st_dev_get.i64(1));
      d.last_seen = st_dev_get.i64(2);
      d.adapter = st_dev_get.text(3);
      if (!st_dev_get.is_null(4)) d.last_src_seq = static_cast<std::uint64_t>(st_dev_get.i64(4));
      st_dev_get.reset();
      if (last_id > state_upto) {
        // The device row is exact only up to state_upto (written back lazily). If replaying the
        // tail could not be written (a full disk), take the next seq from the readings themselves
        // (read-only): a seq is never handed out twice.
        sql::Stmt mx(wdb,
                     "SELECT max(r.seq) FROM readings r JOIN streams s ON s.stream_id=r.stream_id "
                     "WHERE s.dev_id=? AND r.id > ?");
        mx.bind(1, d.dev_id).bind(2, state_upto);
        if (mx.step() && !mx.is_null(0))
          d.next_seq = std::max(d.next_seq, static_cast<std::uint64_t>(mx.i64(0)) + 1);
      }
    } else {
      st_dev_get.reset();
      st_dev_ins.bind_text(1, name).bind_text(2, adapter).bind(3, now_ns).bind(4, now_ns).run();
      d.dev_id = sqlite3_last_insert_rowid(wdb.get());
      d.adapter = adapter;
    }
    return devs.emplace(name, d).first->second;
  }

  StreamState& stream(std::int64_t dev_id, const std::string& metric, const std::string& unit,
                      const std::string** key_out) {
    std::string key = std::to_string(dev_id);
    key.push_back('\0');
    key += metric;
    key.push_back('\0');
    key += unit;
    auto it = streams.find(key);
    if (it != streams.end()) {
      *key_out = &it->first;
      return it->second;
    }
    StreamState s;
    st_stream_get.bind(1, dev_id).bind_text(2, metric).bind_text(3, unit);
    if (st_stream_get.step()) {
      s.stream_id = st_stream_get.i64(0);
      s.last_id = st_stream_get.is_null(1) ? 0 : st_stream_get.i64(1);
      st_stream_get.reset();
    } else {
      st_stream_get.reset();
      st_stream_ins.bind(1, dev_id).bind_text(2, metric).bind_text(3, unit).run();
      s.stream_id = sqlite3_last_insert_rowid(wdb.get());
    }
    auto ins = streams.emplace(std::move(key), s).first;
    *key_out = &ins->first;
    return ins->second;
  }

  void commit_group(std::vector<IngestJob>& jobs) {
    bool want_fsync = false;
    for (const auto& j : jobs) want_fsync |= j.opts.durability == Durability::fsynced;
    auto now_steady = clock.steady();
    if (unsynced_since && now_steady - *unsynced_since >= opts.sync_interval) want_fsync = true;

    std::vector<CommitStatus> status(jobs.size(), CommitStatus::committed);
    if (disk_full) {
      // Nothing is written while the disk is full: the sources hold their data (503, no PUBACK).
      for (std::size_t k = 0; k < jobs.size(); ++k)
        if (jobs[k].done) jobs[k].done(CommitStatus::throttled);
      return;
    }
    std::vector<std::pair<std::uint64_t, std::uint64_t>> new_keys;
    std::size_t stored = 0;
    const auto wall_now = to_unix_ns(clock.now());
    const std::uint32_t cflags = clock_flags(wall_now);
    try {
      if (want_fsync) wdb.exec("PRAGMA synchronous=FULL");  // FULL in WAL mode: the commit fsyncs the WAL
      st_begin.run();
      for (std::size_t k = 0; k < jobs.size(); ++k) {
        auto& j = jobs[k];
        std::optional<std::uint64_t> dkey;
        if (j.opts.dedup) {
          dkey = (static_cast<std::uint64_t>(source_id(j.opts.dedup->source)) << 16) | (j.opts.dedup->packet_id & 0xFFFF);
          if (j.opts.dedup->is_redelivery) {
            auto it = recent.find(*dkey);
            if (it != recent.end() && it->second == j.opts.dedup->payload_hash) {
              status[k] = CommitStatus::duplicate;
              c_dups.inc();
              continue;
            }
          }
        }
        bool first_of_job = true;
        auto cls = j.opts.record_class;
        if (cls != RecordClass::alert && cls != RecordClass::report) cls = RecordClass::telemetry;
        if (!j.readings.empty()) note_waiting(cls, now_steady);
        for (auto& r : j.readings) {
          auto now_ns = to_unix_ns(r.received);
          r.quality |= cflags;
          DevState& d = device(r.device, j.adapter, now_ns);
          const std::string* skey = nullptr;
          StreamState& s = stream(d.dev_id, r.metric, r.unit, &skey);
          r.seq = d.next_seq++;
          if (r.src_seq) {
            // The device's own counter: one message may carry several readings with the same
            // value; a step of more than one is loss between the device and the gateway; a step
            // back is a counter reset (rejoin, reboot, wrap) and starts over.
            if (d.last_src_seq && *r.src_seq > *d.last_src_seq + 1) {
              GapRecord g;
              g.kind = GapRecord::Kind::src_seq;
              g.device = r.device;
              g.first = *d.last_src_seq + 1;
              g.last = *r.src_seq - 1;
              g.count = g.last - g.first + 1;
              g.to = r.observed;
              g.detected = from_unix_ns(wall_now);
              g.reason = "device counter skipped";
              insert_record(g, RecordClass::summary, wall_now);
              c_gaps.inc();
              c_gap_missing.inc(g.count);
              if (gap_logged.insert(r.device).second)
                spdlog::warn("store: device '{}' counter skipped {} values ({}..{}); further gaps counted in "
                             "src_seq_gaps_total", r.device, g.count, g.first, g.last);
            }
            d.last_src_seq = *r.src_seq;
          }
          auto& ins = st_reading_ins;
          ins.bind(1, s.stream_id).bind(2, static_cast<std::int64_t>(r.seq));
          if (r.src_seq) ins.bind(3, static_cast<std::int64_t>(*r.src_seq)); else ins.bind_null(3);
          ins.bind(4, to_unix_ns(r.observed)).bind(5, now_ns).bind(6, std::int64_t{r.quality});
          ins.bind(7, std::int64_t{static_cast<int>(value_type(r.value))});
          bind_value(ins, 8, r.value);
          if (r.tags.empty()) ins.bind_null(9); else ins.bind_blob(9, encode_tags(r.tags));
          if (dkey && first_of_job) {
            ins.bind(10, static_cast<std::int64_t>(*dkey)).bind(11, static_cast<std::int64_t>(j.opts.dedup->payload_hash));
            new_keys.emplace_back(*dkey, j.opts.dedup->payload_hash);
          } else {
            ins.bind_null(10).bind_null(11);
          }
          ins.bind(12, std::int64_t{static_cast<int>(cls)});
          ins.bind(13, last_id + 1);  // never a reused id (reading_id_high_water)
          first_of_job = false;
          ins.run();
          s.last_id = last_id = last_id + 1;
          if (!s.dirty) { s.dirty = true; dirty_streams.push_back(*skey); }
          if (!d.dirty) { d.dirty = true; dirty_devs.push_back(r.device); }
          d.last_seen = std::max(d.last_seen, now_ns);
          if (!j.adapter.empty()) d.adapter = j.adapter;
          ++stored;
        }
        if (!j.readings.empty() && !j.adapter.empty()) {
          std::lock_guard il(ingest_mu);
          last_ingest[j.adapter] = from_unix_ns(wall_now);
        }
      }
      if (now_steady - last_state_flush >= kStateFlushInterval && (!dirty_devs.empty() || !dirty_streams.empty())) {
        flush_state();
        last_state_flush = now_steady;
      }
      st_commit.run();
      if (want_fsync) {
        wdb.exec("PRAGMA synchronous=NORMAL");
        c_fsyncs.inc();
        unsynced_since.reset();
      } else if (!unsynced_since) {
        unsynced_since = now_steady;
      }
      c_commits.inc();
      c_readings.inc(stored);
    } catch (const sql::SqlError& e) {
      sqlite3_exec(wdb.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_exec(wdb.get(), "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
      // Caches may hold seqs of the rolled-back transaction: write back what is committed and
      // unflushed, then drop them and re-read lazily.
      drop_caches_after_rollback();
      c_failures.inc();
      if ((e.code & 0xFF) == SQLITE_CORRUPT) {
        // Checked (and quarantined if bad) at the next open; the operator is told now.
        std::ofstream(opts.path.string() + ".corrupt-detected") << e.what() << "\n";
        spdlog::critical("store: the database reports corruption ({}); restart the gateway to move it aside", e.what());
      }
      if ((e.code & 0xFF) == SQLITE_FULL) {
        on_disk_full(e.what());
        for (auto& s : status) s = CommitStatus::throttled;
      } else {
        spdlog::error("store: commit of {} jobs failed: {}", jobs.size(), e.what());
        for (auto& s : status) s = CommitStatus::failed;
      }
    }
    if (status.empty() || status.front() == CommitStatus::committed || status.front() == CommitStatus::duplicate)
      for (auto& [k, h] : new_keys) recent[k] = h;
    for (std::size_t k = 0; k < jobs.size(); ++k)
      if (jobs[k].done) jobs[k].done(status[k]);
    if (stored && commit_listener) commit_listener();
  }

  template <class F>
  auto on_writer(F f) -> Result<decltype(f())> {
    using T = decltype(f());
    auto p = std::make_shared<std::promise<Result<T>>>();
    auto fut = p->get_future();
    {
      std::lock_guard lk(mu);
      if (stopping) return fail(Error::retry("stopping", "store is shutting down"));
      execs.push_back([this, p, f]() mutable {
        try {
          if constexpr (std::is_void_v<T>) {
            f();
            p->set_value({});
          } else {
            p->set_value(f());
          }
        } catch (const sql::SqlError& e) {
          sqlite3_exec(wdb.get(), "ROLLBACK", nullptr, nullptr, nullptr);
          sqlite3_exec(wdb.get(), "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
          p->set_value(fail(Error::retry("sqlite", e.what())));
        }
      });
    }
    cv.notify_one();
    return fut.get();
  }

  void put_meta(const char* k, const std::string& v) { st_meta_put.bind_text(1, k).bind_text(2, v).run(); }
  // The persisted outbox cursor of a class (inside the caller's transaction).
  void put_cursor(RecordClass c, std::int64_t v) { put_meta(meta_key_cursor(c).c_str(), std::to_string(v)); }

  // Read readings [first,last] on the uplink connection.
  // Readings of one class (telemetry 0, alert 1, report 2) with ids in [first, last]; a connection
  // other than the writer's (the uplink's, or an inspection connection).
  static std::vector<Reading> read_range(sql::Db& db, std::int64_t first, std::int64_t last, int cls,
                                         std::size_t limit = SIZE_MAX) {
    sql::Stmt s(db,
                "SELECT d.name, st.metric, st.unit, r.seq, r.src_seq, r.observed_ns, r.received_ns, r.quality, r.vtype, "
                "r.value, r.tags FROM readings r JOIN streams st ON st.stream_id=r.stream_id "
                "JOIN devices d ON d.dev_id=st.dev_id WHERE r.id BETWEEN ? AND ? AND r.class=? ORDER BY r.id LIMIT ?");
    s.bind(1, first).bind(2, last).bind(3, std::int64_t{cls});
    s.bind(4, limit > static_cast<std::size_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(limit));
    std::vector<Reading> out;
    while (s.step()) {
      Reading r;
      r.device = s.text(0);
      r.metric = s.text(1);
      r.unit = s.text(2);
      r.seq = static_cast<std::uint64_t>(s.i64(3));
      if (!s.is_null(4)) r.src_seq = static_cast<std::uint64_t>(s.i64(4));
      r.observed = from_unix_ns(s.i64(5));
      r.received = from_unix_ns(s.i64(6));
      r.quality = static_cast<std::uint32_t>(s.i64(7));
      r.value = read_value(s, 8, 9);
      if (!s.is_null(10)) r.tags = decode_tags(s.blob(10));
      out.push_back(std::move(r));
    }
    return out;
  }
};

}  // namespace cg::store
