// The store's side of store-and-forward (issue 4) on real SQLite files: per-sink settlement,
// class priority, dead batches and replay, persisted splits, the backlog class, src_seq gaps,
// the disk budget (eviction into aggregates + gap records, accounted exactly), ages on the
// persisted monotonic clock, wall-clock flags, corruption quarantine.
#include <catch2/catch.hpp>

#include <fstream>
#include <future>
#include <map>
#include <set>

#include "store/store.hpp"
#include "support/process.hpp"

using namespace cg;
using namespace std::chrono_literals;

namespace {

Reading make(const std::string& dev, std::int64_t v, TimeNs t, std::optional<std::uint64_t> src_seq = {}) {
  Reading r;
  r.device = dev;
  r.metric = "m";
  r.value = v;
  r.unit = "u";
  r.observed = t;
  r.received = t;
  r.src_seq = src_seq;
  return r;
}

CommitStatus submit_wait(store::Store& s, std::vector<Reading> rs, RecordClass cls = RecordClass::telemetry) {
  std::promise<CommitStatus> p;
  auto f = p.get_future();
  SubmitOptions o;
  o.record_class = cls;
  s.submit(std::move(rs), o, [&](CommitStatus st) { p.set_value(st); });
  return f.get();
}

store::LeaseResult lease(store::Store& s, const std::string& sink, std::size_t rows = 100,
                         std::vector<std::uint64_t> exclude = {}, bool allow_backlog = true) {
  store::LeaseRequest req;
  req.sink = sink;
  req.max_rows = rows;
  req.max_age = 0ms;
  req.exclude = std::move(exclude);
  req.allow_backlog = allow_backlog;
  auto r = s.lease(req);
  REQUIRE(r);
  return std::move(*r);
}

struct Fixture {
  test::TempDir dir;
  ManualClock clock{from_unix_ns(1'780'000'000'000'000'000)};  // 2026
  Metrics metrics;
  store::StoreOptions opts() {
    store::StoreOptions o;
    o.path = dir / "gw.db";
    o.maintenance_interval = 1h;  // tests run maintenance explicitly
    o.reserve_bytes = 0;
    return o;
  }
  std::unique_ptr<store::Store> open(store::StoreOptions o) {
    auto s = store::Store::open(o, clock, metrics);
    REQUIRE(s);
    return std::move(*s);
  }
  std::unique_ptr<store::Store> open() { return open(opts()); }
};

}  // namespace

TEST_CASE("outbox: each sink settles on its own, the batch goes when every sink has it", "[store][outbox]") {
  Fixture f;
  auto s = f.open();
  REQUIRE(s->set_sinks({"lake", "kafka"}));
  REQUIRE(submit_wait(*s, {make("a", 1, f.clock.now()), make("a", 2, f.clock.now())}) == CommitStatus::committed);
  auto a1 = lease(*s, "lake");
  REQUIRE(a1.batch);
  REQUIRE(s->settle("lake", a1.batch->batch_seq));
  // lake is done with it; kafka still gets the same batch
  CHECK_FALSE(lease(*s, "lake").batch);
  auto k1 = lease(*s, "kafka");
  REQUIRE(k1.batch);
  CHECK(k1.batch->batch_id == a1.batch->batch_id);
  CHECK(k1.batch->readings == a1.batch->readings);
  CHECK(s->outbox_stats().pending_batches == 1);
  REQUIRE(s->settle("kafka", k1.batch->batch_seq));
  CHECK(s->outbox_stats().pending_batches == 0);
  CHECK(s->outbox_stats().unsent_rows == 0);
}

TEST_CASE("outbox: a sink's in-flight batches are skipped, the next one is formed", "[store][outbox]") {
  Fixture f;
  auto s = f.open();
  REQUIRE(s->set_sinks({"lake"}));
  std::vector<Reading> rs;
  for (int i = 0; i < 30; ++i) rs.push_back(make("a", i, f.clock.now()));
  REQUIRE(submit_wait(*s, rs) == CommitStatus::committed);
  auto b1 = lease(*s, "lake", 10);
  auto b2 = lease(*s, "lake", 10, {b1.batch->batch_seq});
  auto b3 = lease(*s, "lake", 10, {b1.batch->batch_seq, b2.batch->batch_seq});
  REQUIRE((b1.batch && b2.batch && b3.batch));
  CHECK(b2.batch->batch_seq == b1.batch->batch_seq + 1);
  CHECK(b3.batch->batch_seq == b2.batch->batch_seq + 1);
  CHECK(std::get<std::int64_t>(b3.batch->readings.front().value) == 20);
  // without exclusions the oldest unsettled comes back first (batch_seq order within a class)
  CHECK(lease(*s, "lake", 10).batch->batch_seq == b1.batch->batch_seq);
}

TEST_CASE("outbox: classes go in priority order — status, alert, summary, telemetry", "[store][outbox]") {
  Fixture f;
  auto s = f.open();
  REQUIRE(submit_wait(*s, {make("t", 1, f.clock.now())}) == CommitStatus::committed);
  REQUIRE(submit_wait(*s, {make("alarm", 1, f.clock.now())}, RecordClass::alert) == CommitStatus::committed);
  // a src_seq gap makes a summary record
  REQUIRE(submit_wait(*s, {make("lora", 1, f.clock.now(), 10), make("lora", 2, f.clock.now(), 13)}) ==
          CommitStatus::committed);
  StatusRecord st;
  st.version = "test";
  st.backlog_rows = 42;
  st.last_ingest = {{"mqtt1", f.clock.now()}};
  s->add_record(st, RecordClass::status);
  s->flush();

  auto first = lease(*s, "lake");
  REQUIRE(first.batch);
  CHECK(first.batch->record_class == RecordClass::status);
  REQUIRE(first.batch->records.size() == 1);
  CHECK(std::get<StatusRecord>(first.batch->records[0]) == st);
  REQUIRE(s->settle("lake", first.batch->batch_seq));

  auto second = lease(*s, "lake");
  CHECK(second.batch->record_class == RecordClass::alert);
  REQUIRE(second.batch->readings.size() == 1);
  CHECK(second.batch->readings[0].device == "alarm");
  REQUIRE(s->settle("lake", second.batch->batch_seq));

  auto third = lease(*s, "lake");
  CHECK(third.batch->record_class == RecordClass::summary);
  REQUIRE(third.batch->records.size() == 1);
  auto gap = std::get<GapRecord>(third.batch->records[0]);
  CHECK(gap.kind == GapRecord::Kind::src_seq);
  CHECK(gap.device == "lora");
  CHECK(gap.first == 11);
  CHECK(gap.last == 12);
  CHECK(gap.count == 2);
  CHECK(f.metrics.value("src_seq_gaps_total") == 1);
  CHECK(f.metrics.value("src_seq_missing_total") == 2);
  REQUIRE(s->settle("lake", third.batch->batch_seq));

  auto fourth = lease(*s, "lake");
  CHECK(fourth.batch->record_class == RecordClass::telemetry);
  CHECK(fourth.batch->readings.size() == 3);  // t + the two lora readings; the alert is not in it
  for (const auto& r : fourth.batch->readings) CHECK(r.device != "alarm");
}

TEST_CASE("outbox: a src_seq step back is a counter reset, not a gap, the counter survives reopening", "[store][outbox]") {
  Fixture f;
  {
    auto s = f.open();
    REQUIRE(submit_wait(*s, {make("lora", 1, f.clock.now(), 100), make("lora", 2, f.clock.now(), 100)}) ==
            CommitStatus::committed);
    REQUIRE(submit_wait(*s, {make("lora", 3, f.clock.now(), 101)}) == CommitStatus::committed);
    s->flush();
  }
  auto s = f.open();
  REQUIRE(submit_wait(*s, {make("lora", 4, f.clock.now(), 103)}) == CommitStatus::committed);  // 102 lost
  REQUIRE(submit_wait(*s, {make("lora", 5, f.clock.now(), 0)}) == CommitStatus::committed);    // rejoin: reset
  CHECK(f.metrics.value("src_seq_gaps_total") == 1);
  CHECK(f.metrics.value("src_seq_missing_total") == 1);
}

TEST_CASE("outbox: a dead batch lets the next go, is listed, and replays under its own id", "[store][outbox][dead]") {
  Fixture f;
  auto s = f.open();
  REQUIRE(s->set_sinks({"lake"}));
  std::vector<Reading> rs;
  for (int i = 0; i < 20; ++i) rs.push_back(make("a", i, f.clock.now()));
  REQUIRE(submit_wait(*s, rs) == CommitStatus::committed);
  auto b1 = lease(*s, "lake", 10);
  REQUIRE(s->dead_letter("lake", *b1.batch, 0, 400, "schema says no"));
  auto b2 = lease(*s, "lake", 10);
  REQUIRE(b2.batch);
  CHECK(b2.batch->batch_seq == b1.batch->batch_seq + 1);
  REQUIRE(s->settle("lake", b2.batch->batch_seq));
  CHECK_FALSE(lease(*s, "lake", 10).batch);
  CHECK(f.metrics.value("uplink_dead_batches_total", {{"sink", "lake"}}) == 1);

  auto dead = s->dead_batches();
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].batch_id == b1.batch->batch_id);
  CHECK(dead[0].status == 400);
  CHECK(dead[0].reason == "schema says no");
  CHECK(dead[0].rows == 10);
  CHECK(s->dead_batch_readings(dead[0], 100) == b1.batch->readings);
  CHECK(s->outbox_stats().dead_batches == 1);

  REQUIRE(s->replay_dead_batch(dead[0].id));
  auto again = lease(*s, "lake", 10);
  REQUIRE(again.batch);
  CHECK(again.batch->batch_id == b1.batch->batch_id);
  CHECK(again.batch->batch_seq == b1.batch->batch_seq);
  CHECK(again.batch->readings == b1.batch->readings);
  auto twice = s->replay_dead_batch(dead[0].id);
  REQUIRE_FALSE(twice);
  CHECK(twice.error().code == "replayed");
  CHECK_FALSE(s->replay_dead_batch(12345));
  REQUIRE(s->settle("lake", again.batch->batch_seq));
  CHECK(s->outbox_stats().dead_batches == 0);

  // read-only inspection of the file (a stopped gateway)
  auto listed = store::inspect_dead_batches(f.dir / "gw.db");
  REQUIRE(listed);
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].replayed_at.has_value());
}

TEST_CASE("outbox: a split is persisted per sink, parts settle one by one, across a restart", "[store][outbox][split]") {
  Fixture f;
  std::uint64_t seq = 0;
  {
    auto s = f.open();
    REQUIRE(s->set_sinks({"lake"}));
    std::vector<Reading> rs;
    for (int i = 0; i < 8; ++i) rs.push_back(make("a", i, f.clock.now()));
    REQUIRE(submit_wait(*s, rs) == CommitStatus::committed);
    auto b = lease(*s, "lake");
    seq = b.batch->batch_seq;
    REQUIRE(s->split("lake", seq, 4));
    REQUIRE(s->settle("lake", seq, 1));
    REQUIRE(s->settle("lake", seq, 2));
  }
  auto s = f.open();
  REQUIRE(s->set_sinks({"lake"}));
  auto b = lease(*s, "lake");
  REQUIRE(b.batch);
  CHECK(b.batch->batch_seq == seq);
  CHECK(b.batch->parts == 4);
  CHECK(b.batch->parts_done == 0b0011);
  REQUIRE(s->settle("lake", seq, 3));
  CHECK(s->outbox_stats().pending_batches == 1);
  REQUIRE(s->settle("lake", seq, 4));
  CHECK(s->outbox_stats().pending_batches == 0);
  CHECK_FALSE(s->split("lake", seq, 1));
}

TEST_CASE("outbox: after an outage the waiting telemetry becomes the backlog, drained after live data",
          "[store][outbox][backlog]") {
  Fixture f;
  auto o = f.opts();
  o.backlog_threshold_rows = 50;
  auto s = f.open(o);
  REQUIRE(s->set_sinks({"lake"}));
  std::vector<Reading> old;
  for (int i = 0; i < 200; ++i) old.push_back(make("a", i, f.clock.now()));
  REQUIRE(submit_wait(*s, old) == CommitStatus::committed);
  // the first lease after the outage turns the 200 waiting rows into the backlog
  auto b = lease(*s, "lake", 100);
  REQUIRE(b.batch);
  CHECK(b.batch->record_class == RecordClass::backlog);
  CHECK(b.batch->readings.size() == 100);
  REQUIRE(s->settle("lake", b.batch->batch_seq));
  // live data arrives: it goes before the rest of the backlog
  REQUIRE(submit_wait(*s, {make("a", 1000, f.clock.now())}) == CommitStatus::committed);
  auto live = lease(*s, "lake", 100);
  CHECK(live.batch->record_class == RecordClass::telemetry);
  REQUIRE(live.batch->readings.size() == 1);
  CHECK(std::get<std::int64_t>(live.batch->readings[0].value) == 1000);
  REQUIRE(s->settle("lake", live.batch->batch_seq));
  // no drain budget: nothing (the backlog waits), with a hint to ask again soon
  auto paced = lease(*s, "lake", 100, {}, false);
  CHECK_FALSE(paced.batch);
  CHECK(paced.retry_after);
  auto rest = lease(*s, "lake", 100);
  CHECK(rest.batch->record_class == RecordClass::backlog);
  CHECK(rest.batch->readings.size() == 100);
  CHECK(std::get<std::int64_t>(rest.batch->readings[0].value) == 100);
  REQUIRE(s->settle("lake", rest.batch->batch_seq));
  CHECK_FALSE(lease(*s, "lake", 100).batch);
  CHECK(s->outbox_stats().unsent_rows == 0);
}

TEST_CASE("disk budget: unforwarded telemetry is summarised and evicted, every evicted row accounted for",
          "[store][budget]") {
  Fixture f;
  auto o = f.opts();
  o.disk_budget_bytes = 2 * 1024 * 1024;
  auto s = f.open(o);
  REQUIRE(s->set_sinks({"lake"}));  // a sink that never settles: the lake is down
  // an alert that must outlive telemetry
  REQUIRE(submit_wait(*s, {make("alarm", 1, f.clock.now())}, RecordClass::alert) == CommitStatus::committed);
  int committed = 0, refused = 0;
  std::map<std::string, std::uint64_t> max_seq;
  for (int round = 0; round < 60; ++round) {
    std::vector<Reading> rs;
    for (int i = 0; i < 1000; ++i) {
      auto r = make("d" + std::to_string(i % 5), round * 1000 + i, f.clock.now());
      r.tags = {{"padding", std::string(40, 'x')}};
      rs.push_back(std::move(r));
    }
    auto st = submit_wait(*s, rs);
    if (st == CommitStatus::committed) ++committed;
    else ++refused;
    f.clock.advance(1s);
    s->run_maintenance();
  }
  s->run_maintenance();
  s->flush();
  const auto evicted = f.metrics.value("store_evicted_rows_total", {{"class", "telemetry"}});
  INFO("committed " << committed << " refused " << refused << " evicted " << evicted);
  CHECK(evicted > 0);
  auto status = s->status();
  CHECK(status.db_bytes <= static_cast<std::int64_t>(o.disk_budget_bytes));
  CHECK(s->integrity_check() == "ok");

  // Collect what the lake would get: every batch of every class, settled as it goes.
  std::map<std::string, std::set<std::uint64_t>> seen;  // device → seqs present as raw readings
  std::map<std::string, std::uint64_t> gap_rows;
  std::uint64_t gap_total = 0, agg_count = 0;
  bool alarm = false;
  for (int i = 0; i < 100000; ++i) {
    auto b = lease(*s, "lake", 5000);
    if (!b.batch) break;
    for (const auto& r : b.batch->readings) {
      seen[r.device].insert(r.seq);
      alarm |= r.device == "alarm";
    }
    for (const auto& rec : b.batch->records) {
      if (auto* g = std::get_if<GapRecord>(&rec)) {
        CHECK(g->kind == GapRecord::Kind::evicted);
        gap_total += g->count;
        gap_rows[g->device] += g->count;
        for (auto q = g->first; q <= g->last; ++q) seen[g->device].insert(q);
      } else if (auto* a = std::get_if<AggregateRecord>(&rec)) {
        agg_count += a->count;
        CHECK(a->min <= a->max);
      }
    }
    REQUIRE(s->settle("lake", b.batch->batch_seq));
  }
  CHECK(alarm);  // alerts are evicted last
  CHECK(gap_total == static_cast<std::uint64_t>(evicted));  // the counter equals what the gap records say
  CHECK(agg_count == gap_total);                              // every evicted (numeric) row is in an aggregate
  for (const auto& [dev, seqs] : seen) {
    if (dev == "alarm") continue;
    INFO(dev);
    // every seq 1..max of the device is either delivered raw or covered by a gap record
    CHECK(seqs.size() == *seqs.rbegin());
    CHECK(*seqs.begin() == 1);
  }
}

TEST_CASE("ages use the persisted monotonic clock: a wall-clock jump never expires data, and flags readings",
          "[store][clock]") {
  Fixture f;
  auto o = f.opts();
  o.retention = 1h;
  o.clock_step_tolerance = 10s;
  std::int64_t mono_before = 0;
  {
    auto s = f.open(o);
    REQUIRE(s->set_sinks({"lake"}));
    REQUIRE(submit_wait(*s, {make("a", 1, f.clock.now())}) == CommitStatus::committed);
    auto b = lease(*s, "lake");
    REQUIRE(b.batch);
    CHECK((b.batch->readings[0].quality & quality::kClockStepped) == 0);
    REQUIRE(s->settle("lake", b.batch->batch_seq));
    s->run_maintenance();  // a clock mark
    // the wall clock jumps a year ahead: forwarded readings are not "a year old"
    f.clock.set_wall(f.clock.now() + std::chrono::hours(24 * 365));
    s->run_maintenance();
    s->flush();
    CHECK(s->status().readings == 1);
    // readings arriving now are flagged
    REQUIRE(submit_wait(*s, {make("a", 2, f.clock.now())}) == CommitStatus::committed);
    auto b2 = lease(*s, "lake");
    REQUIRE(b2.batch);
    CHECK((b2.batch->readings[0].quality & quality::kClockStepped) != 0);
    REQUIRE(s->settle("lake", b2.batch->batch_seq));
    CHECK(f.metrics.value("clock_steps_total") == 1);
    f.clock.advance(30min);  // monotonic time passes (less than the retention)
    mono_before = s->mono_now();
    CHECK(mono_before >= 30LL * 60 * 1'000'000'000);
  }
  // the monotonic clock continues across a restart (it is persisted), never from zero
  auto s = f.open(o);
  REQUIRE(s->set_sinks({"lake"}));
  CHECK(s->mono_now() >= mono_before);
  // a wall clock a year BEHIND what the store has seen: flagged unsynced
  f.clock.set_wall(f.clock.now() - std::chrono::hours(24 * 365 * 2));
  REQUIRE(submit_wait(*s, {make("a", 3, f.clock.now())}) == CommitStatus::committed);
  s->run_maintenance();
  CHECK(s->status().readings == 3);  // nothing expired: no monotonic time has passed
  // monotonic time passes beyond the retention: forwarded readings go, the unsent one stays
  f.clock.advance(2h);
  s->run_maintenance();
  f.clock.advance(2min);
  s->run_maintenance();
  s->flush();
  auto st = s->status();
  CHECK(st.readings >= 1);
  CHECK(st.readings < 3);
  auto b = lease(*s, "lake");
  REQUIRE(b.batch);
  CHECK(std::get<std::int64_t>(b.batch->readings.back().value) == 3);
  CHECK((b.batch->readings.back().quality & quality::kClockUnsynced) != 0);
}

TEST_CASE("a corrupt database is moved aside, never deleted, and a new incarnation starts", "[store][corruption]") {
  Fixture f;
  std::string old_inc;
  {
    auto s = f.open();
    old_inc = s->incarnation_id();
    REQUIRE(submit_wait(*s, {make("a", 1, f.clock.now())}) == CommitStatus::committed);
  }
  // scribble over the header and the first pages
  {
    std::fstream db(f.dir / "gw.db", std::ios::in | std::ios::out | std::ios::binary);
    std::string junk(8192, '\x5a');
    db.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  std::filesystem::remove(f.dir.path() / "gw.db-wal");
  auto s = f.open();
  CHECK(s->incarnation_id() != old_inc);
  CHECK(f.metrics.value("store_corruption_quarantined_total") == 1);
  int moved = 0;
  for (const auto& e : std::filesystem::directory_iterator(f.dir.path()))
    if (e.path().filename().string().find("gw.db.corrupt-") == 0) ++moved;
  CHECK(moved == 1);
  REQUIRE(submit_wait(*s, {make("a", 1, f.clock.now())}) == CommitStatus::committed);
  auto b = lease(*s, "lake");
  REQUIRE(b.batch);
  CHECK(b.batch->readings[0].seq == 1);
  CHECK(b.batch->batch_seq == 1);
}

TEST_CASE("disk budget: a class over its quota (an alert storm) is evicted before telemetry", "[store][budget]") {
  Fixture f;
  auto o = f.opts();
  o.disk_budget_bytes = 2 * 1024 * 1024;
  o.alert_quota_pct = 10;
  auto s = f.open(o);
  REQUIRE(s->set_sinks({"lake"}));  // the lake is down
  std::vector<Reading> tele;
  for (int i = 0; i < 1000; ++i) tele.push_back(make("meter", i, f.clock.now()));
  REQUIRE(submit_wait(*s, tele) == CommitStatus::committed);
  for (int round = 0; round < 40; ++round) {
    std::vector<Reading> storm;
    for (int i = 0; i < 1000; ++i) {
      auto r = make("siren-" + std::to_string(i % 7), round * 1000 + i, f.clock.now());
      r.tags = {{"padding", std::string(40, 'x')}};
      storm.push_back(std::move(r));
    }
    submit_wait(*s, storm, RecordClass::alert);
    s->run_maintenance();
  }
  CHECK(f.metrics.value("store_evicted_rows_total", {{"class", "alert"}}) > 0);
  CHECK(f.metrics.value("store_evicted_rows_total", {{"class", "telemetry"}}) == 0);
  // the telemetry is all still there to be sent
  std::size_t meter = 0;
  for (int i = 0; i < 1000; ++i) {
    auto b = lease(*s, "lake", 5000);
    if (!b.batch) break;
    for (const auto& r : b.batch->readings) meter += r.device == "meter";
    REQUIRE(s->settle("lake", b.batch->batch_seq));
  }
  CHECK(meter == 1000);
  CHECK(s->integrity_check() == "ok");
}

TEST_CASE("ids are never reused after the newest rows were deleted: what comes next is still sent",
          "[store][outbox][budget]") {
  // SQLite gives a new row max(rowid)+1. Once eviction (or retention) has deleted the newest rows,
  // that id can lie at or below an outbox cursor, and the row would never be batched.
  Fixture f;
  auto o = f.opts();
  o.disk_budget_bytes = 64 * 1024 * 1024;
  o.high_water = 0;  // evict every unforwarded row at the next pass
  o.low_water = 0;
  auto s = f.open(o);
  REQUIRE(s->set_sinks({"lake"}));
  std::vector<Reading> rs;
  for (int i = 0; i < 100; ++i) rs.push_back(make("a", i, f.clock.now()));
  REQUIRE(submit_wait(*s, rs) == CommitStatus::committed);
  s->run_maintenance();
  REQUIRE(f.metrics.value("store_evicted_rows_total", {{"class", "telemetry"}}) == 100);
  CHECK(s->status().readings == 0);
  REQUIRE(submit_wait(*s, {make("fresh", 1, f.clock.now(), 7), make("fresh", 2, f.clock.now(), 9)}) ==
          CommitStatus::committed);
  bool fresh = false, gap_seen = false;
  auto drain = [&] {
    for (int i = 0; i < 100; ++i) {
      auto b = lease(*s, "lake", 1000);
      if (!b.batch) break;
      for (const auto& r : b.batch->readings) fresh |= r.device == "fresh";
      for (const auto& rec : b.batch->records)
        if (auto* g = std::get_if<GapRecord>(&rec)) gap_seen |= g->kind == GapRecord::Kind::src_seq;
      REQUIRE(s->settle("lake", b.batch->batch_seq));
    }
  };
  drain();
  CHECK(fresh);
  CHECK(gap_seen);
  // the same for records: every record so far was forwarded and is deleted now
  s->run_maintenance();
  gap_seen = false;
  REQUIRE(submit_wait(*s, {make("fresh", 3, f.clock.now(), 20)}) == CommitStatus::committed);
  drain();
  CHECK(gap_seen);
}

TEST_CASE("a corruption marker left by a running gateway makes the next open check the file", "[store][corruption]") {
  Fixture f;
  std::string inc;
  {
    auto s = f.open();
    inc = s->incarnation_id();
  }
  const auto marker = f.dir / "gw.db.corrupt-detected";
  test::write_file(marker, "step: database disk image is malformed\n");
  {
    // healthy after all: kept, same incarnation, marker cleared
    auto s = f.open();
    CHECK(s->incarnation_id() == inc);
    CHECK_FALSE(std::filesystem::exists(marker));
  }
  // damaged beyond the header: moved aside (by the check, or by the open itself if it reads those pages)
  {
    std::fstream db(f.dir / "gw.db", std::ios::in | std::ios::out | std::ios::binary);
    db.seekp(4096 + 100);
    std::string junk(4096 * 3, '\x7f');
    db.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  test::write_file(marker, "step: database disk image is malformed\n");
  auto s = f.open();
  CHECK(s->incarnation_id() != inc);
  CHECK(f.metrics.value("store_corruption_quarantined_total") == 1);
  CHECK_FALSE(std::filesystem::exists(marker));
}
