#pragma once
// The ingest listener's routes (DESIGN §6): device-facing HTTP push and webhooks, one POST route
// per adapter instance. The adapter supplies a pure decoder; everything a device or integration
// is answered is decided here, the same way for every adapter:
//   401 + WWW-Authenticate   route has a token and the request lacks `Authorization: Bearer <it>`
//   415 + Accept-Post        Content-Type not among the route's media types, or a Content-Encoding
//   413                      body over the route's limit
//   429 + Retry-After        over the instance's rate limit
//   400 problem+json         the decoder reported errors: {"errors":[{"code","message"}...],
//                            "accepted":N} — readings it did decode are committed first (a line
//                            protocol body keeps its good lines), so N tells the sender what stuck
//   503 + Retry-After        the store throttled or failed: nothing was stored, send again
//   200 {"accepted":N}       only after the readings are committed AND fsync'd
// Each decode error counts in adapter_decode_errors_total{adapter,reason} and the body is kept
// in rejected_payloads.
#include <string>

#include "adapter_api/adapter.hpp"
#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "http/server.hpp"
#include "runtime/rate_limiter.hpp"

namespace cg::runtime {

struct IngestRouteSpec {
  std::string adapter_id;
  HttpIngestRoute route;
  IngestDecodeFn decode;
  ReadingSink* sink = nullptr;     // the adapter's sink (device policy applied)
  RateLimiter* limiter = nullptr;  // the adapter's bucket; may be unlimited
};

void add_ingest_route(http::Router& router, IngestRouteSpec spec, const Clock& clock, Metrics& metrics);

// Counts and keeps what a decoder rejected (shared by the HTTP and stream ingest paths).
void record_decode_errors(const std::string& adapter_id, const std::vector<Error>& errors, ReadingSink& sink,
                          std::string_view source, std::span<const std::uint8_t> payload, Metrics& metrics);

}  // namespace cg::runtime
