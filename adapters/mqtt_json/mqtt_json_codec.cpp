#include "mqtt_json/mqtt_json_codec.hpp"

#include <simdjson.h>

#include <toml++/toml.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "common/json_flatten.hpp"
#include "common/json_time.hpp"

namespace cg::mqtt_json {

Result<TopicPattern> TopicPattern::parse(std::string_view pattern) {
  TopicPattern p;
  if (pattern.empty()) return fail(Error::fatal("config", "empty topic pattern"));
  std::size_t start = 0;
  while (true) {
    auto slash = pattern.find('/', start);
    auto level = pattern.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (level == "{device}") {
      if (p.device_level_ >= 0) return fail(Error::fatal("config", "topic pattern has {device} twice"));
      p.device_level_ = static_cast<int>(p.levels_.size());
    } else if (level.find_first_of("{}") != std::string_view::npos) {
      return fail(Error::fatal("config", "only a whole level may be {device}: '" + std::string(pattern) + "'"));
    } else if (level.find('#') != std::string_view::npos &&
               (level != "#" || slash != std::string_view::npos)) {
      return fail(Error::fatal("config", "'#' must be the whole last level"));
    } else if (level.find('+') != std::string_view::npos && level != "+") {
      return fail(Error::fatal("config", "'+' must be a whole level"));
    }
    p.levels_.emplace_back(level);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  for (std::size_t i = 0; i < p.levels_.size(); ++i) {
    if (i) p.filter_ += '/';
    p.filter_ += static_cast<int>(i) == p.device_level_ ? std::string("+") : p.levels_[i];
  }
  return p;
}

std::optional<std::string> TopicPattern::match(std::string_view topic) const {
  std::size_t start = 0;
  std::optional<std::string> device = std::string();
  for (std::size_t i = 0; i < levels_.size(); ++i) {
    if (levels_[i] == "#") return device;
    if (start > topic.size()) return std::nullopt;
    auto slash = topic.find('/', start);
    auto level = topic.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    bool last = i + 1 == levels_.size();
    if (static_cast<int>(i) == device_level_) {
      if (level.empty()) return std::nullopt;
      device = std::string(level);
    } else if (levels_[i] != "+" && levels_[i] != level) {
      return std::nullopt;
    }
    if (last) return slash == std::string_view::npos ? device : std::nullopt;
    if (slash == std::string_view::npos) return std::nullopt;
    start = slash + 1;
  }
  return std::nullopt;
}

namespace {

using Walker = adapters::JsonFlattener;

}  // namespace

Result<JsonProfile> parse_json_profile(std::string_view text, std::string_view source, std::string_view name) {
  auto bad = [&](const toml::source_region& at, const std::string& why) {
    return fail(Error::fatal("profile", std::string(source) + ":" + std::to_string(at.begin.line) + ":" +
                                            std::to_string(at.begin.column) + ": " + why));
  };
  toml::table t;
  try {
    t = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return bad(e.source(), std::string(e.description()));
  }
  JsonProfile p;
  p.name = std::string(name);
  for (auto&& [k, v] : t) {
    if (k == "description" && v.is_string()) p.description = v.as_string()->get();
    else if (k == "name" && v.is_string()) p.name = v.as_string()->get();
    else if (k != "fields") return bad(v.source(), "unknown key '" + std::string(k.str()) + "' (description, name, fields)");
  }
  auto* fields = t["fields"].as_array();
  if (!fields || fields->empty()) return bad(t.source(), "a JSON profile lists its values as [[fields]]");
  for (auto& f : *fields) {
    auto* ft = f.as_table();
    if (!ft) return bad(f.source(), "each [[fields]] entry is a table");
    FieldMap m;
    for (auto&& [k, v] : *ft) {
      if ((k == "pointer" || k == "metric" || k == "unit") && v.is_string()) {
        (k == "pointer" ? m.pointer : k == "metric" ? m.metric : m.unit) = v.as_string()->get();
      } else if ((k == "scale" || k == "offset") && (v.is_floating_point() || v.is_integer())) {
        (k == "scale" ? m.scale : m.offset) = v.value<double>().value_or(0);
      } else {
        return bad(v.source(), "unknown key or wrong type '" + std::string(k.str()) +
                                   "' (pointer, metric, unit: strings; scale, offset: numbers)");
      }
    }
    if (m.pointer.empty() || m.pointer.front() != '/')
      return bad(ft->source(), "pointer must be an RFC 6901 JSON pointer starting with '/'");
    if (m.metric.empty()) m.metric = m.pointer.substr(1);
    if (!std::isfinite(m.scale) || !std::isfinite(m.offset) || m.scale == 0)
      return bad(ft->source(), "scale must be a non-zero finite number, offset finite");
    p.fields.push_back(std::move(m));
  }
  return p;
}

Result<JsonProfile> load_json_profile(const std::string& path) {
  std::ifstream f(path);
  if (!f) return fail(Error::fatal("profile", "cannot read profile " + path));
  std::stringstream ss;
  ss << f.rdbuf();
  std::string stem = path.substr(path.find_last_of('/') + 1);
  if (stem.ends_with(".toml")) stem.resize(stem.size() - 5);
  return parse_json_profile(ss.str(), path, stem);
}

namespace {

// The mapped values of a profile; device/time members are the caller's.
Result<void> apply_profile(simdjson::dom::element doc, const JsonProfile& p, std::vector<Reading>& out) {
  for (const auto& f : p.fields) {
    simdjson::dom::element v;
    if (doc.at_pointer(f.pointer).get(v) || v.is_null()) continue;
    Reading r;
    r.metric = f.metric;
    r.unit = f.unit;
    bool plain = f.scale == 1.0 && f.offset == 0.0;
    std::int64_t i;
    std::uint64_t u;
    double d;
    bool b;
    std::string_view s;
    if (plain && !v.get(i)) r.value = i;
    else if (plain && !v.get(u)) r.value = u;
    else if (!v.get(d)) {
      // a scale like 0.1 divides by 10, so 187 reads 18.7 exactly rather than 18.700000000000003
      double inv = 1.0 / f.scale;
      bool divisor = std::abs(f.scale) < 1 && std::abs(inv - std::round(inv)) < 1e-9;
      r.value = (divisor ? d / std::round(inv) : d * f.scale) + f.offset;
    }
    else if (!plain) return fail(Error::reject("field_type", "'" + f.pointer + "' is not a number but its profile scales it"));
    else if (!v.get(b)) r.value = b;
    else if (!v.get(s)) r.value = std::string(s);
    else continue;  // an object or array where a value was mapped: not this field's shape
    out.push_back(std::move(r));
  }
  return {};
}

}  // namespace

Result<std::vector<Reading>> decode(std::string_view device, std::span<const std::uint8_t> payload, TimeNs received,
                                    const CodecOptions& opts) {
  if (payload.size() > opts.max_payload_bytes)
    return fail(Error::reject("too_large", "payload of " + std::to_string(payload.size()) + " bytes exceeds " +
                                               std::to_string(opts.max_payload_bytes)));
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  auto err = parser.parse(reinterpret_cast<const char*>(payload.data()), payload.size(), true).get(doc);
  if (err) return fail(Error::reject("json", std::string("invalid JSON: ") + simdjson::error_message(err)));
  simdjson::dom::object obj;
  if (doc.get(obj)) return fail(Error::reject("not_object", "payload is not a JSON object"));

  Walker w(opts.max_readings, opts.max_depth);
  std::string dev(device);
  std::optional<TimeNs> observed;
  for (auto field : obj) {
    if (!opts.time_field.empty() && field.key == opts.time_field) {
      observed = adapters::json_time(field.value);
      continue;
    }
    if (!opts.device_field.empty() && field.key == opts.device_field) {
      std::string_view s;
      if (!field.value.get(s) && !s.empty()) dev = std::string(s);
      continue;
    }
    if (!opts.profile) w.walk(field.value, std::string(field.key), 1);
  }
  if (w.error) return fail(*w.error);
  if (opts.profile)
    if (auto r = apply_profile(doc, *opts.profile, w.out); !r) return fail(r.error());
  // A timestamp we cannot read makes the time untrustworthy, not the measurements: keep them on
  // the receive time and flag it (the counter for it is the caller's `time_from_gateway`).
  if (dev.empty()) return fail(Error::reject("no_device", "no device in topic or payload"));
  if (w.out.empty()) return fail(Error::reject("no_values", "payload has no measurement values"));
  for (auto& r : w.out) {
    r.device = dev;
    r.received = received;
    if (observed) {
      r.observed = *observed;
    } else {
      r.observed = received;
      r.quality |= quality::kTimeFromGateway;
    }
  }
  return std::move(w.out);
}

}  // namespace cg::mqtt_json
