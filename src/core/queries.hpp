#pragma once
// Read-side interfaces the HTTP layer queries. Implemented by the store over its read-only
// connections; any thread may call them; they never block on the writer.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/reading.hpp"

namespace cg {

struct LatestValue {
  std::string metric;
  Value value;
  std::string unit;
  TimeNs observed{};
};

struct DeviceSummary {
  std::string id;
  std::string adapter;        // adapter instance id that last delivered for this device
  TimeNs last_seen{};         // receive time of the newest reading
  std::vector<LatestValue> latest;  // one per metric, sorted by metric
};

class DeviceQueries {
 public:
  virtual ~DeviceQueries() = default;
  virtual std::vector<DeviceSummary> list_devices() = 0;
  virtual std::optional<DeviceSummary> get_device(std::string_view id) = 0;
};

}  // namespace cg
