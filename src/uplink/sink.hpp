#pragma once
// An upstream destination for batches (DESIGN §5). One file per kind: http_sink, mqtt_sink,
// kafka_sink. The uplink runs one thread per sink (sinks block; never on an io thread), calls
// send() for one batch (or one part of a split batch) at a time and acts on the answer class.
//
// A sink never retries by itself and never keeps a batch after send() returned: the store's
// outbox is the only buffer (no library offline queue, no library persistence).
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/reading.hpp"
#include "core/records.hpp"
#include "wire/batch_codec.hpp"

namespace cg::uplink {

struct SendResult {
  enum class Kind {
    settled,    // accepted (HTTP 2xx, 409 "already have it"; MQTT PUBACK < 0x80; Kafka all records acked)
    wait,       // overloaded (429/503): honour retry_after when given, else back off
    retry,      // 5xx, timeout, connection failure: back off with full jitter and retry, forever
    rejected,   // the batch itself is unacceptable (other 4xx, MQTT reason codes ≥ 0x80 about the
                // message): dead-lettered for this sink, the batches behind it still go
    too_large,  // HTTP 413, MQTT packet too large, Kafka message too large: split into parts
  };
  Kind kind = Kind::retry;
  int status = 0;  // HTTP status or MQTT reason code; 0 when nothing was answered
  std::optional<std::chrono::milliseconds> retry_after;
  std::string detail;
};

// What one send() carries. `body` is wire::encode_batch(header, readings, records): HTTP and MQTT
// send it as is; Kafka re-encodes per device group from `readings`.
struct OutgoingBatch {
  const wire::BatchHeader& header;
  std::span<const Reading> readings;
  std::span<const Record> records;
  std::string_view body;
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual const std::string& id() const = 0;
  virtual SendResult send(const OutgoingBatch& batch) = 0;
  // Makes a send() in progress give up soon (shutdown). Any thread.
  virtual void abort() = 0;
};

// Retry-After: delta-seconds or an HTTP-date (relative to `now_unix_s`). nullopt if unparsable.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view v, std::int64_t now_unix_s);

}  // namespace cg::uplink
