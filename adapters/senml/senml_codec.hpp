#pragma once
// senml codec: pure (bytes -> Readings), no I/O, fuzzable. RFC 8428 SenML packs in JSON or CBOR.
//
// A pack is told apart by its first byte: '[' after optional JSON whitespace is JSON (parsed with
// simdjson), 0x80..0x9f (a CBOR array) is CBOR (parsed with libcbor's streaming decoder into a
// small bounded tree; cbor_load is never used). Both feed one resolver (RFC 8428 §4.1-4.6):
//   name = bn + n, unit = u else bu, time = bt + t (missing = 0), value = bv + v, sum = bs + s;
//   resolved times below 2^28 s are relative to the receive time; bver defaults to 10 and a
//   bver above 10 rejects the pack; unknown labels are ignored unless they end in '_'
//   (must-understand), which rejects the pack. Any invalid record rejects the whole pack.
//
// Readings: device = bn without a trailing ':' or '/' (no bn: the record's resolved name);
// metric = the record's n ("value" when it has none). A sum becomes its own reading, metric
// "<metric>.sum". A record with neither value nor sum only carries base fields (no reading).
// Numeric values: an integer v (JSON integer literal / CBOR integer) with an integer bv (or no bv)
// stays i64; anything else is f64. vs -> string, vb -> bool, vd -> Bytes (base64url without
// padding in JSON, a byte string in CBOR). A relative time (including "no time" = now) gives
// observed = received + t and the kTimeFromGateway flag.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/reading.hpp"
#include "core/result.hpp"

namespace cg::senml {

struct CodecOptions {
  std::size_t max_payload_bytes = 65536;
  std::size_t max_records = 1000;
  std::size_t max_cbor_items = 50000;  // CBOR data items (incl. tags and string chunks)
  int max_depth = 8;                   // nesting depth of arrays/maps (SenML itself needs 2)
};

// One record after RFC 8428 resolution (before mapping to the gateway's device/metric model).
struct Record {
  std::string name;                  // bn + n
  std::optional<std::string> base_name;  // bn in effect for this record (absent = none given)
  std::optional<std::string> n;      // the record's own n
  std::string unit;                  // u else bu ("" when neither)
  std::optional<Value> value;        // bv + v, or vs / vb / vd
  std::optional<Value> sum;          // bs + s
  double time_s = 0;                 // bt + t
  friend bool operator==(const Record&, const Record&) = default;
};

inline constexpr double kRelativeTimeLimit = 268435456.0;  // 2^28 s

enum class Format { json, cbor };

// The pack's representation, from its first bytes; nullopt when it is neither.
std::optional<Format> detect_format(std::span<const std::uint8_t> payload);

// Parses and resolves a pack. Errors are Disposition::reject with codes: too_large, format, json,
// cbor, depth, too_many_items, too_many_records, not_record, field_type, duplicate_field, bver,
// must_understand, no_name, bad_name, two_values, bad_base64, time.
Result<std::vector<Record>> resolve(std::span<const std::uint8_t> payload, const CodecOptions& opts);

// resolve() + mapping to Readings (device/metric/time rules above). Same error codes.
Result<std::vector<Reading>> decode(std::span<const std::uint8_t> payload, TimeNs received,
                                    const CodecOptions& opts);

// base64url without padding (RFC 4648 §5); nullopt on any other character, '=' or bad length.
std::optional<std::vector<std::uint8_t>> base64url_decode(std::string_view s);

}  // namespace cg::senml
