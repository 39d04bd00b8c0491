// `http_push`: devices and gateways that POST their data to the gateway's ingest listener —
// airRohr / sensor.community nodes ("custom API"), generic JSON pushes, SenML over HTTP.
//
// The adapter only registers its route (adapters/common/ingest_adapter: http_path,
// http_token_file); the transport answers (auth, 413/415/429/503, 400 with the decode errors, 200
// after the fsync'd commit). The decode function is the pure codec plus one counter.
#include <cctype>
#include <string>
#include <vector>

#include "adapter_api/adapter.hpp"
#include "common/ingest_adapter.hpp"
#include "http_push/http_push_codec.hpp"

namespace cg {

namespace {

constexpr std::int64_t kMinBody = 16;
constexpr std::int64_t kMaxBody = 64 * 1024 * 1024;
constexpr std::int64_t kMaxReadingsLimit = 1'000'000;

constexpr ConfigKey kKeys[] = {
    {"http_path", KeyType::string, "", true,
     "URL path of the POST route on the ingest listener, e.g. \"/ingest/sensor-community\"; unique per listener."},
    {"http_token_file", KeyType::string, "\"\"", false,
     "File holding the token clients must send as \"Authorization: Bearer <token>\" (read at startup); "
     "\"\": no token."},
    {"format", KeyType::string, "\"auto\"", false,
     "Body format: \"auto\" (SenML by Content-Type, sensor.community when the object has sensordatavalues, "
     "else generic JSON), \"sensor_community\", \"json\" or \"senml\"."},
    {"device_field", KeyType::string, "\"device\"", false,
     "Generic JSON: member naming the device (else the X-Device-Id header)."},
    {"time_field", KeyType::string, "\"ts\"", false,
     "Generic JSON: member holding the observation time (RFC 3339 or epoch s/ms/us/ns); absent = receive time, flagged."},
    {"numeric_strings", KeyType::boolean, "true", false,
     "Generic JSON: string members that are numbers, optionally with a unit (\"-59 dBm\"), become numbers."},
    {"content_types", KeyType::string_list, "[]", false,
     "Accepted media types (others get 415); empty: those of the format (application/json and/or "
     "application/senml+json, application/senml+cbor)."},
    {"max_body_bytes", KeyType::integer, "1048576", false, "Larger bodies are refused with 413."},
    {"max_readings", KeyType::integer, "10000", false,
     "A request with more values is refused as a whole (400, nothing stored)."},
};

struct Settings {
  http_push::Options codec;
  std::vector<std::string> content_types;
};

// Codec options from the keys that make() and make_decoder() share.
Result<Settings> read_settings(const ConfigView& cfg) {
  // Keys absent from `cfg` (an offline decoder built without config) keep the codec's defaults,
  // which are the table's.
  Settings s;
  if (cfg.has("format")) {
    auto fmt = cfg.get_string("format");
    auto f = http_push::parse_format(fmt);
    if (!f)
      return fail(Error::fatal("config", "format must be \"auto\", \"sensor_community\", \"json\" or \"senml\", not \"" +
                                             fmt + "\""));
    s.codec.format = *f;
  }
  if (cfg.has("device_field")) s.codec.device_field = cfg.get_string("device_field");
  if (cfg.has("time_field")) s.codec.time_field = cfg.get_string("time_field");
  if (cfg.has("numeric_strings")) s.codec.numeric_strings = cfg.get_bool("numeric_strings");
  if (cfg.has("max_body_bytes")) {
    auto maxb = cfg.get_int("max_body_bytes");
    if (maxb < kMinBody || maxb > kMaxBody)
      return fail(Error::fatal("config", "max_body_bytes must be " + std::to_string(kMinBody) + ".." +
                                             std::to_string(kMaxBody)));
    s.codec.max_body_bytes = static_cast<std::size_t>(maxb);
  }
  if (cfg.has("max_readings")) {
    auto maxr = cfg.get_int("max_readings");
    if (maxr < 1 || maxr > kMaxReadingsLimit)
      return fail(Error::fatal("config", "max_readings must be 1.." + std::to_string(kMaxReadingsLimit)));
    s.codec.max_readings = static_cast<std::size_t>(maxr);
  }

  s.content_types = cfg.get_list("content_types");
  for (auto& t : s.content_types) {
    for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto slash = t.find('/');
    if (slash == 0 || slash == std::string::npos || slash + 1 == t.size() ||
        t.find_first_of("; \t,") != std::string::npos)
      return fail(Error::fatal("config", "content_types: \"" + t + "\" is not a media type like \"application/json\" (no parameters)"));
  }
  if (s.content_types.empty()) {
    using F = http_push::Format;
    auto f = s.codec.format;
    if (f != F::senml) s.content_types.emplace_back("application/json");
    if (f == F::senml || f == F::auto_detect) {
      s.content_types.emplace_back("application/senml+json");
      s.content_types.emplace_back("application/senml+cbor");
    }
  }
  return s;
}

Result<std::unique_ptr<Adapter>> make(const std::string&, const ConfigView& cfg) {
  auto s = read_settings(cfg);
  if (!s) return fail(s.error());
  // The route (path check, token file) is read like every other ingest adapter's.
  adapters::BindingDefaults defaults;
  defaults.content_types = s->content_types;
  defaults.max_body = s->codec.max_body_bytes;
  auto bindings = adapters::read_bindings(cfg, defaults);
  if (!bindings) return fail(bindings.error());
  return std::unique_ptr<Adapter>(std::make_unique<adapters::IngestAdapter>(
      std::move(*bindings), [opts = std::move(s->codec)](AdapterContext& ctx) -> adapters::CodecFn {
        Counter* time_fallbacks = &ctx.metrics().counter(
            "http_push_time_fallback_total", {{"adapter", std::string(ctx.instance_id())}},
            "Pushed objects whose time member could not be read (receive time used, tag bad_time)");
        return [opts, time_fallbacks](const DecodeInput& in) {
          http_push::Stats stats;
          auto out = http_push::decode(in, opts, &stats);
          if (stats.time_fallbacks) time_fallbacks->inc(stats.time_fallbacks);
          return out;
        };
      }));
}

// Offline decoding: the codec with the configured options (no route, no token).
class HttpPushDecode final : public DecodeSession {
 public:
  explicit HttpPushDecode(http_push::Options o) : o_(std::move(o)) {}
  DecodeOutput decode(const DecodeInput& in) override { return http_push::decode(in, o_); }

 private:
  http_push::Options o_;
};

Result<std::unique_ptr<DecodeSession>> make_decoder(const ConfigView& cfg) {
  auto s = read_settings(cfg);
  if (!s) return fail(s.error());
  return std::unique_ptr<DecodeSession>(std::make_unique<HttpPushDecode>(std::move(s->codec)));
}

}  // namespace

const AdapterDescriptor& http_push_descriptor() {
  static const AdapterDescriptor d{"http_push",
                                   "HTTP POST on the ingest listener: sensor.community (airRohr) nodes, generic JSON, SenML",
                                   kKeys, make, make_decoder};
  return d;
}

}  // namespace cg
