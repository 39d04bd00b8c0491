#pragma once
// lorawan_chirpstack codec: pure (bytes -> Readings), no I/O, fuzzable.
//
// Input: one ChirpStack integration event in the JSON encoding (v4: camelCase protobuf JSON;
// ChirpStack-v3-style keys are accepted too: devEUI, loRaSNR, txInfo.dataRate.spreadFactor).
// The event type comes from the MQTT topic (application/{id}/device/{devEui}/event/{type}, or the
// v3 form application/{id}/device/{devEui}/{type} where "rx" means up), or from the caller.
//
// Only `up` produces readings. join, status, ack, txack, log, location, integration (and any
// type we do not know) decode to zero readings and are not an error: status' batteryLevel and
// margin are device-management data, not measurements.
//
// Per up event:
//   device    deviceInfo.devEui (v4) or devEUI (v3) in lower-case hex, else the topic's devEui.
//   metrics   `object` members (the device-profile codec's output), nested objects/arrays
//             flattened with '.', null skipped. No vendor payload decoding: without `object` only
//             the radio metadata is produced. Radio metadata: rssi (dBm, best over rxInfo, f64),
//             snr (dB, best over snr|loRaSNR, f64), gateway_count (i64), sf (i64, from
//             txInfo.modulation.lora.spreadingFactor or v3 txInfo.dataRate.spreadFactor /
//             txInfo.loRaModulationInfo.spreadingFactor). A radio metric is left out when
//             `object` already has a metric of that name.
//   observed  `time` (RFC 3339). When absent or malformed (the Milesight gateway's built-in NS
//             sends "2020-0327T12:39:05.547336Z"): the earliest rxInfo time/gwTime, else
//             `received`; both flagged kTimeFromGateway. We do not guess a repair.
//   src_seq   fCnt (absent = 0: protobuf JSON omits zero values).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/reading.hpp"
#include "core/result.hpp"

namespace cg::lorawan_chirpstack {

enum class EventType { up, join, status, ack, txack, log, location, integration, unknown };

// "up" (and v3 "rx") -> up, "join", "status", ..., anything else -> unknown.
EventType parse_event_type(std::string_view name);
std::string_view event_type_name(EventType t);

struct TopicInfo {
  std::optional<EventType> event;  // nullopt when the topic does not name one
  std::string dev_eui;             // the level after "device" (may be empty)
};
// application/{id}/device/{devEui}/event/{type}; v3: application/{id}/device/{devEui}/{type}.
TopicInfo parse_topic(std::string_view topic);

struct CodecOptions {
  std::size_t max_payload_bytes = 65536;
  std::size_t max_readings = 1000;
  int max_depth = 16;
};

struct Decoded {
  std::vector<Reading> readings;
  EventType event = EventType::unknown;
  bool time_fallback = false;  // `time` was absent or malformed
};

// `event` nullopt: guessed from the body (an `up` has rxInfo, fCnt, fPort, data or object;
// anything else is unknown). `topic_dev_eui` names the device when the body does not.
// Errors are Disposition::reject with codes: too_large, json, not_object, no_device, f_cnt (not an
// unsigned 32-bit integer), depth, too_many_values.
Result<Decoded> decode(std::optional<EventType> event, std::string_view topic_dev_eui,
                       std::span<const std::uint8_t> payload, TimeNs received, const CodecOptions& opts);

}  // namespace cg::lorawan_chirpstack
