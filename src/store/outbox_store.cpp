// The outbox side of the store: batch formation per class, per-sink settlement, splits, dead
// batches, records (gaps, aggregates, status). See outbox.hpp for the contract.
#include <charconv>

#include "store/store_impl.hpp"

namespace cg::store {

namespace {

constexpr int cls_int(RecordClass c) { return static_cast<int>(c); }
bool is_record_class(RecordClass c) { return c == RecordClass::status || c == RecordClass::summary; }
// The class of the reading rows a batch of class `c` holds (backlog is drained telemetry).
int reading_class(RecordClass c) { return c == RecordClass::backlog ? 0 : cls_int(c); }

// ---- records as key/value bodies (the tag encoding: varint-prefixed strings) ----------------
std::string num(std::int64_t v) { return std::to_string(v); }
std::string num(std::uint64_t v) { return std::to_string(v); }
std::string num(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest exact form
  return std::string(buf, r.ptr);
}
template <class T>
T parse(const std::string& s) {
  T v{};
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

enum RecordKind : int { kGap = 1, kAggregate = 2, kStatus = 3 };

std::pair<int, std::vector<std::uint8_t>> encode_record(const Record& rec) {
  Tags kv;
  int kind = 0;
  if (auto* g = std::get_if<GapRecord>(&rec)) {
    kind = kGap;
    kv = {{"k", num(std::int64_t{static_cast<int>(g->kind)})},
          {"d", g->device},
          {"m", g->metric},
          {"first", num(g->first)},
          {"last", num(g->last)},
          {"n", num(g->count)},
          {"from", num(to_unix_ns(g->from))},
          {"to", num(to_unix_ns(g->to))},
          {"at", num(to_unix_ns(g->detected))},
          {"why", g->reason}};
  } else if (auto* a = std::get_if<AggregateRecord>(&rec)) {
    kind = kAggregate;
    kv = {{"d", a->device},           {"m", a->metric},           {"u", a->unit},
          {"t", num(to_unix_ns(a->minute))}, {"n", num(a->count)},   {"min", num(a->min)},
          {"max", num(a->max)},       {"sum", num(a->sum)},       {"last", num(a->last)},
          {"s0", num(a->first_seq)},  {"s1", num(a->last_seq)}};
  } else if (auto* s = std::get_if<StatusRecord>(&rec)) {
    kind = kStatus;
    kv = {{"v", s->version},
          {"at", num(to_unix_ns(s->at))},
          {"up", num(s->uptime_s)},
          {"br", num(s->backlog_rows)},
          {"bb", num(s->backlog_bytes)},
          {"age", num(s->oldest_unsent_age_ms)},
          {"db", num(s->db_bytes)},
          {"budget", num(s->disk_budget_bytes)},
          {"free", num(s->disk_free_bytes)},
          {"dead", num(s->dead_batches)},
          {"ev", num(s->evicted_rows)}};
    for (const auto& [name, at] : s->last_ingest) kv.emplace_back("in:" + name, num(to_unix_ns(at)));
  }
  return {kind, encode_tags(kv)};
}

std::optional<Record> decode_record(int kind, std::span<const std::uint8_t> body) {
  std::map<std::string, std::string> f;
  std::vector<std::pair<std::string, TimeNs>> ingest;
  for (auto& [k, v] : decode_tags(body)) {
    if (k.rfind("in:", 0) == 0) ingest.emplace_back(k.substr(3), from_unix_ns(parse<std::int64_t>(v)));
    else f[k] = v;
  }
  auto i64 = [&](const char* k) { return parse<std::int64_t>(f[k]); };
  auto u64 = [&](const char* k) { return parse<std::uint64_t>(f[k]); };
  auto f64 = [&](const char* k) { return parse<double>(f[k]); };
  switch (kind) {
    case kGap:
      return GapRecord{static_cast<GapRecord::Kind>(i64("k")), f["d"], f["m"], u64("first"), u64("last"), u64("n"),
                       from_unix_ns(i64("from")), from_unix_ns(i64("to")), from_unix_ns(i64("at")), f["why"]};
    case kAggregate:
      return AggregateRecord{f["d"],    f["m"],    f["u"],     from_unix_ns(i64("t")), u64("n"), f64("min"),
                             f64("max"), f64("sum"), f64("last"), u64("s0"),              u64("s1")};
    case kStatus: {
      StatusRecord s;
      s.version = f["v"];
      s.at = from_unix_ns(i64("at"));
      s.uptime_s = i64("up");
      s.backlog_rows = i64("br");
      s.backlog_bytes = i64("bb");
      s.oldest_unsent_age_ms = i64("age");
      s.db_bytes = i64("db");
      s.disk_budget_bytes = i64("budget");
      s.disk_free_bytes = i64("free");
      s.dead_batches = i64("dead");
      s.evicted_rows = i64("ev");
      s.last_ingest = std::move(ingest);
      return s;
    }
    default: return std::nullopt;
  }
}

std::vector<Record> read_records(sql::Db& db, std::int64_t first, std::int64_t last, int cls) {
  sql::Stmt s(db, "SELECT kind, body FROM records WHERE class=? AND id BETWEEN ? AND ? ORDER BY id");
  s.bind(1, std::int64_t{cls}).bind(2, first).bind(3, last);
  std::vector<Record> out;
  while (s.step())
    if (auto r = decode_record(static_cast<int>(s.i64(0)), s.blob(1))) out.push_back(std::move(*r));
  return out;
}

// Rows [offset, offset + count) of part k of n of a batch of `rows` rows, as the uplink slices it.
std::pair<std::int64_t, std::int64_t> part_slice(std::int64_t rows, std::uint32_t part, std::uint32_t parts) {
  const auto a = rows * (part - 1) / parts, b = rows * part / parts;
  return {a, b - a};
}

// The rows of a dead batch or part (readings of its class in its range; a part's own slice).
std::vector<Reading> dead_rows(sql::Db& db, const DeadBatch& d, std::size_t limit);

std::uint64_t all_parts(std::uint32_t parts) { return parts >= 64 ? ~0ull : ((1ull << parts) - 1); }

}  // namespace

// ------------------------------------------------------------------ Impl pieces
void Store::Impl::outbox_open() {
  // A database from schema 1 had one cursor (batched_upto, loaded into cursor[0]); alert and
  // report rows did not exist then, so their cursors start there too.
  sql::Stmt has(wdb, "SELECT count(*) FROM meta WHERE key LIKE 'cursor_%'");
  has.step();
  if (has.i64(0) == 0) {
    for (auto c : {RecordClass::alert, RecordClass::report}) cursor[cls_int(c)] = cursor[0];
    for (int c = 0; c < kRecordClassCount; ++c)
      put_cursor(static_cast<RecordClass>(c), cursor[c]);
  }
}

void Store::Impl::note_waiting(RecordClass cls, steady::time_point now) {
  auto i = cls_int(cls);
  if (!waiting_since[i]) waiting_since[i] = now;
  maybe_waiting[i] = true;
}

void Store::Impl::insert_record(const Record& rec, RecordClass cls, std::int64_t at_ns) {
  auto [kind, body] = encode_record(rec);
  sql::Stmt ins(wdb, "INSERT INTO records(class, kind, at_ns, body) VALUES(?,?,?,?)");
  ins.bind(1, std::int64_t{cls_int(cls)}).bind(2, std::int64_t{kind}).bind(3, at_ns).bind_blob(4, body).run();
  note_waiting(cls, clock.steady());
}

// ------------------------------------------------------------------ public
Result<void> Store::set_sinks(std::vector<std::string> sinks) {
  auto& m = *impl_;
  return m.on_writer([&m, sinks = std::move(sinks)] {
    m.sinks = sinks;
    if (m.sinks.empty()) return;
    // Batches every configured sink has finished (a sink was removed from the config) go now.
    std::string in;
    for (std::size_t i = 0; i < m.sinks.size(); ++i) in += i ? ",?" : "?";
    sql::Stmt done(m.wdb, ("SELECT b.batch_seq FROM batches b WHERE (SELECT count(*) FROM batch_sinks s WHERE "
                           "s.batch_seq=b.batch_seq AND s.state IN (1,2) AND s.sink IN (" + in + ")) = " +
                           std::to_string(m.sinks.size())).c_str());
    for (std::size_t i = 0; i < m.sinks.size(); ++i) done.bind_text(static_cast<int>(i + 1), m.sinks[i]);
    std::vector<std::int64_t> seqs;
    while (done.step()) seqs.push_back(done.i64(0));
    done.reset();
    if (seqs.empty()) return;
    m.wdb.exec("BEGIN IMMEDIATE");
    for (auto seq : seqs) {
      sql::Stmt d1(m.wdb, "DELETE FROM batches WHERE batch_seq=?");
      d1.bind(1, seq).run();
      sql::Stmt d2(m.wdb, "DELETE FROM batch_sinks WHERE batch_seq=?");
      d2.bind(1, seq).run();
    }
    m.wdb.exec("COMMIT");
  });
}

Result<LeaseResult> Store::lease(const LeaseRequest& req) {
  auto& m = *impl_;
  auto header = m.on_writer([&]() -> LeaseResult {
    LeaseResult lr;
    const auto now = m.clock.steady();
    auto note_retry = [&](std::chrono::milliseconds d) {
      if (!lr.retry_after || d < *lr.retry_after) lr.retry_after = d;
    };
    for (RecordClass cls : kSendOrder) {
      if (cls == RecordClass::backlog && !req.allow_backlog) {
        sql::Stmt any(m.wdb, "SELECT 1 FROM backlog_ranges LIMIT 1");
        if (any.step()) note_retry(std::chrono::milliseconds(200));
        continue;
      }
      const int ci = cls_int(cls);
      // 1. A formed batch this sink has not finished, oldest first, not in flight.
      {
        sql::Stmt f(m.wdb,
                    "SELECT b.batch_seq, b.batch_id, b.first_id, b.last_id, b.created_ns, b.rows, b.bytes, "
                    "coalesce(s.parts,0), coalesce(s.parts_done,0) FROM batches b LEFT JOIN batch_sinks s "
                    "ON s.batch_seq=b.batch_seq AND s.sink=? WHERE b.class=? AND coalesce(s.state,0)=0 "
                    "ORDER BY b.batch_seq LIMIT ?");
        f.bind_text(1, req.sink).bind(2, std::int64_t{ci}).bind(3, static_cast<std::int64_t>(req.exclude.size() + 1));
        while (f.step()) {
          auto seq = static_cast<std::uint64_t>(f.i64(0));
          if (std::find(req.exclude.begin(), req.exclude.end(), seq) != req.exclude.end()) continue;
          Batch b;
          b.batch_seq = seq;
          b.batch_id = f.text(1);
          b.record_class = cls;
          b.first_id = f.i64(2);
          b.last_id = f.i64(3);
          b.created = from_unix_ns(f.i64(4));
          b.rows = f.i64(5);
          b.bytes = f.i64(6);
          b.parts = static_cast<std::uint32_t>(f.i64(7));
          b.parts_done = static_cast<std::uint64_t>(f.i64(8));
          lr.batch = std::move(b);
          return lr;
        }
      }
      // 2. Form a new batch of this class.
      if (!m.maybe_waiting[ci] && cls != RecordClass::backlog) continue;
      std::int64_t first = 0, last = 0, rows = 0, bytes = 0;
      bool full = false;
      auto scan = [&](sql::Stmt& s) {
        while (s.step()) {
          auto sz = s.i64(1);
          if (rows > 0 && bytes + sz > static_cast<std::int64_t>(req.max_bytes)) {
            full = true;
            break;
          }
          if (!first) first = s.i64(0);
          last = s.i64(0);
          bytes += sz;
          if (++rows >= static_cast<std::int64_t>(req.max_rows)) {
            full = true;
            break;
          }
        }
        s.reset();
      };
      std::int64_t backlog_from = 0, backlog_to = 0;
      if (cls == RecordClass::backlog) {
        sql::Stmt r(m.wdb, "SELECT from_id, to_id FROM backlog_ranges ORDER BY from_id LIMIT 1");
        if (!r.step()) continue;
        backlog_from = r.i64(0);
        backlog_to = r.i64(1);
        r.reset();
        sql::Stmt s(m.wdb,
                    "SELECT r.id, 40 + length(d.name) + length(st.metric) + length(st.unit) + coalesce(length(r.tags),0) "
                    "+ coalesce(length(r.value),8) FROM readings r JOIN streams st ON st.stream_id=r.stream_id "
                    "JOIN devices d ON d.dev_id=st.dev_id WHERE r.id BETWEEN ? AND ? AND r.class=0 ORDER BY r.id LIMIT ?");
        s.bind(1, backlog_from).bind(2, backlog_to).bind(3, static_cast<std::int64_t>(req.max_rows));
        scan(s);
        full = true;  // the backlog is due at once: it has waited long enough
      } else if (is_record_class(cls)) {
        sql::Stmt s(m.wdb, "SELECT id, 16 + length(body) FROM records WHERE class=? AND id > ? ORDER BY id LIMIT ?");
        s.bind(1, std::int64_t{ci}).bind(2, m.cursor[ci]).bind(3, static_cast<std::int64_t>(req.max_rows));
        scan(s);
        if (cls == RecordClass::status) full = full || rows > 0;  // sent as soon as made
      } else {
        if (cls == RecordClass::telemetry && m.last_id - m.cursor[0] > static_cast<std::int64_t>(m.opts.backlog_threshold_rows)) {
          // An outage left more telemetry waiting than live sending would catch up with soon:
          // it becomes the backlog, drained at the sink's drain rate, while new telemetry goes
          // first from here on.
          sql::Stmt ins(m.wdb, "INSERT OR REPLACE INTO backlog_ranges(from_id, to_id) VALUES(?,?)");
          m.wdb.exec("BEGIN IMMEDIATE");
          ins.bind(1, m.cursor[0] + 1).bind(2, m.last_id).run();
          m.put_meta("cursor_telemetry", std::to_string(m.last_id));
          m.wdb.exec("COMMIT");
          spdlog::info("store: {} telemetry rows waiting after an outage become the backlog (ids {}..{})",
                       m.last_id - m.cursor[0], m.cursor[0] + 1, m.last_id);
          m.cursor[0] = m.last_id;
          m.waiting_since[0].reset();
          m.maybe_waiting[0] = false;
          continue;
        }
        sql::Stmt s(m.wdb,
                    "SELECT r.id, 40 + length(d.name) + length(st.metric) + length(st.unit) + coalesce(length(r.tags),0) "
                    "+ coalesce(length(r.value),8) FROM readings r JOIN streams st ON st.stream_id=r.stream_id "
                    "JOIN devices d ON d.dev_id=st.dev_id WHERE r.id > ? AND r.class=? ORDER BY r.id LIMIT ?");
        s.bind(1, m.cursor[ci]).bind(2, std::int64_t{ci}).bind(3, static_cast<std::int64_t>(req.max_rows));
        scan(s);
      }
      if (rows == 0) {
        if (cls == RecordClass::backlog) {
          // Every row of the range was evicted: nothing left to drain from it.
          sql::Stmt d(m.wdb, "DELETE FROM backlog_ranges WHERE from_id=?");
          d.bind(1, backlog_from).run();
        } else {
          m.maybe_waiting[ci] = false;
          m.waiting_since[ci].reset();
        }
        continue;
      }
      if (!full) {
        if (m.waiting_since[ci]) {
          auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - *m.waiting_since[ci]);
          if (age < req.max_age) {
            note_retry(req.max_age - age);
            continue;
          }
        }  // unknown since when (rows from before a restart): due now
      }
      Batch b;
      b.batch_seq = m.next_batch_seq;
      b.created = m.clock.now();
      b.batch_id = uuid_v7(b.created);
      b.record_class = cls;
      b.first_id = first;
      b.last_id = last;
      b.rows = rows;
      b.bytes = bytes;
      // The batch is fsync'd before it is handed out: after a power cut the same rows must come
      // back under the same batch_id, or the lake could not recognise the duplicate.
      m.wdb.exec("PRAGMA synchronous=FULL");
      m.wdb.exec("BEGIN IMMEDIATE");
      sql::Stmt ins(m.wdb,
                    "INSERT INTO batches(batch_seq, batch_id, first_id, last_id, created_ns, class, rows, bytes) "
                    "VALUES(?,?,?,?,?,?,?,?)");
      ins.bind(1, static_cast<std::int64_t>(b.batch_seq)).bind_text(2, b.batch_id).bind(3, first).bind(4, last)
          .bind(5, to_unix_ns(b.created)).bind(6, std::int64_t{ci}).bind(7, rows).bind(8, bytes).run();
      if (cls == RecordClass::backlog) {
        sql::Stmt d(m.wdb, "DELETE FROM backlog_ranges WHERE from_id=?");
        d.bind(1, backlog_from).run();
        if (last < backlog_to) {
          sql::Stmt r(m.wdb, "INSERT INTO backlog_ranges(from_id, to_id) VALUES(?,?)");
          r.bind(1, last + 1).bind(2, backlog_to).run();
        }
      } else {
        m.put_cursor(cls, last);
      }
      m.put_meta("next_batch_seq", std::to_string(b.batch_seq + 1));
      m.wdb.exec("COMMIT");
      m.wdb.exec("PRAGMA synchronous=NORMAL");
      m.c_fsyncs.inc();
      m.unsynced_since.reset();
      if (cls != RecordClass::backlog) {
        m.cursor[ci] = last;
        if (!full) {
          m.waiting_since[ci].reset();
          m.maybe_waiting[ci] = false;
        }
      }
      m.next_batch_seq = b.batch_seq + 1;
      lr.batch = std::move(b);
      lr.retry_after.reset();
      return lr;
    }
    return lr;
  });
  if (!header) return fail(header.error());
  if (header->batch) {
    auto& b = *header->batch;
    b.incarnation_id = m.incarnation;
    try {
      std::lock_guard lk(m.umu);
      if (is_record_class(b.record_class)) b.records = read_records(m.udb, b.first_id, b.last_id, cls_int(b.record_class));
      else b.readings = Impl::read_range(m.udb, b.first_id, b.last_id, reading_class(b.record_class));
    } catch (const sql::SqlError& e) {
      return fail(Error::retry("sqlite", e.what()));
    }
  }
  return header;
}

namespace {
// Removes the batch when every configured sink is done with it. Inside the caller's transaction.
void remove_if_done(Store::Impl& m, std::uint64_t seq) {
  std::size_t done = 0;
  sql::Stmt q(m.wdb, "SELECT sink FROM batch_sinks WHERE batch_seq=? AND state IN (1,2)");
  q.bind(1, static_cast<std::int64_t>(seq));
  while (q.step()) {
    auto s = q.text(0);
    if (std::find(m.sinks.begin(), m.sinks.end(), s) != m.sinks.end()) ++done;
  }
  q.reset();
  // Without set_sinks() (tools, tests) the one sink that settles is the only one.
  if (m.sinks.empty() ? false : done < m.sinks.size()) return;
  sql::Stmt d1(m.wdb, "DELETE FROM batches WHERE batch_seq=?");
  d1.bind(1, static_cast<std::int64_t>(seq)).run();
  sql::Stmt d2(m.wdb, "DELETE FROM batch_sinks WHERE batch_seq=?");
  d2.bind(1, static_cast<std::int64_t>(seq)).run();
}

// Marks part `part` (or the whole batch, part 0) done for `sink` with final state `state`
// (1 settled, 2 dead). Inside the caller's transaction.
void mark_done(Store::Impl& m, const std::string& sink, std::uint64_t seq, std::uint32_t part, int state) {
  sql::Stmt g(m.wdb, "SELECT parts, parts_done, state FROM batch_sinks WHERE batch_seq=? AND sink=?");
  g.bind(1, static_cast<std::int64_t>(seq)).bind_text(2, sink);
  std::uint32_t parts = 0;
  std::uint64_t done = 0;
  int prev = 0;
  if (g.step()) {
    parts = static_cast<std::uint32_t>(g.i64(0));
    done = static_cast<std::uint64_t>(g.i64(1));
    prev = static_cast<int>(g.i64(2));
  }
  g.reset();
  if (prev != 0) return;  // already finished
  int new_state = state;
  if (part > 0 && parts > 0) {
    done |= 1ull << (part - 1);
    new_state = done == all_parts(parts) ? state : 0;
  }
  sql::Stmt up(m.wdb,
               "INSERT INTO batch_sinks(batch_seq, sink, state, parts, parts_done) VALUES(?,?,?,?,?) "
               "ON CONFLICT(batch_seq, sink) DO UPDATE SET state=excluded.state, parts_done=excluded.parts_done");
  up.bind(1, static_cast<std::int64_t>(seq)).bind_text(2, sink).bind(3, std::int64_t{new_state})
      .bind(4, std::int64_t{parts}).bind(5, static_cast<std::int64_t>(done)).run();
  if (new_state != 0) remove_if_done(m, seq);
}
}  // namespace

Result<void> Store::settle(const std::string& sink, std::uint64_t batch_seq, std::uint32_t part) {
  auto& m = *impl_;
  return m.on_writer([&] {
    m.wdb.exec("BEGIN IMMEDIATE");
    mark_done(m, sink, batch_seq, part, 1);
    m.wdb.exec("COMMIT");
    if (!m.unsynced_since) m.unsynced_since = m.clock.steady();
  });
}

Result<void> Store::split(const std::string& sink, std::uint64_t batch_seq, std::uint32_t parts) {
  auto& m = *impl_;
  if (parts < 2 || parts > kMaxParts) return fail(Error::reject("parts", "parts must be 2.." + std::to_string(kMaxParts)));
  return m.on_writer([&] {
    // fsync'd like a lease: after a power cut the same parts must be re-sent, never a different
    // split whose (batch_id, part) keys the lake could not match.
    m.wdb.exec("PRAGMA synchronous=FULL");
    m.wdb.exec("BEGIN IMMEDIATE");
    sql::Stmt up(m.wdb,
                 "INSERT INTO batch_sinks(batch_seq, sink, state, parts, parts_done) VALUES(?,?,0,?,0) "
                 "ON CONFLICT(batch_seq, sink) DO UPDATE SET parts=excluded.parts, parts_done=0 WHERE state=0");
    up.bind(1, static_cast<std::int64_t>(batch_seq)).bind_text(2, sink).bind(3, std::int64_t{parts}).run();
    m.wdb.exec("COMMIT");
    m.wdb.exec("PRAGMA synchronous=NORMAL");
    m.c_fsyncs.inc();
    m.unsynced_since.reset();
  });
}

Result<void> Store::dead_letter(const std::string& sink, const Batch& b, std::uint32_t part, int status,
                                const std::string& reason) {
  auto& m = *impl_;
  auto r = m.on_writer([&] {
    m.wdb.exec("PRAGMA synchronous=FULL");
    m.wdb.exec("BEGIN IMMEDIATE");
    sql::Stmt ins(m.wdb,
                  "INSERT INTO dead_batches(batch_seq, batch_id, sink, class, first_id, last_id, rows, part, parts, status, "
                  "reason, created_ns, dead_at_ns) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
    // A dead part keeps the batch's id range and its own row count; its rows are the part's slice
    // of the range (the uplink's split rule, part_slice()).
    const auto rows = part > 0 ? part_slice(b.rows, part, b.parts).second : b.rows;
    ins.bind(1, static_cast<std::int64_t>(b.batch_seq)).bind_text(2, b.batch_id).bind_text(3, sink)
        .bind(4, std::int64_t{cls_int(b.record_class)}).bind(5, b.first_id).bind(6, b.last_id).bind(7, rows)
        .bind(8, std::int64_t{part}).bind(9, std::int64_t{part ? b.parts : 0}).bind(10, std::int64_t{status})
        .bind_text(11, reason.substr(0, 2000)).bind(12, to_unix_ns(b.created)).bind(13, to_unix_ns(m.clock.now()))
        .run();
    mark_done(m, sink, b.batch_seq, part, 2);
    m.wdb.exec("COMMIT");
    m.wdb.exec("PRAGMA synchronous=NORMAL");
    m.unsynced_since.reset();
  });
  if (r) {
    m.metrics.counter("uplink_dead_batches_total", {{"sink", sink}}, "Batches (or parts) a sink refused for good").inc();
    spdlog::warn("uplink: sink '{}' refused batch {} ({}){} with {}: {}; kept in dead_batches, later batches go on",
                 sink, b.batch_seq, b.batch_id, part ? fmt::format(" part {}/{}", part, b.parts) : "", status,
                 reason.substr(0, 200));
  }
  return r;
}

namespace {
DeadBatch dead_from_row(sql::Stmt& s) {
  DeadBatch d;
  d.id = s.i64(0);
  d.batch_seq = static_cast<std::uint64_t>(s.i64(1));
  d.batch_id = s.text(2);
  d.sink = s.text(3);
  d.record_class = static_cast<RecordClass>(s.i64(4));
  d.first_id = s.i64(5);
  d.last_id = s.i64(6);
  d.rows = s.i64(7);
  d.part = static_cast<std::uint32_t>(s.i64(8));
  d.parts = static_cast<std::uint32_t>(s.i64(9));
  d.status = static_cast<int>(s.i64(10));
  d.reason = s.text(11);
  d.created = from_unix_ns(s.i64(12));
  d.dead_at = from_unix_ns(s.i64(13));
  if (!s.is_null(14)) d.replayed_at = from_unix_ns(s.i64(14));
  return d;
}
constexpr const char* kDeadCols =
    "SELECT id, batch_seq, batch_id, sink, class, first_id, last_id, rows, part, parts, status, reason, created_ns, "
    "dead_at_ns, replayed_at_ns FROM dead_batches ";

std::vector<DeadBatch> list_dead(sql::Db& db, std::size_t limit) {
  sql::Stmt s(db, (std::string(kDeadCols) + "ORDER BY id DESC LIMIT ?").c_str());
  s.bind(1, static_cast<std::int64_t>(limit));
  std::vector<DeadBatch> out;
  while (s.step()) out.push_back(dead_from_row(s));
  return out;
}
}  // namespace

std::vector<DeadBatch> Store::dead_batches(std::size_t limit) {
  std::lock_guard lk(impl_->qmu);
  try {
    return list_dead(impl_->qdb, limit);
  } catch (const sql::SqlError& e) {
    spdlog::warn("store: dead batch query: {}", e.what());
    return {};
  }
}

std::optional<DeadBatch> Store::dead_batch(std::int64_t id) {
  std::lock_guard lk(impl_->qmu);
  sql::Stmt s(impl_->qdb, (std::string(kDeadCols) + "WHERE id=?").c_str());
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return dead_from_row(s);
}

namespace {
std::vector<Reading> dead_rows(sql::Db& db, const DeadBatch& d, std::size_t limit) {
  if (is_record_class(d.record_class)) return {};
  auto all = Store::Impl::read_range(db, d.first_id, d.last_id, reading_class(d.record_class));
  std::size_t from = 0, count = all.size();
  if (d.part > 0 && d.parts > 0) {
    auto [a, n] = part_slice(static_cast<std::int64_t>(all.size()), d.part, d.parts);
    from = static_cast<std::size_t>(a);
    count = static_cast<std::size_t>(n);
  }
  count = std::min(count, limit);
  return {all.begin() + static_cast<std::ptrdiff_t>(from), all.begin() + static_cast<std::ptrdiff_t>(from + count)};
}
}  // namespace

std::vector<Reading> Store::dead_batch_readings(const DeadBatch& d, std::size_t limit) {
  std::lock_guard lk(impl_->qmu);
  try {
    return dead_rows(impl_->qdb, d, limit);
  } catch (const sql::SqlError&) {
    return {};
  }
}

Result<void> Store::replay_dead_batch(std::int64_t id) {
  auto& m = *impl_;
  auto r = m.on_writer([&]() -> Result<void> {
    sql::Stmt s(m.wdb, (std::string(kDeadCols) + "WHERE id=?").c_str());
    s.bind(1, id);
    if (!s.step()) return fail(Error::reject("not_found", "no dead batch " + std::to_string(id)));
    DeadBatch d = dead_from_row(s);
    s.reset();
    if (d.replayed_at) return fail(Error::reject("replayed", "dead batch " + std::to_string(id) + " was replayed already"));
    if (std::find(m.sinks.begin(), m.sinks.end(), d.sink) == m.sinks.end())
      return fail(Error::reject("sink", "sink '" + d.sink + "' is not configured any more"));
    {
      sql::Stmt c(m.wdb, is_record_class(d.record_class)
                             ? "SELECT count(*) FROM records WHERE class=?3 AND id BETWEEN ?1 AND ?2"
                             : "SELECT count(*) FROM readings WHERE class=?3 AND id BETWEEN ?1 AND ?2");
      c.bind(1, d.first_id).bind(2, d.last_id).bind(3, std::int64_t{is_record_class(d.record_class) ? cls_int(d.record_class) : reading_class(d.record_class)});
      c.step();
      if (c.i64(0) < d.rows)
        return fail(Error::reject("evicted", fmt::format("{} of the batch's {} rows were removed by retention since",
                                                         d.rows - c.i64(0), d.rows)));
    }
    m.wdb.exec("PRAGMA synchronous=FULL");
    m.wdb.exec("BEGIN IMMEDIATE");
    sql::Stmt exists(m.wdb, "SELECT 1 FROM batches WHERE batch_seq=?");
    exists.bind(1, static_cast<std::int64_t>(d.batch_seq));
    bool present = exists.step();
    exists.reset();
    if (!present) {
      // Same batch_seq and batch_id: the lake recognises whatever it may have already.
      sql::Stmt ins(m.wdb,
                    "INSERT INTO batches(batch_seq, batch_id, first_id, last_id, created_ns, class, rows, bytes) "
                    "VALUES(?,?,?,?,?,?,?,0)");
      ins.bind(1, static_cast<std::int64_t>(d.batch_seq)).bind_text(2, d.batch_id).bind(3, d.first_id)
          .bind(4, d.last_id).bind(5, to_unix_ns(d.created)).bind(6, std::int64_t{cls_int(d.record_class)})
          .bind(7, d.rows).run();
      for (const auto& other : m.sinks) {
        if (other == d.sink) continue;
        sql::Stmt o(m.wdb, "INSERT OR IGNORE INTO batch_sinks(batch_seq, sink, state) VALUES(?,?,1)");
        o.bind(1, static_cast<std::int64_t>(d.batch_seq)).bind_text(2, other).run();
      }
    }
    if (d.part == 0) {
      sql::Stmt del(m.wdb, "DELETE FROM batch_sinks WHERE batch_seq=? AND sink=?");
      del.bind(1, static_cast<std::int64_t>(d.batch_seq)).bind_text(2, d.sink).run();
    } else {
      // Only this part becomes pending again: parts still pending (another replayed part, or parts
      // the sink has not delivered yet) stay pending. A finished row has every bit set.
      sql::Stmt p(m.wdb,
                  "INSERT INTO batch_sinks(batch_seq, sink, state, parts, parts_done) VALUES(?1,?2,0,?3,?4) "
                  "ON CONFLICT(batch_seq, sink) DO UPDATE SET state=0, parts=?3, parts_done=parts_done & ?5");
      p.bind(1, static_cast<std::int64_t>(d.batch_seq)).bind_text(2, d.sink).bind(3, std::int64_t{d.parts})
          .bind(4, static_cast<std::int64_t>(all_parts(d.parts) & ~(1ull << (d.part - 1))))
          .bind(5, static_cast<std::int64_t>(~(1ull << (d.part - 1))))
          .run();
    }
    sql::Stmt mark(m.wdb, "UPDATE dead_batches SET replayed_at_ns=? WHERE id=?");
    mark.bind(1, to_unix_ns(m.clock.now())).bind(2, id).run();
    m.wdb.exec("COMMIT");
    m.wdb.exec("PRAGMA synchronous=NORMAL");
    m.unsynced_since.reset();
    return {};
  });
  if (!r) return fail(r.error());
  if (!*r) return fail(r->error());
  if (m.commit_listener) m.commit_listener();  // wake the uplink
  return {};
}

void Store::report_gap(GapRecord gap) {
  if (gap.detected == TimeNs{}) gap.detected = impl_->clock.now();
  add_record(std::move(gap), RecordClass::summary);
}

void Store::add_record(Record rec, RecordClass cls) {
  auto& m = *impl_;
  auto at = to_unix_ns(m.clock.now());
  std::lock_guard lk(m.mu);
  if (m.stopping || m.execs.size() > 10000) return;
  m.execs.push_back([&m, rec = std::move(rec), cls, at] {
    try {
      m.wdb.exec("BEGIN IMMEDIATE");
      m.insert_record(rec, cls, at);
      m.wdb.exec("COMMIT");
      if (!m.unsynced_since) m.unsynced_since = m.clock.steady();
    } catch (const sql::SqlError& e) {
      sqlite3_exec(m.wdb.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      if (e.code == SQLITE_FULL) m.on_disk_full(e.what());
      else spdlog::warn("store: could not keep a {} record: {}", record_class_name(cls), e.what());
    }
    if (m.commit_listener) m.commit_listener();
  });
  m.cv.notify_one();
}

// ------------------------------------------------------------------ stats
namespace {
std::int64_t meta_i64(sql::Db& db, const char* key, std::int64_t dflt) {
  sql::Stmt s(db, "SELECT value FROM meta WHERE key=?");
  s.bind_text(1, key);
  return s.step() ? std::stoll(s.text(0)) : dflt;
}
}  // namespace

namespace {
OutboxStats outbox_stats_in_txn(sql::Db& db, std::int64_t mono_now_ns);
}

// One read transaction: the cursors, batches and backlog ranges are read from one snapshot (the
// writer moves rows between them in its own transactions; separate reads would count some twice).
OutboxStats compute_outbox_stats(sql::Db& db, std::int64_t mono_now_ns) {
  db.exec("BEGIN");
  try {
    auto st = outbox_stats_in_txn(db, mono_now_ns);
    db.exec("COMMIT");
    return st;
  } catch (...) {
    sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

namespace {
OutboxStats outbox_stats_in_txn(sql::Db& db, std::int64_t mono_now_ns) {
  OutboxStats st;
  std::int64_t cursor[kRecordClassCount];
  for (int c = 0; c < kRecordClassCount; ++c) {
    cursor[c] = meta_i64(db, meta_key_cursor(static_cast<RecordClass>(c)).c_str(), c < 3 ? meta_i64(db, "batched_upto", 0) : 0);
  }
  std::int64_t max_id = 0;
  {
    sql::Stmt s(db, "SELECT coalesce(max(id),0) FROM readings");
    s.step();
    max_id = s.i64(0);
  }
  const std::int64_t readings = approx_reading_count(db);
  std::int64_t oldest_id = INT64_MAX;
  {
    sql::Stmt b(db, "SELECT class, count(*), sum(rows), sum(bytes), min(first_id) FROM batches GROUP BY class");
    while (b.step()) {
      auto c = static_cast<int>(b.i64(0));
      if (c < 0 || c >= kRecordClassCount) continue;
      st.pending_batches += b.i64(1);
      st.by_class[c].rows += b.i64(2);
      st.by_class[c].bytes += b.i64(3);
      if (!is_record_class(static_cast<RecordClass>(c))) oldest_id = std::min(oldest_id, b.i64(4));
    }
  }
  // waiting, not yet batched
  st.by_class[0].rows += std::max<std::int64_t>(0, max_id - cursor[0]);  // estimate: ids are shared by classes
  if (max_id > cursor[0]) oldest_id = std::min(oldest_id, cursor[0] + 1);
  for (int c : {1, 2}) {
    sql::Stmt s(db, "SELECT count(*), min(id) FROM readings WHERE class=? AND id > ?");
    s.bind(1, std::int64_t{c}).bind(2, cursor[c]);
    s.step();
    st.by_class[c].rows += s.i64(0);
    if (!s.is_null(1)) oldest_id = std::min(oldest_id, s.i64(1));
  }
  for (int c : {3, 4}) {
    sql::Stmt s(db, "SELECT count(*), coalesce(sum(length(body)),0) FROM records WHERE class=? AND id > ?");
    s.bind(1, std::int64_t{c}).bind(2, cursor[c]);
    s.step();
    st.by_class[c].rows += s.i64(0);
    st.by_class[c].bytes += s.i64(1);
  }
  {
    sql::Stmt s(db, "SELECT coalesce(sum(to_id - from_id + 1),0), min(from_id) FROM backlog_ranges");
    s.step();
    st.by_class[5].rows += s.i64(0);
    if (!s.is_null(1)) oldest_id = std::min(oldest_id, s.i64(1));
  }
  // Bytes of reading classes: rows × the average stored size of a reading.
  std::int64_t page_size = 0, pages = 0;
  {
    sql::Stmt p(db, "PRAGMA page_size");
    p.step();
    page_size = p.i64(0);
    sql::Stmt q(db, "PRAGMA page_count");
    q.step();
    pages = q.i64(0);
  }
  const std::int64_t avg = readings > 0 ? std::max<std::int64_t>(16, page_size * pages / readings) : 64;
  for (int c : {0, 1, 2, 5})
    if (st.by_class[c].bytes == 0) st.by_class[c].bytes = st.by_class[c].rows * avg;
  for (const auto& c : st.by_class) {
    st.unsent_rows += c.rows;
    st.unsent_bytes += c.bytes;
  }
  if (oldest_id != INT64_MAX) {
    sql::Stmt r(db, "SELECT received_ns FROM readings WHERE id >= ? ORDER BY id LIMIT 1");
    r.bind(1, oldest_id);
    if (r.step()) st.oldest_unsent_received = from_unix_ns(r.i64(0));
    // Age on the persisted monotonic clock: the first clock mark at or after the row was
    // written is no older than the row, so the age is never overstated.
    sql::Stmt mk(db, "SELECT mono_ns FROM clock_marks WHERE reading_id >= ? ORDER BY reading_id LIMIT 1");
    mk.bind(1, oldest_id);
    if (mk.step() && mono_now_ns > mk.i64(0))
      st.oldest_unsent_age = std::chrono::milliseconds((mono_now_ns - mk.i64(0)) / 1'000'000);
  }
  {
    sql::Stmt d(db, "SELECT count(*) FROM dead_batches WHERE replayed_at_ns IS NULL");
    d.step();
    st.dead_batches = d.i64(0);
  }
  return st;
}
}  // namespace

OutboxStats Store::outbox_stats() {
  auto& m = *impl_;
  try {
    std::lock_guard lk(m.qmu);
    return compute_outbox_stats(m.qdb, m.mono_ns());
  } catch (const sql::SqlError& e) {
    spdlog::warn("store: outbox stats: {}", e.what());
    return {};
  }
}

Result<std::vector<DeadBatch>> inspect_dead_batches(const std::filesystem::path& db) {
  try {
    sql::Db d(db.string(), SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
    sqlite3_busy_timeout(d.get(), 2000);
    return list_dead(d, 100000);
  } catch (const sql::SqlError& e) {
    return fail(Error::fatal("store", e.what()));
  }
}

Result<std::pair<DeadBatch, std::vector<Reading>>> inspect_dead_batch(const std::filesystem::path& db, std::int64_t id,
                                                                      std::size_t limit) {
  try {
    sql::Db d(db.string(), SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
    sqlite3_busy_timeout(d.get(), 2000);
    sql::Stmt s(d, (std::string(kDeadCols) + "WHERE id=?").c_str());
    s.bind(1, id);
    if (!s.step()) return fail(Error::reject("not_found", "no dead batch " + std::to_string(id)));
    auto b = dead_from_row(s);
    auto rs = dead_rows(d, b, limit);
    return std::make_pair(std::move(b), std::move(rs));
  } catch (const sql::SqlError& e) {
    return fail(Error::fatal("store", e.what()));
  }
}

}  // namespace cg::store
