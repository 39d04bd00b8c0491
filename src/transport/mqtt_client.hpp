#pragma once
// One MQTT connection per configured broker, shared by every adapter subscribed on it
// (DESIGN §3). Our own MQTT 3.1.1 client (mqtt_codec.hpp says why not Paho), one io thread per
// broker; no Asio or OpenSSL headers here.
//
// Delivery contract (DESIGN §4): for each message the matching adapters' decoders run on the
// client's thread and their readings are submitted to the store; the PUBACK is sent only when
// every submit has COMMITTED AND FSYNC'D (group commit shares the fsync among the messages read
// ahead), in arrival order (MQTT 3.1.1 §4.6). Until then the broker still
// owns the message: a crash, a kill -9 or a lost connection makes it redeliver (DUP), and a
// redelivery of a message already committed is recognised by (broker, adapter, packet id,
// payload hash) and not stored twice. The session survives restarts: clean_session = false, a
// fixed client id. If the store refuses (queue full, disk full, failing) the message is not
// acknowledged and the socket is not read (TCP back-pressure; the broker queues for our
// session) until a retry is taken; at most 256 messages / 16 MiB are read ahead of the store.
// Reconnection: backoff 0.5 s doubling to 30 s; each connect builds fresh options (a presence
// will carries that connect's timestamp) and a fresh TLS context (renewed certificates apply).
// Subscriptions at QoS 2 are made at QoS 1. A message over 16 MiB is acknowledged and recorded
// as a rejected payload. URLs: tcp:// mqtt:// (1883), ssl:// mqtts:// (8883); no WebSockets.
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
  std::string url;        // tcp:// mqtt:// or, with TLS, ssl:// mqtts://
  std::string client_id;
  std::string username;
  std::string password;
  std::chrono::seconds keepalive{30};
  // TLS (used for ssl:// mqtts://). Verification of the chain AND the host name (or IP address)
  // is on unless tls_verify is false.
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
  std::shared_ptr<Impl> impl_;  // shared: commit callbacks that outlive a message hold it weakly
};

}  // namespace cg::transport
