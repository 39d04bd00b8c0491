#pragma once
// The part of a LoRaWAN uplink that does not depend on the network server's JSON dialect: radio
// metadata as metrics and the stamping of every reading. Shared by lorawan_ttn and
// lorawan_chirpstack.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/json_flatten.hpp"

namespace cg::adapters {

struct RadioSummary {
  std::optional<double> rssi;  // best over the gateways, dBm
  std::optional<double> snr;   // best over the gateways, dB
  std::optional<std::int64_t> gateway_count;
  std::optional<std::int64_t> sf;  // LoRa spreading factor

  // Folds one gateway's values into the best-of summary.
  void add_gateway(std::optional<double> gw_rssi, std::optional<double> gw_snr);
};

struct UplinkStamp {
  std::string device;
  TimeNs observed{};
  TimeNs received{};
  std::uint64_t f_cnt = 0;
  std::uint32_t quality = 0;
};

// Adds rssi/snr/gateway_count/sf (a payload metric of the same name wins), then stamps device,
// times, src_seq (= f_cnt) and quality on every reading. Returns the flattener's first error.
Result<std::vector<Reading>> finish_uplink(JsonFlattener& w, const RadioSummary& radio, const UplinkStamp& stamp);

}  // namespace cg::adapters
