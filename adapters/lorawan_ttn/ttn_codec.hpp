#pragma once
// lorawan_ttn codec: pure (bytes -> Readings), no I/O, fuzzable.
//
// Input: one The Things Stack v3 `ApplicationUp` JSON message (MQTT `.../up` topics and webhooks),
// or an Events-API envelope {"name": ..., "data": {"@type": ".../ttn.lorawan.v3.ApplicationUp", ...}}
// whose `data` is unwrapped. Only `uplink_message` produces readings; every other ApplicationUp
// (join_accept, downlink_*, location_solved, service_data, uplink_normalized, ...) and every
// envelope that does not carry an ApplicationUp decodes to zero readings and is not an error.
//
// Per uplink:
//   device    DevEUI in lower-case hex (16 hex digits), else `device_id`.
//   metrics   decoded_payload members (payload mode "decoded"), nested objects/arrays flattened
//             with '.' (array elements by index), null skipped; the top-level decoder bookkeeping
//             members raw, bytes, payload, err, errors, warnings, valid are not measurements and
//             are skipped. In mode "cayenne" frm_payload is base64-decoded and decoded as
//             CayenneLPP instead (decoded_payload ignored).
//             Plus radio metadata: rssi (dBm, best over gateways, f64), snr (dB, best, f64),
//             gateway_count (i64), sf (spreading factor, i64). A radio metric is left out when the
//             payload already has a metric of the same name.
//   observed  top-level received_at (Application Server), else uplink_message.received_at
//             (Network Server); else the earliest gateway time (rx_metadata[].time, then
//             settings.time) flagged kTimeFromGateway; else `received`, flagged.
//   src_seq   uplink_message.f_cnt (absent = 0: TTS omits zero values).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_writer.hpp"
#include "core/reading.hpp"
#include "core/result.hpp"

namespace cg::lorawan_ttn {

enum class PayloadMode { decoded, cayenne };

struct CodecOptions {
  PayloadMode payload = PayloadMode::decoded;
  std::size_t max_payload_bytes = 65536;
  std::size_t max_readings = 1000;
  int max_depth = 16;
};

struct Decoded {
  std::vector<Reading> readings;
  bool uplink = false;             // an uplink_message was found
  bool payload_undecoded = false;  // uplink with frm_payload but no decoded_payload (mode "decoded")
  std::string kind;                // "uplink", the ApplicationUp member found, or the event name
};

// Errors are Disposition::reject with codes: too_large, json, not_object, no_device,
// uplink_message (not an object), f_cnt (not an unsigned 32-bit integer), depth, too_many_values,
// base64 (frm_payload, mode "cayenne"), lpp_truncated, lpp_type.
Result<Decoded> decode(std::span<const std::uint8_t> payload, TimeNs received, const CodecOptions& opts);

// Standard base64 (RFC 4648 §4); '=' padding optional. nullopt on any other character.
using json::base64_decode;  // frm_payload is standard base64

// Lower-case DevEUI when `dev_eui` is 16 hex digits, else `device_id` (possibly empty).
std::string device_key(std::string_view dev_eui, std::string_view device_id);

}  // namespace cg::lorawan_ttn
