#pragma once
// What every MQTT-bound adapter shares: the `broker`/`topics`/`qos` settings and topic parsing.
// Subscribing is IngestAdapter's (common/ingest_adapter.hpp) or the adapter's own (mqtt_json's
// {device} patterns, sparkplug_b's host state).
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

// "a/b//c" -> {"a", "b", "", "c"}: the levels of a topic name, empty ones kept (they are levels).
std::vector<std::string_view> topic_levels(std::string_view topic);

}  // namespace cg::adapters
