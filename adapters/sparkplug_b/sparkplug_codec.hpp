#pragma once
// sparkplug_b codec: pure (bytes -> plain structs -> values), no I/O, no state, fuzzable.
// Eclipse Sparkplug 3.0.0: topic namespace (ch. 4), protobuf payload (ch. 6), host STATE (§6.4.27 /
// ch. 5). The protobuf classes stay inside sparkplug_codec.cpp; this header shows plain structs.
//
// What the codec decides (the host session in sparkplug_host.hpp decides what a message *means*):
//  * Topics: `spBv1.0/<group>/<TYPE>/<edge node>[/<device>]` with TYPE one of NBIRTH NDEATH NDATA
//    NCMD (no device level) or DBIRTH DDEATH DDATA DCMD (device level required), and
//    `spBv1.0/STATE/<host id>`. IDs are case-sensitive and must be non-empty and free of the
//    MQTT wildcards '+' and '#' (a filter is not a topic).
//  * Payloads: protobuf `Payload`; a payload with uuid "SPBV1.0_COMPRESSED" carries the real
//    payload in `body`, DEFLATE (zlib) or GZIP compressed (the Tahu clients' option); it is inflated
//    up to max_payload_bytes and parsed once more (no nesting).
//  * Values: a metric's datatype (its own, else the one its birth declared, else inferred from the
//    protobuf oneof) turns the wire value into leaves:
//      Int8/16/32 (two's complement in uint32, sign-extended or not) and Int64 -> i64;
//      UInt8/16/32/64 -> u64; Float -> f64 through the float's shortest decimal form (12.1f reads
//      12.1, not 12.100000381469727); Double -> f64; Boolean -> bool; String/Text/UUID -> string;
//      DateTime -> i64 ms since the Unix epoch; Bytes/File -> bytes.
//      Integer types accept int_value or long_value, Float/Double accept either float or double
//      (real encoders differ: the npm sparkplug-payload puts UInt32 in long_value).
//      Arrays (22..34, bytes_value, packed little-endian) -> one leaf per element "[i]";
//      BooleanArray = u32 LE count + bits MSB-first; StringArray = NUL-terminated UTF-8 strings
//      (a final unterminated string is accepted); DateTimeArray = i64 LE ms.
//      DataSet -> one leaf per non-null cell "/<column>[<row>]" typed by the column's type.
//      Template instance -> its member metrics, recursively, as "/<member name>" (a member's own
//      timestamp, unit and datatype apply); a template definition -> no leaves.
//      PropertySet/PropertySetList metrics and extension values -> no leaves.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/reading.hpp"
#include "core/result.hpp"

namespace cg::sparkplug {

inline constexpr std::string_view kNamespace = "spBv1.0";
inline constexpr std::string_view kRebirthMetric = "Node Control/Rebirth";
inline constexpr std::string_view kBdSeqMetric = "bdSeq";
inline constexpr std::string_view kCompressedUuid = "SPBV1.0_COMPRESSED";

// Datatype numbers (Sparkplug 3.0 §6.4.16).
namespace dt {
inline constexpr std::uint32_t kUnknown = 0, kInt8 = 1, kInt16 = 2, kInt32 = 3, kInt64 = 4, kUInt8 = 5,
                               kUInt16 = 6, kUInt32 = 7, kUInt64 = 8, kFloat = 9, kDouble = 10, kBoolean = 11,
                               kString = 12, kDateTime = 13, kText = 14, kUUID = 15, kDataSet = 16, kBytes = 17,
                               kFile = 18, kTemplate = 19, kPropertySet = 20, kPropertySetList = 21,
                               kInt8Array = 22, kInt16Array = 23, kInt32Array = 24, kInt64Array = 25,
                               kUInt8Array = 26, kUInt16Array = 27, kUInt32Array = 28, kUInt64Array = 29,
                               kFloatArray = 30, kDoubleArray = 31, kBooleanArray = 32, kStringArray = 33,
                               kDateTimeArray = 34;
inline constexpr std::uint32_t kMax = kDateTimeArray;
}  // namespace dt

enum class MessageType { nbirth, ndeath, ndata, ncmd, dbirth, ddeath, ddata, dcmd, state };

std::string_view message_type_name(MessageType t);

struct Topic {
  MessageType type = MessageType::ndata;
  std::string group;   // empty for STATE
  std::string node;    // edge node id; the host id for STATE
  std::string device;  // empty on node-level messages
  bool device_level() const { return !device.empty(); }
  // The gateway's device key: "group/node" or "group/node/device".
  std::string device_key() const;
};

// Errors: sparkplug.topic (not this namespace, unknown message type, wrong number of levels,
// empty id, wildcard characters).
Result<Topic> parse_topic(std::string_view topic);

// ---- payload as plain data -------------------------------------------------------------------

struct Template;
struct DataSet;

// The protobuf oneof as sent: int_value (u32), long_value (u64), float, double, bool, string,
// bytes, data set, template; Extension = an extension value (no meaning to us).
struct Extension {
  friend bool operator==(const Extension&, const Extension&) = default;
};
struct DataSetCell {
  std::variant<std::monostate, std::uint32_t, std::uint64_t, float, double, bool, std::string> v;
};
struct DataSet {
  std::vector<std::string> columns;
  std::vector<std::uint32_t> types;
  std::vector<std::vector<DataSetCell>> rows;
};
struct Metric;
struct Template {
  std::optional<std::string> template_ref;
  bool is_definition = false;
  std::vector<Metric> metrics;
};
using WireValue = std::variant<std::monostate, std::uint32_t, std::uint64_t, float, double, bool, std::string, Bytes,
                               DataSet, Template, Extension>;

struct Metric {
  std::optional<std::string> name;  // absent when not sent or empty
  std::optional<std::uint64_t> alias;
  std::optional<std::uint64_t> timestamp_ms;
  std::uint32_t datatype = dt::kUnknown;  // 0 = not sent
  bool is_historical = false;
  bool is_transient = false;
  bool is_null = false;
  std::optional<std::string> unit;  // the string property "engUnit" (or "engUnits"), when sent
  WireValue value;
};

struct Payload {
  std::optional<std::uint64_t> timestamp_ms;
  std::optional<std::uint64_t> seq;
  std::vector<Metric> metrics;
  bool was_compressed = false;
};

struct CodecOptions {
  std::size_t max_payload_bytes = 1024 * 1024;  // also the bound for an inflated body
  std::size_t max_leaves = 50000;               // values one payload may expand to
  int max_template_depth = 8;                   // templates within templates
};

// Errors (Disposition::reject): sparkplug.too_large, sparkplug.protobuf (not a Sparkplug B
// payload), sparkplug.compressed (bad or oversized compressed body, unknown algorithm).
Result<Payload> parse_payload(std::span<const std::uint8_t> payload, const CodecOptions& opts);

// One value a metric expands to: `suffix` is appended to the metric's name ("" for a scalar,
// "[3]" for an array element, "/column[row]" for a data-set cell, "/member" for a template member).
struct Leaf {
  std::string suffix;
  Value value;
  std::optional<std::string> unit;            // a template member's own unit
  std::optional<std::uint64_t> timestamp_ms;  // a template member's own timestamp
};

// Expands `m` as datatype `datatype` (0: infer from the oneof) into `out` (appending).
// A null metric, a template definition or a metric with no value appends nothing. Errors
// (Disposition::reject): sparkplug.datatype (number above 34), sparkplug.value_type (the oneof does
// not fit the datatype), sparkplug.array (length not a multiple of the element size, bad boolean
// count), sparkplug.dataset (columns/types/rows disagree), sparkplug.depth, sparkplug.too_many_values.
Result<void> expand(const Metric& m, std::uint32_t datatype, std::vector<Leaf>& out, const CodecOptions& opts);

// The datatype a value's oneof implies when no datatype was sent or declared.
std::uint32_t inferred_datatype(const WireValue& v);

// ---- what the host sends --------------------------------------------------------------------

// NCMD payload asking an edge node for a new birth: {timestamp, metrics:[{name:"Node
// Control/Rebirth", timestamp, datatype: Boolean, boolean_value: true}]} (no seq, as in the
// specification's example).
std::vector<std::uint8_t> encode_rebirth_request(std::int64_t now_ms);

// The host application's STATE payload (Sparkplug 3.0): {"online":true|false,"timestamp":<ms>}.
std::vector<std::uint8_t> state_payload(bool online, std::int64_t timestamp_ms);

// "spBv1.0/<group>/NCMD/<node>" and "spBv1.0/STATE/<host_id>".
std::string ncmd_topic(std::string_view group, std::string_view node);
std::string state_topic(std::string_view host_id);

}  // namespace cg::sparkplug
