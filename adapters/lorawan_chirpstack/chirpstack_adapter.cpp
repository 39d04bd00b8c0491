// `lorawan_chirpstack`: ChirpStack v4 (and v3-style) integration events over MQTT.
#include "adapter_api/adapter.hpp"
#include "lorawan_chirpstack/chirpstack_codec.hpp"

namespace cg {

namespace {

constexpr ConfigKey kKeys[] = {
    {"broker", KeyType::string, "", true, "Id of the [[brokers]] entry connected to ChirpStack's MQTT broker."},
    {"topics", KeyType::string_list, "[\"application/+/device/+/event/+\"]", false,
     "MQTT filters to subscribe to. The event type is the last level after 'event' (only 'up' gives readings)."},
    {"qos", KeyType::integer, "1", false, "Subscription QoS (0 or 1). QoS 1 is acknowledged only after commit."},
};

class ChirpStackAdapter final : public Adapter {
 public:
  ChirpStackAdapter(std::string id, std::string broker, std::vector<std::string> topics, int qos)
      : id_(std::move(id)), broker_(std::move(broker)), topics_(std::move(topics)), qos_(qos) {}

  Result<void> start(AdapterContext& ctx) override {
    const Clock* clock = &ctx.clock();
    Counter* ignored = &ctx.metrics().counter("lorawan_non_uplink_messages_total", {{"adapter", id_}},
                                              "Events that are not uplinks (join, status, ack, log, ...)");
    Counter* time_fallback = &ctx.metrics().counter("lorawan_time_fallback_total", {{"adapter", id_}},
                                                    "Uplinks without a usable `time` (gateway/receive time used)");
    for (const auto& t : topics_) {
      auto decode = [clock, ignored, time_fallback](const MqttMessage& m) -> Result<std::vector<Reading>> {
        auto topic = lorawan_chirpstack::parse_topic(m.topic);
        auto r = lorawan_chirpstack::decode(topic.event, topic.dev_eui, m.payload, clock->now(), {});
        if (!r) return fail(r.error());
        if (r->event != lorawan_chirpstack::EventType::up) ignored->inc();
        if (r->time_fallback) time_fallback->inc();
        return std::move(r->readings);
      };
      if (auto r = ctx.subscribe_mqtt(broker_, t, qos_, decode); !r) return r;
    }
    return {};
  }
  void stop() override {}

 private:
  std::string id_;
  std::string broker_;
  std::vector<std::string> topics_;
  int qos_;
};

Result<std::unique_ptr<Adapter>> make(const std::string& id, const ConfigView& cfg) {
  auto topics = cfg.get_list("topics");
  if (topics.empty()) topics = {"application/+/device/+/event/+"};
  for (const auto& t : topics)
    if (t.empty()) return fail(Error::fatal("config", "topics must not contain an empty filter"));
  auto qos = cfg.has("qos") ? cfg.get_int("qos") : 1;
  if (qos < 0 || qos > 1) return fail(Error::fatal("config", "qos must be 0 or 1"));
  return std::unique_ptr<Adapter>(
      std::make_unique<ChirpStackAdapter>(id, cfg.get_string("broker"), std::move(topics), static_cast<int>(qos)));
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
