// `influx_line`: InfluxDB line protocol (Telegraf, collectd-style agents) over UDP, TCP, HTTP
// (the InfluxDB write API shape) and MQTT — any mix in one instance, one codec for all.
//
// Partial rejects: a body whose lines are partly bad still yields the readings of the good lines;
// every bad line is reported with its number (HTTP 400 lists them with the count accepted) and
// counted in `influx_line_rejected_lines_total{adapter=<id>}`. A body with no good line at all is
// rejected whole (counted, kept in rejected_payloads).
#include <string>
#include <vector>

#include "adapter_api/adapter.hpp"
#include "common/ingest_adapter.hpp"
#include "influx_line/influx_line_codec.hpp"

namespace cg {

namespace {

constexpr ConfigKey kKeys[] = {
    {"udp_listen", KeyType::string, "\"\"", false,
     "UDP listener, \"HOST:PORT\" (\":8089\" = loopback port 8089); one datagram holds one or more lines. "
     "\"\": none. Listen beyond loopback only on a trusted device LAN."},
    {"tcp_listen", KeyType::string, "\"\"", false,
     "TCP listener, \"HOST:PORT\" (\":8094\" = loopback); newline-separated lines, read only as fast as "
     "they are committed. \"\": none."},
    {"http_path", KeyType::string, "\"\"", false,
     "POST route on the ingest listener taking line protocol bodies (e.g. \"/api/v2/write\" for InfluxDB "
     "clients; `?precision=` is honoured). \"\": none."},
    {"http_token_file", KeyType::string, "\"\"", false,
     "File holding the bearer token the HTTP route requires; \"\": no token (loopback or trusted LAN only)."},
    {"broker", KeyType::string, "\"\"", false, "Id of the [[brokers]] entry to subscribe on; \"\": no MQTT."},
    {"topics", KeyType::string_list, "[]", false,
     "MQTT topic filters carrying line protocol, e.g. \"telegraf/#\" (Telegraf mqtt output, data_format = \"influx\")."},
    {"qos", KeyType::integer, "1", false, "Subscription QoS (0 or 1). QoS 1 is acknowledged only after commit."},
    {"precision", KeyType::string, "\"ns\"", false,
     "Timestamp precision of the lines: \"ns\", \"us\", \"ms\" or \"s\" (Telegraf writes ns)."},
    {"max_payload_bytes", KeyType::integer, "1048576", false,
     "Larger messages, datagrams or HTTP bodies are rejected whole (and kept in rejected_payloads); also the "
     "longest TCP line."},
};

// One body of lines -> readings, every bad line an error with its number.
DecodeOutput decode_body(const DecodeInput& in, influx_line::CodecOptions o, std::size_t max, Counter* rejected_lines) {
  DecodeOutput out;
  if (in.payload.size() > max) {
    out.errors.push_back(Error::reject("too_large", "payload of " + std::to_string(in.payload.size()) +
                                                        " bytes exceeds max_payload_bytes " + std::to_string(max)));
    return out;
  }
  // --precision of `citygate decode`, else ?precision= of an InfluxDB-style HTTP write
  std::string precision = in.precision;
  if (precision.empty())
    if (auto q = adapters::query_param(in.query, "precision")) precision = std::string(*q);
  if (!precision.empty()) {
    auto p = influx_line::parse_precision(precision);
    if (!p) {
      out.errors.push_back(Error::reject("precision", "precision must be ns, us, ms or s, not '" + precision + "'"));
      return out;
    }
    o.precision = *p;
  }
  std::string_view body(reinterpret_cast<const char*>(in.payload.data()), in.payload.size());
  auto r = influx_line::decode(body, in.now, o);
  if (rejected_lines && r.rejected_lines > 0) rejected_lines->inc(r.rejected_lines);
  out.readings = std::move(r.readings);
  for (const auto& e : r.errors)
    out.errors.push_back(Error::reject(e.code, "line " + std::to_string(e.line) + ": " + e.reason));
  if (r.rejected_lines > r.errors.size())
    out.errors.push_back(Error::reject("more", std::to_string(r.rejected_lines - r.errors.size()) + " more bad lines"));
  return out;
}

Result<std::unique_ptr<Adapter>> make(const std::string&, const ConfigView& cfg) {
  auto prec_text = cfg.get_string("precision");
  auto prec = influx_line::parse_precision(prec_text);
  if (!prec) return fail(Error::fatal("config", "precision must be \"ns\", \"us\", \"ms\" or \"s\", not \"" + prec_text + "\""));
  auto maxp = cfg.get_int("max_payload_bytes");
  if (maxp < 16 || maxp > 16 * 1024 * 1024)
    return fail(Error::fatal("config", "max_payload_bytes must be 16..16777216"));
  auto max = static_cast<std::size_t>(maxp);
  adapters::BindingDefaults defaults;
  defaults.max_body = max;
  defaults.max_line = max;
  auto bindings = adapters::read_bindings(cfg, defaults);
  if (!bindings) return fail(bindings.error());
  influx_line::CodecOptions o;
  o.precision = *prec;
  return std::unique_ptr<Adapter>(std::make_unique<adapters::IngestAdapter>(
      std::move(*bindings), [o, max](AdapterContext& ctx) -> adapters::CodecFn {
        Counter* rejected_lines = &ctx.metrics().counter(
            "influx_line_rejected_lines_total", {{"adapter", std::string(ctx.instance_id())}},
            "Line protocol lines rejected (bad syntax, out of range, limits); the other lines of the body are kept");
        return [o, max, rejected_lines](const DecodeInput& in) { return decode_body(in, o, max, rejected_lines); };
      }));
}

Result<std::unique_ptr<DecodeSession>> make_decoder(const ConfigView& cfg) {
  influx_line::CodecOptions o;
  if (cfg.has("precision")) {
    auto p = influx_line::parse_precision(cfg.get_string("precision"));
    if (!p) return fail(Error::fatal("config", "precision must be ns, us, ms or s"));
    o.precision = *p;
  }
  return std::unique_ptr<DecodeSession>(std::make_unique<CodecDecodeSession>(
      [o](const DecodeInput& in) { return decode_body(in, o, std::size_t{16} * 1024 * 1024, nullptr); }));
}

}  // namespace

const AdapterDescriptor& influx_line_descriptor() {
  static const AdapterDescriptor d{"influx_line",
                                   "InfluxDB line protocol over UDP, TCP, HTTP and MQTT (Telegraf, collectd-style agents)", kKeys, make,
                                   make_decoder};
  return d;
}

}  // namespace cg
