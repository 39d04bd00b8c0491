#include "adapter_api/config_view.hpp"

#include <stdexcept>

namespace cg {

std::string_view key_type_name(KeyType t) {
  switch (t) {
    case KeyType::string: return "string";
    case KeyType::integer: return "integer";
    case KeyType::number: return "number";
    case KeyType::boolean: return "boolean";
    case KeyType::string_list: return "array of strings";
    case KeyType::string_map: return "inline table of strings";
  }
  return "?";
}

namespace {
template <class T>
T get_as(const std::map<std::string, ConfigValue, std::less<>>& m, std::string_view key) {
  auto it = m.find(key);
  if (it == m.end()) return T{};
  if (const T* v = std::get_if<T>(&it->second)) return *v;
  if constexpr (std::is_same_v<T, double>) {
    if (const auto* i = std::get_if<std::int64_t>(&it->second)) return static_cast<double>(*i);
  }
  throw std::logic_error("config key '" + std::string(key) + "' read with the wrong type");
}
}  // namespace

std::string ConfigView::get_string(std::string_view k) const { return get_as<std::string>(values_, k); }
std::int64_t ConfigView::get_int(std::string_view k) const { return get_as<std::int64_t>(values_, k); }
double ConfigView::get_number(std::string_view k) const { return get_as<double>(values_, k); }
bool ConfigView::get_bool(std::string_view k) const { return get_as<bool>(values_, k); }
std::vector<std::string> ConfigView::get_list(std::string_view k) const {
  return get_as<std::vector<std::string>>(values_, k);
}
std::vector<std::pair<std::string, std::string>> ConfigView::get_map(std::string_view k) const {
  return get_as<std::vector<std::pair<std::string, std::string>>>(values_, k);
}

}  // namespace cg
