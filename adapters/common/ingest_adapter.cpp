#include "common/ingest_adapter.hpp"

#include <charconv>

#include "core/secret_file.hpp"

namespace cg::adapters {

CodecFn whole_input_codec(std::function<Result<std::vector<Reading>>(const DecodeInput&)> fn) {
  return [fn = std::move(fn)](const DecodeInput& in) { return to_output(fn(in)); };
}

namespace {


std::string key_or_empty(const ConfigView& cfg, std::string_view key) {
  return cfg.has(key) ? cfg.get_string(key) : std::string();
}

}  // namespace

std::optional<std::string_view> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto kv = query.substr(0, amp);
    if (kv.size() > name.size() && kv.starts_with(name) && kv[name.size()] == '=') return kv.substr(name.size() + 1);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  return std::nullopt;
}

Result<StreamListen> parse_stream_listen(std::string_view text, StreamListen::Protocol p) {
  StreamListen l;
  l.protocol = p;
  std::string_view port = text;
  if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
    std::string_view host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (!host.empty()) l.host = std::string(host);
  }
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || v > 65535)
    return fail(Error::fatal("config", "'" + std::string(text) + "' is not HOST:PORT"));
  l.port = static_cast<std::uint16_t>(v);
  return l;
}

Result<IngestBindings> read_bindings(const ConfigView& cfg, const BindingDefaults& d) {
  IngestBindings b;
  if (!key_or_empty(cfg, "broker").empty()) {
    auto m = read_mqtt_binding(cfg, d.topics);
    if (!m) return fail(m.error());
    b.mqtt = std::move(*m);
  }
  if (auto path = key_or_empty(cfg, "http_path"); !path.empty()) {
    if (path.front() != '/' || path.find_first_of("?# ") != std::string::npos)
      return fail(Error::fatal("config", "http_path must be a path starting with '/', without query: '" + path + "'"));
    HttpIngestRoute r;
    r.path = path;
    r.content_types = d.content_types;
    r.max_body = d.max_body;
    if (auto tf = key_or_empty(cfg, "http_token_file"); !tf.empty()) {
      auto t = read_secret_file(tf, "http_token_file", false);
      if (!t) return fail(Error::fatal("config", t.error().message));
      r.bearer_token = std::move(*t);
    }
    b.http = std::move(r);
  }
  for (auto [key, proto] : {std::pair{"udp_listen", StreamListen::Protocol::udp}, std::pair{"tcp_listen", StreamListen::Protocol::tcp}}) {
    auto text = key_or_empty(cfg, key);
    if (text.empty()) continue;
    auto l = parse_stream_listen(text, proto);
    if (!l) return fail(Error::fatal("config", std::string(key) + ": " + l.error().message));
    l->max_line = d.max_line;
    (proto == StreamListen::Protocol::udp ? b.udp : b.tcp) = std::move(*l);
  }
  if (!b.mqtt && !b.http && !b.udp && !b.tcp)
    return fail(Error::fatal("config", "no transport configured: set broker (MQTT)" +
                                           std::string(cfg.has("http_path") ? ", http_path" : "") +
                                           (cfg.has("udp_listen") ? ", udp_listen or tcp_listen" : "")));
  return b;
}

Result<void> IngestAdapter::start(AdapterContext& ctx) {
  CodecFn codec = make_codec_(ctx);
  if (b_.mqtt) {
    const Clock* clock = &ctx.clock();
    Metrics* metrics = &ctx.metrics();
    std::string id(ctx.instance_id());
    MqttDecodeFn fn = [codec, clock, metrics, id](const MqttMessage& m) -> Result<std::vector<Reading>> {
      DecodeInput in;
      in.topic = m.topic;
      in.payload = m.payload;
      in.now = clock->now();
      DecodeOutput out = codec(in);
      if (out.readings.empty() && !out.errors.empty()) return fail(out.errors.front());
      // Partly bad (line protocol): the good readings go on, each bad record is counted.
      for (const auto& e : out.errors)
        metrics->counter("adapter_decode_errors_total", {{"adapter", id}, {"reason", e.code}}).inc();
      return std::move(out.readings);
    };
    for (const auto& t : b_.mqtt->topics)
      if (auto r = ctx.subscribe_mqtt(b_.mqtt->broker, t, b_.mqtt->qos, fn); !r) return r;
  }
  if (b_.http)
    if (auto r = ctx.route_http(*b_.http, codec); !r) return r;
  if (b_.udp)
    if (auto r = ctx.listen_stream(*b_.udp, codec); !r) return r;
  if (b_.tcp)
    if (auto r = ctx.listen_stream(*b_.tcp, codec); !r) return r;
  return {};
}

}  // namespace cg::adapters
