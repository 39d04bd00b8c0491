#pragma once
// What `citygate simulate` sends: one sample of a simulated device (adapters/simulated/fleet.hpp)
// encoded the way real devices and integrations of each kind put it on the wire. Pure: the
// senders live in simulate_cmd.cpp.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/reading.hpp"

namespace cg::sim {

enum class Format { mqtt_json, senml, lorawan_ttn, lorawan_chirpstack, influx_line, http_push, sparkplug_b };

std::optional<Format> parse_format(std::string_view kind);

struct Message {
  std::string topic;       // MQTT topic
  std::string http_query;  // over HTTP: appended to the target URL (ChirpStack's "?event=up")
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // extra HTTP headers
  std::string body;
};

// Per-device state kept by the encoder (frame counters, Sparkplug births and sequence numbers).
struct DeviceState {
  std::uint32_t fcnt = 0;
  bool born = false;
  std::uint8_t seq = 0;
  std::uint64_t bd_seq = 0;
};

// Encodes one sample (readings of one device at time t) as the messages of `f`. Device index `i`
// gives stable device identities (DevEUIs, chip ids). Sparkplug: the first call for a device
// yields its NBIRTH and DBIRTH before the DDATA.
std::vector<Message> encode(Format f, std::size_t i, std::string_view device, const std::vector<Reading>& sample,
                            TimeNs t, DeviceState& st);

// Device ids of a simulator: the fleet's "sim-aq-001" with "sim" replaced by a tag per format
// ("mqtt-aq-001", "lp-traffic-002"), so simulators of several formats never share a device.
std::string device_id(Format f, std::string_view fleet_id);

}  // namespace cg::sim
