#include "common/mqtt_binding.hpp"

namespace cg::adapters {

Result<void> check_topic_filter(std::string_view f) {
  if (f.empty()) return fail(Error::fatal("config", "empty topic filter"));
  std::size_t start = 0;
  while (true) {
    auto slash = f.find('/', start);
    auto level = f.substr(start, (slash == std::string_view::npos ? f.size() : slash) - start);
    if (level.find('#') != std::string_view::npos && (level != "#" || slash != std::string_view::npos))
      return fail(Error::fatal("config", "'#' must be the whole last level in '" + std::string(f) + "'"));
    if (level.find('+') != std::string_view::npos && level != "+")
      return fail(Error::fatal("config", "'+' must be a whole level in '" + std::string(f) + "'"));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return {};
}

Result<MqttBinding> read_mqtt_binding(const ConfigView& cfg, std::vector<std::string> default_topics) {
  MqttBinding b;
  b.broker = cfg.get_string("broker");
  b.topics = cfg.get_list("topics");
  if (b.topics.empty()) b.topics = std::move(default_topics);
  if (b.topics.empty()) return fail(Error::fatal("config", "topics must list at least one MQTT filter"));
  for (const auto& t : b.topics)
    if (auto r = check_topic_filter(t); !r) return fail(r.error());
  auto qos = cfg.has("qos") ? cfg.get_int("qos") : 1;
  if (qos < 0 || qos > 1) return fail(Error::fatal("config", "qos must be 0 or 1"));
  b.qos = static_cast<int>(qos);
  return b;
}

std::vector<std::string_view> topic_levels(std::string_view topic) {
  std::vector<std::string_view> levels;
  std::size_t start = 0;
  while (true) {
    auto slash = topic.find('/', start);
    levels.push_back(topic.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return levels;
}

}  // namespace cg::adapters
