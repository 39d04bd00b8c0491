#pragma once
#include <string_view>

namespace cg::transport {
// MQTT 3.1.1 §4.7 topic filter matching: '+' one level, '#' this and all lower levels; a topic
// starting with '$' is not matched by a filter starting with a wildcard.
bool topic_matches(std::string_view filter, std::string_view topic);
}  // namespace cg::transport
