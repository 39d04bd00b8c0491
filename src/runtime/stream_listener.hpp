#pragma once
// UDP and TCP listeners for line-oriented ingest (InfluxDB line protocol; DESIGN §3, §6). Asio
// stays in the .cpp.
//
// UDP: each datagram is one DecodeInput. Readings are committed (Durability::committed) without
//      waiting; a datagram the store refuses or the rate limit drops is counted
//      (ingest_stream_dropped_total{adapter,reason}) — UDP has no way to ask for a resend.
// TCP: the stream is cut after its last complete line; each cut is one DecodeInput, and the
//      connection is not read again until its readings are committed. When the store throttles,
//      the same bytes are offered again after a pause: back-pressure reaches the sender through
//      TCP flow control instead of anything being dropped. A line longer than max_line is
//      reported as an error and skipped up to its newline; the text after the last newline at
//      EOF is taken as a final line.
// Decode errors are counted and the input kept in rejected_payloads (record_decode_errors).
#include <cstdint>
#include <memory>
#include <string>

#include "adapter_api/adapter.hpp"
#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/result.hpp"
#include "runtime/rate_limiter.hpp"

namespace boost::asio {
class io_context;
}

namespace cg::runtime {

class StreamListener {
 public:
  // Binds now (so a port conflict is a startup error); serves once the io_context runs.
  static Result<std::unique_ptr<StreamListener>> open(boost::asio::io_context& io, const StreamListen& listen,
                                                      std::string adapter_id, IngestDecodeFn decode, ReadingSink& sink,
                                                      RateLimiter& limiter, const Clock& clock, Metrics& metrics);
  ~StreamListener();
  std::uint16_t port() const;
  void stop();  // closes the socket(s); from any thread

  struct Impl;

 private:
  explicit StreamListener(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace cg::runtime
