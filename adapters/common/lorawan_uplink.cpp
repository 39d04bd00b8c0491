#include "common/lorawan_uplink.hpp"

#include <algorithm>

namespace cg::adapters {

void RadioSummary::add_gateway(std::optional<double> gw_rssi, std::optional<double> gw_snr) {
  if (gw_rssi) rssi = rssi ? std::max(*rssi, *gw_rssi) : *gw_rssi;
  if (gw_snr) snr = snr ? std::max(*snr, *gw_snr) : *gw_snr;
  gateway_count = gateway_count.value_or(0) + 1;
}

Result<std::vector<Reading>> finish_uplink(JsonFlattener& w, const RadioSummary& radio, const UplinkStamp& stamp) {
  auto add = [&](const char* name, Value v, const char* unit) {
    if (!w.has_metric(name)) w.add(name, std::move(v), unit);
  };
  if (radio.rssi) add("rssi", *radio.rssi, "dBm");
  if (radio.snr) add("snr", *radio.snr, "dB");
  if (radio.gateway_count) add("gateway_count", *radio.gateway_count, "");
  if (radio.sf) add("sf", *radio.sf, "");
  if (w.error) return fail(*w.error);
  for (auto& r : w.out) {
    r.device = stamp.device;
    r.observed = stamp.observed;
    r.received = stamp.received;
    r.src_seq = stamp.f_cnt;
    r.quality = stamp.quality;
  }
  return std::move(w.out);
}

}  // namespace cg::adapters
