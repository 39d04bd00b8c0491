#pragma once
// Kafka sink over librdkafka's C API (no rdkafka headers here), for cities whose lake ingests
// from Kafka (DESIGN §5). docs/sinks-kafka.md describes it for operators.
//
// What is sent. A batch with readings becomes one Kafka record per device: the readings are
// grouped by device (each group keeps the batch's order; groups in order of first appearance),
// and each group is encoded on its own as wire::encode_batch(header, group) — the batch's header
// unchanged (same batch_id, batch_seq, part/parts, class), so every record is a complete, valid
// Batch protobuf. Key: the device id, so one device's records land on one partition, in order.
// A batch without readings (status, summary) is one record keyed by the gateway id whose value is
// the batch body as is. Should a batch carry both readings and other records, the other records
// travel as one more gateway-keyed record, encode_batch(header, {}, records): nothing is dropped.
//
// Record headers (all UTF-8 text): batch_id, batch_seq, part, parts, gateway_id, incarnation_id,
// record_class (record_class_name), device (device records only) and records = "k/n": this is
// record k (1-based) of the n records of this send, so a consumer can tell when it holds the
// whole batch (or part).
//
// Duplicates. A batch that was not settled is re-sent later, whole, under the same batch_id, so
// some of its records may reach Kafka twice (a record delivered before another one timed out).
// The idempotent producer removes duplicates caused by librdkafka's internal retries only.
// Consumers de-duplicate on (batch_id, part, device) — `part` because a batch split after
// too_large carries the same batch_id with different contents per part.
//
// Answers (SendResult::Kind; `status` holds the deciding rd_kafka_resp_err_t as an int, 0 when
// settled; `detail` its name and librdkafka's text):
//   settled    every record's delivery report came back without error (acks=all).
//   retry      a delivery error the cluster may get over: message timed out
//              (RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, i.e. no ack within delivery_timeout), transport
//              errors, leader changes, not enough replicas, unknown topic (a topic not created
//              yet keeps the data in the outbox rather than dead-lettering it); no report within
//              delivery_timeout + a margin; abort(); a fatal producer error (see below).
//   too_large  RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE or RECORD_LIST_TOO_LARGE, from produce()
//              (over message.max.bytes) or from the broker; also a record larger than the whole
//              producer queue (queue_max_kbytes), which could never be queued. Split into parts.
//   wait       the producer queue stayed full after this send's own queued records drained
//              (librdkafka still holds records of an earlier, timed-out send).
//   rejected   TOPIC_AUTHORIZATION_FAILED, invalid topic (TOPIC_EXCEPTION), INVALID_RECORD,
//              POLICY_VIOLATION, UNSUPPORTED_FOR_MESSAGE_FORMAT: the batch is dead-lettered.
// With several errors in one send the answer is the most specific: rejected, then too_large,
// then wait, then retry.
//
// Delivery. send() produces every record (librdkafka copies them), then serves librdkafka's
// callbacks on the calling thread in short slices until every record of this send has its
// delivery report, abort() is called, or delivery_timeout + margin passed. `settled` therefore
// means every record is in Kafka. After any other answer librdkafka may still hold some of the
// records (abort, or no report in time) and deliver them later — harmless, see Duplicates; their
// late reports are ignored. A queue-full produce() is met by draining this send's queued records
// and trying again, so a batch with more records than queue_max_messages still goes out.
//
// Fatal errors (rd_kafka_fatal_error, e.g. the idempotent producer lost its sequence state): the
// producer is destroyed and a new one created from the same options, the send answers retry,
// and one error line is logged per occurrence. Connectivity problems reported to the error
// callback (a broker or all brokers down, resolve/TLS/SASL failures) are logged once at warn
// when the sink goes from healthy to degraded and once at info when a delivery succeeds again;
// the events in between go to debug. librdkafka's own log goes to spdlog at debug.
//
// Threads: create(), send() and the destructor from one thread at a time (the uplink's thread for
// this sink); abort() from any thread. abort() is sticky, as in HttpSink: meant for shutdown,
// every later send() answers retry at once. The destructor flushes for at most ~1 s, then
// destroys the producer; records still queued then are dropped (the outbox still holds them).
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "uplink/sink.hpp"

namespace cg::uplink {

struct KafkaSinkOptions {
  // Sink id (uplink config, logs, per-sink outbox state).
  std::string id;
  // Bootstrap brokers, "host:port" each (librdkafka bootstrap.servers). At least one.
  std::vector<std::string> brokers;
  // Topic name. "{gateway}" is replaced by gateway_id and "{class}" by the batch's
  // record_class_name (telemetry, alert, report, status, summary, backlog). Every expansion must
  // be a legal Kafka topic name ([A-Za-z0-9._-], 1..249 characters); checked by create().
  std::string topic = "citygate.batches";
  // This gateway's id: the {gateway} placeholder, the gateway_id header, the key of records
  // that are not about one device, and librdkafka's client.id ("citygate-<gateway_id>" unless
  // `properties` sets client.id, e.g. to match a broker quota).
  std::string gateway_id;
  // How long librdkafka may try to deliver a record (message.timeout.ms, librdkafka retries
  // inside it). Also bounds send(): it returns by delivery_timeout + a margin of a few seconds.
  // Keep it well below the uplink's backoff cap so a dead cluster is noticed per send.
  std::chrono::milliseconds delivery_timeout{30000};
  // Bounded producer queue (queue.buffering.max.messages / .kbytes). It only ever holds the
  // records of the send in progress (plus late ones of a timed-out send).
  std::size_t queue_max_messages = 10000;
  std::size_t queue_max_kbytes = 16384;
  // none | gzip | zstd | lz4 | snappy (compression.type; per Kafka record batch).
  std::string compression = "zstd";
  // plaintext | ssl | sasl_ssl | sasl_plaintext (security.protocol).
  std::string security_protocol = "plaintext";
  // PEM files (ssl.ca.location, ssl.certificate.location, ssl.key.location); empty: not set
  // (the CA then comes from the system store). Only with ssl or sasl_ssl.
  std::string ssl_ca_file;
  std::string ssl_cert_file;
  std::string ssl_key_file;
  // SASL (sasl.mechanisms: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, ...; sasl.username/password).
  // Only with sasl_ssl or sasl_plaintext. The password is already read from its credential file.
  std::string sasl_mechanism;
  std::string sasl_username;
  std::string sasl_password;
  // Further librdkafka properties, applied in order after the ones above (e.g. linger.ms,
  // message.max.bytes, socket.keepalive.enable, reconnect.backoff.max.ms). A property librdkafka
  // does not accept is a create() error naming it. Properties that would bypass an option above
  // or break the contract (bootstrap.servers, enable.idempotence, acks, message.timeout.ms,
  // queue.buffering.*, compression.*, security.protocol, ssl/sasl credentials, transactional.id)
  // are refused by create().
  std::vector<std::pair<std::string, std::string>> properties;
};

class KafkaSink final : public Sink {
 public:
  // Validates the options and creates the producer. Errors are Disposition::fatal with code
  // "config" (bad option or property, naming it) or "kafka" (librdkafka refused to start).
  // Creating does not wait for the cluster: an unreachable cluster shows up in send().
  static Result<std::unique_ptr<KafkaSink>> create(KafkaSinkOptions opts);
  ~KafkaSink() override;
  const std::string& id() const override;
  SendResult send(const OutgoingBatch& batch) override;
  void abort() override;

  struct Impl;

 private:
  explicit KafkaSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cg::uplink
