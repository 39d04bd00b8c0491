// `mqtt_json`: JSON telemetry over MQTT, device taken from the topic; optional device profiles
// map values by JSON pointer to metrics, units and scaling.
#include <filesystem>
#include <map>
#include <memory>

#include "adapter_api/adapter.hpp"
#include "common/profiles.hpp"
#include "mqtt_json/mqtt_json_codec.hpp"

namespace cg {

namespace {

constexpr ConfigKey kKeys[] = {
    {"broker", KeyType::string, "", true, "Id of the [[brokers]] entry to subscribe on."},
    {"topics", KeyType::string_list, "", true,
     "Topic patterns: MQTT filters where one whole level may be {device}, e.g. \"city/+/{device}/telemetry\"."},
    {"qos", KeyType::integer, "1", false, "Subscription QoS (0 or 1). QoS 1 is acknowledged only after commit."},
    {"time_field", KeyType::string, "\"ts\"", false,
     "JSON member holding the observation time (RFC 3339 or epoch s/ms/us/ns); absent = receive time, flagged."},
    {"device_field", KeyType::string, "\"\"", false,
     "JSON member naming the device, for topics without {device}."},
    {"max_payload_bytes", KeyType::integer, "65536", false, "Larger payloads are rejected (and kept in rejected_payloads)."},
    {"profile", KeyType::string, "\"\"", false,
     "JSON device profile (field map by JSON pointer: metric, unit, scale) for devices without a device_profiles "
     "entry; \"\": every value flattened by its path."},
    {"device_profiles", KeyType::string_map, "{}", false,
     "Per-device profile: device id -> profile name, e.g. { \"aq-7\" = \"vendor_x_air\" }."},
    {"profiles_dir", KeyType::string, "\"/etc/citygate/profiles\"", false,
     "Where profile names are looked up (relative: to the working directory)."},
};

// The profiles an instance uses, loaded once (at config time, so check-config reports them).
struct Profiles {
  std::shared_ptr<const mqtt_json::JsonProfile> fallback;
  std::map<std::string, std::shared_ptr<const mqtt_json::JsonProfile>, std::less<>> by_device;
  const mqtt_json::JsonProfile* of(std::string_view device) const {
    auto it = by_device.find(device);
    return it != by_device.end() ? it->second.get() : fallback.get();
  }
};

Result<std::shared_ptr<const mqtt_json::JsonProfile>> load_profile(const std::string& dir, std::string_view name) {
  auto path = adapters::profile_path(dir, name);
  if (!path) return fail(path.error());
  auto p = mqtt_json::load_json_profile(path->string());
  if (!p) return fail(Error::fatal("config", p.error().message));
  return std::make_shared<const mqtt_json::JsonProfile>(std::move(*p));
}

Result<Profiles> load_profiles(const ConfigView& cfg) {
  Profiles out;
  std::string dir = cfg.has("profiles_dir") ? cfg.get_string("profiles_dir") : "/etc/citygate/profiles";
  std::map<std::string, std::shared_ptr<const mqtt_json::JsonProfile>> cache;
  auto get = [&](const std::string& name) -> Result<std::shared_ptr<const mqtt_json::JsonProfile>> {
    if (auto it = cache.find(name); it != cache.end()) return it->second;
    auto p = load_profile(dir, name);
    if (p) cache[name] = *p;
    return p;
  };
  if (cfg.has("profile") && !cfg.get_string("profile").empty()) {
    auto p = get(cfg.get_string("profile"));
    if (!p) return fail(p.error());
    out.fallback = *p;
  }
  if (cfg.has("device_profiles"))
    for (const auto& [device, name] : cfg.get_map("device_profiles")) {
      auto p = get(name);
      if (!p) return fail(p.error());
      out.by_device.emplace(device, *p);
    }
  return out;
}

class MqttJsonAdapter final : public Adapter {
 public:
  MqttJsonAdapter(std::string broker, std::vector<mqtt_json::TopicPattern> patterns, int qos,
                  mqtt_json::CodecOptions opts, Profiles profiles)
      : broker_(std::move(broker)),
        patterns_(std::move(patterns)),
        qos_(qos),
        opts_(std::move(opts)),
        profiles_(std::make_shared<const Profiles>(std::move(profiles))) {}

  Result<void> start(AdapterContext& ctx) override {
    const Clock* clock = &ctx.clock();
    for (const auto& p : patterns_) {
      auto decode = [pattern = p, opts = opts_, clock, profiles = profiles_](const MqttMessage& m) -> Result<std::vector<Reading>> {
        auto device = pattern.match(m.topic);
        if (!device) return fail(Error::reject("topic", "topic '" + std::string(m.topic) + "' does not match the pattern"));
        auto o = opts;
        o.profile = profiles->of(*device);
        return mqtt_json::decode(*device, m.payload, clock->now(), o);
      };
      if (auto r = ctx.subscribe_mqtt(broker_, p.filter(), qos_, decode); !r) return r;
    }
    return {};
  }
  void stop() override {}

 private:
  std::string broker_;
  std::vector<mqtt_json::TopicPattern> patterns_;
  int qos_;
  mqtt_json::CodecOptions opts_;
  std::shared_ptr<const Profiles> profiles_;
};

Result<std::unique_ptr<Adapter>> make(const std::string&, const ConfigView& cfg) {
  std::vector<mqtt_json::TopicPattern> patterns;
  auto topics = cfg.get_list("topics");
  if (topics.empty()) return fail(Error::fatal("config", "topics must list at least one pattern"));
  for (const auto& t : topics) {
    auto p = mqtt_json::TopicPattern::parse(t);
    if (!p) return fail(p.error());
    patterns.push_back(std::move(*p));
  }
  auto qos = cfg.get_int("qos");
  if (qos < 0 || qos > 1) return fail(Error::fatal("config", "qos must be 0 or 1"));
  mqtt_json::CodecOptions o;
  o.time_field = cfg.get_string("time_field");
  o.device_field = cfg.get_string("device_field");
  auto maxp = cfg.get_int("max_payload_bytes");
  if (maxp < 16 || maxp > 16 * 1024 * 1024) return fail(Error::fatal("config", "max_payload_bytes must be 16..16777216"));
  o.max_payload_bytes = static_cast<std::size_t>(maxp);
  for (const auto& p : patterns)
    if (!p.has_device() && o.device_field.empty())
      return fail(Error::fatal("config", "topic '" + p.filter() + "' has no {device} level and device_field is not set"));
  auto profiles = load_profiles(cfg);
  if (!profiles) return fail(profiles.error());
  return std::unique_ptr<Adapter>(std::make_unique<MqttJsonAdapter>(cfg.get_string("broker"), std::move(patterns),
                                                                    static_cast<int>(qos), o, std::move(*profiles)));
}

// Offline decoding. With topic patterns configured (--config), the device comes from the topic
// as in the gateway; without them, from `device_field`, else the whole topic is the device.
class MqttJsonDecode final : public DecodeSession {
 public:
  MqttJsonDecode(std::vector<mqtt_json::TopicPattern> patterns, mqtt_json::CodecOptions o, Profiles profiles,
                 std::string dir)
      : patterns_(std::move(patterns)), o_(std::move(o)), profiles_(std::move(profiles)), dir_(std::move(dir)) {}
  DecodeOutput decode(const DecodeInput& in) override {
    DecodeOutput out;
    std::string device;
    if (!patterns_.empty()) {
      for (const auto& p : patterns_)
        if (auto d = p.match(in.topic)) {
          device = *d;
          break;
        }
      if (device.empty() && o_.device_field.empty()) {
        out.errors.push_back(Error::reject("topic", "topic '" + std::string(in.topic) + "' matches no configured pattern"));
        return out;
      }
    } else if (o_.device_field.empty()) {
      device = in.topic.empty() ? std::string("unknown") : std::string(in.topic);
    }
    auto o = o_;
    o.profile = profiles_.of(device);
    if (!in.profile.empty()) {  // --profile NAME wins
      auto it = named_.find(in.profile);
      if (it == named_.end()) {
        auto p = load_profile(dir_, in.profile);
        if (!p) {
          out.errors.push_back(Error::reject("profile", p.error().message));
          return out;
        }
        it = named_.emplace(in.profile, *p).first;
      }
      o.profile = it->second.get();
    }
    auto r = mqtt_json::decode(device, in.payload, in.now, o);
    if (r) out.readings = std::move(*r);
    else out.errors.push_back(r.error());
    return out;
  }

 private:
  std::vector<mqtt_json::TopicPattern> patterns_;
  mqtt_json::CodecOptions o_;
  Profiles profiles_;
  std::string dir_;
  std::map<std::string, std::shared_ptr<const mqtt_json::JsonProfile>, std::less<>> named_;
};

Result<std::unique_ptr<DecodeSession>> make_decoder(const ConfigView& cfg) {
  std::vector<mqtt_json::TopicPattern> patterns;
  for (const auto& t : cfg.get_list("topics")) {
    auto p = mqtt_json::TopicPattern::parse(t);
    if (!p) return fail(p.error());
    patterns.push_back(std::move(*p));
  }
  mqtt_json::CodecOptions o;
  o.time_field = cfg.get_string("time_field");
  o.device_field = cfg.get_string("device_field");
  if (cfg.has("max_payload_bytes")) o.max_payload_bytes = static_cast<std::size_t>(cfg.get_int("max_payload_bytes"));
  auto profiles = load_profiles(cfg);
  if (!profiles) return fail(profiles.error());
  std::string dir = cfg.has("profiles_dir") ? cfg.get_string("profiles_dir") : "/etc/citygate/profiles";
  // offline on a machine without an installed gateway: the repository's own profiles
  if (!std::filesystem::exists(dir) && std::filesystem::exists("firmware-config/profiles"))
    dir = "firmware-config/profiles";
  return std::unique_ptr<DecodeSession>(
      std::make_unique<MqttJsonDecode>(std::move(patterns), o, std::move(*profiles), std::move(dir)));
}

}  // namespace

const AdapterDescriptor& mqtt_json_descriptor() {
  static const AdapterDescriptor d{"mqtt_json", "JSON telemetry over MQTT; device from a topic level", kKeys, make,
                                   make_decoder};
  return d;
}

}  // namespace cg
