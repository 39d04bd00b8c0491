// `senml`: RFC 8428 SenML packs (JSON or CBOR) over MQTT; devices name themselves through bn.
#include <algorithm>

#include "adapter_api/adapter.hpp"
#include "common/ingest_adapter.hpp"
#include "senml/senml_codec.hpp"

namespace cg {

namespace {

constexpr ConfigKey kKeys[] = {
    {"broker", KeyType::string, "\"\"", false, "Id of the [[brokers]] entry to subscribe on; \"\": no MQTT."},
    {"topics", KeyType::string_list, "[]", false,
     "Plain MQTT topic filters ('+' and '#' allowed) carrying SenML packs, JSON or CBOR, e.g. \"senml/#\"."},
    {"qos", KeyType::integer, "1", false, "Subscription QoS (0 or 1). QoS 1 is acknowledged only after commit."},
    {"http_path", KeyType::string, "\"\"", false,
     "POST route on the ingest listener for the SenML packs (application/senml+json, application/senml+cbor, or the plain json/cbor types), e.g. \"/ingest/senml\". \"\": none."},
    {"http_token_file", KeyType::string, "\"\"", false,
     "File holding the bearer token the HTTP route requires (`Authorization: Bearer <token>`); \"\": no token."},
    {"max_payload_bytes", KeyType::integer, "65536", false,
     "Larger packs are rejected (and kept in rejected_payloads)."},
    {"max_records", KeyType::integer, "1000", false, "Packs with more records are rejected as a whole."},
};

Result<std::unique_ptr<Adapter>> make(const std::string&, const ConfigView& cfg) {
  senml::CodecOptions o;
  auto maxp = cfg.get_int("max_payload_bytes");
  if (maxp < 16 || maxp > 16 * 1024 * 1024) return fail(Error::fatal("config", "max_payload_bytes must be 16..16777216"));
  o.max_payload_bytes = static_cast<std::size_t>(maxp);
  auto maxr = cfg.get_int("max_records");
  if (maxr < 1 || maxr > 100000) return fail(Error::fatal("config", "max_records must be 1..100000"));
  o.max_records = static_cast<std::size_t>(maxr);
  o.max_cbor_items = std::max<std::size_t>(o.max_cbor_items, o.max_records * 40);
  adapters::BindingDefaults defaults;
  defaults.content_types = {"application/senml+json", "application/senml+cbor", "application/json", "application/cbor"};
  defaults.max_body = o.max_payload_bytes;
  auto binding = adapters::read_bindings(cfg, defaults);
  if (!binding) return fail(binding.error());
  return std::unique_ptr<Adapter>(std::make_unique<adapters::IngestAdapter>(
      std::move(*binding), [o](AdapterContext&) -> adapters::CodecFn {
        return adapters::whole_input_codec([o](const DecodeInput& in) { return senml::decode(in.payload, in.now, o); });
      }));
}

Result<std::unique_ptr<DecodeSession>> make_decoder(const ConfigView& cfg) {
  senml::CodecOptions o;
  if (cfg.has("max_payload_bytes")) o.max_payload_bytes = static_cast<std::size_t>(cfg.get_int("max_payload_bytes"));
  if (cfg.has("max_records")) o.max_records = static_cast<std::size_t>(cfg.get_int("max_records"));
  o.max_cbor_items = std::max<std::size_t>(o.max_cbor_items, o.max_records * 40);
  return std::unique_ptr<DecodeSession>(std::make_unique<FunctionDecodeSession>(
      [o](const DecodeInput& in) { return senml::decode(in.payload, in.now, o); }));
}

}  // namespace

const AdapterDescriptor& senml_descriptor() {
  static const AdapterDescriptor d{"senml", "RFC 8428 SenML packs (JSON or CBOR) over MQTT or HTTP POST; device from bn", kKeys,
                                   make, make_decoder};
  return d;
}

}  // namespace cg
