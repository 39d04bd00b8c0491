#pragma once
// Test-side encoders: payloads are built with the generated protobuf classes (an encoder of our
// own, independent of the codec under test), plus the two text forms the shared vectors come in
// (base64, and the specification's JSON rendering of a payload).
#include "core/json_writer.hpp"
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sparkplug_b.pb.h"
#include "sparkplug_b/sparkplug_codec.hpp"
#include "sparkplug_b/sparkplug_host.hpp"

namespace spt {

using PbPayload = cg::sparkplug::pb::Payload;
using PbMetric = cg::sparkplug::pb::Payload::Metric;
namespace dt = cg::sparkplug::dt;

inline constexpr std::uint64_t kTs = 1'700'000'000'000;  // 2023-11-14T22:13:20Z

inline PbPayload payload(std::optional<std::uint64_t> seq, std::optional<std::uint64_t> ts = kTs) {
  PbPayload p;
  if (ts) p.set_timestamp(*ts);
  if (seq) p.set_seq(*seq);
  return p;
}

// Adds a metric; an empty name or no alias leaves the field out. Set the value on the result.
inline PbMetric* metric(PbPayload& p, const std::string& name, std::optional<std::uint64_t> alias,
                        std::uint32_t datatype) {
  auto* m = p.add_metrics();
  if (!name.empty()) m->set_name(name);
  if (alias) m->set_alias(*alias);
  if (datatype) m->set_datatype(datatype);
  return m;
}

inline PbMetric* dbl(PbPayload& p, const std::string& name, std::optional<std::uint64_t> alias, double v) {
  auto* m = metric(p, name, alias, dt::kDouble);
  m->set_double_value(v);
  return m;
}

inline void bdseq(PbPayload& p, std::uint64_t v, std::optional<std::uint64_t> alias = std::nullopt) {
  metric(p, "bdSeq", alias, dt::kUInt64)->set_long_value(v);
}

inline void rebirth_metric(PbPayload& p, std::optional<std::uint64_t> alias = std::nullopt) {
  metric(p, "Node Control/Rebirth", alias, dt::kBoolean)->set_boolean_value(false);
}

inline void unit(PbMetric* m, const std::string& key, const std::string& u) {
  auto* ps = m->mutable_properties();
  ps->add_keys(key);
  auto* v = ps->add_values();
  v->set_type(dt::kString);
  v->set_string_value(u);
}

inline std::vector<std::uint8_t> wire(const PbPayload& p) {
  std::string s = p.SerializeAsString();
  return std::vector<std::uint8_t>(s.begin(), s.end());
}

inline std::vector<std::uint8_t> base64_decode(std::string_view s) {
  std::string clean;
  for (char c : s)
    if (c != '\n' && c != '\r' && c != ' ') clean += c;  // .b64 files end in a newline
  return cg::json::base64_decode(clean).value_or(std::vector<std::uint8_t>{});
}

inline std::uint32_t datatype_named(std::string_view name) {
  static const char* kNames[] = {"Unknown",  "Int8",      "Int16",       "Int32",        "Int64",      "UInt8",
                                 "UInt16",   "UInt32",    "UInt64",      "Float",        "Double",     "Boolean",
                                 "String",   "DateTime",  "Text",        "UUID",         "DataSet",    "Bytes",
                                 "File",     "Template",  "PropertySet", "PropertySetList", "Int8Array", "Int16Array",
                                 "Int32Array", "Int64Array", "UInt8Array", "UInt16Array", "UInt32Array", "UInt64Array",
                                 "FloatArray", "DoubleArray", "BooleanArray", "StringArray", "DateTimeArray"};
  auto lower = [](std::string_view s) {
    std::string o(s);
    for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return o;
  };
  for (std::uint32_t i = 0; i < std::size(kNames); ++i)
    if (lower(kNames[i]) == lower(name)) return i;
  FAIL("unknown datatype name " << name);
  return 0;
}

// The specification renders payloads as JSON "for readability" ({timestamp, seq, metrics:[{name,
// alias, timestamp, dataType, value}]}); this builds the protobuf payload such JSON describes.
inline std::vector<std::uint8_t> from_spec_json(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(text).value();
  PbPayload p;
  std::uint64_t u = 0;
  if (!doc["timestamp"].get(u)) p.set_timestamp(u);
  if (!doc["seq"].get(u)) p.set_seq(u);
  simdjson::dom::array metrics;
  if (!doc["metrics"].get(metrics)) {
    for (auto jm : metrics) {
      auto* m = p.add_metrics();
      std::string_view s;
      if (!jm["name"].get(s)) m->set_name(std::string(s));
      if (!jm["alias"].get(u)) m->set_alias(u);
      if (!jm["timestamp"].get(u)) m->set_timestamp(u);
      auto t = datatype_named(jm["dataType"].get_string().value());
      m->set_datatype(t);
      auto v = jm["value"];
      switch (t) {
        case dt::kInt8: case dt::kInt16: case dt::kInt32:
          m->set_int_value(static_cast<std::uint32_t>(v.get_int64().value()));
          break;
        case dt::kUInt8: case dt::kUInt16: case dt::kUInt32:
          m->set_int_value(static_cast<std::uint32_t>(v.get_uint64().value()));
          break;
        case dt::kInt64: case dt::kDateTime:
          m->set_long_value(static_cast<std::uint64_t>(v.get_int64().value()));
          break;
        case dt::kUInt64: m->set_long_value(v.get_uint64().value()); break;
        case dt::kFloat: m->set_float_value(static_cast<float>(v.get_double().value())); break;
        case dt::kDouble: m->set_double_value(v.get_double().value()); break;
        case dt::kBoolean: m->set_boolean_value(v.get_bool().value()); break;
        case dt::kString: case dt::kText: case dt::kUUID:
          m->set_string_value(std::string(v.get_string().value()));
          break;
        default: FAIL("spec JSON datatype " << t << " is not handled by the test encoder");
      }
    }
  }
  return wire(p);
}

// A host session driven by a clock the test moves.
struct Host {
  explicit Host(cg::sparkplug::HostOptions o = {}) : session(o) {}
  cg::sparkplug::HostSession session;
  cg::TimeNs received = cg::from_unix_ns(1'800'000'000'000'000'000);
  std::chrono::steady_clock::time_point now{std::chrono::seconds(1000)};

  cg::sparkplug::Outcome send(const std::string& topic, const std::vector<std::uint8_t>& bytes) {
    return session.process(topic, bytes, received, now);
  }
  cg::sparkplug::Outcome send(const std::string& topic, const PbPayload& p) { return send(topic, wire(p)); }
  void advance(std::chrono::milliseconds d) { now += d; }
  cg::sparkplug::Status node(const std::string& g, const std::string& n) const { return session.node_status(g, n); }
  cg::sparkplug::Status device(const std::string& g, const std::string& n, const std::string& d) const {
    return session.device_status(g, n, d);
  }
};

}  // namespace spt
