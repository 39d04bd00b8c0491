#pragma once
// The data model every module shares. std + nothing else, so adapters, codecs and fuzz targets
// can include it without pulling in any I/O library.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace cg {

// Wall-clock instants are nanoseconds since the Unix epoch (UTC). Everything on disk and on the
// wire is int64 nanoseconds; RFC 3339 text is produced only at the edges.
using TimeNs = std::chrono::sys_time<std::chrono::nanoseconds>;

inline std::int64_t to_unix_ns(TimeNs t) { return t.time_since_epoch().count(); }
inline TimeNs from_unix_ns(std::int64_t ns) { return TimeNs{std::chrono::nanoseconds{ns}}; }

// Opaque bytes value (kept distinct from std::string so a text value and a blob never mix).
struct Bytes {
  std::vector<std::uint8_t> data;
  friend bool operator==(const Bytes&, const Bytes&) = default;
};

// A reading's value. Integers stay integers end to end (i64 and u64 are exact; u64 values above
// INT64_MAX survive the store and the wire).
using Value = std::variant<double, std::int64_t, std::uint64_t, bool, std::string, Bytes>;

// Stable numeric codes, stored in SQLite and mirrored in the protobuf oneof. Never renumber.
enum class ValueType : std::uint8_t { f64 = 1, i64 = 2, u64 = 3, boolean = 4, string = 5, bytes = 6 };

inline ValueType value_type(const Value& v) {
  return static_cast<ValueType>(v.index() + 1);
}

// Tags: small, ordered list of key/value pairs (sorted by key once a reading is committed).
using Tags = std::vector<std::pair<std::string, std::string>>;

// Quality flags, a bitmask stored as uint32 on disk and wire. Never reuse a bit.
namespace quality {
inline constexpr std::uint32_t kNone = 0;
// The device gave no timestamp; observed time is the gateway's receive time.
inline constexpr std::uint32_t kTimeFromGateway = 1u << 0;
// The gateway's wall clock was not known to be synchronised when the reading arrived.
inline constexpr std::uint32_t kClockUnsynced = 1u << 1;
// The device is not in the registry; accepted under the "accept unregistered" policy.
inline constexpr std::uint32_t kUnregistered = 1u << 2;
// The value was produced by a simulator, not a physical sensor.
inline constexpr std::uint32_t kSimulated = 1u << 3;
// The wall clock stepped (against the monotonic clock) shortly before the reading arrived:
// received (and gateway-stamped observed) times may be off.
inline constexpr std::uint32_t kClockStepped = 1u << 4;
}  // namespace quality

struct Reading {
  std::string device;   // device key as the gateway knows it (registry id)
  std::string metric;   // metric name within the device
  Value value;
  std::string unit;     // UCUM-ish unit string as sent or mapped; empty when unknown
  Tags tags;
  TimeNs observed{};    // when the device measured it
  TimeNs received{};    // when the gateway received it
  std::uint64_t seq = 0;                  // gateway-assigned per device; 0 until committed
  std::optional<std::uint64_t> src_seq;   // the device's own counter, when it has one
  std::uint32_t quality = quality::kNone;

  friend bool operator==(const Reading&, const Reading&) = default;
};

}  // namespace cg
