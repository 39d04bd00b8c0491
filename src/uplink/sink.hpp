#pragma once
// An upstream destination for batches. One file per kind (http_sink.cpp; mqtt and kafka later).
// send() blocks the uplink thread (never an io thread) and classifies the answer.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "wire/batch_codec.hpp"

namespace cg::uplink {

struct SendResult {
  enum class Kind {
    settled,      // 2xx, or 409 (the lake already has it)
    wait,         // 429/503: honour retry_after when given, else back off
    retry,        // 5xx, timeout, connection failure: back off and retry, forever
    rejected,     // other 4xx: the batch itself is unacceptable (dead-lettered by issue 4; retried for now)
    too_large,    // 413
  };
  Kind kind = Kind::retry;
  int status = 0;  // HTTP status, 0 when the request did not complete
  std::optional<std::chrono::milliseconds> retry_after;
  std::string detail;
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual const std::string& id() const = 0;
  // `body` is the serialized wire Batch; the sink adds transport framing and compression.
  virtual SendResult send(const wire::BatchHeader& header, std::string_view body) = 0;
  // Makes a send() in progress give up soon (shutdown).
  virtual void abort() = 0;
};

// Retry-After: delta-seconds or an HTTP-date (relative to `now_unix_s`). nullopt if unparsable.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view v, std::int64_t now_unix_s);

}  // namespace cg::uplink
