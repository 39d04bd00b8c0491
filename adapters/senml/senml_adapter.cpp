// `senml`: RFC 8428 SenML packs (JSON or CBOR) over MQTT; devices name themselves through bn.
#include <algorithm>

#include "adapter_api/adapter.hpp"
#include "senml/senml_codec.hpp"

namespace cg {

namespace {

constexpr ConfigKey kKeys[] = {
    {"broker", KeyType::string, "", true, "Id of the [[brokers]] entry to subscribe on."},
    {"topics", KeyType::string_list, "", true,
     "Plain MQTT topic filters ('+' and '#' allowed) carrying SenML packs, JSON or CBOR, e.g. \"senml/#\"."},
    {"qos", KeyType::integer, "1", false, "Subscription QoS (0 or 1). QoS 1 is acknowledged only after commit."},
    {"max_payload_bytes", KeyType::integer, "65536", false,
     "Larger packs are rejected (and kept in rejected_payloads)."},
    {"max_records", KeyType::integer, "1000", false, "Packs with more records are rejected as a whole."},
};

// A plain MQTT filter: non-empty, '+' a whole level, '#' only as the whole last level.
Result<void> check_filter(const std::string& f) {
  if (f.empty()) return fail(Error::fatal("config", "empty topic filter"));
  std::size_t start = 0;
  while (true) {
    auto slash = f.find('/', start);
    std::string_view level(f.data() + start, (slash == std::string::npos ? f.size() : slash) - start);
    if (level.find('#') != std::string_view::npos && (level != "#" || slash != std::string::npos))
      return fail(Error::fatal("config", "'#' must be the whole last level in '" + f + "'"));
    if (level.find('+') != std::string_view::npos && level != "+")
      return fail(Error::fatal("config", "'+' must be a whole level in '" + f + "'"));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return {};
}

class SenmlAdapter final : public Adapter {
 public:
  SenmlAdapter(std::string broker, std::vector<std::string> topics, int qos, senml::CodecOptions opts)
      : broker_(std::move(broker)), topics_(std::move(topics)), qos_(qos), opts_(opts) {}

  Result<void> start(AdapterContext& ctx) override {
    const Clock* clock = &ctx.clock();
    for (const auto& t : topics_) {
      auto decode = [opts = opts_, clock](const MqttMessage& m) -> Result<std::vector<Reading>> {
        return senml::decode(m.payload, clock->now(), opts);
      };
      if (auto r = ctx.subscribe_mqtt(broker_, t, qos_, decode); !r) return r;
    }
    return {};
  }
  void stop() override {}

 private:
  std::string broker_;
  std::vector<std::string> topics_;
  int qos_;
  senml::CodecOptions opts_;
};

Result<std::unique_ptr<Adapter>> make(const std::string&, const ConfigView& cfg) {
  auto topics = cfg.get_list("topics");
  if (topics.empty()) return fail(Error::fatal("config", "topics must list at least one filter"));
  for (const auto& t : topics)
    if (auto r = check_filter(t); !r) return fail(r.error());
  auto qos = cfg.get_int("qos");
  if (qos < 0 || qos > 1) return fail(Error::fatal("config", "qos must be 0 or 1"));
  senml::CodecOptions o;
  auto maxp = cfg.get_int("max_payload_bytes");
  if (maxp < 16 || maxp > 16 * 1024 * 1024) return fail(Error::fatal("config", "max_payload_bytes must be 16..16777216"));
  o.max_payload_bytes = static_cast<std::size_t>(maxp);
  auto maxr = cfg.get_int("max_records");
  if (maxr < 1 || maxr > 100000) return fail(Error::fatal("config", "max_records must be 1..100000"));
  o.max_records = static_cast<std::size_t>(maxr);
  o.max_cbor_items = std::max<std::size_t>(o.max_cbor_items, o.max_records * 40);
  return std::unique_ptr<Adapter>(
      std::make_unique<SenmlAdapter>(cfg.get_string("broker"), std::move(topics), static_cast<int>(qos), o));
}

Result<std::unique_ptr<DecodeSession>> make_decoder(const ConfigView& cfg) {
  senml::CodecOptions o;
  if (cfg.has("max_payload_bytes")) o.max_payload_bytes = static_cast<std::size_t>(cfg.get_int("max_payload_bytes"));
  if (cfg.has("max_records")) o.max_records = static_cast<std::size_t>(cfg.get_int("max_records"));
  o.max_cbor_items = std::max<std::size_t>(o.max_cbor_items, o.max_records * 40);
  return std::unique_ptr<DecodeSession>(std::make_unique<FunctionDecodeSession>(
      [o](const DecodeInput& in) { return senml::decode(in.payload, in.now, o); }));
}

}  // namespace

const AdapterDescriptor& senml_descriptor() {
  static const AdapterDescriptor d{"senml", "RFC 8428 SenML packs (JSON or CBOR) over MQTT; device from bn", kKeys,
                                   make, make_decoder};
  return d;
}

}  // namespace cg
