#pragma once
// Helpers shared by the config tests.
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "config/config.hpp"

namespace cg::test {

// Every error of loading `text` (named "t.toml"), as "file:line:col: message" lines.
inline std::vector<std::string> config_errors(std::string_view text, std::string_view name = "t.toml") {
  auto r = config::load_config_string(text, name);
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.to_string());
  return out;
}

inline std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

// Loads text that must be valid; fails the test with the errors otherwise.
inline config::GatewayConfig must_load(std::string_view text) {
  auto r = config::load_config_string(text, "t.toml");
  std::string errors;
  for (const auto& e : r.errors) errors += e.to_string() + "\n";
  INFO(errors);
  REQUIRE(r.config.has_value());
  return *r.config;
}

}  // namespace cg::test
