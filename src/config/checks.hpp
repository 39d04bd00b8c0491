#pragma once
// Pure value checks used by the validator (internal to src/config and its tests). No toml++.
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cg::config::checks {

// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup process_env();

// `${NAME}` → the variable's value; `${NAME:-default}` → the value, or `default` when the
// variable is unset or empty; `$$` → a literal `$`; any other `$` is kept as is. NAME is
// [A-Za-z_][A-Za-z0-9_]*. Returns the expanded text, or nullopt with one message per problem
// appended to `errors` (unset variable without default, unterminated `${`, bad name).
std::optional<std::string> expand_env(std::string_view text, const EnvLookup& env,
                                      std::vector<std::string>& errors);

// nullopt when valid, otherwise why not (phrased to follow "'key' in [section] ").
std::optional<std::string> check_id(std::string_view v);
std::optional<std::string> check_device_id(std::string_view v);
// `schemes`: the allowed URL schemes, lower-case.
std::optional<std::string> check_url(std::string_view v, std::span<const std::string_view> schemes);

// The candidate closest to `word` by edit distance, if close enough to be a likely typo.
std::optional<std::string_view> did_you_mean(std::string_view word,
                                             std::span<const std::string_view> candidates);

std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace cg::config::checks
