#include "common/json_flatten.hpp"

#include <algorithm>

namespace cg::adapters {

void JsonFlattener::add(std::string metric, Value v, std::string unit) {
  if (error) return;
  if (metric.empty()) return;  // {"": 1} names nothing: not a measurement
  if (out.size() >= max_readings_) {
    error = Error::reject("too_many_values",
                          "more than " + std::to_string(max_readings_) + " values in one " + what_);
    return;
  }
  Reading r;
  r.metric = std::move(metric);
  r.value = std::move(v);
  r.unit = std::move(unit);
  out.push_back(std::move(r));
}

void JsonFlattener::walk(simdjson::dom::element e, const std::string& path, int depth) {
  using T = simdjson::dom::element_type;
  if (error) return;
  if (depth > max_depth_) {
    error = Error::reject("depth", "JSON nested deeper than " + std::to_string(max_depth_));
    return;
  }
  switch (e.type()) {
    case T::OBJECT:
      for (auto field : simdjson::dom::object(e))
        walk(field.value, path.empty() ? std::string(field.key) : path + "." + std::string(field.key), depth + 1);
      break;
    case T::ARRAY: {
      std::size_t i = 0;
      for (auto item : simdjson::dom::array(e)) walk(item, path + "." + std::to_string(i++), depth + 1);
      break;
    }
    case T::INT64: add(path, std::int64_t(e.get_int64().value_unsafe())); break;
    case T::UINT64: add(path, std::uint64_t(e.get_uint64().value_unsafe())); break;
    case T::DOUBLE: add(path, double(e.get_double().value_unsafe())); break;
    case T::BOOL: add(path, bool(e.get_bool().value_unsafe())); break;
    case T::STRING: add(path, std::string(e.get_string().value_unsafe())); break;
    case T::NULL_VALUE: break;
  }
}

bool JsonFlattener::has_metric(std::string_view m) const {
  return std::any_of(out.begin(), out.end(), [&](const Reading& r) { return r.metric == m; });
}

}  // namespace cg::adapters
