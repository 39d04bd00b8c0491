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
};

class Adapter {
 public:
  virtual ~Adapter() = default;
  virtual Result<void> start(AdapterContext& ctx) = 0;
  virtual void stop() = 0;
};

// Offline decoding (`citygate decode`): the adapter's codec without a running gateway.
struct DecodeInput {
  std::string_view topic;                   // MQTT topic, when the payload came with one
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
  DecodeOutput decode(const DecodeInput& in) override {
    DecodeOutput out;
    if (auto r = fn_(in)) out.readings = std::move(*r);
    else out.errors.push_back(r.error());
    return out;
  }

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
