#pragma once
// The lake's file format (docs/lake-format.md): pure functions, no I/O.
#include <string>
#include <string_view>

#include "core/reading.hpp"
#include "wire/batch_codec.hpp"

namespace cg::lake {

// Gateway id as a directory name component: every byte outside [A-Za-z0-9._-] becomes %XX
// (upper-case hex). "gw/1 ü" → "gw%2F1%20%C3%BC".
std::string encode_path_component(std::string_view id);

// "dt=YYYY-MM-DD/gateway=ID" for a batch received at `lake_received`.
std::string partition_dir(TimeNs lake_received, std::string_view gateway_id);

// "f64", "i64", "u64", "bool", "string", "bytes".
std::string_view value_type_name(const Value& v);

// Appends one NDJSON line (with the trailing '\n') describing reading `r` of batch `h`.
void append_reading_line(std::string& out, const wire::BatchHeader& h, const Reading& r, TimeNs lake_received);

}  // namespace cg::lake
