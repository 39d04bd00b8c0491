#pragma once
// MQTT v5 sink over Paho's C async client (no Paho headers here). DESIGN §5: a secondary sink on
// the same outbox, sending the same envelope as the HTTP sink to a broker (cluster) the city runs.
//
// What it sends: one PUBLISH per send(), QoS 1, retain off, payload = `batch.body` as is (a
// serialised citygate `Batch` protobuf, uncompressed), with MQTT v5 properties:
//   Content Type    "application/x-protobuf"
//   User Property   batch_id, batch_seq, part, parts (both "0" for a batch that was not split),
//                   gateway_id, incarnation_id, record_class (core/records.hpp name)
//
// Contract with the uplink (see sink.hpp):
//   * The store's outbox is the only buffer. Paho keeps nothing: in-memory persistence only
//     (MQTTCLIENT_PERSISTENCE_NONE), no sending while disconnected, no automatic reconnect, a clean
//     start with no session expiry (a lost connection discards Paho's in-flight state).
//   * send() connects when there is no connection, blocking for at most `connect_timeout`; a failed
//     connect answers `retry` with the reason (the uplink backs off and calls again). Every answer
//     class `retry` also drops the connection and its Paho handle, so the next send() starts clean.
//   * After publishing, send() waits for the PUBACK for at most `publish_timeout`:
//       PUBACK reason < 0x80 (0x00, 0x10 "no matching subscribers")        → settled
//       0x97 quota exceeded                                                → wait
//       0x95 packet too large (also a broker DISCONNECT 0x95 before the ack) → too_large
//       0x87 not authorized, 0x90 topic name invalid, 0x99 payload format
//       invalid, 0x83 implementation specific error                        → rejected
//       any other reason, connection lost before the ack, timeout, abort   → retry
//     `SendResult::status` is the reason code the broker answered (PUBACK or DISCONNECT, CONNACK
//     for a refused connect), 0 when there was none (Paho does not report the code of a
//     successful PUBACK, so a settled send has status 0).
//   * A publish that would exceed the broker's Maximum Packet Size (CONNACK property), or MQTT's
//     own limit, answers too_large without being sent (a broker disconnects on an oversized packet).
//   * A connection loss is logged once at warn (not per send), the recovery at info.
//   * send() is called by one thread at a time (the uplink's thread for this sink); abort() may be
//     called from any thread: a send() in progress returns `retry` soon, and every later send()
//     answers `retry` at once (abort is for shutdown).
//   * The destructor disconnects cleanly (about 1 s at most) and destroys the Paho client; it
//     must not run while a send() does (the uplink joins its thread first).
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "core/records.hpp"
#include "core/result.hpp"
#include "uplink/sink.hpp"

namespace cg::uplink {

struct MqttSinkOptions {
  // Sink id (config), used in logs and as `{id}` in the default client id.
  std::string id;
  // Broker: tcp://host[:port] (default port 1883), ssl://host[:port] or mqtts://host[:port] (TLS,
  // default port 8883); mqtt:// is accepted as tcp://. IPv6 hosts in brackets. No path, no user info.
  std::string url;
  // Topic of every publish. `{gateway}` becomes gateway_id and `{class}` the batch's record class
  // (telemetry, alert, report, status, summary, backlog). Must not be empty or contain + or #.
  std::string topic = "citygate/{gateway}/batches";
  // MQTT client id; empty = "citygate-sink-{gateway}-{id}". `{gateway}` and `{id}` are replaced.
  std::string client_id;
  std::string username;  // empty: no user name
  std::string password;  // already read from its credential file; empty: no password
  // TLS (ssl:// and mqtts:// only; setting any of them with tcp:// is a configuration error).
  std::string ca_file;    // PEM CA bundle; empty = the system's trust store
  std::string cert_file;  // PEM client certificate (chain) for mutual TLS
  std::string key_file;   // PEM private key of cert_file (required with cert_file unless it holds the key)
  // Verify the broker's certificate chain AND that it names the host of `url` (DNS name or IP).
  // On by default (Paho's default is off). Turning it off is for tests and lab setups only.
  bool tls_verify = true;
  std::chrono::seconds keepalive{30};  // 0 turns keep-alive off
  // Bound of one connect attempt inside send() (TCP + TLS + CONNECT/CONNACK). Keep it at 3 s or
  // more: Paho's network thread, shared by every Paho client of the process, polls with a 1 s
  // timeout and can take up to about 2 s to notice a new connection while others are connected.
  std::chrono::milliseconds connect_timeout{5000};
  // How long send() waits for the PUBACK after publishing.
  std::chrono::milliseconds publish_timeout{30000};
  std::string gateway_id;
};

class MqttSink final : public Sink {
 public:
  // Validates the options (URL, topic, TLS files, timeouts); fatal errors are configuration
  // errors. Does not connect: the first send() does.
  static Result<std::unique_ptr<MqttSink>> create(MqttSinkOptions opts);
  ~MqttSink() override;
  MqttSink(const MqttSink&) = delete;
  MqttSink& operator=(const MqttSink&) = delete;

  const std::string& id() const override;
  SendResult send(const OutgoingBatch& batch) override;
  void abort() override;

  struct Impl;

 private:
  explicit MqttSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The topic a batch of `record_class` is published on: `{gateway}` and `{class}` substituted.
std::string expand_mqtt_topic(std::string_view pattern, std::string_view gateway_id, RecordClass record_class);

}  // namespace cg::uplink
