#include "http_push/http_push_codec.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <utility>
#include <vector>

#include "common/json_flatten.hpp"
#include "common/json_time.hpp"
#include "senml/senml_codec.hpp"

namespace cg::http_push {

namespace {

constexpr std::size_t kMaxDeviceBytes = 128;
constexpr std::size_t kMaxUnitBytes = 32;
constexpr std::size_t kMaxBadTimeTagBytes = 64;
constexpr std::size_t kMaxErrors = 20;  // listed per request; more are counted in one last error

Error reject(std::string_view code, std::string message) {
  return Error::reject("http_push." + std::string(code), std::move(message));
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_non_ascii(char c) { return static_cast<unsigned char>(c) >= 0x80; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// The first header among `names` (lower-case) with a non-empty value, trimmed.
std::optional<std::string_view> header(const DecodeInput& in, std::initializer_list<std::string_view> names) {
  for (auto name : names)
    for (const auto& [k, v] : in.headers)
      if (k == name) {
        auto t = trim(v);
        if (!t.empty()) return t;
      }
  return std::nullopt;
}

// The media type of the Content-Type header, lower-case and without parameters ("" when none).
std::string media_type(const DecodeInput& in) {
  auto ct = header(in, {"content-type"});
  if (!ct) return {};
  auto semi = ct->find(';');
  return lower(trim(ct->substr(0, semi)));
}

// Units written after a number, mapped where a common spelling is not the UCUM-ish ASCII the
// gateway stores elsewhere ("Cel", "ug/m3"). Everything else is kept as written.
std::string normalise_unit(std::string_view u) {
  static constexpr std::pair<std::string_view, std::string_view> kMap[] = {
      {"\xC2\xB0" "C", "Cel"},                                      // °C
      {"\xE2\x84\x83", "Cel"},                                      // ℃
      {"\xC2\xB0" "F", "[degF]"},                                   // °F
      {"\xC2\xB5" "g/m\xC2\xB3", "ug/m3"},                          // µg/m³ (micro sign)
      {"\xCE\xBC" "g/m\xC2\xB3", "ug/m3"},                          // μg/m³ (Greek mu)
      {"\xC2\xB5" "g/m3", "ug/m3"},                                 // µg/m3
      {"\xCE\xBC" "g/m3", "ug/m3"},                                 // μg/m3
      {"ug/m\xC2\xB3", "ug/m3"},                                    // ug/m³
      {"\xC2\xB5" "s", "us"},                                       // µs
      {"\xCE\xBC" "s", "us"},                                       // μs
      {"\xC2\xB5" "m", "um"},                                       // µm
      {"\xCE\xBC" "m", "um"},                                       // μm
  };
  for (const auto& [from, to] : kMap)
    if (u == from) return std::string(to);
  return std::string(u);
}

bool unit_char(char c) {
  return !is_space(c) && (is_non_ascii(c) || (c > 0x20 && c < 0x7f)) && c != '"' && c != '\\';
}

// ---- sensor.community value types ----------------------------------------------------------

struct ScType {
  std::string_view value_type;  // without the sensor prefix
  std::string_view unit;
  bool diagnostic;              // firmware statistics, not a measurement of the environment
};

constexpr ScType kScTypes[] = {
    {"P0", "ug/m3", false},       {"P1", "ug/m3", false},        {"P2", "ug/m3", false},
    {"P4", "ug/m3", false},       {"N05", "/cm3", false},        {"N1", "/cm3", false},
    {"N25", "/cm3", false},       {"N4", "/cm3", false},         {"N10", "/cm3", false},
    {"TS", "um", false},          {"temperature", "Cel", false}, {"humidity", "%RH", false},
    {"pressure", "Pa", false},    {"noise_LAeq", "dB", false},   {"noise_LA_min", "dB", false},
    {"noise_LA_max", "dB", false}, {"co2_ppm", "ppm", false},    {"lat", "deg", false},
    {"lon", "deg", false},        {"height", "m", false},        {"signal", "dBm", true},
    {"samples", "", true},        {"min_micro", "us", true},     {"max_micro", "us", true},
    {"interval", "ms", true},     {"sampling_rate", "ms", true},
};

// Exact match first ("min_micro"), then without the sensor prefix ("BME280_temperature"). The
// firmware statistics are node-level and never carry a sensor prefix: "XYZ_signal" is some
// sensor's own quantity, not the WiFi RSSI, so it gets no unit rather than a wrong one.
const ScType* sc_type(std::string_view value_type) {
  for (const auto& t : kScTypes)
    if (t.value_type == value_type) return &t;
  auto us = value_type.find('_');
  if (us == std::string_view::npos) return nullptr;
  auto rest = value_type.substr(us + 1);
  for (const auto& t : kScTypes)
    if (t.value_type == rest && !t.diagnostic) return &t;
  return nullptr;
}

// ---- shared per-object finishing -------------------------------------------------------------

// Where one object's readings stand before they are appended to the output.
struct ObjectTime {
  std::optional<TimeNs> observed;
  std::optional<std::string> bad_text;  // a time member that could not be read
};

ObjectTime read_time(simdjson::dom::element e) {
  ObjectTime t;
  t.observed = adapters::json_time(e);
  if (!t.observed) {
    std::string_view s;
    std::string raw;
    if (!e.get(s)) raw = std::string(s);
    else raw = simdjson::minify(e);
    if (raw.size() > kMaxBadTimeTagBytes) raw.resize(kMaxBadTimeTagBytes);
    t.bad_text = std::move(raw);
  }
  return t;
}

bool valid_device(std::string_view d) {
  if (d.empty() || d.size() > kMaxDeviceBytes) return false;
  return std::none_of(d.begin(), d.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

class Decoder {
 public:
  Decoder(const DecodeInput& in, const Options& o, Stats* stats) : in_(in), o_(o), stats_(stats) {}

  DecodeOutput run() {
    auto body = in_.payload;
    if (body.size() > o_.max_body_bytes) {
      error(reject("too_large", "body of " + std::to_string(body.size()) + " bytes exceeds max_body_bytes " +
                                    std::to_string(o_.max_body_bytes)));
      return std::move(out_);
    }
    std::string_view text(reinterpret_cast<const char*>(body.data()), body.size());
    if (trim(text).empty()) {
      error(reject("empty", "empty body"));
      return std::move(out_);
    }
    Format f = o_.format;
    if (f == Format::auto_detect) {
      auto mt = media_type(in_);
      if (mt == "application/senml+json" || mt == "application/senml+cbor") f = Format::senml;
    }
    if (f == Format::senml) return run_senml();
    run_json(text, f);
    return std::move(out_);
  }

 private:
  DecodeOutput run_senml() {
    senml::CodecOptions so;
    so.max_payload_bytes = o_.max_body_bytes;
    so.max_records = o_.max_readings;
    so.max_cbor_items = std::max<std::size_t>(so.max_cbor_items, o_.max_readings * 40);
    auto r = senml::decode(in_.payload, in_.now, so);
    if (!r) {
      error(reject(r.error().code, "SenML: " + r.error().message));
    } else if (r->size() > o_.max_readings) {
      error(too_many());
    } else {
      out_.readings = std::move(*r);
    }
    return std::move(out_);
  }

  void run_json(std::string_view text, Format f) {
    thread_local simdjson::dom::parser parser;
    // The parse itself refuses nesting beyond max_depth + 1 (a 10k-deep body costs nothing);
    // the flattener reports the same limit with a clearer message for what gets through.
    auto depth = static_cast<std::size_t>(o_.max_depth) + 1;
    if (parser.max_depth() != depth || parser.capacity() < text.size()) {
      if (auto e = parser.allocate(std::max<std::size_t>(text.size(), 4096), depth)) {
        error(reject("json", std::string("cannot parse: ") + simdjson::error_message(e)));
        return;
      }
    }
    simdjson::dom::element doc;
    if (auto e = parser.parse(text.data(), text.size(), true).get(doc)) {
      if (e == simdjson::DEPTH_ERROR)
        error(reject("depth", "JSON nested deeper than " + std::to_string(o_.max_depth)));
      else
        error(reject("json", std::string("invalid JSON: ") + simdjson::error_message(e)));
      return;
    }
    simdjson::dom::array arr;
    if (!doc.get(arr)) {
      std::size_t i = 0;
      for (auto item : arr) {
        prefix_ = "[" + std::to_string(i++) + "] ";
        if (!object(item, f)) break;
      }
    } else {
      object(doc, f);
    }
  }

  // Decodes one top-level object; false stops the whole body (a limit was hit).
  bool object(simdjson::dom::element e, Format f) {
    simdjson::dom::object obj;
    if (e.get(obj)) {
      error(reject("not_object", prefix_ + "expected a JSON object, got " + type_name(e)));
      return true;
    }
    simdjson::dom::element sdv;
    bool has_sdv = !obj["sensordatavalues"].get(sdv);
    if (f == Format::sensor_community || (f == Format::auto_detect && has_sdv)) return sensor_community(obj);
    return generic(obj);
  }

  // ---- sensor.community ----

  bool sensor_community(simdjson::dom::object obj) {
    std::string device;
    if (auto h = header(in_, {"x-sensor", "sensor", "node"})) {
      device = std::string(*h);
    } else {
      simdjson::dom::element id;
      if (!obj["esp8266id"].get(id)) {
        std::string_view s;
        std::int64_t n;
        if (!id.get(s) && !trim(s).empty()) device = "esp8266-" + std::string(trim(s));
        else if (!id.get(n)) device = "esp8266-" + std::to_string(n);
      }
    }
    if (device.empty()) {
      error(reject("no_device", prefix_ + "no X-Sensor header and no esp8266id in the body"));
      return true;
    }
    if (!valid_device(device)) {
      error(reject("bad_device", prefix_ + "device id must be 1.." + std::to_string(kMaxDeviceBytes) +
                                     " bytes without control characters"));
      return true;
    }
    std::string metric_prefix;
    if (auto pin = header(in_, {"x-pin", "pin"})) {
      if (pin->size() > 3 || !std::all_of(pin->begin(), pin->end(), is_digit)) {
        error(reject("pin", prefix_ + "X-PIN must be a small number, got '" + std::string(pin->substr(0, 16)) + "'"));
        return true;
      }
      if (*pin != "0") metric_prefix = "pin" + std::string(*pin) + "_";
    }
    simdjson::dom::array values;
    if (obj["sensordatavalues"].get(values)) {
      error(reject("sensordatavalues", prefix_ + "sensordatavalues is missing or not an array"));
      return true;
    }

    std::vector<Reading> rs;
    std::size_t i = 0;
    for (auto item : values) {
      auto where = prefix_ + "sensordatavalues[" + std::to_string(i++) + "]";
      simdjson::dom::object entry;
      std::string_view value_type;
      simdjson::dom::element value;
      if (item.get(entry) || entry["value_type"].get(value_type) || trim(value_type).empty() ||
          entry["value"].get(value)) {
        error(reject("record", where + ": expected {\"value_type\": \"...\", \"value\": ...}"));
        continue;
      }
      if (value.is_null()) continue;
      if (!sc_value(rs, where, metric_prefix, value_type, value)) return false;
    }
    simdjson::dom::element rate;
    if (!obj["sampling_rate"].get(rate) && !rate.is_null())
      if (!sc_value(rs, prefix_ + "sampling_rate", "", "sampling_rate", rate)) return false;

    Tags common;
    std::string_view sw;
    if (!obj["software_version"].get(sw) && !trim(sw).empty())
      common.emplace_back("software_version", std::string(trim(sw)));
    ObjectTime t;
    simdjson::dom::element ts;
    if (!obj["timestamp"].get(ts) && !ts.is_null()) t = read_time(ts);
    finish(rs, device, t, common);
    return true;
  }

  // One sensordatavalues entry (or sampling_rate); false when the request is over its limit.
  bool sc_value(std::vector<Reading>& rs, const std::string& where, const std::string& metric_prefix,
                std::string_view value_type, simdjson::dom::element value) {
    const ScType* type = sc_type(value_type);
    Reading r;
    r.metric = metric_prefix + std::string(value_type);
    if (type) r.unit = std::string(type->unit);
    using T = simdjson::dom::element_type;
    switch (value.type()) {
      case T::INT64: r.value = std::int64_t(value.get_int64().value_unsafe()); break;
      case T::UINT64: r.value = std::uint64_t(value.get_uint64().value_unsafe()); break;
      case T::DOUBLE: r.value = double(value.get_double().value_unsafe()); break;
      case T::STRING: {
        std::string_view s = value.get_string().value_unsafe();
        if (auto q = parse_quantity(s)) {
          r.value = std::move(q->value);
          if (!q->unit.empty()) r.unit = std::move(q->unit);
        } else if (type) {
          error(reject("value", where + " (" + std::string(value_type) + "): \"" + std::string(s.substr(0, 32)) +
                                    "\" is not a number"));
          return true;
        } else {
          r.value = std::string(s);
        }
        break;
      }
      default:
        if (type || value.type() != T::BOOL) {
          error(reject("value", where + " (" + std::string(value_type) + "): expected a number or a string, got " +
                                    type_name(value)));
          return true;
        }
        r.value = bool(value.get_bool().value_unsafe());
        break;
    }
    if (type && type->diagnostic) r.tags.emplace_back("role", "diagnostic");
    if (count_ + rs.size() >= o_.max_readings) {
      error(too_many());
      return false;
    }
    rs.push_back(std::move(r));
    return true;
  }

  // ---- generic JSON ----

  bool generic(simdjson::dom::object obj) {
    std::size_t budget = o_.max_readings - count_;
    adapters::JsonFlattener w(budget, o_.max_depth, "request");
    std::string device;
    bool bad_device = false;
    ObjectTime t;
    for (auto field : obj) {
      if (!o_.time_field.empty() && field.key == o_.time_field) {
        if (!field.value.is_null()) t = read_time(field.value);
        continue;
      }
      if (!o_.device_field.empty() && field.key == o_.device_field) {
        std::string_view s;
        std::int64_t n;
        std::uint64_t u;
        if (!field.value.get(s)) device = std::string(trim(s));
        else if (!field.value.get(n)) device = std::to_string(n);
        else if (!field.value.get(u)) device = std::to_string(u);
        else bad_device = !field.value.is_null();
        continue;
      }
      w.walk(field.value, std::string(field.key), 1);
      if (w.error) break;
    }
    if (w.error) {
      // Limits: the request as a whole is refused rather than stored in part.
      if (w.error->code == "too_many_values") error(too_many());
      else error(reject(w.error->code, prefix_ + w.error->message));
      return false;
    }
    if (device.empty() && !bad_device)
      if (auto h = header(in_, {"x-device-id"})) device = std::string(*h);
    if (bad_device || (!device.empty() && !valid_device(device))) {
      error(reject("bad_device", prefix_ + "device id must be a string or integer of 1.." +
                                     std::to_string(kMaxDeviceBytes) + " bytes without control characters"));
      return true;
    }
    if (device.empty()) {
      error(reject("no_device", prefix_ + "no \"" + o_.device_field + "\" member and no X-Device-Id header"));
      return true;
    }
    if (w.out.empty()) {
      error(reject("no_values", prefix_ + "object has no measurement values"));
      return true;
    }
    if (o_.numeric_strings)
      for (auto& r : w.out)
        if (auto* s = std::get_if<std::string>(&r.value))
          if (auto q = parse_quantity(*s)) {
            r.value = std::move(q->value);
            r.unit = std::move(q->unit);
          }
    finish(w.out, device, t, {});
    return true;
  }

  // ---- common ----

  void finish(std::vector<Reading>& rs, const std::string& device, const ObjectTime& t, const Tags& common) {
    if (t.bad_text && stats_) ++stats_->time_fallbacks;
    for (auto& r : rs) {
      r.device = device;
      r.received = in_.now;
      if (t.observed) {
        r.observed = *t.observed;
      } else {
        r.observed = in_.now;
        r.quality |= quality::kTimeFromGateway;
        if (t.bad_text) r.tags.emplace_back("bad_time", *t.bad_text);
      }
      r.tags.insert(r.tags.end(), common.begin(), common.end());
      std::sort(r.tags.begin(), r.tags.end());
    }
    count_ += rs.size();
    out_.readings.insert(out_.readings.end(), std::make_move_iterator(rs.begin()), std::make_move_iterator(rs.end()));
  }

  Error too_many() {
    return reject("too_many_values", "more than " + std::to_string(o_.max_readings) + " values in one request");
  }

  // Limits drop what the body produced so far: the request is refused as a whole. Past
  // kMaxErrors the rest are only counted (one last error says how many), so a body of bad
  // entries cannot make the answer bigger than the limits allow.
  void error(Error e) {
    if (e.code == "http_push.too_many_values" || e.code == "http_push.depth") out_.readings.clear();
    if (out_.errors.size() < kMaxErrors) {
      out_.errors.push_back(std::move(e));
      return;
    }
    if (out_.errors.size() == kMaxErrors) out_.errors.push_back(reject("more_errors", ""));
    out_.errors.back().message = std::to_string(++suppressed_) + " more errors not listed";
  }

  static std::string type_name(simdjson::dom::element e) {
    using T = simdjson::dom::element_type;
    switch (e.type()) {
      case T::ARRAY: return "an array";
      case T::OBJECT: return "an object";
      case T::INT64:
      case T::UINT64:
      case T::DOUBLE: return "a number";
      case T::STRING: return "a string";
      case T::BOOL: return "a boolean";
      case T::NULL_VALUE: return "null";
    }
    return "?";
  }

  const DecodeInput& in_;
  const Options& o_;
  Stats* stats_;
  DecodeOutput out_;
  std::string prefix_;     // "[i] " inside a top-level array
  std::size_t count_ = 0;  // readings accepted so far
  std::size_t suppressed_ = 0;
};

}  // namespace

std::optional<Format> parse_format(std::string_view s) {
  if (s == "auto") return Format::auto_detect;
  if (s == "sensor_community") return Format::sensor_community;
  if (s == "json") return Format::json;
  if (s == "senml") return Format::senml;
  return std::nullopt;
}

std::string_view format_name(Format f) {
  switch (f) {
    case Format::auto_detect: return "auto";
    case Format::sensor_community: return "sensor_community";
    case Format::json: return "json";
    case Format::senml: return "senml";
  }
  return "?";
}

DecodeOutput decode(const DecodeInput& in, const Options& opts, Stats* stats) {
  return Decoder(in, opts, stats).run();
}

std::optional<Quantity> parse_quantity(std::string_view text) {
  auto s = trim(text);
  std::size_t p = 0;
  bool negative = false;
  if (p < s.size() && (s[p] == '-' || s[p] == '+')) negative = s[p++] == '-';
  const std::size_t num_start = p;
  if (p >= s.size() || !is_digit(s[p])) return std::nullopt;
  if (s[p] == '0') {
    ++p;
    if (p < s.size() && is_digit(s[p])) return std::nullopt;  // "007" is an id, not a number
  } else {
    while (p < s.size() && is_digit(s[p])) ++p;
  }
  bool integer = true;
  if (p < s.size() && s[p] == '.') {
    ++p;
    if (p >= s.size() || !is_digit(s[p])) return std::nullopt;
    while (p < s.size() && is_digit(s[p])) ++p;
    integer = false;
  }
  if (p < s.size() && (s[p] == 'e' || s[p] == 'E')) {
    std::size_t q = p + 1;
    if (q < s.size() && (s[q] == '-' || s[q] == '+')) ++q;
    if (q < s.size() && is_digit(s[q])) {  // else the 'e' starts the unit text
      while (q < s.size() && is_digit(s[q])) ++q;
      p = q;
      integer = false;
    }
  }
  const std::size_t num_end = p;

  std::string_view unit;
  if (p < s.size()) {
    bool spaced = is_space(s[p]);
    while (p < s.size() && is_space(s[p])) ++p;
    unit = s.substr(p);
    char c = unit.front();
    bool starts_ok = spaced ? (is_alpha(c) || c == '%' || c == '[' || c == '{' || is_non_ascii(c))
                            : (c == '%' || is_non_ascii(c));
    if (!starts_ok || unit.size() > kMaxUnitBytes || !std::all_of(unit.begin(), unit.end(), unit_char))
      return std::nullopt;
  }

  Quantity q;
  q.unit = normalise_unit(unit);
  // from_chars takes no '+'; the sign is applied by parsing from the '-' itself.
  const char* first = s.data() + (negative ? num_start - 1 : num_start);
  const char* last = s.data() + num_end;
  if (integer) {
    std::int64_t i;
    auto r = std::from_chars(first, last, i);
    if (r.ec == std::errc() && r.ptr == last) {
      q.value = i;
      return q;
    }
    if (!negative) {
      std::uint64_t u;
      auto ru = std::from_chars(first, last, u);
      if (ru.ec == std::errc() && ru.ptr == last) {
        q.value = u;
        return q;
      }
    }
  }
  double d;
  auto r = std::from_chars(first, last, d);
  if (r.ec != std::errc() || r.ptr != last) return std::nullopt;  // out of range ("1e999")
  q.value = d;
  return q;
}

}  // namespace cg::http_push
