#pragma once
// The config schema as data (DESIGN §10.2): every section and its cg::ConfigKey table, plus the
// constraints a type alone cannot express (ranges, enumerations, formats). Validation, defaults and
// the generated reference (describe_config_markdown) all read these tables; nothing else in
// src/config names a key's default or range. Internal to src/config (and its tests); no toml++.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "adapter_api/config_view.hpp"

namespace cg::config::schema {

// Format checks for string keys.
enum class Check : std::uint8_t {
  none,
  id,          // [A-Za-z0-9._-]{1,64}
  device_id,   // [A-Za-z0-9._:-]{1,128}
  listen,      // HOST:PORT
  http_url,    // http:// or https://
  broker_url,  // tcp|ssl|mqtt|mqtts://
  sink_kind,   // a sink implemented in this build
};

// Extra constraints on one key of a section.
struct Rule {
  std::string_view key;
  bool ranged = false;  // value (integer or number) must be in [min, max]
  double min = 0;
  double max = 0;
  std::string_view one_of;  // "a|b|c": the value must be one of these strings
  Check check = Check::none;
};

struct Section {
  std::string_view path;    // "store", "uplink.sinks", "devices.location"
  std::string_view parent;  // "" for top-level sections
  std::string_view name;    // key in the parent table
  bool array = false;       // an array of tables ([[path]])
  bool optional = false;    // a table that may be absent (top-level tables are always built)
  std::string_view doc;
  std::span<const ConfigKey> keys;
  std::span<const Rule> rules;
};

// All sections, parents before their children, in documentation order.
std::span<const Section> sections();
const Section* find_section(std::string_view path);
const Rule* find_rule(const Section& s, std::string_view key);

// Sink kinds implemented in this build, and kinds that exist in the design but are not built.
std::span<const std::string_view> available_sink_kinds();
std::span<const std::string_view> unavailable_sink_kinds();

// Human text for the "Allowed" column of the reference ("1..10000", "`a`, `b`", ...).
std::string allowed_text(const Rule& r, KeyType t);

// Problems of a key table itself (duplicate names, defaults that do not parse as their type,
// required keys with a default). Used by tests over every section and every adapter kind.
std::vector<std::string> check_key_table(std::span<const ConfigKey> keys);

}  // namespace cg::config::schema
