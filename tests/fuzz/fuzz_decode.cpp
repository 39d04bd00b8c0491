// libFuzzer target for one adapter kind's codec (FUZZ_KIND), through the same DecodeSession that
// `citygate decode` and the transports use. The input is split at "@@@@" into up to 8 messages
// decoded in order by one session (a Sparkplug birth, then its data); message i gets the kind's
// i-th sample topic, so topic-driven codecs see each message type.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "adapter_api/adapter.hpp"
#include "config/config.hpp"

namespace {

std::vector<std::string_view> topics_of(std::string_view kind) {
  if (kind == "sparkplug_b")
    return {"spBv1.0/city/NBIRTH/edge1", "spBv1.0/city/NDATA/edge1", "spBv1.0/city/DBIRTH/edge1/dev1",
            "spBv1.0/city/DDATA/edge1/dev1", "spBv1.0/city/DDEATH/edge1/dev1", "spBv1.0/city/NDEATH/edge1",
            "spBv1.0/STATE/host1"};
  if (kind == "lorawan_chirpstack")
    return {"application/1/device/0102030405060708/event/up", "application/1/device/0102030405060708/event/join",
            "application/1/device/0102030405060708/event/status", ""};
  if (kind == "lorawan_ttn") return {"v3/app@ttn/devices/dev1/up", "v3/app@ttn/devices/dev1/join"};
  if (kind == "mqtt_json") return {"city/air/aq-1/telemetry"};
  if (kind == "http_push") return {"/ingest/push"};
  return {""};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const cg::AdapterDescriptor* desc = cg::find_adapter(FUZZ_KIND);
  static const auto topics = topics_of(FUZZ_KIND);
  if (!desc || !desc->decoder) __builtin_trap();  // the build names a kind without a decoder
  auto session = desc->decoder(cg::config::default_settings(desc->keys));
  if (!session) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (std::size_t i = 0; i < 8; ++i) {
    auto cut = in.find("@@@@");
    std::string_view msg = in.substr(0, cut);
    cg::DecodeInput di;
    di.topic = topics[i % topics.size()];
    di.payload = {reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size()};
    di.now = cg::from_unix_ns(1'790'000'000'000'000'000);
    auto out = (*session)->decode(di);
    for (const auto& r : out.readings)
      if (r.device.empty() || r.metric.empty()) __builtin_trap();  // every reading names its device and metric
    if (cut == std::string_view::npos) break;
    in.remove_prefix(cut + 4);
  }
  return 0;
}
