// `lorawan_chirpstack`: ChirpStack v4 (and v3-style) integration events over MQTT.
#include "adapter_api/adapter.hpp"
#include "common/ingest_adapter.hpp"
#include "lorawan_chirpstack/chirpstack_codec.hpp"

namespace cg {

namespace {

constexpr ConfigKey kKeys[] = {
    {"broker", KeyType::string, "\"\"", false,
     "Id of the [[brokers]] entry connected to ChirpStack's MQTT broker; \"\": no MQTT (HTTP integration only)."},
    {"topics", KeyType::string_list, "[\"application/+/device/+/event/+\"]", false,
     "MQTT filters to subscribe to. The event type is the last level after 'event' (only 'up' gives readings)."},
    {"qos", KeyType::integer, "1", false, "Subscription QoS (0 or 1). QoS 1 is acknowledged only after commit."},
    {"http_path", KeyType::string, "\"\"", false,
     "POST route on the ingest listener for the ChirpStack HTTP integration (JSON marshaler; the event type comes from `?event=`), e.g. \"/ingest/chirpstack\". \"\": none."},
    {"http_token_file", KeyType::string, "\"\"", false,
     "File holding the bearer token the HTTP route requires (`Authorization: Bearer <token>`); \"\": no token."},
};

// One event -> readings. The event type and DevEUI come from the MQTT topic, or from the HTTP
// integration's `?event=` (DevEUI then from the body); failing both, the body tells.
Result<std::vector<Reading>> decode_event(const DecodeInput& in, Counter* ignored, Counter* time_fallback) {
  auto topic = lorawan_chirpstack::parse_topic(in.topic);
  if (auto ev = adapters::query_param(in.query, "event")) topic.event = lorawan_chirpstack::parse_event_type(*ev);
  auto r = lorawan_chirpstack::decode(topic.event, topic.dev_eui, in.payload, in.now, {});
  if (!r) return fail(r.error());
  if (ignored && r->event != lorawan_chirpstack::EventType::up) ignored->inc();
  if (time_fallback && r->time_fallback) time_fallback->inc();
  return std::move(r->readings);
}

Result<std::unique_ptr<Adapter>> make(const std::string&, const ConfigView& cfg) {
  adapters::BindingDefaults defaults;
  defaults.topics = {"application/+/device/+/event/+"};
  defaults.content_types = {"application/json"};
  auto binding = adapters::read_bindings(cfg, defaults);
  if (!binding) return fail(binding.error());
  return std::unique_ptr<Adapter>(std::make_unique<adapters::IngestAdapter>(
      std::move(*binding), [](AdapterContext& ctx) -> adapters::CodecFn {
        Labels l{{"adapter", std::string(ctx.instance_id())}};
        Counter* ignored = &ctx.metrics().counter("lorawan_non_uplink_messages_total", l,
                                                  "Events that are not uplinks (join, status, ack, log, ...)");
        Counter* time_fallback = &ctx.metrics().counter("lorawan_time_fallback_total", l,
                                                        "Uplinks without a usable `time` (gateway/receive time used)");
        return adapters::whole_input_codec(
            [ignored, time_fallback](const DecodeInput& in) { return decode_event(in, ignored, time_fallback); });
      }));
}

// Offline decoding: the event type comes from --topic when given, else it is guessed from the body.
Result<std::unique_ptr<DecodeSession>> make_decoder(const ConfigView&) {
  return std::unique_ptr<DecodeSession>(std::make_unique<FunctionDecodeSession>(
      [](const DecodeInput& in) { return decode_event(in, nullptr, nullptr); }));
}

}  // namespace

const AdapterDescriptor& lorawan_chirpstack_descriptor() {
  static const AdapterDescriptor d{"lorawan_chirpstack", "ChirpStack v4 uplink events over MQTT or its HTTP integration", kKeys, make,
                                   make_decoder};
  return d;
}

}  // namespace cg
