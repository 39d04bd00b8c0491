#include "lorawan_ttn/ttn_codec.hpp"

#include <simdjson.h>

#include "common/json_flatten.hpp"
#include "common/lorawan_uplink.hpp"

#include <algorithm>
#include <array>
#include <limits>

#include "core/time_format.hpp"
#include "lorawan_ttn/cayenne_lpp.hpp"

namespace cg::lorawan_ttn {

namespace dom = simdjson::dom;


std::string device_key(std::string_view dev_eui, std::string_view device_id) {
  bool hex = dev_eui.size() == 16 && std::all_of(dev_eui.begin(), dev_eui.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
             });
  if (!hex) return std::string(device_id);
  std::string out(dev_eui);
  for (auto& c : out)
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

namespace {

constexpr std::string_view kEnvelopeType = "type.googleapis.com/ttn.lorawan.v3.ApplicationUp";

// Members of decoded_payload that payload formatters commonly add as bookkeeping.
constexpr std::array<std::string_view, 7> kSkippedPayloadKeys = {"raw",    "bytes",    "payload", "err",
                                                                  "errors", "warnings", "valid"};

// ApplicationUp's oneof members other than uplink_message (for `kind`).
constexpr std::array<std::string_view, 10> kOtherUpKinds = {
    "join_accept",   "downlink_ack",     "downlink_nack",   "downlink_sent",
    "downlink_failed", "downlink_queued", "downlink_queue_invalidated", "location_solved",
    "service_data",  "uplink_normalized"};

using Walker = adapters::JsonFlattener;

std::optional<TimeNs> time_member(dom::object o, std::string_view key) {
  std::string_view s;
  if (o[key].get(s)) return std::nullopt;
  return parse_rfc3339(s);
}

}  // namespace

Result<Decoded> decode(std::span<const std::uint8_t> payload, TimeNs received, const CodecOptions& opts) {
  if (payload.size() > opts.max_payload_bytes)
    return fail(Error::reject("too_large", "payload of " + std::to_string(payload.size()) + " bytes exceeds " +
                                               std::to_string(opts.max_payload_bytes)));
  thread_local dom::parser parser;
  dom::element doc;
  if (auto err = parser.parse(reinterpret_cast<const char*>(payload.data()), payload.size(), true).get(doc))
    return fail(Error::reject("json", std::string("invalid JSON: ") + simdjson::error_message(err)));
  dom::object root;
  if (doc.get(root)) return fail(Error::reject("not_object", "message is not a JSON object"));

  Decoded result;
  dom::object up = root;
  // Events-API envelope: {"name": "as.up.data.forward", "data": {"@type": "...ApplicationUp", ...}}.
  std::string_view event_name;
  if (!root["name"].get(event_name) && root["end_device_ids"].error() == simdjson::NO_SUCH_FIELD) {
    result.kind = std::string(event_name);
    dom::object data;
    std::string_view type;
    if (root["data"].get(data) || data["@type"].get(type) || type != kEnvelopeType) return result;
    up = data;
  }

  dom::object ids;
  if (up["end_device_ids"].get(ids)) return fail(Error::reject("no_device", "message has no end_device_ids object"));
  std::string_view dev_eui, device_id;
  if (ids["dev_eui"].get(dev_eui)) dev_eui = {};
  if (ids["device_id"].get(device_id)) device_id = {};
  std::string device = device_key(dev_eui, device_id);
  if (device.empty()) return fail(Error::reject("no_device", "end_device_ids has neither a hex dev_eui nor a device_id"));

  dom::element uplink_el;
  if (up["uplink_message"].get(uplink_el)) {
    result.kind = "other";
    for (auto k : kOtherUpKinds)
      if (up[k].error() != simdjson::NO_SUCH_FIELD) {
        result.kind = std::string(k);
        break;
      }
    return result;
  }
  dom::object u;
  if (uplink_el.get(u)) return fail(Error::reject("uplink_message", "uplink_message is not an object"));
  result.uplink = true;
  result.kind = "uplink";

  std::uint64_t f_cnt = 0;
  if (auto fc = u["f_cnt"]; fc.error() != simdjson::NO_SUCH_FIELD) {
    if (fc.get(f_cnt) || f_cnt > std::numeric_limits<std::uint32_t>::max())
      return fail(Error::reject("f_cnt", "f_cnt is not an unsigned 32-bit integer"));
  }

  // Time: AS received_at, NS received_at, then gateway time (flagged), then our receive time.
  std::uint32_t q = quality::kNone;
  std::optional<TimeNs> observed = time_member(up, "received_at");
  if (!observed) observed = time_member(u, "received_at");
  if (!observed) {
    dom::array rx;
    if (!u["rx_metadata"].get(rx)) {
      for (auto g : rx) {
        dom::object go;
        if (g.get(go)) continue;
        if (auto t = time_member(go, "time"); t && (!observed || *t < *observed)) observed = t;
      }
    }
    dom::object settings;
    if (!observed && !u["settings"].get(settings)) observed = time_member(settings, "time");
    if (observed) q |= quality::kTimeFromGateway;
  }
  if (!observed) {
    observed = received;
    q |= quality::kTimeFromGateway;
  }

  Walker w(opts.max_readings, opts.max_depth, "uplink");
  if (opts.payload == PayloadMode::decoded) {
    dom::object dp;
    if (!u["decoded_payload"].get(dp)) {
      for (auto field : dp) {
        if (std::find(kSkippedPayloadKeys.begin(), kSkippedPayloadKeys.end(), field.key) != kSkippedPayloadKeys.end())
          continue;
        w.walk(field.value, std::string(field.key), 1);
      }
    } else {
      std::string_view frm;
      result.payload_undecoded = !u["frm_payload"].get(frm) && !frm.empty();
    }
  } else {
    std::string_view frm;
    if (!u["frm_payload"].get(frm) && !frm.empty()) {
      auto bytes = base64_decode(frm);
      if (!bytes) return fail(Error::reject("base64", "frm_payload is not valid base64"));
      auto fields = decode_cayenne_lpp(*bytes);
      if (!fields) return fail(fields.error());
      for (auto& f : *fields) w.add(std::move(f.metric), std::move(f.value), std::move(f.unit));
    }
  }
  if (w.error) return fail(*w.error);

  // Radio metadata.
  adapters::RadioSummary radio;
  dom::array rx;
  if (!u["rx_metadata"].get(rx)) {
    radio.gateway_count = 0;
    for (auto g : rx) {
      dom::object go;
      if (g.get(go)) continue;
      double v;
      std::optional<double> gw_rssi, gw_snr;
      if (!go["rssi"].get(v) || !go["channel_rssi"].get(v)) gw_rssi = v;
      if (!go["snr"].get(v)) gw_snr = v;
      radio.add_gateway(gw_rssi, gw_snr);
    }
  }
  std::int64_t sf = 0;
  if (!u["settings"]["data_rate"]["lora"]["spreading_factor"].get(sf)) radio.sf = sf;
  auto readings = adapters::finish_uplink(w, radio, {device, *observed, received, f_cnt, q});
  if (!readings) return fail(readings.error());
  result.readings = std::move(*readings);
  return result;
}

}  // namespace cg::lorawan_ttn
