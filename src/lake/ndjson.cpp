#include "lake/ndjson.hpp"

#include <fmt/format.h>

#include "core/json_writer.hpp"
#include "core/time_format.hpp"

namespace cg::lake {

std::string encode_path_component(std::string_view id) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(id.size());
  for (char ch : id) {
    auto c = static_cast<unsigned char>(ch);
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                c == '-';
    if (keep) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string partition_dir(TimeNs lake_received, std::string_view gateway_id) {
  return "dt=" + format_utc_date(lake_received) + "/gateway=" + encode_path_component(gateway_id);
}

std::string_view value_type_name(const Value& v) {
  switch (value_type(v)) {
    case ValueType::f64: return "f64";
    case ValueType::i64: return "i64";
    case ValueType::u64: return "u64";
    case ValueType::boolean: return "bool";
    case ValueType::string: return "string";
    case ValueType::bytes: return "bytes";
  }
  return "unknown";
}

namespace {

// Writes the keys of one line. Keys are ours: plain ASCII, nothing to escape.
class Line {
 public:
  Line(std::string& out, std::string_view type, const wire::BatchHeader& h) : out_(out) {
    out_ += R"({"type":)";
    json::append_string(out_, type);
    str("gateway", h.gateway_id);
    str("incarnation", h.incarnation_id);
    str("batch_id", h.batch_id);
    num("batch_seq", h.batch_seq);
    num("part", h.part);
    num("parts", h.parts);
    str("record_class", record_class_name(h.record_class));
  }

  void key(std::string_view k) {
    out_ += ",\"";
    out_ += k;
    out_ += "\":";
  }
  void str(std::string_view k, std::string_view v) {
    key(k);
    json::append_string(out_, v);
  }
  template <class T>
  void num(std::string_view k, T v) {
    key(k);
    fmt::format_to(std::back_inserter(out_), "{}", v);
  }
  void dbl(std::string_view k, double v) {
    key(k);
    json::append_double(out_, v);
  }
  // "<k>":"<RFC 3339 ms>","<k>_ns":<exact ns>
  void time(std::string_view k, TimeNs t) {
    str(k, format_rfc3339_ms(t));
    num(std::string(k) + "_ns", to_unix_ns(t));
  }
  // Like time(), both null when the record does not know the time (0).
  void time_or_null(std::string_view k, TimeNs t) {
    if (to_unix_ns(t) != 0) return time(k, t);
    key(k);
    out_ += "null";
    key(std::string(k) + "_ns");
    out_ += "null";
  }
  void finish(TimeNs lake_received) {
    str("lake_received_at", format_rfc3339_ms(lake_received));
    out_ += "}\n";
  }

 private:
  std::string& out_;
};

}  // namespace

std::string_view gap_kind_name(GapRecord::Kind k) {
  switch (k) {
    case GapRecord::Kind::src_seq: return "src_seq";
    case GapRecord::Kind::evicted: return "evicted";
    case GapRecord::Kind::missed_poll: return "missed_poll";
  }
  return "unknown";
}

std::string_view record_type_name(const Record& r) {
  if (std::holds_alternative<GapRecord>(r)) return "gap";
  if (std::holds_alternative<AggregateRecord>(r)) return "aggregate";
  return "status";
}

void append_reading_line(std::string& out, const wire::BatchHeader& h, const Reading& r, TimeNs lake_received) {
  Line l(out, "reading", h);
  l.str("device", r.device);
  l.str("metric", r.metric);
  l.key("value");
  json::append_value(out, r.value);
  l.str("value_type", value_type_name(r.value));
  l.str("unit", r.unit);
  l.time("observed_at", r.observed);
  l.time("received_at", r.received);
  l.num("seq", r.seq);
  l.key("src_seq");
  if (r.src_seq) {
    fmt::format_to(std::back_inserter(out), "{}", *r.src_seq);
  } else {
    out += "null";
  }
  l.key("tags");
  json::append_tags(out, r.tags);
  l.num("quality", r.quality);
  l.finish(lake_received);
}

void append_record_line(std::string& out, const wire::BatchHeader& h, const Record& rec, TimeNs lake_received) {
  Line l(out, record_type_name(rec), h);
  if (const auto* g = std::get_if<GapRecord>(&rec)) {
    l.str("kind", gap_kind_name(g->kind));
    l.str("device", g->device);
    l.str("metric", g->metric);
    l.num("first", g->first);
    l.num("last", g->last);
    l.num("count", g->count);
    l.time_or_null("from", g->from);
    l.time_or_null("to", g->to);
    l.time("detected_at", g->detected);
    l.str("reason", g->reason);
  } else if (const auto* a = std::get_if<AggregateRecord>(&rec)) {
    l.str("device", a->device);
    l.str("metric", a->metric);
    l.str("unit", a->unit);
    l.time("minute_start", a->minute);
    l.num("count", a->count);
    l.dbl("min", a->min);
    l.dbl("max", a->max);
    l.dbl("sum", a->sum);
    l.dbl("last", a->last);
    l.num("first_seq", a->first_seq);
    l.num("last_seq", a->last_seq);
  } else {
    const auto& s = std::get<StatusRecord>(rec);
    l.str("version", s.version);
    l.time("at", s.at);
    l.num("uptime_s", s.uptime_s);
    l.num("backlog_rows", s.backlog_rows);
    l.num("backlog_bytes", s.backlog_bytes);
    l.num("oldest_unsent_age_ms", s.oldest_unsent_age_ms);
    l.num("db_bytes", s.db_bytes);
    l.num("disk_budget_bytes", s.disk_budget_bytes);
    l.num("disk_free_bytes", s.disk_free_bytes);
    l.num("dead_batches", s.dead_batches);
    l.num("evicted_rows", s.evicted_rows);
    l.key("last_ingest");
    out += '[';
    bool first = true;
    for (const auto& [adapter, at] : s.last_ingest) {
      if (!first) out += ',';
      first = false;
      out += R"({"adapter":)";
      json::append_string(out, adapter);
      out += R"(,"last_commit":)";
      json::append_string(out, format_rfc3339_ms(at));
      fmt::format_to(std::back_inserter(out), R"(,"last_commit_ns":{}}})", to_unix_ns(at));
    }
    out += ']';
  }
  l.finish(lake_received);
}

}  // namespace cg::lake
