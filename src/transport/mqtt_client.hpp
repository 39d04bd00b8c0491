#pragma once
// One MQTT connection per configured broker, shared by every adapter subscribed on it
// (DESIGN §3). No Paho headers here.
//
// Delivery contract (DESIGN §4): for each message the matching adapters' decoders run on Paho's
// receive thread, their readings are submitted to the store and the callback WAITS until they
// are committed before returning — Paho acknowledges (PUBACK) when the callback returns, so
// nothing is acknowledged before it is committed. A redelivery (DUP) of a message already
// committed is recognised by (broker, adapter, packet id, payload hash) and not stored twice.
// The session survives restarts: MQTT 3.1.1, clean_session = false, a fixed client id.
// Reconnection is our own loop (backoff 0.5 s doubling to 30 s), not Paho's automatic reconnect,
// so every connect builds fresh options (a presence will carries that connect's timestamp).
// If the store refuses (queue full / failing), the message is NOT acknowledged: the callback
// returns 0 and Paho delivers it again later.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "adapter_api/adapter.hpp"
#include "adapter_api/sink.hpp"
#include "core/metrics.hpp"
#include "core/result.hpp"

namespace cg::transport {

struct BrokerSettings {
  std::string id;
  std::string url;        // tcp:// mqtt:// ws:// or, with TLS, ssl:// mqtts:// wss://
  std::string client_id;
  std::string username;
  std::string password;
  std::chrono::seconds keepalive{30};
  // TLS (used for ssl:// mqtts:// wss://). Verification of the chain AND the host name is on
  // unless tls_verify is false (Paho's own default is off).
  std::string ca_file;    // empty: the system trust store
  std::string cert_file;  // client certificate (mTLS), PEM
  std::string key_file;   // its private key, PEM
  bool tls_verify = true;
};

// The store-facing side: submit with the adapter's identity (the runtime provides it).
using SubmitFn = std::function<void(std::vector<Reading>, SubmitOptions, CommitCallback)>;
using RejectFn = std::function<void(std::span<const std::uint8_t> payload, const std::string& topic, const Error&)>;

class MqttClient {
 public:
  MqttClient(BrokerSettings settings, Metrics& metrics);
  ~MqttClient();
  MqttClient(const MqttClient&) = delete;
  MqttClient& operator=(const MqttClient&) = delete;

  // Before start() only.
  void add_subscription(std::string filter, int qos, std::string adapter_id, MqttDecodeFn decode, SubmitFn submit,
                        RejectFn reject);
  // A retained presence (birth after each connect, will on the connection). Before start() only;
  // one per connection (a second is refused: a connection has one will).
  Result<void> set_presence(MqttPresence presence);
  // Queues a publish; fails when not connected. Thread-safe.
  Result<void> publish(const std::string& topic, std::vector<std::uint8_t> payload, int qos, bool retain);
  // Creates the client and starts connecting in the background (reconnects forever with
  // backoff). Fails only on invalid settings.
  Result<void> start();
  void stop();
  bool connected() const;
  const std::string& id() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cg::transport
