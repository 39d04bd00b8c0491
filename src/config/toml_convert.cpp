#include "config/toml_convert.hpp"

#include "config/config.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace cg::config::detail {

std::string_view node_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::none: return "nothing";
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "floating-point number";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
  }
  return "value";
}

// "a string", "an integer", ... for messages about what was found.
std::string found(const toml::node& n) {
  if (n.is_table() && !n.as_table()->is_inline()) return "a [table] section";
  std::string_view name = node_type_name(n);
  bool vowel = !name.empty() && std::string_view("aeiou").find(name.front()) != std::string_view::npos;
  return fmt::format("{} {}", vowel ? "an" : "a", name);
}

namespace {

std::string_view article_type(KeyType t) {
  switch (t) {
    case KeyType::string: return "a string";
    case KeyType::integer: return "an integer";
    case KeyType::number: return "a number";
    case KeyType::boolean: return "a boolean (true or false)";
    case KeyType::string_list: return "an array of strings";
    case KeyType::string_map: return "an inline table of strings, e.g. { key = \"value\" }";
  }
  return "?";
}

std::optional<ConfigValue> mismatch(const toml::node& n, KeyType t, ConvertError& err) {
  err.message = fmt::format("must be {}, not {}", article_type(t), found(n));
  err.at = &n;
  return std::nullopt;
}
}  // namespace

std::optional<ConfigValue> convert(const toml::node& n, KeyType t, ConvertError& err) {
  switch (t) {
    case KeyType::string:
      if (const auto* v = n.as_string()) return ConfigValue{v->get()};
      return mismatch(n, t, err);
    case KeyType::integer:
      if (const auto* v = n.as_integer()) return ConfigValue{v->get()};
      return mismatch(n, t, err);
    case KeyType::number:
      if (const auto* v = n.as_floating_point()) return ConfigValue{v->get()};
      if (const auto* v = n.as_integer()) return ConfigValue{static_cast<double>(v->get())};
      return mismatch(n, t, err);
    case KeyType::boolean:
      if (const auto* v = n.as_boolean()) return ConfigValue{v->get()};
      return mismatch(n, t, err);
    case KeyType::string_list: {
      const auto* arr = n.as_array();
      if (!arr) return mismatch(n, t, err);
      std::vector<std::string> out;
      out.reserve(arr->size());
      for (std::size_t i = 0; i < arr->size(); ++i) {
        const toml::node& e = *arr->get(i);
        const auto* s = e.as_string();
        if (!s) {
          err.message = fmt::format("must be an array of strings; element {} is {}", i + 1, found(e));
          err.at = &e;
          return std::nullopt;
        }
        out.push_back(s->get());
      }
      return ConfigValue{std::move(out)};
    }
    case KeyType::string_map: {
      const auto* tbl = n.as_table();
      if (!tbl || !tbl->is_inline()) return mismatch(n, t, err);
      std::vector<std::pair<std::string, std::string>> out;
      for (auto&& [k, v] : *tbl) {
        const auto* s = v.as_string();
        if (!s) {
          err.message = fmt::format("must be an inline table of strings; '{}' is {}", k.str(), found(v));
          err.at = &v;
          return std::nullopt;
        }
        out.emplace_back(std::string(k.str()), s->get());
      }
      std::sort(out.begin(), out.end());
      return ConfigValue{std::move(out)};
    }
  }
  return mismatch(n, t, err);
}

std::optional<ConfigValue> parse_default(const ConfigKey& k, std::string* why) {
  if (k.default_value.empty()) return std::nullopt;
  std::string doc = "v = " + std::string(k.default_value);
  toml::table t;
  try {
    t = toml::parse(doc, std::string_view("<default>"));
  } catch (const toml::parse_error& e) {
    if (why) *why = fmt::format("default of '{}' ({}) is not TOML: {}", k.name, k.default_value, e.description());
    return std::nullopt;
  }
  ConvertError err;
  auto v = convert(*t.get("v"), k.type, err);
  if (!v && why) *why = fmt::format("default of '{}' ({}) {}", k.name, k.default_value, err.message);
  return v;
}

}  // namespace cg::config::detail

namespace cg::config {

ConfigView default_settings(std::span<const ConfigKey> keys) {
  std::map<std::string, ConfigValue, std::less<>> values;
  for (const auto& k : keys) {
    std::string why;
    if (auto d = detail::parse_default(k, &why)) values.emplace(std::string(k.name), std::move(*d));
  }
  return ConfigView(std::move(values));
}

}  // namespace cg::config
