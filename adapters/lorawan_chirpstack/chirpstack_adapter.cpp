// `lorawan_chirpstack`: ChirpStack v4 (and v3-style) integration events over MQTT.
#include "adapter_api/adapter.hpp"
#include "common/mqtt_binding.hpp"
#include "lorawan_chirpstack/chirpstack_codec.hpp"

namespace cg {

namespace {

constexpr ConfigKey kKeys[] = {
    {"broker", KeyType::string, "", true, "Id of the [[brokers]] entry connected to ChirpStack's MQTT broker."},
    {"topics", KeyType::string_list, "[\"application/+/device/+/event/+\"]", false,
     "MQTT filters to subscribe to. The event type is the last level after 'event' (only 'up' gives readings)."},
    {"qos", KeyType::integer, "1", false, "Subscription QoS (0 or 1). QoS 1 is acknowledged only after commit."},
};

Result<std::unique_ptr<Adapter>> make(const std::string&, const ConfigView& cfg) {
  auto binding = adapters::read_mqtt_binding(cfg, {"application/+/device/+/event/+"});
  if (!binding) return fail(binding.error());
  return std::unique_ptr<Adapter>(std::make_unique<adapters::MqttSubscriberAdapter>(
      std::move(*binding), [](AdapterContext& ctx) -> MqttDecodeFn {
        const Clock* clock = &ctx.clock();
        Labels l{{"adapter", std::string(ctx.instance_id())}};
        Counter* ignored = &ctx.metrics().counter("lorawan_non_uplink_messages_total", l,
                                                  "Events that are not uplinks (join, status, ack, log, ...)");
        Counter* time_fallback = &ctx.metrics().counter("lorawan_time_fallback_total", l,
                                                        "Uplinks without a usable `time` (gateway/receive time used)");
        return [clock, ignored, time_fallback](const MqttMessage& m) -> Result<std::vector<Reading>> {
          auto topic = lorawan_chirpstack::parse_topic(m.topic);
          auto r = lorawan_chirpstack::decode(topic.event, topic.dev_eui, m.payload, clock->now(), {});
          if (!r) return fail(r.error());
          if (r->event != lorawan_chirpstack::EventType::up) ignored->inc();
          if (r->time_fallback) time_fallback->inc();
          return std::move(r->readings);
        };
      }));
}

// Offline decoding: the event type comes from --topic when given, else it is guessed from the body.
Result<std::unique_ptr<DecodeSession>> make_decoder(const ConfigView&) {
  return std::unique_ptr<DecodeSession>(std::make_unique<FunctionDecodeSession>(
      [](const DecodeInput& in) -> Result<std::vector<Reading>> {
        auto topic = lorawan_chirpstack::parse_topic(in.topic);
        auto r = lorawan_chirpstack::decode(topic.event, topic.dev_eui, in.payload, in.now, {});
        if (!r) return fail(r.error());
        return std::move(r->readings);
      }));
}

}  // namespace

const AdapterDescriptor& lorawan_chirpstack_descriptor() {
  static const AdapterDescriptor d{"lorawan_chirpstack", "ChirpStack v4 uplink events over MQTT", kKeys, make,
                                   make_decoder};
  return d;
}

}  // namespace cg
