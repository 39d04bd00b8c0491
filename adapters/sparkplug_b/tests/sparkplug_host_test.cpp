// The host session: births and alias tables, seq, rebirth requests, deaths, stale/offline.
#include <catch2/catch.hpp>

#include "sparkplug_test_util.hpp"

using namespace cg;
using namespace cg::sparkplug;
using namespace std::chrono_literals;
using spt::metric;
using spt::PbPayload;

namespace {

const std::string kNBirth = "spBv1.0/Plant/NBIRTH/edge1";
const std::string kNData = "spBv1.0/Plant/NDATA/edge1";
const std::string kNDeath = "spBv1.0/Plant/NDEATH/edge1";
const std::string kDBirth = "spBv1.0/Plant/DBIRTH/edge1/pump";
const std::string kDData = "spBv1.0/Plant/DDATA/edge1/pump";
const std::string kDDeath = "spBv1.0/Plant/DDEATH/edge1/pump";

// NBIRTH seq 0, bdSeq 7: Temperature alias 1 (Double, engUnit Cel), Rebirth alias 2.
PbPayload nbirth(std::uint64_t bd = 7) {
  auto p = spt::payload(0);
  spt::bdseq(p, bd, 0);
  auto* t = spt::dbl(p, "Temperature", 1, 21.5);
  spt::unit(t, "engUnit", "Cel");
  spt::rebirth_metric(p, 2);
  return p;
}

// DBIRTH: Flow alias 10 (Float, engUnits L/min), Running alias 11 (Boolean).
PbPayload dbirth(std::uint64_t seq) {
  auto p = spt::payload(seq);
  auto* f = metric(p, "Flow", 10, dt::kFloat);
  f->set_float_value(3.5f);
  spt::unit(f, "engUnits", "L/min");
  metric(p, "Running", 11, dt::kBoolean)->set_boolean_value(true);
  return p;
}

PbPayload ndata(std::uint64_t seq, double t) {
  auto p = spt::payload(seq);
  auto* m = metric(p, "", 1, 0);  // by alias, no datatype: both from the birth
  m->set_double_value(t);
  return p;
}

PbPayload ddata(std::uint64_t seq, float flow) {
  auto p = spt::payload(seq);
  metric(p, "", 10, 0)->set_float_value(flow);
  return p;
}

PbPayload death(std::optional<std::uint64_t> bd) {
  auto p = spt::payload(std::nullopt);
  if (bd) spt::bdseq(p, *bd);
  return p;
}

PbPayload ddeath(std::uint64_t seq) { return spt::payload(seq); }

void born(spt::Host& h) {
  auto a = h.send(kNBirth, nbirth());
  REQUIRE_FALSE(a.error);
  auto b = h.send(kDBirth, dbirth(1));
  REQUIRE_FALSE(b.error);
}

}  // namespace

TEST_CASE("sparkplug_b host: birth then data by alias", "[sparkplug_b]") {
  spt::Host h;
  auto b = h.send(kNBirth, nbirth());
  REQUIRE_FALSE(b.error);
  CHECK_FALSE(b.rebirth);
  REQUIRE(b.readings.size() == 3);  // a birth carries current values
  CHECK(b.readings[0].metric == "bdSeq");
  CHECK(b.readings[0].value == Value{std::uint64_t{7}});
  CHECK(b.readings[1].metric == "Temperature");
  CHECK(b.readings[1].unit == "Cel");
  CHECK(b.readings[1].device == "Plant/edge1");
  CHECK(b.readings[1].src_seq == std::optional<std::uint64_t>(0));
  CHECK(b.readings[1].observed == from_unix_ns(static_cast<std::int64_t>(spt::kTs) * 1'000'000));
  CHECK(b.readings[1].received == h.received);
  CHECK(b.readings[2].metric == "Node Control/Rebirth");
  CHECK(h.node("Plant", "edge1") == Status::online);
  REQUIRE(b.transitions.size() == 1);
  CHECK(b.transitions[0].to == Status::online);

  auto db = h.send(kDBirth, dbirth(1));
  REQUIRE_FALSE(db.error);
  REQUIRE(db.readings.size() == 2);
  CHECK(db.readings[0].device == "Plant/edge1/pump");
  CHECK(db.readings[0].metric == "Flow");
  CHECK(db.readings[0].value == Value{3.5});
  CHECK(db.readings[0].unit == "L/min");
  CHECK(h.device("Plant", "edge1", "pump") == Status::online);

  auto d = h.send(kNData, ndata(2, 22.5));
  REQUIRE_FALSE(d.error);
  CHECK_FALSE(d.rebirth);
  REQUIRE(d.readings.size() == 1);
  CHECK(d.readings[0].metric == "Temperature");  // the name from the birth's alias table
  CHECK(d.readings[0].value == Value{22.5});
  CHECK(d.readings[0].unit == "Cel");           // the unit declared at birth
  CHECK(d.readings[0].src_seq == std::optional<std::uint64_t>(2));

  auto dd = h.send(kDData, ddata(3, 4.25f));
  REQUIRE_FALSE(dd.error);
  REQUIRE(dd.readings.size() == 1);
  CHECK(dd.readings[0].device == "Plant/edge1/pump");
  CHECK(dd.readings[0].metric == "Flow");
  CHECK(dd.readings[0].value == Value{4.25});  // datatype Float from the birth
  CHECK(dd.readings[0].unit == "L/min");
  CHECK(dd.transitions.empty());
  CHECK(h.node("Plant", "edge1") == Status::online);

  SECTION("a device's aliases are its own table") {
    auto p = spt::payload(4);
    metric(p, "", 10, 0)->set_float_value(1.0f);  // a device alias sent on the node topic
    auto r = h.send(kNData, p);
    REQUIRE(r.error);
    CHECK(r.error->code == "sparkplug.unknown_alias");
  }
  SECTION("data may name its metrics instead") {
    auto p = spt::payload(4);
    spt::dbl(p, "Temperature", std::nullopt, 23.0);
    metric(p, "Not in the birth", std::nullopt, dt::kInt32)->set_int_value(5);
    auto r = h.send(kNData, p);
    REQUIRE_FALSE(r.error);
    REQUIRE(r.readings.size() == 2);
    CHECK(r.readings[0].unit == "Cel");
    CHECK(r.readings[1].metric == "Not in the birth");
    CHECK(r.readings[1].value == Value{std::int64_t{5}});
  }
}

TEST_CASE("sparkplug_b host: a birth that assigns one alias twice is rejected", "[sparkplug_b]") {
  spt::Host h;
  SECTION("within one NBIRTH") {
    auto p = nbirth();
    spt::dbl(p, "Pressure", 1, 1.0);  // alias 1 is Temperature's
    auto r = h.send(kNBirth, p);
    REQUIRE(r.error);
    CHECK(r.error->code == "sparkplug.duplicate_alias");
    CHECK(r.error->message.find("Temperature") != std::string::npos);
    CHECK(r.error->message.find("Pressure") != std::string::npos);
    CHECK(r.readings.empty());
    CHECK(r.rebirth);
    CHECK(h.node("Plant", "edge1") == Status::stale);
    // nothing of that birth is used: data by alias finds no birth
    auto d = h.send(kNData, ndata(1, 1.0));
    REQUIRE(d.error);
    CHECK(d.error->code == "sparkplug.no_birth");
  }
  SECTION("a DBIRTH reusing one of the node's aliases") {
    REQUIRE_FALSE(h.send(kNBirth, nbirth()).error);
    auto p = dbirth(1);
    spt::dbl(p, "Head", 2, 1.0);  // 2 is the node's Rebirth metric
    auto r = h.send(kDBirth, p);
    REQUIRE(r.error);
    CHECK(r.error->code == "sparkplug.duplicate_alias");
    CHECK(h.device("Plant", "edge1", "pump") == Status::stale);
    CHECK(h.node("Plant", "edge1") == Status::online);
    CHECK(r.rebirth);
  }
  SECTION("a DBIRTH reusing a sibling device's alias") {
    born(h);
    auto r = h.send("spBv1.0/Plant/DBIRTH/edge1/valve", dbirth(2));  // 10 and 11 belong to the pump
    REQUIRE(r.error);
    CHECK(r.error->code == "sparkplug.duplicate_alias");
    // but a device's own rebirth may of course reuse its own aliases
    auto again = h.send(kDBirth, dbirth(3));
    CHECK_FALSE(again.error);
  }
  SECTION("a birth metric without a name") {
    auto p = nbirth();
    metric(p, "", 9, dt::kDouble)->set_double_value(1);
    auto r = h.send(kNBirth, p);
    REQUIRE(r.error);
    CHECK(r.error->code == "sparkplug.no_name");
    auto q = nbirth();
    metric(q, "", 9, dt::kDouble)->set_name("");  // an empty name is no name
    auto r2 = h.send(kNBirth, q);
    REQUIRE(r2.error);
    CHECK(r2.error->code == "sparkplug.no_name");
  }
}

TEST_CASE("sparkplug_b host: a seq gap requests a rebirth and marks the node stale", "[sparkplug_b]") {
  spt::Host h;
  born(h);
  REQUIRE_FALSE(h.send(kNData, ndata(2, 22.0)).error);
  auto gap = h.send(kNData, ndata(5, 27.0));  // 3 and 4 are lost
  CHECK_FALSE(gap.error);                     // the names are known: the readings are kept
  REQUIRE(gap.readings.size() == 1);
  CHECK(gap.readings[0].value == Value{27.0});
  CHECK(gap.seq_gap);
  REQUIRE(gap.rebirth);
  CHECK(gap.rebirth->group == "Plant");
  CHECK(gap.rebirth->node == "edge1");
  CHECK(gap.rebirth->reason.find("expected 3, got 5") != std::string::npos);
  CHECK(h.node("Plant", "edge1") == Status::stale);
  CHECK(h.device("Plant", "edge1", "pump") == Status::stale);  // its data went through the same hole
  CHECK(gap.transitions.size() == 2);
  // tracking resumes from the new value: 6 is in order
  auto next = h.send(kNData, ndata(6, 28.0));
  CHECK_FALSE(next.seq_gap);
  CHECK_FALSE(next.rebirth);  // too soon to ask again
  // the rebirth clears it: NBIRTH, then the device's DBIRTH
  REQUIRE_FALSE(h.send(kNBirth, nbirth(8)).error);
  CHECK(h.node("Plant", "edge1") == Status::online);
  CHECK(h.device("Plant", "edge1", "pump") == Status::stale);  // waiting for its DBIRTH
  REQUIRE_FALSE(h.send(kDBirth, dbirth(1)).error);
  CHECK(h.device("Plant", "edge1", "pump") == Status::online);
  SECTION("a DDATA out of order is a gap too (one counter per node)") {
    auto r = h.send(kDData, ddata(3, 1.0f));
    CHECK(r.seq_gap);
  }
}

TEST_CASE("sparkplug_b host: data before birth requests a rebirth", "[sparkplug_b]") {
  spt::Host h;
  SECTION("NDATA from a node never born") {
    auto r = h.send(kNData, ndata(1, 25.0));
    REQUIRE(r.error);
    CHECK(r.error->code == "sparkplug.no_birth");
    CHECK(r.readings.empty());
    REQUIRE(r.rebirth);
    CHECK(r.rebirth->node == "edge1");
    CHECK(h.node("Plant", "edge1") == Status::stale);
  }
  SECTION("named NDATA needs its birth too") {
    auto p = spt::payload(4);
    spt::dbl(p, "Temperature", std::nullopt, 23.0);
    auto r = h.send(kNData, p);
    REQUIRE(r.error);
    CHECK(r.error->code == "sparkplug.no_birth");
  }
  SECTION("DDATA before its DBIRTH") {
    REQUIRE_FALSE(h.send(kNBirth, nbirth()).error);
    auto r = h.send(kDData, ddata(1, 2.0f));
    REQUIRE(r.error);
    CHECK(r.error->code == "sparkplug.no_birth");
    CHECK(r.rebirth);
    CHECK(h.device("Plant", "edge1", "pump") == Status::stale);
    CHECK(h.node("Plant", "edge1") == Status::online);
    // its seq was still counted: the next message is in order
    auto n = h.send(kNData, ndata(2, 1.0));
    CHECK_FALSE(n.seq_gap);
  }
  SECTION("DBIRTH before the NBIRTH") {
    auto r = h.send(kDBirth, dbirth(1));
    REQUIRE(r.error);
    CHECK(r.error->code == "sparkplug.no_birth");
    CHECK(h.device("Plant", "edge1", "pump") == Status::stale);
    CHECK(h.node("Plant", "edge1") == Status::stale);
  }
  SECTION("data after the node's death") {
    born(h);
    h.send(kNDeath, death(7));
    CHECK(h.node("Plant", "edge1") == Status::offline);
    auto r = h.send(kNData, ndata(2, 1.0));
    REQUIRE(r.error);
    CHECK(r.error->code == "sparkplug.no_birth");
    CHECK(h.node("Plant", "edge1") == Status::stale);
  }
  SECTION("a payload that is not protobuf") {
    born(h);
    h.advance(10s);
    auto r = h.send(kNData, std::vector<std::uint8_t>{0xFF, 0xFF, 0xFF});
    REQUIRE(r.error);
    CHECK(r.error->code == "sparkplug.protobuf");
    CHECK(r.rebirth);
    CHECK(h.node("Plant", "edge1") == Status::stale);
  }
}

TEST_CASE("sparkplug_b host: seq wraps from 255 to 0", "[sparkplug_b]") {
  spt::Host h;
  REQUIRE_FALSE(h.send(kNBirth, nbirth()).error);
  for (std::uint64_t i = 1; i < 600; ++i) {
    auto r = h.send(kNData, ndata(i % 256, static_cast<double>(i)));
    INFO("message " << i);
    REQUIRE_FALSE(r.error);
    REQUIRE_FALSE(r.seq_gap);
    REQUIRE(r.readings.size() == 1);
    CHECK(r.readings[0].src_seq == std::optional<std::uint64_t>(i % 256));
  }
  CHECK(h.node("Plant", "edge1") == Status::online);
  auto r = h.send(kNData, ndata(256, 1.0));  // not a valid seq: never what comes next
  CHECK(r.seq_gap);
}

TEST_CASE("sparkplug_b host: NDEATH with another bdSeq is ignored", "[sparkplug_b]") {
  spt::Host h;
  born(h);
  auto r = h.send(kNDeath, death(6));  // the will of the previous session, delivered late
  CHECK_FALSE(r.error);
  CHECK(r.ndeath_ignored);
  CHECK(r.transitions.empty());
  CHECK(h.node("Plant", "edge1") == Status::online);
  CHECK(h.device("Plant", "edge1", "pump") == Status::online);
  CHECK_FALSE(h.send(kNData, ndata(2, 1.0)).error);  // the birth is still valid
  SECTION("bdSeq as Int64 in the birth and UInt64 in the death still match") {
    auto p = spt::payload(0);
    metric(p, "bdSeq", std::nullopt, dt::kInt64)->set_long_value(0);
    REQUIRE_FALSE(h.send(kNBirth, p).error);
    auto d = h.send(kNDeath, death(0));
    CHECK_FALSE(d.ndeath_ignored);
    CHECK(h.node("Plant", "edge1") == Status::offline);
  }
}

TEST_CASE("sparkplug_b host: NDEATH takes the node and its devices offline", "[sparkplug_b]") {
  spt::Host h;
  born(h);
  auto r = h.send(kNDeath, death(7));
  CHECK_FALSE(r.error);
  CHECK_FALSE(r.ndeath_ignored);
  CHECK(r.readings.empty());
  CHECK_FALSE(r.rebirth);
  CHECK(h.node("Plant", "edge1") == Status::offline);
  CHECK(h.device("Plant", "edge1", "pump") == Status::offline);
  CHECK(r.transitions.size() == 2);
  auto c = h.session.counts();
  CHECK(c.nodes[static_cast<int>(Status::offline)] == 1);
  CHECK(c.devices[static_cast<int>(Status::offline)] == 1);
  SECTION("a death without bdSeq is taken at its word") {
    REQUIRE_FALSE(h.send(kNBirth, nbirth()).error);
    h.send(kNDeath, death(std::nullopt));
    CHECK(h.node("Plant", "edge1") == Status::offline);
  }
  SECTION("a death of a node never seen marks it offline") {
    h.send("spBv1.0/Plant/NDEATH/other", death(1));
    CHECK(h.node("Plant", "other") == Status::offline);
  }
  SECTION("the seq of an NDEATH is ignored") {
    REQUIRE_FALSE(h.send(kNBirth, nbirth()).error);
    auto d = death(7);
    d.set_seq(200);
    auto x = h.send(kNDeath, d);
    CHECK_FALSE(x.seq_gap);
    CHECK(h.node("Plant", "edge1") == Status::offline);
  }
}

TEST_CASE("sparkplug_b host: DDEATH takes the device offline", "[sparkplug_b]") {
  spt::Host h;
  born(h);
  auto r = h.send(kDDeath, ddeath(2));
  CHECK_FALSE(r.error);
  CHECK_FALSE(r.seq_gap);  // DDEATH is counted in the node's seq
  CHECK(r.readings.empty());
  CHECK(h.device("Plant", "edge1", "pump") == Status::offline);
  CHECK(h.node("Plant", "edge1") == Status::online);
  REQUIRE(r.transitions.size() == 1);
  CHECK(r.transitions[0].is_device);
  CHECK(r.transitions[0].key == "Plant/edge1/pump");
  // its birth is gone
  auto d = h.send(kDData, ddata(3, 1.0f));
  REQUIRE(d.error);
  CHECK(d.error->code == "sparkplug.no_birth");
  // and a new DBIRTH brings it back
  REQUIRE_FALSE(h.send(kDBirth, dbirth(4)).error);
  CHECK(h.device("Plant", "edge1", "pump") == Status::online);
}

TEST_CASE("sparkplug_b host: rebirth requests are rate-limited per node", "[sparkplug_b]") {
  HostOptions o;
  o.rebirth_min_interval = 2000ms;
  spt::Host h(o);
  auto first = h.send(kNData, ndata(1, 1.0));
  CHECK(first.rebirth);
  auto second = h.send(kNData, ndata(2, 1.0));
  CHECK_FALSE(second.rebirth);
  CHECK(second.rebirth_suppressed);
  auto other = h.send("spBv1.0/Plant/NDATA/edge2", ndata(1, 1.0));  // per node
  CHECK(other.rebirth);
  h.advance(1999ms);
  CHECK_FALSE(h.send(kNData, ndata(3, 1.0)).rebirth);
  h.advance(1ms);
  auto later = h.send(kNData, ndata(4, 1.0));
  CHECK(later.rebirth);
  SECTION("a stale node keeps being asked while its data flows") {
    spt::Host s(o);
    born(s);
    REQUIRE(s.send(kNData, ndata(9, 1.0)).rebirth);  // gap
    auto quiet = s.send(kNData, ndata(10, 1.0));
    CHECK_FALSE(quiet.rebirth);
    CHECK_FALSE(quiet.rebirth_suppressed);  // nothing new went wrong
    s.advance(2000ms);
    auto again = s.send(kNData, ndata(11, 1.0));
    CHECK_FALSE(again.error);
    REQUIRE(again.rebirth);
    CHECK(again.rebirth->reason == "still stale");
  }
}

TEST_CASE("sparkplug_b host: unknown alias rejects the payload", "[sparkplug_b]") {
  spt::Host h;
  born(h);
  auto p = ndata(2, 1.0);
  metric(p, "", 99, dt::kDouble)->set_double_value(2.0);
  auto r = h.send(kNData, p);
  REQUIRE(r.error);
  CHECK(r.error->code == "sparkplug.unknown_alias");
  CHECK(r.readings.empty());
  CHECK(r.rebirth);
  CHECK(h.node("Plant", "edge1") == Status::stale);
  auto noname = spt::payload(3);
  metric(noname, "", std::nullopt, dt::kDouble)->set_double_value(2.0);
  auto n = h.send(kNData, noname);
  REQUIRE(n.error);
  CHECK(n.error->code == "sparkplug.no_name");
}

TEST_CASE("sparkplug_b host: a redelivered message is not a gap", "[sparkplug_b]") {
  spt::Host h;
  born(h);
  auto a = h.send(kNData, ndata(2, 5.0));
  auto again = h.send(kNData, ndata(2, 5.0));  // same bytes: MQTT redelivery or overlapping filters
  CHECK_FALSE(again.seq_gap);
  CHECK(again.readings == a.readings);  // the store recognises the duplicate, not us
  CHECK_FALSE(h.send(kNData, ndata(3, 6.0)).seq_gap);
  auto other = h.send(kNData, ndata(3, 7.0));  // same seq, other bytes: out of order
  CHECK(other.seq_gap);
}

TEST_CASE("sparkplug_b host: units timestamps null and transient metrics", "[sparkplug_b]") {
  spt::Host h;
  auto p = spt::payload(0, std::nullopt);  // no payload timestamp
  auto* withts = spt::dbl(p, "a", 1, 1.0);
  withts->set_timestamp(1479123452194);
  spt::unit(withts, "engUnit", "Cel");
  spt::unit(withts, "engUnits", "ignored");  // engUnit wins
  spt::dbl(p, "b", 2, 2.0);                 // no timestamp anywhere: the gateway's, flagged
  auto* nul = spt::dbl(p, "c", 3, 3.0);
  nul->set_is_null(true);
  auto* tr = spt::dbl(p, "d", 4, 4.0);
  tr->set_is_transient(true);
  auto* hist = spt::dbl(p, "e", 5, 5.0);
  hist->set_is_historical(true);
  hist->set_timestamp(1000);
  auto r = h.send(kNBirth, p);
  REQUIRE_FALSE(r.error);
  REQUIRE(r.readings.size() == 3);
  CHECK(r.readings[0].metric == "a");
  CHECK(r.readings[0].unit == "Cel");
  CHECK(r.readings[0].observed == from_unix_ns(1479123452194LL * 1'000'000));
  CHECK(r.readings[0].quality == 0);
  CHECK(r.readings[1].metric == "b");
  CHECK(r.readings[1].observed == h.received);
  CHECK(r.readings[1].quality == quality::kTimeFromGateway);
  CHECK(r.readings[2].metric == "e");  // historical values are stored with their own time
  CHECK(r.readings[2].observed == from_unix_ns(1'000'000'000));
  // null and transient metrics are still declared: their aliases resolve later
  auto d = spt::payload(1);
  metric(d, "", 3, 0)->set_double_value(30.0);
  auto dr = h.send(kNData, d);
  REQUIRE_FALSE(dr.error);
  REQUIRE(dr.readings.size() == 1);
  CHECK(dr.readings[0].metric == "c");
  SECTION("a timestamp beyond 2262 is rejected") {
    auto x = spt::payload(2, UINT64_MAX);
    spt::dbl(x, "a", std::nullopt, 1.0);
    auto xr = h.send(kNData, x);
    REQUIRE(xr.error);
    CHECK(xr.error->code == "sparkplug.timestamp");
  }
  SECTION("array elements and template members carry the metric's unit") {
    auto b = spt::payload(0);
    auto* arr = metric(b, "v", 1, dt::kUInt8Array);
    arr->set_bytes_value(std::string("\x01\x02", 2));
    spt::unit(arr, "engUnit", "V");
    auto br = h.send("spBv1.0/Plant/NBIRTH/edge9", b);
    REQUIRE_FALSE(br.error);
    REQUIRE(br.readings.size() == 2);
    CHECK(br.readings[1].metric == "v[1]");
    CHECK(br.readings[1].unit == "V");
    CHECK(br.readings[1].value == Value{std::uint64_t{2}});
  }
}

TEST_CASE("sparkplug_b host: commands and STATE are ignored", "[sparkplug_b]") {
  spt::Host h;
  for (const char* t : {"spBv1.0/Plant/NCMD/edge1", "spBv1.0/Plant/DCMD/edge1/pump", "spBv1.0/STATE/scada"}) {
    INFO(t);
    auto r = h.send(t, std::vector<std::uint8_t>{'{', '}'});
    CHECK(r.ignored);
    CHECK_FALSE(r.error);
    CHECK(r.readings.empty());
    CHECK_FALSE(r.rebirth);
  }
  CHECK(h.node("Plant", "edge1") == Status::unknown);
  auto bad = h.send("spBv1.0/Plant/NFOO/edge1", nbirth());
  REQUIRE(bad.error);
  CHECK(bad.error->code == "sparkplug.topic");
  CHECK_FALSE(bad.rebirth);
}
