#pragma once
// Minimal streaming JSON text writer (escaping done right, numbers exact). Used wherever we emit
// JSON: HTTP responses, the lake's NDJSON, `citygate decode`. Parsing is simdjson's job.
#include <cstdint>
#include <string>
#include <optional>
#include <string_view>
#include <vector>

#include "core/reading.hpp"

namespace cg::json {

// Appends s as a JSON string literal (with quotes). Invalid UTF-8 bytes become U+FFFD so the
// output is always valid JSON.
void append_string(std::string& out, std::string_view s);

// Appends a double the shortest way that round-trips, always as a JSON number with a fraction or
// exponent ("1.0", not "1", so integers and floats stay distinguishable); NaN/±Inf (not
// representable in JSON) as the strings "NaN", "Infinity", "-Infinity".
void append_double(std::string& out, double v);

// Appends a reading value: numbers as JSON numbers (u64/i64 exact), bool, string, bytes as
// base64 string.
void append_value(std::string& out, const Value& v);

// Tags as a JSON object.
void append_tags(std::string& out, const Tags& tags);

std::string base64_encode(const std::uint8_t* data, std::size_t n);

// Standard base64 (RFC 4648 §4, '+' and '/'), padding optional; nullopt for anything else
// (base64url, whitespace, a dangling character).
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view s);

}  // namespace cg::json
