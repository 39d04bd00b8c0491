#pragma once
// toml++ node → ConfigValue conversion shared by the loader and the schema self-check.
// Internal to src/config: this is the only header that includes toml++.
#include <optional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "adapter_api/config_view.hpp"

namespace cg::config::detail {

// "string", "integer", "floating-point number", "table", ... for messages.
std::string_view node_type_name(const toml::node& n);
// The same with an article: "a string", "an integer", "a [table] section".
std::string found(const toml::node& n);

struct ConvertError {
  std::string message;         // e.g. "must be an integer, not a string"
  const toml::node* at = nullptr;  // the offending node (an element of an array, a map value)
};

// Converts `n` to a value of type `t`. An integer is accepted where a number is expected.
// string_map values must be an inline table of strings, returned sorted by key.
std::optional<ConfigValue> convert(const toml::node& n, KeyType t, ConvertError& err);

// The key's default (TOML literal text) as a value; nullopt when it has none, or sets `why` when
// the default text does not parse as the key's type (a bug in the key table).
std::optional<ConfigValue> parse_default(const ConfigKey& k, std::string* why);

}  // namespace cg::config::detail
