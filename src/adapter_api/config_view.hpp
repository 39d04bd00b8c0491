#pragma once
// Config declared once, as data (DESIGN §10.2). An adapter publishes a table of ConfigKeys; the
// config loader validates each [[adapters]] instance against it (unknown keys, types, required
// keys, defaults) and hands the adapter a ConfigView of already-valid values. The same table
// drives `citygate describe-adapters` and the generated README sections.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace cg {

enum class KeyType {
  string,
  integer,      // int64
  number,       // double (an integer literal is accepted)
  boolean,
  string_list,  // array of strings
  string_map,   // inline table of string -> string (free-form: tags, labels)
};

std::string_view key_type_name(KeyType t);

struct ConfigKey {
  std::string_view name;
  KeyType type;
  // Default as TOML literal text ("" = no default). Used for docs and applied when absent.
  std::string_view default_value;
  bool required = false;
  std::string_view doc;
};

using ConfigValue = std::variant<std::string, std::int64_t, double, bool, std::vector<std::string>,
                                 std::vector<std::pair<std::string, std::string>>>;

// Validated settings of one component instance. Accessors assume the key is declared in the
// component's table with the matching type (a mismatch is a programming error and throws
// std::logic_error); absent optional keys without default return the type's empty value.
class ConfigView {
 public:
  ConfigView() = default;
  explicit ConfigView(std::map<std::string, ConfigValue, std::less<>> values) : values_(std::move(values)) {}

  bool has(std::string_view key) const { return values_.find(key) != values_.end(); }
  std::string get_string(std::string_view key) const;
  std::int64_t get_int(std::string_view key) const;
  double get_number(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::vector<std::string> get_list(std::string_view key) const;
  std::vector<std::pair<std::string, std::string>> get_map(std::string_view key) const;

  const std::map<std::string, ConfigValue, std::less<>>& values() const { return values_; }

 private:
  std::map<std::string, ConfigValue, std::less<>> values_;
};

}  // namespace cg
