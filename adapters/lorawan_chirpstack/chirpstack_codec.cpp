#include "lorawan_chirpstack/chirpstack_codec.hpp"

#include "common/mqtt_binding.hpp"

#include <simdjson.h>

#include "common/json_flatten.hpp"
#include "common/lorawan_uplink.hpp"

#include <algorithm>
#include <array>
#include <limits>

#include "core/time_format.hpp"

namespace cg::lorawan_chirpstack {

namespace dom = simdjson::dom;

namespace {

struct NamedType {
  std::string_view name;
  EventType type;
};
constexpr std::array<NamedType, 9> kTypes{{{"up", EventType::up},
                                           {"rx", EventType::up},  // ChirpStack v3
                                           {"join", EventType::join},
                                           {"status", EventType::status},
                                           {"ack", EventType::ack},
                                           {"txack", EventType::txack},
                                           {"log", EventType::log},
                                           {"location", EventType::location},
                                           {"integration", EventType::integration}}};


bool is_hex_eui(std::string_view s) {
  return s.size() == 16 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

using Walker = adapters::JsonFlattener;

std::optional<TimeNs> time_member(dom::object o, std::string_view key) {
  std::string_view s;
  if (o[key].get(s)) return std::nullopt;
  return parse_rfc3339(s);
}

bool present(dom::object o, std::string_view key) { return o[key].error() != simdjson::NO_SUCH_FIELD; }

}  // namespace

EventType parse_event_type(std::string_view name) {
  for (const auto& t : kTypes)
    if (t.name == name) return t.type;
  return EventType::unknown;
}

std::string_view event_type_name(EventType t) {
  if (t == EventType::unknown) return "unknown";
  for (const auto& x : kTypes)
    if (x.type == t && x.name != "rx") return x.name;
  return "unknown";
}

TopicInfo parse_topic(std::string_view topic) {
  TopicInfo info;
  auto levels = adapters::topic_levels(topic);
  for (std::size_t i = 0; i + 1 < levels.size(); ++i) {
    if (levels[i] != "device") continue;
    info.dev_eui = std::string(levels[i + 1]);
    std::size_t rest = i + 2;
    if (rest + 2 == levels.size() && levels[rest] == "event") info.event = parse_event_type(levels[rest + 1]);
    else if (rest + 1 == levels.size()) info.event = parse_event_type(levels[rest]);
    break;
  }
  return info;
}

Result<Decoded> decode(std::optional<EventType> event, std::string_view topic_dev_eui,
                       std::span<const std::uint8_t> payload, TimeNs received, const CodecOptions& opts) {
  if (payload.size() > opts.max_payload_bytes)
    return fail(Error::reject("too_large", "payload of " + std::to_string(payload.size()) + " bytes exceeds " +
                                               std::to_string(opts.max_payload_bytes)));
  thread_local dom::parser parser;
  dom::element doc;
  if (auto err = parser.parse(reinterpret_cast<const char*>(payload.data()), payload.size(), true).get(doc))
    return fail(Error::reject("json", std::string("invalid JSON: ") + simdjson::error_message(err)));
  dom::object root;
  if (doc.get(root)) return fail(Error::reject("not_object", "event is not a JSON object"));

  Decoded result;
  if (!event) {
    bool looks_up = present(root, "rxInfo") || present(root, "fCnt") || present(root, "fPort") ||
                    present(root, "data") || present(root, "object");
    event = looks_up ? EventType::up : EventType::unknown;
  }
  result.event = *event;
  if (*event != EventType::up) return result;

  // Device: v4 deviceInfo.devEui, v3 devEUI, then the topic.
  std::string_view eui;
  dom::object info;
  if (!root["deviceInfo"].get(info) && !info["devEui"].get(eui) && is_hex_eui(eui)) {
  } else if (!root["devEUI"].get(eui) && is_hex_eui(eui)) {
  } else if (!root["devEui"].get(eui) && is_hex_eui(eui)) {
  } else if (is_hex_eui(topic_dev_eui)) {
    eui = topic_dev_eui;
  } else {
    return fail(Error::reject("no_device", "up event has no hex devEui (deviceInfo.devEui, devEUI or topic)"));
  }
  std::string device = lower(eui);

  std::uint64_t f_cnt = 0;
  if (auto fc = root["fCnt"]; fc.error() != simdjson::NO_SUCH_FIELD) {
    if (fc.get(f_cnt) || f_cnt > std::numeric_limits<std::uint32_t>::max())
      return fail(Error::reject("f_cnt", "fCnt is not an unsigned 32-bit integer"));
  }

  dom::array rx;
  bool has_rx = !root["rxInfo"].get(rx);

  std::uint32_t q = quality::kNone;
  std::optional<TimeNs> observed = time_member(root, "time");
  if (!observed) {
    result.time_fallback = true;
    q |= quality::kTimeFromGateway;
    if (has_rx) {
      for (auto g : rx) {
        dom::object go;
        if (g.get(go)) continue;
        for (std::string_view k : {"gwTime", "time"})
          if (auto t = time_member(go, k); t && (!observed || *t < *observed)) observed = t;
      }
    }
    if (!observed) observed = received;
  }

  Walker w(opts.max_readings, opts.max_depth, "uplink");
  dom::element obj;
  if (!root["object"].get(obj) && obj.is_object()) w.walk(obj, "", 0);
  if (w.error) return fail(*w.error);

  adapters::RadioSummary radio;
  if (has_rx) {
    radio.gateway_count = 0;
    for (auto g : rx) {
      dom::object go;
      if (g.get(go)) continue;
      double v;
      std::optional<double> gw_rssi, gw_snr;
      if (!go["rssi"].get(v)) gw_rssi = v;
      if (!go["snr"].get(v) || !go["loRaSNR"].get(v)) gw_snr = v;  // v4, else v3 key
      radio.add_gateway(gw_rssi, gw_snr);
    }
  }
  std::int64_t sf = 0;
  if (!root["txInfo"]["modulation"]["lora"]["spreadingFactor"].get(sf) ||
      !root["txInfo"]["dataRate"]["spreadFactor"].get(sf) ||
      !root["txInfo"]["loRaModulationInfo"]["spreadingFactor"].get(sf))
    radio.sf = sf;
  auto readings = adapters::finish_uplink(w, radio, {device, *observed, received, f_cnt, q});
  if (!readings) return fail(readings.error());
  result.readings = std::move(*readings);
  return result;
}

}  // namespace cg::lorawan_chirpstack
