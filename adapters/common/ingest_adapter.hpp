#pragma once
// An adapter whose codec is one pure function, served over any of the ingest transports its
// instance configures (DESIGN §3): MQTT subscriptions, a POST route on the ingest listener, and
// UDP/TCP line listeners. The same codec serves every transport and `citygate decode`, so a
// payload decodes the same whichever way it arrives.
//
// Keys read when the kind declares them (each optional, at least one transport configured):
//   broker, topics, qos          MQTT (broker "" = no MQTT)
//   http_path, http_token_file   ingest route (path "" = none; the token file holds the bearer token)
//   udp_listen, tcp_listen       "HOST:PORT", ":PORT" or "PORT" (host then 127.0.0.1; "" = none)
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "adapter_api/adapter.hpp"
#include "common/mqtt_binding.hpp"

namespace cg::adapters {

using CodecFn = std::function<DecodeOutput(const DecodeInput&)>;

// Wraps a codec that rejects its input as a whole.
CodecFn whole_input_codec(std::function<Result<std::vector<Reading>>(const DecodeInput&)> fn);

struct IngestBindings {
  std::optional<MqttBinding> mqtt;
  std::optional<HttpIngestRoute> http;
  std::optional<StreamListen> udp;
  std::optional<StreamListen> tcp;
};

struct BindingDefaults {
  std::vector<std::string> topics;         // when `topics` is empty
  std::vector<std::string> content_types;  // of the HTTP route
  std::size_t max_body = 1024 * 1024;      // of the HTTP route
  std::size_t max_line = 64 * 1024;        // of the stream listeners
};

// Errors are Disposition::fatal config errors (file unreadable, bad address, no transport).
Result<IngestBindings> read_bindings(const ConfigView& cfg, const BindingDefaults& defaults);

// The raw value of `name` in an HTTP query string ("event=up&x=1"), not percent-decoded: for
// plain tokens such as ChirpStack's `event` or InfluxDB's `precision`.
std::optional<std::string_view> query_param(std::string_view query, std::string_view name);

// "HOST:PORT", "[v6]:PORT", ":PORT" or "PORT"; an omitted host is loopback.
Result<StreamListen> parse_stream_listen(std::string_view text, StreamListen::Protocol p);

class IngestAdapter final : public Adapter {
 public:
  // Built in start(), so the codec can take counters and the clock from the context.
  using CodecFactory = std::function<CodecFn(AdapterContext&)>;
  IngestAdapter(IngestBindings b, CodecFactory f) : b_(std::move(b)), make_codec_(std::move(f)) {}
  Result<void> start(AdapterContext& ctx) override;
  void stop() override {}

 private:
  IngestBindings b_;
  CodecFactory make_codec_;
};

}  // namespace cg::adapters
