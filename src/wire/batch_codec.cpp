#include "wire/batch_codec.hpp"

#include "citygate.pb.h"

namespace cg::wire {

namespace pb = citygate::wire::v1;

namespace {
void put_record(pb::Batch& b, const Record& rec) {
  if (auto* g = std::get_if<GapRecord>(&rec)) {
    auto* o = b.add_gaps();
    o->set_kind(static_cast<pb::Gap::Kind>(g->kind));
    o->set_device(g->device);
    o->set_metric(g->metric);
    o->set_first(g->first);
    o->set_last(g->last);
    o->set_count(g->count);
    o->set_from_ns(to_unix_ns(g->from));
    o->set_to_ns(to_unix_ns(g->to));
    o->set_detected_at_ns(to_unix_ns(g->detected));
    o->set_reason(g->reason);
  } else if (auto* a = std::get_if<AggregateRecord>(&rec)) {
    auto* o = b.add_aggregates();
    o->set_device(a->device);
    o->set_metric(a->metric);
    o->set_unit(a->unit);
    o->set_minute_start_ns(to_unix_ns(a->minute));
    o->set_count(a->count);
    o->set_min(a->min);
    o->set_max(a->max);
    o->set_sum(a->sum);
    o->set_last(a->last);
    o->set_first_seq(a->first_seq);
    o->set_last_seq(a->last_seq);
  } else if (auto* s = std::get_if<StatusRecord>(&rec)) {
    auto* o = b.add_statuses();
    o->set_version(s->version);
    o->set_at_ns(to_unix_ns(s->at));
    o->set_uptime_s(s->uptime_s);
    o->set_backlog_rows(s->backlog_rows);
    o->set_backlog_bytes(s->backlog_bytes);
    o->set_oldest_unsent_age_ms(s->oldest_unsent_age_ms);
    o->set_db_bytes(s->db_bytes);
    o->set_disk_budget_bytes(s->disk_budget_bytes);
    o->set_disk_free_bytes(s->disk_free_bytes);
    o->set_dead_batches(s->dead_batches);
    o->set_evicted_rows(s->evicted_rows);
    for (const auto& [name, at] : s->last_ingest) {
      auto* li = o->add_last_ingest();
      li->set_adapter(name);
      li->set_last_commit_ns(to_unix_ns(at));
    }
  }
}
}  // namespace

std::string encode_batch(const BatchHeader& h, std::span<const Reading> readings, std::span<const Record> records) {
  pb::Batch b;
  b.set_schema_version(kSchemaVersion);
  b.set_gateway_id(h.gateway_id);
  b.set_incarnation_id(h.incarnation_id);
  b.set_batch_id(h.batch_id);
  b.set_batch_seq(h.batch_seq);
  b.set_created_at_ns(to_unix_ns(h.created_at));
  b.set_part(h.part);
  b.set_parts(h.parts);
  b.set_record_class(static_cast<pb::RecordClass>(h.record_class));
  for (const auto& rec : records) put_record(b, rec);
  b.mutable_readings()->Reserve(static_cast<int>(readings.size()));
  for (const auto& r : readings) {
    auto* o = b.add_readings();
    o->set_device(r.device);
    o->set_metric(r.metric);
    struct V {
      pb::Reading* o;
      void operator()(double d) { o->set_f64(d); }
      void operator()(std::int64_t i) { o->set_i64(i); }
      void operator()(std::uint64_t u) { o->set_u64(u); }
      void operator()(bool x) { o->set_boolean(x); }
      void operator()(const std::string& s) { o->set_text(s); }
      void operator()(const Bytes& x) { o->set_raw(x.data.data(), x.data.size()); }
    };
    std::visit(V{o}, r.value);
    o->set_unit(r.unit);
    for (const auto& [k, v] : r.tags) {
      auto* t = o->add_tags();
      t->set_key(k);
      t->set_value(v);
    }
    o->set_observed_at_ns(to_unix_ns(r.observed));
    o->set_received_at_ns(to_unix_ns(r.received));
    o->set_seq(r.seq);
    if (r.src_seq) o->set_src_seq(*r.src_seq);
    o->set_quality(r.quality);
  }
  std::string out;
  b.SerializeToString(&out);
  return out;
}

namespace {
bool looks_like_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}
}  // namespace

Result<DecodedBatch> decode_batch(std::string_view bytes) {
  pb::Batch b;
  if (bytes.size() > static_cast<std::size_t>(INT32_MAX) ||
      !b.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return fail(Error::reject("protobuf", "body is not a valid citygate.wire.v1.Batch"));
  if (b.schema_version() != kSchemaVersion)
    return fail(Error::reject("schema_version", "unsupported schema_version " + std::to_string(b.schema_version())));
  if (b.gateway_id().empty()) return fail(Error::reject("gateway_id", "gateway_id is empty"));
  if (b.incarnation_id().empty()) return fail(Error::reject("incarnation_id", "incarnation_id is empty"));
  if (!looks_like_uuid(b.batch_id())) return fail(Error::reject("batch_id", "batch_id is not a UUID"));
  if (b.part() > b.parts() || (b.parts() > 0 && b.part() == 0))
    return fail(Error::reject("part", "part must be 1..parts (or 0/0 when not split)"));
  DecodedBatch out;
  out.header = {b.gateway_id(), b.incarnation_id(), b.batch_id(), b.batch_seq(), from_unix_ns(b.created_at_ns()),
                b.part(), b.parts()};
  if (b.record_class() < 0 || b.record_class() >= kRecordClassCount)
    return fail(Error::reject("record_class", "unknown record_class " + std::to_string(b.record_class())));
  out.header.record_class = static_cast<RecordClass>(b.record_class());
  for (const auto& g : b.gaps()) {
    if (g.device().empty()) return fail(Error::reject("gap", "gap record without device"));
    if (g.kind() != pb::Gap::SRC_SEQ && g.kind() != pb::Gap::EVICTED && g.kind() != pb::Gap::MISSED_POLL)
      return fail(Error::reject("gap", "gap record of unknown kind " + std::to_string(g.kind())));
    out.records.push_back(GapRecord{static_cast<GapRecord::Kind>(g.kind()), g.device(), g.metric(), g.first(),
                                    g.last(), g.count(), from_unix_ns(g.from_ns()), from_unix_ns(g.to_ns()),
                                    from_unix_ns(g.detected_at_ns()), g.reason()});
  }
  for (const auto& a : b.aggregates()) {
    if (a.device().empty() || a.metric().empty())
      return fail(Error::reject("aggregate", "aggregate record without device or metric"));
    out.records.push_back(AggregateRecord{a.device(), a.metric(), a.unit(), from_unix_ns(a.minute_start_ns()),
                                          a.count(), a.min(), a.max(), a.sum(), a.last(), a.first_seq(),
                                          a.last_seq()});
  }
  for (const auto& s : b.statuses()) {
    StatusRecord r;
    r.version = s.version();
    r.at = from_unix_ns(s.at_ns());
    r.uptime_s = s.uptime_s();
    r.backlog_rows = s.backlog_rows();
    r.backlog_bytes = s.backlog_bytes();
    r.oldest_unsent_age_ms = s.oldest_unsent_age_ms();
    r.db_bytes = s.db_bytes();
    r.disk_budget_bytes = s.disk_budget_bytes();
    r.disk_free_bytes = s.disk_free_bytes();
    r.dead_batches = s.dead_batches();
    r.evicted_rows = s.evicted_rows();
    for (const auto& li : s.last_ingest()) r.last_ingest.emplace_back(li.adapter(), from_unix_ns(li.last_commit_ns()));
    out.records.push_back(std::move(r));
  }
  out.readings.reserve(static_cast<std::size_t>(b.readings_size()));
  for (int i = 0; i < b.readings_size(); ++i) {
    const auto& o = b.readings(i);
    Reading r;
    r.device = o.device();
    r.metric = o.metric();
    if (r.device.empty() || r.metric.empty())
      return fail(Error::reject("reading", "reading " + std::to_string(i) + " has no device or metric"));
    switch (o.value_case()) {
      case pb::Reading::kF64: r.value = o.f64(); break;
      case pb::Reading::kI64: r.value = static_cast<std::int64_t>(o.i64()); break;
      case pb::Reading::kU64: r.value = static_cast<std::uint64_t>(o.u64()); break;
      case pb::Reading::kBoolean: r.value = o.boolean(); break;
      case pb::Reading::kText: r.value = o.text(); break;
      case pb::Reading::kRaw: r.value = Bytes{{o.raw().begin(), o.raw().end()}}; break;
      default: return fail(Error::reject("reading", "reading " + std::to_string(i) + " has no value"));
    }
    r.unit = o.unit();
    r.tags.reserve(static_cast<std::size_t>(o.tags_size()));
    for (const auto& t : o.tags()) r.tags.emplace_back(t.key(), t.value());
    r.observed = from_unix_ns(o.observed_at_ns());
    r.received = from_unix_ns(o.received_at_ns());
    r.seq = o.seq();
    if (o.has_src_seq()) r.src_seq = o.src_seq();
    r.quality = o.quality();
    out.readings.push_back(std::move(r));
  }
  return out;
}

}  // namespace cg::wire
