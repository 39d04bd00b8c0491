#include "app/sim_payloads.hpp"

#include <cstdio>

#include "core/json_writer.hpp"
#include "core/time_format.hpp"

namespace cg::sim {

namespace {

std::string hex16(std::uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

// DevEUIs, one per device; the two network servers get their own ranges (a device joins one).
std::string dev_eui(std::size_t i) { return hex16(0x70b3d57ed0050000ull + i); }
std::string cs_dev_eui(std::size_t i) { return hex16(0x24e1641092170000ull + i); }

std::string number(const Value& v) {
  std::string s;
  json::append_value(s, v);
  return s;
}

std::string members(const std::vector<Reading>& sample) {
  std::string o;
  for (const auto& r : sample) {
    o += ',';
    json::append_string(o, r.metric);
    o += ':' + number(r.value);
  }
  return o;
}

// "<tag>-<kind>-NNN" -> "<kind>"
std::string kind_of(std::string_view device) {
  auto a = device.find('-');
  auto b = device.rfind('-');
  return a == std::string_view::npos || b <= a ? std::string("sensor") : std::string(device.substr(a + 1, b - a - 1));
}

std::int64_t epoch_ms(TimeNs t) { return to_unix_ns(t) / 1'000'000; }

std::string fmt2(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

double as_double(const Value& v) {
  if (auto d = std::get_if<double>(&v)) return *d;
  if (auto i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  if (auto u = std::get_if<std::uint64_t>(&v)) return static_cast<double>(*u);
  return 0;
}

Message mqtt_json(std::string_view device, const std::vector<Reading>& s, TimeNs t) {
  Message m;
  m.topic = "city/" + kind_of(device) + "/" + std::string(device) + "/telemetry";
  m.content_type = "application/json";
  m.body = "{\"ts\":";
  json::append_string(m.body, format_rfc3339_ms(t));
  m.body += members(s) + "}";
  return m;
}

Message senml(std::string_view device, const std::vector<Reading>& s, TimeNs t) {
  Message m;
  m.topic = "senml/" + std::string(device);
  m.content_type = "application/senml+json";
  m.body = "[";
  bool first = true;
  for (const auto& r : s) {
    m.body += first ? "{\"bn\":" : ",{";
    if (first) {
      json::append_string(m.body, "urn:dev:sim:" + std::string(device) + ":");
      m.body += ",\"bt\":";
      json::append_double(m.body, static_cast<double>(epoch_ms(t)) / 1000.0);
      m.body += ',';
    }
    first = false;
    m.body += "\"n\":";
    json::append_string(m.body, r.metric);
    if (!r.unit.empty()) {
      m.body += ",\"u\":";
      json::append_string(m.body, r.unit);
    }
    m.body += ",\"v\":" + number(r.value) + "}";
  }
  m.body += "]";
  return m;
}

std::string radio_json(std::size_t i, std::uint32_t fcnt) {
  int rssi = -60 - static_cast<int>((i * 7 + fcnt * 3) % 55);
  double snr = 9.5 - static_cast<double>((i + fcnt) % 18);
  return std::to_string(rssi) + ",\"snr\":" + fmt2(snr);
}

Message ttn(std::size_t i, std::string_view device, const std::vector<Reading>& s, TimeNs t, DeviceState& st) {
  Message m;
  std::string eui = dev_eui(i);
  m.topic = "v3/city-sensors@ttn/devices/" + std::string(device) + "/up";
  m.content_type = "application/json";
  std::string when = format_rfc3339_ms(t);
  m.body = "{\"end_device_ids\":{\"device_id\":";
  json::append_string(m.body, device);
  m.body += ",\"application_ids\":{\"application_id\":\"city-sensors\"},\"dev_eui\":\"" + eui +
            "\"},\"received_at\":\"" + when + "\",\"uplink_message\":{\"f_port\":1,\"f_cnt\":" +
            std::to_string(st.fcnt) + ",\"decoded_payload\":{" + members(s).substr(1) +
            "},\"rx_metadata\":[{\"gateway_ids\":{\"gateway_id\":\"gw-market-square\"},\"time\":\"" + when +
            "\",\"rssi\":" + radio_json(i, st.fcnt) +
            "}],\"settings\":{\"data_rate\":{\"lora\":{\"bandwidth\":125000,\"spreading_factor\":7}},"
            "\"frequency\":\"868100000\"},\"received_at\":\"" + when + "\"}}";
  ++st.fcnt;
  return m;
}

Message chirpstack(std::size_t i, std::string_view device, const std::vector<Reading>& s, TimeNs t, DeviceState& st) {
  Message m;
  std::string eui = cs_dev_eui(i);
  const std::string app = "6a8c2f1e-1b7d-4a0e-9d55-3c1f0f2b7a10";
  m.topic = "application/" + app + "/device/" + eui + "/event/up";
  m.http_query = "?event=up";
  m.content_type = "application/json";
  m.body = "{\"deduplicationId\":\"" + hex16(0x5eed0000ull + i) + "-" + std::to_string(st.fcnt) + "\",\"time\":\"" +
           format_rfc3339_ms(t) + "\",\"deviceInfo\":{\"tenantName\":\"city\",\"applicationId\":\"" + app +
           "\",\"applicationName\":\"city-sensors\",\"deviceName\":";
  json::append_string(m.body, device);
  m.body += ",\"devEui\":\"" + eui + "\"},\"fCnt\":" + std::to_string(st.fcnt) + ",\"fPort\":1,\"object\":{" +
            members(s).substr(1) + "},\"rxInfo\":[{\"gatewayId\":\"0016c001f1500001\",\"rssi\":" + radio_json(i, st.fcnt) +
            "}],\"txInfo\":{\"frequency\":868300000,\"modulation\":{\"lora\":{\"bandwidth\":125000,"
            "\"spreadingFactor\":9,\"codeRate\":\"CR_4_5\"}}}}";
  ++st.fcnt;
  return m;
}

std::string lp_escape(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (c == ',' || c == ' ' || c == '=') o += '\\';
    o += c;
  }
  return o;
}

Message influx(std::string_view device, const std::vector<Reading>& s, TimeNs t) {
  Message m;
  m.topic = "telegraf/" + std::string(device);
  m.content_type = "text/plain; charset=utf-8";
  m.body = lp_escape(kind_of(device)) + ",device=" + lp_escape(device) + " ";
  bool first = true;
  for (const auto& r : s) {
    if (!first) m.body += ',';
    first = false;
    m.body += lp_escape(r.metric) + "=" + number(r.value);
    if (std::holds_alternative<std::int64_t>(r.value)) m.body += 'i';
  }
  m.body += " " + std::to_string(to_unix_ns(t)) + "\n";
  return m;
}

// An airrohr node in "custom API" mode: all values as strings, prefixed value types.
Message airrohr(std::size_t i, const std::vector<Reading>& s, DeviceState& st) {
  Message m;
  std::string chip = std::to_string(3300000 + i * 7919);
  m.topic = "";
  m.content_type = "application/json";
  m.headers = {{"X-Sensor", "esp8266-" + chip}, {"X-PIN", "1"}};
  auto value_of = [&](std::string_view metric) {
    for (const auto& r : s)
      if (r.metric == metric) return as_double(r.value);
    return 0.0;
  };
  std::string vals;
  auto add = [&](std::string_view type, std::string v) {
    if (!vals.empty()) vals += ',';
    vals += "{\"value_type\":\"" + std::string(type) + "\",\"value\":\"" + v + "\"}";
  };
  add("SDS_P1", fmt2(value_of("pm10")));
  add("SDS_P2", fmt2(value_of("pm2_5")));
  add("BME280_temperature", fmt2(value_of("temperature")));
  add("BME280_humidity", fmt2(value_of("humidity")));
  add("BME280_pressure", fmt2(101325 - 150 * static_cast<double>(i % 7)));
  add("samples", std::to_string(600000 + st.fcnt % 5000));
  add("signal", std::to_string(-50 - static_cast<int>(i % 40)));
  m.body = "{\"esp8266id\":\"" + chip + "\",\"software_version\":\"NRZ-2020-133\",\"sensordatavalues\":[" + vals + "]}";
  ++st.fcnt;
  return m;
}

}  // namespace

std::string device_id(Format f, std::string_view fleet_id) {
  std::string_view tag = "sim";
  switch (f) {
    case Format::mqtt_json: tag = "mqtt"; break;
    case Format::senml: tag = "senml"; break;
    case Format::influx_line: tag = "lp"; break;
    case Format::sparkplug_b: tag = "spb"; break;
    default: break;  // LoRaWAN and airRohr devices are named by EUIs and chip ids
  }
  auto dash = fleet_id.find('-');
  return std::string(tag) + std::string(dash == std::string_view::npos ? fleet_id : fleet_id.substr(dash));
}

std::optional<Format> parse_format(std::string_view k) {
  if (k == "mqtt_json") return Format::mqtt_json;
  if (k == "senml") return Format::senml;
  if (k == "lorawan_ttn") return Format::lorawan_ttn;
  if (k == "lorawan_chirpstack") return Format::lorawan_chirpstack;
  if (k == "influx_line") return Format::influx_line;
  if (k == "http_push" || k == "sensor_community") return Format::http_push;
  if (k == "sparkplug_b") return Format::sparkplug_b;
  return std::nullopt;
}

std::vector<Message> encode_sparkplug(std::size_t i, std::string_view device, const std::vector<Reading>& sample, TimeNs t,
                                      DeviceState& st);

std::vector<Message> encode(Format f, std::size_t i, std::string_view device, const std::vector<Reading>& sample, TimeNs t,
                            DeviceState& st) {
  switch (f) {
    case Format::mqtt_json: return {mqtt_json(device, sample, t)};
    case Format::senml: return {senml(device, sample, t)};
    case Format::lorawan_ttn: return {ttn(i, device, sample, t, st)};
    case Format::lorawan_chirpstack: return {chirpstack(i, device, sample, t, st)};
    case Format::influx_line: return {influx(device, sample, t)};
    case Format::http_push: return {airrohr(i, sample, st)};
    case Format::sparkplug_b: return encode_sparkplug(i, device, sample, t, st);
  }
  return {};
}

}  // namespace cg::sim
