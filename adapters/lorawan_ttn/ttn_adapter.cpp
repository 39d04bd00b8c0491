// `lorawan_ttn`: The Things Stack v3 (TTN / TTI) uplinks over the MQTT integration.
#include "adapter_api/adapter.hpp"
#include "common/ingest_adapter.hpp"
#include "lorawan_ttn/ttn_codec.hpp"

namespace cg {

namespace {

constexpr ConfigKey kKeys[] = {
    {"broker", KeyType::string, "\"\"", false,
     "Id of the [[brokers]] entry connected to the TTS MQTT server; \"\": no MQTT (webhook only)."},
    {"topics", KeyType::string_list, "[\"v3/+/devices/+/up\"]", false,
     "MQTT filters to subscribe to (ApplicationUp messages; other message types give no readings)."},
    {"qos", KeyType::integer, "1", false, "Subscription QoS (0 or 1). QoS 1 is acknowledged only after commit."},
    {"http_path", KeyType::string, "\"\"", false,
     "POST route on the ingest listener for the TTS webhook integration (uplink message enabled, JSON format), e.g. \"/ingest/ttn\". \"\": none."},
    {"http_token_file", KeyType::string, "\"\"", false,
     "File holding the bearer token the HTTP route requires (`Authorization: Bearer <token>`); \"\": no token."},
    {"payload", KeyType::string, "\"decoded\"", false,
     "\"decoded\": measurements from decoded_payload (TTS payload formatter); \"cayenne\": decode frm_payload as "
     "CayenneLPP here."},
};

Result<std::unique_ptr<Adapter>> make(const std::string&, const ConfigView& cfg) {
  adapters::BindingDefaults defaults;
  defaults.topics = {"v3/+/devices/+/up"};
  defaults.content_types = {"application/json"};
  auto binding = adapters::read_bindings(cfg, defaults);
  if (!binding) return fail(binding.error());
  lorawan_ttn::CodecOptions o;
  auto mode = cfg.has("payload") ? cfg.get_string("payload") : std::string("decoded");
  if (mode == "decoded") o.payload = lorawan_ttn::PayloadMode::decoded;
  else if (mode == "cayenne") o.payload = lorawan_ttn::PayloadMode::cayenne;
  else return fail(Error::fatal("config", "payload must be \"decoded\" or \"cayenne\", not \"" + mode + "\""));
  return std::unique_ptr<Adapter>(std::make_unique<adapters::IngestAdapter>(
      std::move(*binding), [o](AdapterContext& ctx) -> adapters::CodecFn {
        Labels l{{"adapter", std::string(ctx.instance_id())}};
        Counter* undecoded =
            &ctx.metrics().counter("lorawan_undecoded_payloads_total", l, "Uplinks with frm_payload but no decoded_payload");
        Counter* ignored = &ctx.metrics().counter("lorawan_non_uplink_messages_total", l,
                                                  "Messages that are not uplinks (joins, downlink events, ...)");
        return adapters::whole_input_codec([o, undecoded, ignored](const DecodeInput& in) -> Result<std::vector<Reading>> {
          auto r = lorawan_ttn::decode(in.payload, in.now, o);
          if (!r) return fail(r.error());
          if (!r->uplink) ignored->inc();
          if (r->payload_undecoded) undecoded->inc();
          return std::move(r->readings);
        });
      }));
}

Result<std::unique_ptr<DecodeSession>> make_decoder(const ConfigView& cfg) {
  lorawan_ttn::CodecOptions o;
  auto mode = cfg.has("payload") ? cfg.get_string("payload") : std::string("decoded");
  if (mode == "cayenne") o.payload = lorawan_ttn::PayloadMode::cayenne;
  else if (mode != "decoded") return fail(Error::fatal("config", "payload must be \"decoded\" or \"cayenne\""));
  return std::unique_ptr<DecodeSession>(std::make_unique<FunctionDecodeSession>(
      [o](const DecodeInput& in) -> Result<std::vector<Reading>> {
        auto r = lorawan_ttn::decode(in.payload, in.now, o);
        if (!r) return fail(r.error());
        return std::move(r->readings);
      }));
}

}  // namespace

const AdapterDescriptor& lorawan_ttn_descriptor() {
  static const AdapterDescriptor d{"lorawan_ttn", "The Things Stack v3 (TTN) uplinks over MQTT or webhook", kKeys, make,
                                   make_decoder};
  return d;
}

}  // namespace cg
