#include "core/records.hpp"

namespace cg {

namespace {
constexpr std::string_view kNames[kRecordClassCount] = {"telemetry", "alert", "report", "status", "summary", "backlog"};
}

std::string_view record_class_name(RecordClass c) {
  auto i = static_cast<std::size_t>(c);
  return i < std::size(kNames) ? kNames[i] : std::string_view("unknown");
}

std::optional<RecordClass> record_class_from_name(std::string_view s) {
  for (std::size_t i = 0; i < std::size(kNames); ++i)
    if (kNames[i] == s) return static_cast<RecordClass>(i);
  return std::nullopt;
}

}  // namespace cg
