// `lorawan_ttn`: The Things Stack v3 (TTN / TTI) uplinks over the MQTT integration.
#include "adapter_api/adapter.hpp"
#include "lorawan_ttn/ttn_codec.hpp"

namespace cg {

namespace {

constexpr ConfigKey kKeys[] = {
    {"broker", KeyType::string, "", true, "Id of the [[brokers]] entry connected to the TTS MQTT server."},
    {"topics", KeyType::string_list, "[\"v3/+/devices/+/up\"]", false,
     "MQTT filters to subscribe to (ApplicationUp messages; other message types give no readings)."},
    {"qos", KeyType::integer, "1", false, "Subscription QoS (0 or 1). QoS 1 is acknowledged only after commit."},
    {"payload", KeyType::string, "\"decoded\"", false,
     "\"decoded\": measurements from decoded_payload (TTS payload formatter); \"cayenne\": decode frm_payload as "
     "CayenneLPP here."},
};

class TtnAdapter final : public Adapter {
 public:
  TtnAdapter(std::string id, std::string broker, std::vector<std::string> topics, int qos,
             lorawan_ttn::CodecOptions opts)
      : id_(std::move(id)), broker_(std::move(broker)), topics_(std::move(topics)), qos_(qos), opts_(opts) {}

  Result<void> start(AdapterContext& ctx) override {
    const Clock* clock = &ctx.clock();
    Counter* undecoded = &ctx.metrics().counter("lorawan_undecoded_payloads_total", {{"adapter", id_}},
                                                "Uplinks with frm_payload but no decoded_payload");
    Counter* ignored = &ctx.metrics().counter("lorawan_non_uplink_messages_total", {{"adapter", id_}},
                                              "Messages that are not uplinks (joins, downlink events, ...)");
    for (const auto& t : topics_) {
      auto decode = [opts = opts_, clock, undecoded, ignored](const MqttMessage& m) -> Result<std::vector<Reading>> {
        auto r = lorawan_ttn::decode(m.payload, clock->now(), opts);
        if (!r) return fail(r.error());
        if (!r->uplink) ignored->inc();
        if (r->payload_undecoded) undecoded->inc();
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
  lorawan_ttn::CodecOptions opts_;
};

Result<std::unique_ptr<Adapter>> make(const std::string& id, const ConfigView& cfg) {
  auto topics = cfg.get_list("topics");
  if (topics.empty()) topics = {"v3/+/devices/+/up"};
  for (const auto& t : topics)
    if (t.empty()) return fail(Error::fatal("config", "topics must not contain an empty filter"));
  auto qos = cfg.has("qos") ? cfg.get_int("qos") : 1;
  if (qos < 0 || qos > 1) return fail(Error::fatal("config", "qos must be 0 or 1"));
  lorawan_ttn::CodecOptions o;
  auto mode = cfg.has("payload") ? cfg.get_string("payload") : std::string("decoded");
  if (mode == "decoded") o.payload = lorawan_ttn::PayloadMode::decoded;
  else if (mode == "cayenne") o.payload = lorawan_ttn::PayloadMode::cayenne;
  else return fail(Error::fatal("config", "payload must be \"decoded\" or \"cayenne\", not \"" + mode + "\""));
  return std::unique_ptr<Adapter>(std::make_unique<TtnAdapter>(id, cfg.get_string("broker"), std::move(topics),
                                                               static_cast<int>(qos), o));
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
  static const AdapterDescriptor d{"lorawan_ttn", "The Things Stack v3 (TTN) uplinks over MQTT", kKeys, make,
                                   make_decoder};
  return d;
}

}  // namespace cg
