#include "mqtt_json/mqtt_json_codec.hpp"

#include <simdjson.h>

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
    w.walk(field.value, std::string(field.key), 1);
  }
  if (w.error) return fail(*w.error);
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
