// `influx_line`: InfluxDB line protocol (Telegraf, collectd-style agents) over MQTT.
//
// Telegraf's MQTT output with data_format = "influx" publishes line protocol; each message is one
// body of one or more lines. The UDP/TCP listeners come later; for now the adapter subscribes.
//
// Partial rejects: a message whose lines are partly bad still yields the readings of the good
// lines; every bad line is counted in `influx_line_rejected_lines_total{adapter=<id>}`. A message
// with no good line at all (and at least one bad one) is also returned as an error, so the
// transport counts it and keeps the payload in rejected_payloads.
#include <string>
#include <vector>

#include "adapter_api/adapter.hpp"
#include "common/mqtt_binding.hpp"
#include "influx_line/influx_line_codec.hpp"

namespace cg {

namespace {

constexpr ConfigKey kKeys[] = {
    {"broker", KeyType::string, "", true, "Id of the [[brokers]] entry to subscribe on."},
    {"topics", KeyType::string_list, "", true,
     "MQTT topic filters carrying line protocol, e.g. \"telegraf/#\" (Telegraf mqtt output, data_format = \"influx\")."},
    {"qos", KeyType::integer, "1", false, "Subscription QoS (0 or 1). QoS 1 is acknowledged only after commit."},
    {"precision", KeyType::string, "\"ns\"", false,
     "Timestamp precision of the lines: \"ns\", \"us\", \"ms\" or \"s\" (Telegraf writes ns)."},
    {"max_payload_bytes", KeyType::integer, "1048576", false,
     "Larger messages are rejected whole (and kept in rejected_payloads)."},
};

Result<std::unique_ptr<Adapter>> make(const std::string&, const ConfigView& cfg) {
  auto binding = adapters::read_mqtt_binding(cfg);
  if (!binding) return fail(binding.error());
  auto prec_text = cfg.get_string("precision");
  auto prec = influx_line::parse_precision(prec_text);
  if (!prec) return fail(Error::fatal("config", "precision must be \"ns\", \"us\", \"ms\" or \"s\", not \"" + prec_text + "\""));
  auto maxp = cfg.get_int("max_payload_bytes");
  if (maxp < 16 || maxp > 16 * 1024 * 1024)
    return fail(Error::fatal("config", "max_payload_bytes must be 16..16777216"));
  influx_line::CodecOptions o;
  o.precision = *prec;
  auto max = static_cast<std::size_t>(maxp);
  return std::unique_ptr<Adapter>(std::make_unique<adapters::MqttSubscriberAdapter>(
      std::move(*binding), [opts = o, max](AdapterContext& ctx) -> MqttDecodeFn {
        const Clock* clock = &ctx.clock();
        Counter* rejected_lines = &ctx.metrics().counter(
            "influx_line_rejected_lines_total", {{"adapter", std::string(ctx.instance_id())}},
            "Line protocol lines rejected (bad syntax, out of range, limits); the other lines of the message are kept");
        return [opts, max, clock, rejected_lines](const MqttMessage& m) -> Result<std::vector<Reading>> {
          if (m.payload.size() > max)
            return fail(Error::reject("too_large", "payload of " + std::to_string(m.payload.size()) +
                                                       " bytes exceeds max_payload_bytes " + std::to_string(max)));
          std::string_view body(reinterpret_cast<const char*>(m.payload.data()), m.payload.size());
          auto r = influx_line::decode(body, clock->now(), opts);
          if (r.rejected_lines > 0) {
            rejected_lines->inc(r.rejected_lines);
            if (r.readings.empty()) {
              const auto& e = r.errors.front();
              return fail(Error::reject("line_protocol", std::to_string(r.rejected_lines) + " bad line(s), none valid; line " +
                                                             std::to_string(e.line) + ": " + e.reason));
            }
          }
          return std::move(r.readings);
        };
      }));
}

// Offline decoding: one body per input, every bad line reported with its line number while the
// good ones are kept. --precision overrides the configured precision.
class InfluxDecode final : public DecodeSession {
 public:
  explicit InfluxDecode(influx_line::CodecOptions o) : o_(o) {}
  DecodeOutput decode(const DecodeInput& in) override {
    auto o = o_;
    if (!in.precision.empty())
      if (auto p = influx_line::parse_precision(in.precision)) o.precision = *p;
    std::string_view body(reinterpret_cast<const char*>(in.payload.data()), in.payload.size());
    auto r = influx_line::decode(body, in.now, o);
    DecodeOutput out;
    out.readings = std::move(r.readings);
    for (const auto& e : r.errors)
      out.errors.push_back(Error::reject(e.code, "line " + std::to_string(e.line) + ": " + e.reason));
    if (r.rejected_lines > r.errors.size())
      out.errors.push_back(Error::reject("more", std::to_string(r.rejected_lines - r.errors.size()) + " more bad lines"));
    return out;
  }

 private:
  influx_line::CodecOptions o_;
};

Result<std::unique_ptr<DecodeSession>> make_decoder(const ConfigView& cfg) {
  influx_line::CodecOptions o;
  if (cfg.has("precision")) {
    auto p = influx_line::parse_precision(cfg.get_string("precision"));
    if (!p) return fail(Error::fatal("config", "precision must be ns, us, ms or s"));
    o.precision = *p;
  }
  return std::unique_ptr<DecodeSession>(std::make_unique<InfluxDecode>(o));
}

}  // namespace

const AdapterDescriptor& influx_line_descriptor() {
  static const AdapterDescriptor d{"influx_line",
                                   "InfluxDB line protocol over MQTT (Telegraf data_format = \"influx\")", kKeys, make,
                                   make_decoder};
  return d;
}

}  // namespace cg
