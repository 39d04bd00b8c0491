#pragma once
// The lake's file format (docs/lake-format.md): pure functions, no I/O.
#include <string>
#include <string_view>

#include "core/reading.hpp"
#include "core/records.hpp"
#include "wire/batch_codec.hpp"

namespace cg::lake {

// Gateway id as a directory name component: every byte outside [A-Za-z0-9._-] becomes %XX
// (upper-case hex). "gw/1 ü" → "gw%2F1%20%C3%BC".
std::string encode_path_component(std::string_view id);

// "dt=YYYY-MM-DD/gateway=ID" for a batch received at `lake_received`.
std::string partition_dir(TimeNs lake_received, std::string_view gateway_id);

// "f64", "i64", "u64", "bool", "string", "bytes".
std::string_view value_type_name(const Value& v);

// Every line starts with the same keys: type, gateway, incarnation, batch_id, batch_seq, part,
// parts, record_class; then the record's own fields; and ends with lake_received_at.

// Appends one NDJSON line (with the trailing '\n') describing reading `r` of batch `h`
// ("type":"reading").
void append_reading_line(std::string& out, const wire::BatchHeader& h, const Reading& r, TimeNs lake_received);

// Appends one NDJSON line for a gap, aggregate or status record ("type":"gap" | "aggregate" |
// "status").
void append_record_line(std::string& out, const wire::BatchHeader& h, const Record& r, TimeNs lake_received);

// "gap", "aggregate", "status".
std::string_view record_type_name(const Record& r);

// "src_seq", "evicted", "missed_poll".
std::string_view gap_kind_name(GapRecord::Kind k);

}  // namespace cg::lake
