#pragma once
// What every MQTT-bound adapter shares: the `broker`/`topics`/`qos` settings and an adapter that
// subscribes its filters with one decoder. Adapters with more to do (mqtt_json's {device} topic
// patterns) write their own.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "adapter_api/adapter.hpp"

namespace cg::adapters {

struct MqttBinding {
  std::string broker;
  std::vector<std::string> topics;
  int qos = 1;
};

// A plain MQTT filter: non-empty, '+' a whole level, '#' only as the whole last level.
Result<void> check_topic_filter(std::string_view filter);

// Reads and checks the common keys (`topics` falls back to `default_topics` when empty; qos 0..1).
// Errors are Disposition::fatal config errors.
Result<MqttBinding> read_mqtt_binding(const ConfigView& cfg, std::vector<std::string> default_topics = {});

// Subscribes every filter of the binding with the decoder that `make_decoder` builds in start()
// (so the decoder can take counters from the context). Decoders run on the transport's thread and
// must be pure apart from counters.
class MqttSubscriberAdapter final : public Adapter {
 public:
  using DecoderFactory = std::function<MqttDecodeFn(AdapterContext&)>;
  MqttSubscriberAdapter(MqttBinding binding, DecoderFactory make_decoder)
      : binding_(std::move(binding)), make_decoder_(std::move(make_decoder)) {}
  Result<void> start(AdapterContext& ctx) override;
  void stop() override {}

 private:
  MqttBinding binding_;
  DecoderFactory make_decoder_;
};

}  // namespace cg::adapters
