#pragma once
// The only API adapters see (DESIGN §2): no Beast, Paho, sqlite3 or protobuf here.
//
// Lifecycle: the runtime constructs an adapter from its validated ConfigView, calls start() once
// on the adapter's strand, and stop() once before destruction. Every callback into the adapter
// (timers, posted work, transport deliveries) is serialised: an adapter never needs a mutex for
// its own state. Adapters never block (DESIGN §10.4).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "adapter_api/config_view.hpp"
#include "adapter_api/sink.hpp"
#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/result.hpp"

namespace cg {

inline constexpr int kAdapterApiVersion = 1;

class AdapterLog {
 public:
  virtual ~AdapterLog() = default;
  virtual void debug(std::string_view msg) = 0;
  virtual void info(std::string_view msg) = 0;
  virtual void warn(std::string_view msg) = 0;
  virtual void error(std::string_view msg) = 0;
};

// One MQTT message as delivered to an adapter. Views are valid only during the handler call.
struct MqttMessage {
  std::string_view topic;
  std::span<const std::uint8_t> payload;
  int qos = 0;
  bool retained = false;
  bool duplicate = false;
};

// Decodes one message into readings. Runs on the transport's delivery thread, must be quick and
// must not touch adapter state shared with its strand (codecs are pure). An error means the
// payload is bad: the transport counts it, keeps the payload in rejected_payloads and
// acknowledges it (redelivering a bad payload cannot fix it).
using MqttDecodeFn = std::function<Result<std::vector<Reading>>(const MqttMessage&)>;

// One input to a codec: an MQTT message, an HTTP ingest body, a datagram or line batch, or a file
// given to `citygate decode` (the adapter's codec without a running gateway).
struct DecodeInput {
  std::string_view topic;                   // MQTT topic, or the HTTP path, when there is one
  std::string_view query;                   // HTTP query string (raw, after '?'), when there is one
  std::span<const std::uint8_t> payload;    // message payload or HTTP request body
  std::vector<std::pair<std::string, std::string>> headers;  // HTTP headers, names lower-case
  TimeNs now{};                             // the receive time to resolve relative times against
  std::string precision;                    // line protocol timestamp precision, when given
  std::string profile;                      // device profile name, when given
};

struct DecodeOutput {
  std::vector<Reading> readings;  // what the gateway would store
  std::vector<Error> errors;      // every invalid record/line/payload (valid ones are still kept)
};

// A codec's all-or-nothing answer as a DecodeOutput (a rejected input is one error, no readings).
inline DecodeOutput to_output(Result<std::vector<Reading>> r) {
  DecodeOutput out;
  if (r) out.readings = std::move(*r);
  else out.errors.push_back(std::move(r.error()));
  return out;
}

// A retained presence message with its will (Sparkplug host STATE).
struct MqttPresence {
  std::string topic;
  // Builds the payload for one connection: online=true the birth, false the will. Both are built
  // at each connect with the same timestamp (Sparkplug 3.0 wants the will's to equal the birth's).
  std::function<std::vector<std::uint8_t>(bool online, std::int64_t connect_epoch_ms)> payload;
  int qos = 1;
  bool retain = true;
};

// Decodes one ingest input (an HTTP body, a datagram, a line batch). Pure and quick; runs on an
// io thread.
using IngestDecodeFn = std::function<DecodeOutput(const DecodeInput&)>;

struct HttpIngestRoute {
  std::string path;                        // e.g. "/ingest/sensor-community"; unique per listener
  std::vector<std::string> content_types;  // accepted media types (no parameters); empty: any
  std::string bearer_token;                // required "Authorization: Bearer <token>"; empty: none
  std::size_t max_body = 1024 * 1024;
};

struct StreamListen {
  enum class Protocol { udp, tcp } protocol = Protocol::udp;
  std::string host = "127.0.0.1";  // loopback unless the operator says otherwise
  std::uint16_t port = 0;
  std::size_t max_line = 64 * 1024;
};

class AdapterContext {
 public:
  virtual ~AdapterContext() = default;
  virtual std::string_view instance_id() const = 0;
  virtual ReadingSink& sink() = 0;
  virtual const Clock& clock() const = 0;
  virtual Metrics& metrics() = 0;
  virtual AdapterLog& log() = 0;

  // Runs fn on this adapter's strand.
  virtual void post(std::function<void()> fn) = 0;
  // Runs fn on this adapter's strand after `delay`, unless stop() came first.
  virtual void schedule(std::chrono::steady_clock::duration delay, std::function<void()> fn) = 0;

  // Subscribes to `filter` on the configured broker `broker_id` (QoS 1 by default). The
  // transport commits the decoded readings before acknowledging the message (DESIGN §4) and
  // recognises redeliveries. Call from start() only.
  virtual Result<void> subscribe_mqtt(std::string_view broker_id, std::string filter, int qos,
                                      MqttDecodeFn decode) = 0;

  // Publishes on broker `broker_id` (Sparkplug NCMD rebirth requests, ...). Thread-safe, never
  // blocks: the message is handed to the client and sent when connected; an error means it was
  // not accepted (not connected, unknown broker), and the caller decides whether to retry.
  virtual Result<void> publish_mqtt(std::string_view broker_id, std::string topic,
                                    std::vector<std::uint8_t> payload, int qos, bool retain) = 0;

  // Declares this adapter's presence on `broker_id` (a Sparkplug host's STATE): the will is set
  // on the connection (the broker publishes it when the link dies) and the birth is published
  // after every (re)connect, once the subscriptions are in place. One presence per broker.
  // Call from start() only.
  virtual Result<void> set_mqtt_presence(std::string_view broker_id, MqttPresence presence) = 0;

  // Registers a POST route on the ingest listener. The transport answers: 401 without the
  // route's token, 415 for a content type not listed, 413 over max_body, 429 over the
  // instance's rate limit, 503 + Retry-After when the store throttles, 400 when `decode`
  // reports errors (readings it did produce are still committed; the body lists the errors
  // and the count accepted), and 200 {"accepted":N} only after the readings are committed
  // and fsync'd. `decode` runs on an io thread, must be quick and pure (the DecodeInput has the
  // body as payload, the path as topic, the lower-cased headers and the receive time).
  // Call from start() only.
  virtual Result<void> route_http(HttpIngestRoute route, IngestDecodeFn decode) = 0;

  // Listens for line-oriented datagrams (UDP: one datagram = one input) or streams (TCP: input
  // is split at newlines, up to max_line bytes a line) and commits what `decode` yields.
  // Neither protocol has an application acknowledgement: UDP readings are committed (counted
  // when dropped); a TCP connection stops being read while the store throttles.
  // Call from start() only; the listener is bound before start() returns to the runtime.
  virtual Result<void> listen_stream(StreamListen listen, IngestDecodeFn decode) = 0;

  // Runs `fn` on the runtime's bounded worker pool: the one place blocking libraries (libmodbus)
  // may block (DESIGN §3). Jobs with the same `key` never run at the same time and run in the
  // order given (one context per device or bus). `fn` must not touch adapter state: it hands its
  // result back with post(). Jobs of a stopped adapter are skipped.
  virtual void run_blocking(std::string key, std::function<void()> fn) = 0;
};

class Adapter {
 public:
  virtual ~Adapter() = default;
  virtual Result<void> start(AdapterContext& ctx) = 0;
  virtual void stop() = 0;
};

// One decoding session: several inputs in order share state (a Sparkplug NBIRTH, then its NDATA).
class DecodeSession {
 public:
  virtual ~DecodeSession() = default;
  virtual DecodeOutput decode(const DecodeInput& in) = 0;
};

// A DecodeSession without state around a function: what most codecs need.
class FunctionDecodeSession final : public DecodeSession {
 public:
  using Fn = std::function<Result<std::vector<Reading>>(const DecodeInput&)>;
  explicit FunctionDecodeSession(Fn fn) : fn_(std::move(fn)) {}
  DecodeOutput decode(const DecodeInput& in) override { return to_output(fn_(in)); }

 private:
  Fn fn_;
};

// A DecodeSession without state around a codec that reports per-record errors itself.
class CodecDecodeSession final : public DecodeSession {
 public:
  using Fn = std::function<DecodeOutput(const DecodeInput&)>;
  explicit CodecDecodeSession(Fn fn) : fn_(std::move(fn)) {}
  DecodeOutput decode(const DecodeInput& in) override { return fn_(in); }

 private:
  Fn fn_;
};

struct AdapterDescriptor {
  std::string_view kind;
  std::string_view summary;
  std::span<const ConfigKey> keys;  // instance keys besides the common `kind` and `id`
  // Builds an instance from validated config; may reject cross-key inconsistencies.
  std::function<Result<std::unique_ptr<Adapter>>(const std::string& id, const ConfigView&)> make;
  // Builds an offline decoding session from the same settings (defaults when no config is
  // given; required keys may then be absent). Empty for adapters with no payload to decode.
  std::function<Result<std::unique_ptr<DecodeSession>>(const ConfigView&)> decoder = {};
};

// The generated registry (adapters/CMakeLists.txt lists the adapters explicitly).
std::span<const AdapterDescriptor> adapter_registry();
const AdapterDescriptor* find_adapter(std::string_view kind);

}  // namespace cg
