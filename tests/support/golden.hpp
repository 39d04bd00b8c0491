#pragma once
// Golden-case helpers shared by adapter tests: a case is adapters/<kind>/tests/cases/<name>/expected.json
//   { "vector": "<folder>/<file>" (relative to shared/vectors), "received": RFC 3339,
//     ... adapter-specific options ...,
//     "device": ..., "observed": RFC 3339, "src_seq": n, "quality": n,
//     "readings": [[metric, "f64"|"i64"|"u64"|"bool"|"string", value, unit], ...] }
// Readings are compared in order, exactly (doubles bit-for-bit after the same text parse).
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <iostream>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/reading.hpp"
#include "core/time_format.hpp"

namespace golden {

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

inline std::filesystem::path vectors_dir() { return std::filesystem::path(CITYGATE_SHARED_DIR) / "vectors"; }

inline std::vector<std::filesystem::path> case_dirs(const char* root) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(root))
    if (e.is_directory() && std::filesystem::exists(e.path() / "expected.json")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string str(simdjson::dom::element e, const char* key) {
  std::string_view s;
  if (e[key].get(s)) return {};
  return std::string(s);
}

inline cg::TimeNs time_of(simdjson::dom::element e, const char* key) {
  auto t = cg::parse_rfc3339(str(e, key));
  REQUIRE(t);
  return *t;
}

inline cg::Value expected_value(std::string_view type, simdjson::dom::element v) {
  if (type == "f64") return double(v.get_double().value());
  if (type == "i64") return std::int64_t(v.get_int64().value());
  if (type == "u64") return std::uint64_t(v.get_uint64().value());
  if (type == "bool") return bool(v.get_bool().value());
  if (type == "string") return std::string(v.get_string().value());
  FAIL("unknown type " << type);
  return {};
}

inline std::string describe(const cg::Value& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) return "\"" + x + "\"";
        else if constexpr (std::is_same_v<T, cg::Bytes>) return "<bytes>";
        else if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
        else if constexpr (std::is_same_v<T, double>) {
          char buf[64];
          auto res = std::to_chars(buf, buf + sizeof buf, x);
          std::string out(buf, res.ptr);
          if (out.find_first_of(".en") == std::string::npos) out += ".0";
          return out;
        } else {
          return std::to_string(x);
        }
      },
      v);
}

// Compares decoded readings with the case's expectations.
inline void check(simdjson::dom::element exp, const std::vector<cg::Reading>& got, cg::TimeNs received) {
  simdjson::dom::array readings = exp["readings"].get_array().value();
  std::vector<simdjson::dom::array> rows;
  for (auto r : readings) rows.push_back(r.get_array().value());
  CHECK(got.size() == rows.size());
  if (rows.empty()) return;
  auto device = str(exp, "device");
  auto observed = time_of(exp, "observed");
  auto src_seq = std::uint64_t(exp["src_seq"].get_uint64().value());
  auto q = std::uint32_t(exp["quality"].get_uint64().value());
  for (std::size_t i = 0; i < std::min(got.size(), rows.size()); ++i) {
    auto row = rows[i];
    std::string metric(row.at(0).get_string().value());
    std::string_view type = row.at(1).get_string().value();
    std::string unit(row.at(3).get_string().value());
    const auto& r = got[i];
    INFO("reading " << i << " expected " << metric << " got " << r.metric << " = " << describe(r.value));
    CHECK(r.metric == metric);
    CHECK(r.value == expected_value(type, row.at(2).value()));
    CHECK(r.unit == unit);
    CHECK(r.device == device);
    CHECK(r.observed == observed);
    CHECK(r.received == received);
    CHECK(r.src_seq == std::optional<std::uint64_t>(src_seq));
    CHECK(r.quality == q);
    CHECK(r.tags.empty());
  }
}

// Prints a case skeleton (to bootstrap expected.json; every value is then checked by hand
// against shared/vectors/README.md before it is committed).
inline void dump(const std::vector<cg::Reading>& got) {
  if (got.empty()) {
    std::cout << "  \"readings\": []\n";
    return;
  }
  std::cout << "  \"device\": \"" << got[0].device << "\",\n  \"observed\": \"" << cg::to_unix_ns(got[0].observed)
            << "\",\n  \"src_seq\": " << got[0].src_seq.value_or(0) << ",\n  \"quality\": " << got[0].quality
            << ",\n  \"readings\": [\n";
  static const char* kTypes[] = {"f64", "i64", "u64", "bool", "string", "bytes"};
  for (std::size_t i = 0; i < got.size(); ++i) {
    const auto& r = got[i];
    std::cout << "    [\"" << r.metric << "\", \"" << kTypes[r.value.index()] << "\", " << describe(r.value) << ", \""
              << r.unit << "\"]" << (i + 1 < got.size() ? "," : "") << "\n";
  }
  std::cout << "  ]\n";
}

}  // namespace golden
