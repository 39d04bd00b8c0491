#include "lake/ndjson.hpp"

#include <fmt/format.h>

#include "core/json_writer.hpp"
#include "core/time_format.hpp"

namespace cg::lake {

std::string encode_path_component(std::string_view id) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(id.size());
  for (char ch : id) {
    auto c = static_cast<unsigned char>(ch);
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                c == '-';
    if (keep) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string partition_dir(TimeNs lake_received, std::string_view gateway_id) {
  return "dt=" + format_utc_date(lake_received) + "/gateway=" + encode_path_component(gateway_id);
}

std::string_view value_type_name(const Value& v) {
  switch (value_type(v)) {
    case ValueType::f64: return "f64";
    case ValueType::i64: return "i64";
    case ValueType::u64: return "u64";
    case ValueType::boolean: return "bool";
    case ValueType::string: return "string";
    case ValueType::bytes: return "bytes";
  }
  return "unknown";
}

void append_reading_line(std::string& out, const wire::BatchHeader& h, const Reading& r, TimeNs lake_received) {
  auto key = [&out](std::string_view k) {
    out += ",\"";
    out += k;  // keys are ours: plain ASCII, nothing to escape
    out += "\":";
  };
  auto str = [&out](std::string_view v) { json::append_string(out, v); };
  auto num = [&out](auto v) { fmt::format_to(std::back_inserter(out), "{}", v); };

  out += R"({"type":"reading")";
  key("gateway"); str(h.gateway_id);
  key("incarnation"); str(h.incarnation_id);
  key("batch_id"); str(h.batch_id);
  key("batch_seq"); num(h.batch_seq);
  key("part"); num(h.part);
  key("parts"); num(h.parts);
  key("device"); str(r.device);
  key("metric"); str(r.metric);
  key("value"); json::append_value(out, r.value);
  key("value_type"); str(value_type_name(r.value));
  key("unit"); str(r.unit);
  key("observed_at"); str(format_rfc3339_ms(r.observed));
  key("observed_at_ns"); num(to_unix_ns(r.observed));
  key("received_at"); str(format_rfc3339_ms(r.received));
  key("received_at_ns"); num(to_unix_ns(r.received));
  key("seq"); num(r.seq);
  key("src_seq");
  if (r.src_seq) {
    num(*r.src_seq);
  } else {
    out += "null";
  }
  key("tags"); json::append_tags(out, r.tags);
  key("quality"); num(r.quality);
  key("lake_received_at"); str(format_rfc3339_ms(lake_received));
  out += "}\n";
}

}  // namespace cg::lake
