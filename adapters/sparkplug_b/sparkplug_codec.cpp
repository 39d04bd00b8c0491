#include "sparkplug_b/sparkplug_codec.hpp"

#include "common/mqtt_binding.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>

#include "sparkplug_b.pb.h"

namespace cg::sparkplug {

namespace {

Error reject(std::string code, std::string message) { return Error::reject("sparkplug." + code, std::move(message)); }

// RFC 3629 UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 2, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07;
    else return false;
    if (i + n >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    i += n + 1;
  }
  return true;
}

// ---- protobuf -> plain structs ----

struct Converter {
  const CodecOptions& opts;

  Result<std::string> text(const std::string& s, const char* what) {
    if (!valid_utf8(s)) return fail(reject("utf8", std::string(what) + " is not valid UTF-8"));
    return s;
  }

  Result<DataSet> dataset(const pb::Payload::DataSet& d) {
    DataSet out;
    out.columns.reserve(static_cast<std::size_t>(d.columns_size()));
    for (const auto& c : d.columns()) {
      auto t = text(c, "a data set column name");
      if (!t) return fail(t.error());
      out.columns.push_back(std::move(*t));
    }
    out.types.assign(d.types().begin(), d.types().end());
    out.rows.reserve(static_cast<std::size_t>(d.rows_size()));
    for (const auto& row : d.rows()) {
      std::vector<DataSetCell> cells;
      cells.reserve(static_cast<std::size_t>(row.elements_size()));
      for (const auto& e : row.elements()) {
        DataSetCell cell;
        using V = pb::Payload::DataSet::DataSetValue;
        switch (e.value_case()) {
          case V::kIntValue: cell.v = e.int_value(); break;
          case V::kLongValue: cell.v = e.long_value(); break;
          case V::kFloatValue: cell.v = e.float_value(); break;
          case V::kDoubleValue: cell.v = e.double_value(); break;
          case V::kBooleanValue: cell.v = e.boolean_value(); break;
          case V::kStringValue: {
            auto t = text(e.string_value(), "a data set string");
            if (!t) return fail(t.error());
            cell.v = std::move(*t);
            break;
          }
          default: break;  // null cell or extension: no value
        }
        cells.push_back(std::move(cell));
      }
      out.rows.push_back(std::move(cells));
    }
    return out;
  }

  Result<Metric> metric(const pb::Payload::Metric& m, int depth) {
    Metric out;
    if (m.has_name() && !m.name().empty()) {  // an empty name names nothing: the alias must
      auto t = text(m.name(), "a metric name");
      if (!t) return fail(t.error());
      out.name = std::move(*t);
    }
    if (m.has_alias()) out.alias = m.alias();
    if (m.has_timestamp()) out.timestamp_ms = m.timestamp();
    out.datatype = m.datatype();
    out.is_historical = m.is_historical();
    out.is_transient = m.is_transient();
    out.is_null = m.is_null();
    if (m.has_properties()) {
      const auto& ps = m.properties();
      // Parallel arrays; a key without its value is ignored rather than misread.
      int n = std::min(ps.keys_size(), ps.values_size());
      for (int i = 0; i < n; ++i) {
        const auto& k = ps.keys(i);
        const auto& v = ps.values(i);
        if ((k == "engUnit" || k == "engUnits") && !v.is_null() &&
            v.value_case() == pb::Payload::PropertyValue::kStringValue) {
          auto t = text(v.string_value(), "a unit property");
          if (!t) return fail(t.error());
          if (!out.unit || k == "engUnit") out.unit = std::move(*t);
        }
      }
    }
    using V = pb::Payload::Metric;
    switch (m.value_case()) {
      case V::kIntValue: out.value = m.int_value(); break;
      case V::kLongValue: out.value = m.long_value(); break;
      case V::kFloatValue: out.value = m.float_value(); break;
      case V::kDoubleValue: out.value = m.double_value(); break;
      case V::kBooleanValue: out.value = m.boolean_value(); break;
      case V::kStringValue: {
        auto t = text(m.string_value(), "a string value");
        if (!t) return fail(t.error());
        out.value = std::move(*t);
        break;
      }
      case V::kBytesValue: {
        const auto& b = m.bytes_value();
        out.value = Bytes{std::vector<std::uint8_t>(b.begin(), b.end())};
        break;
      }
      case V::kDatasetValue: {
        auto d = dataset(m.dataset_value());
        if (!d) return fail(d.error());
        out.value = std::move(*d);
        break;
      }
      case V::kTemplateValue: {
        if (depth >= opts.max_template_depth)
          return fail(reject("depth", "templates nested deeper than " + std::to_string(opts.max_template_depth)));
        const auto& t = m.template_value();
        Template tpl;
        if (t.has_template_ref()) {
          auto ref = text(t.template_ref(), "a template_ref");
          if (!ref) return fail(ref.error());
          tpl.template_ref = std::move(*ref);
        }
        tpl.is_definition = t.is_definition();
        tpl.metrics.reserve(static_cast<std::size_t>(t.metrics_size()));
        for (const auto& member : t.metrics()) {
          auto mm = metric(member, depth + 1);
          if (!mm) return fail(mm.error());
          tpl.metrics.push_back(std::move(*mm));
        }
        out.value = std::move(tpl);
        break;
      }
      case V::kExtensionValue: out.value = Extension{}; break;
      default: break;
    }
    return out;
  }

  Result<Payload> payload(const pb::Payload& p) {
    Payload out;
    if (p.has_timestamp()) out.timestamp_ms = p.timestamp();
    if (p.has_seq()) out.seq = p.seq();
    out.metrics.reserve(static_cast<std::size_t>(p.metrics_size()));
    for (const auto& m : p.metrics()) {
      auto mm = metric(m, 0);
      if (!mm) return fail(mm.error());
      out.metrics.push_back(std::move(*mm));
    }
    return out;
  }
};

// Inflates a zlib or gzip stream (auto-detected) into at most `limit` bytes.
Result<std::string> inflate_body(const std::string& in, std::size_t limit) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return fail(reject("compressed", "zlib init failed"));
  std::string out;
  std::size_t chunk = std::min<std::size_t>(limit + 1, std::max<std::size_t>(in.size() * 4, 4096));
  out.resize(chunk);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  std::size_t have = 0;
  while (true) {
    if (have == out.size()) {
      if (out.size() > limit) break;
      out.resize(std::min(out.size() * 2, limit + 1));
    }
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + have);
    zs.avail_out = static_cast<uInt>(out.size() - have);
    rc = inflate(&zs, Z_NO_FLUSH);
    have = out.size() - zs.avail_out;
    if (rc != Z_OK) break;
    if (zs.avail_in == 0 && zs.avail_out != 0) break;  // input exhausted before the stream end
  }
  inflateEnd(&zs);
  if (have > limit) return fail(reject("compressed", "inflated body exceeds " + std::to_string(limit) + " bytes"));
  if (rc != Z_STREAM_END) return fail(reject("compressed", "corrupt or truncated compressed body"));
  out.resize(have);
  return out;
}

Result<pb::Payload> parse_pb(const void* data, std::size_t size) {
  pb::Payload p;
  if (size > static_cast<std::size_t>(INT32_MAX) || !p.ParseFromArray(data, static_cast<int>(size)))
    return fail(reject("protobuf", "not a Sparkplug B protobuf payload"));
  return p;
}

// ---- values ----

std::optional<std::uint64_t> raw_int(const WireValue& v) {
  if (const auto* u = std::get_if<std::uint32_t>(&v)) return *u;
  if (const auto* u = std::get_if<std::uint64_t>(&v)) return *u;
  return std::nullopt;
}

// A float as the decimal it was written as: the shortest text that round-trips the float, read as
// a double. 12.1f gives 12.1.
double widen(float f) {
  if (!std::isfinite(f)) return static_cast<double>(f);
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, f);
  double d = static_cast<double>(f);
  std::from_chars(buf, res.ptr, d);
  return d;
}

Error value_type(std::uint32_t t) {
  return reject("value_type", "the value does not fit datatype " + std::to_string(t));
}

Result<Value> scalar(std::uint32_t t, const WireValue& v) {
  switch (t) {
    case dt::kInt8:
    case dt::kInt16:
    case dt::kInt32:
    case dt::kInt64:
    case dt::kDateTime:
    case dt::kUInt8:
    case dt::kUInt16:
    case dt::kUInt32:
    case dt::kUInt64: {
      auto r = raw_int(v);
      if (!r) break;
      // Signed types travel as two's complement in uint32 (or sign-extended in uint64): the low
      // bits of the width are the value either way.
      switch (t) {
        case dt::kInt8: return Value{std::int64_t{static_cast<std::int8_t>(static_cast<std::uint8_t>(*r))}};
        case dt::kInt16: return Value{std::int64_t{static_cast<std::int16_t>(static_cast<std::uint16_t>(*r))}};
        case dt::kInt32: return Value{std::int64_t{static_cast<std::int32_t>(static_cast<std::uint32_t>(*r))}};
        case dt::kInt64:
        case dt::kDateTime: return Value{static_cast<std::int64_t>(*r)};
        case dt::kUInt8: return Value{std::uint64_t{static_cast<std::uint8_t>(*r)}};
        case dt::kUInt16: return Value{std::uint64_t{static_cast<std::uint16_t>(*r)}};
        case dt::kUInt32: return Value{std::uint64_t{static_cast<std::uint32_t>(*r)}};
        default: return Value{*r};
      }
    }
    case dt::kFloat:
    case dt::kDouble:
      if (const auto* f = std::get_if<float>(&v)) return Value{widen(*f)};
      if (const auto* d = std::get_if<double>(&v)) return Value{*d};
      break;
    case dt::kBoolean:
      if (const auto* b = std::get_if<bool>(&v)) return Value{*b};
      break;
    case dt::kString:
    case dt::kText:
    case dt::kUUID:
      if (const auto* s = std::get_if<std::string>(&v)) return Value{*s};
      break;
    case dt::kBytes:
    case dt::kFile:
      if (const auto* b = std::get_if<Bytes>(&v)) return Value{*b};
      break;
    default: break;
  }
  return fail(value_type(t));
}

template <class U>
U load_le(const std::uint8_t* p) {
  std::uint64_t x = 0;
  for (std::size_t i = 0; i < sizeof(U); ++i) x |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return static_cast<U>(x);
}

class Expander {
 public:
  Expander(const CodecOptions& o, std::vector<Leaf>& out) : o_(o), out_(out) {}

  Result<void> metric(const Metric& m, std::uint32_t t, const std::string& prefix, int depth) {
    if (m.is_null) return {};
    if (std::holds_alternative<std::monostate>(m.value) || std::holds_alternative<Extension>(m.value)) return {};
    if (t == dt::kUnknown) t = inferred_datatype(m.value);
    if (t > dt::kMax) return fail(reject("datatype", "unknown datatype " + std::to_string(t)));
    if (t >= dt::kInt8Array) return array(m.value, t, prefix);
    switch (t) {
      case dt::kPropertySet:
      case dt::kPropertySetList: return {};
      case dt::kDataSet: {
        const auto* d = std::get_if<DataSet>(&m.value);
        if (!d) return fail(value_type(t));
        return dataset(*d, prefix);
      }
      case dt::kTemplate: {
        const auto* tpl = std::get_if<Template>(&m.value);
        if (!tpl) return fail(value_type(t));
        return templ(*tpl, prefix, depth);
      }
      default: {
        auto v = scalar(t, m.value);
        if (!v) return fail(v.error());
        return push(prefix, std::move(*v));
      }
    }
  }

 private:
  Result<void> room(std::size_t n) {
    if (out_.size() + n > o_.max_leaves)
      return fail(reject("too_many_values", "the payload expands to more than " + std::to_string(o_.max_leaves) +
                                                " values"));
    return {};
  }

  Result<void> push(std::string suffix, Value v) {
    if (auto r = room(1); !r) return r;
    out_.push_back(Leaf{std::move(suffix), std::move(v), std::nullopt, std::nullopt});
    return {};
  }

  static std::string index(const std::string& prefix, std::size_t i) { return prefix + "[" + std::to_string(i) + "]"; }

  template <class Read>
  Result<void> fixed(const std::vector<std::uint8_t>& b, std::size_t width, const std::string& prefix, Read read) {
    if (b.size() % width != 0)
      return fail(reject("array", std::to_string(b.size()) + " bytes is not a whole number of " +
                                      std::to_string(width) + "-byte elements"));
    std::size_t n = b.size() / width;
    if (auto r = room(n); !r) return r;
    for (std::size_t i = 0; i < n; ++i) out_.push_back(Leaf{index(prefix, i), read(b.data() + i * width), {}, {}});
    return {};
  }

  Result<void> array(const WireValue& v, std::uint32_t t, const std::string& prefix) {
    const auto* bytes = std::get_if<Bytes>(&v);
    if (!bytes) return fail(value_type(t));
    const auto& b = bytes->data;
    switch (t) {
      case dt::kInt8Array:
        return fixed(b, 1, prefix, [](const std::uint8_t* p) { return Value{std::int64_t{static_cast<std::int8_t>(*p)}}; });
      case dt::kInt16Array:
        return fixed(b, 2, prefix, [](const std::uint8_t* p) {
          return Value{std::int64_t{static_cast<std::int16_t>(load_le<std::uint16_t>(p))}};
        });
      case dt::kInt32Array:
        return fixed(b, 4, prefix, [](const std::uint8_t* p) {
          return Value{std::int64_t{static_cast<std::int32_t>(load_le<std::uint32_t>(p))}};
        });
      case dt::kInt64Array:
      case dt::kDateTimeArray:
        return fixed(b, 8, prefix,
                     [](const std::uint8_t* p) { return Value{static_cast<std::int64_t>(load_le<std::uint64_t>(p))}; });
      case dt::kUInt8Array:
        return fixed(b, 1, prefix, [](const std::uint8_t* p) { return Value{std::uint64_t{*p}}; });
      case dt::kUInt16Array:
        return fixed(b, 2, prefix, [](const std::uint8_t* p) { return Value{std::uint64_t{load_le<std::uint16_t>(p)}}; });
      case dt::kUInt32Array:
        return fixed(b, 4, prefix, [](const std::uint8_t* p) { return Value{std::uint64_t{load_le<std::uint32_t>(p)}}; });
      case dt::kUInt64Array:
        return fixed(b, 8, prefix, [](const std::uint8_t* p) { return Value{load_le<std::uint64_t>(p)}; });
      case dt::kFloatArray:
        return fixed(b, 4, prefix, [](const std::uint8_t* p) {
          return Value{widen(std::bit_cast<float>(load_le<std::uint32_t>(p)))};
        });
      case dt::kDoubleArray:
        return fixed(b, 8, prefix,
                     [](const std::uint8_t* p) { return Value{std::bit_cast<double>(load_le<std::uint64_t>(p))}; });
      case dt::kBooleanArray: {
        if (b.size() < 4) return fail(reject("array", "a BooleanArray needs its 4-byte count"));
        std::uint64_t n = load_le<std::uint32_t>(b.data());
        if (b.size() - 4 != (n + 7) / 8)
          return fail(reject("array", "a BooleanArray of " + std::to_string(n) + " values needs " +
                                          std::to_string((n + 7) / 8) + " bytes after its count, not " +
                                          std::to_string(b.size() - 4)));
        if (auto r = room(static_cast<std::size_t>(n)); !r) return r;
        for (std::size_t i = 0; i < n; ++i) {
          bool bit = (b[4 + i / 8] >> (7 - i % 8)) & 1;  // most significant bit first
          out_.push_back(Leaf{index(prefix, i), Value{bit}, {}, {}});
        }
        return {};
      }
      case dt::kStringArray: {
        std::vector<std::string> items;
        std::size_t start = 0;
        for (std::size_t i = 0; i <= b.size(); ++i) {
          if (i == b.size() && start == b.size()) break;  // properly terminated (or empty)
          if (i == b.size() || b[i] == 0) {
            std::string s(reinterpret_cast<const char*>(b.data()) + start, i - start);
            if (!valid_utf8(s)) return fail(reject("utf8", "a StringArray element is not valid UTF-8"));
            items.push_back(std::move(s));
            start = i + 1;
          }
        }
        if (auto r = room(items.size()); !r) return r;
        for (std::size_t i = 0; i < items.size(); ++i) out_.push_back(Leaf{index(prefix, i), Value{std::move(items[i])}, {}, {}});
        return {};
      }
      default: return fail(reject("datatype", "unknown datatype " + std::to_string(t)));
    }
  }

  Result<void> dataset(const DataSet& d, const std::string& prefix) {
    if (d.columns.size() != d.types.size())
      return fail(reject("dataset", std::to_string(d.columns.size()) + " columns but " + std::to_string(d.types.size()) +
                                        " types"));
    for (std::size_t r = 0; r < d.rows.size(); ++r) {
      const auto& row = d.rows[r];
      if (row.size() != d.columns.size())
        return fail(reject("dataset", "row " + std::to_string(r) + " has " + std::to_string(row.size()) +
                                          " values for " + std::to_string(d.columns.size()) + " columns"));
      for (std::size_t c = 0; c < row.size(); ++c) {
        const auto& cell = row[c].v;
        if (std::holds_alternative<std::monostate>(cell)) continue;  // a null cell
        WireValue w = std::visit(
            [](const auto& x) -> WireValue {
              if constexpr (std::is_same_v<std::decay_t<decltype(x)>, std::monostate>) return std::monostate{};
              else return x;
            },
            cell);
        auto v = scalar(d.types[c], w);
        if (!v) return fail(v.error());
        if (auto ok = push(prefix + "/" + d.columns[c] + "[" + std::to_string(r) + "]", std::move(*v)); !ok) return ok;
      }
    }
    return {};
  }

  Result<void> templ(const Template& t, const std::string& prefix, int depth) {
    if (t.is_definition) return {};  // a type, not a value
    for (const auto& member : t.metrics) {
      if (!member.name || member.is_transient) continue;
      std::size_t first = out_.size();
      if (auto r = metric(member, member.datatype, prefix + "/" + *member.name, depth + 1); !r) return r;
      for (std::size_t i = first; i < out_.size(); ++i) {
        if (!out_[i].unit) out_[i].unit = member.unit;
        if (!out_[i].timestamp_ms) out_[i].timestamp_ms = member.timestamp_ms;
      }
    }
    return {};
  }

  const CodecOptions& o_;
  std::vector<Leaf>& out_;
};

}  // namespace

std::string_view message_type_name(MessageType t) {
  switch (t) {
    case MessageType::nbirth: return "NBIRTH";
    case MessageType::ndeath: return "NDEATH";
    case MessageType::ndata: return "NDATA";
    case MessageType::ncmd: return "NCMD";
    case MessageType::dbirth: return "DBIRTH";
    case MessageType::ddeath: return "DDEATH";
    case MessageType::ddata: return "DDATA";
    case MessageType::dcmd: return "DCMD";
    case MessageType::state: return "STATE";
  }
  return "?";
}

std::string Topic::device_key() const {
  std::string k = group + "/" + node;
  if (!device.empty()) k += "/" + device;
  return k;
}

Result<Topic> parse_topic(std::string_view topic) {
  auto bad = [&](const std::string& why) {
    return fail(reject("topic", "'" + std::string(topic) + "': " + why));
  };
  auto levels = adapters::topic_levels(topic);
  if (levels[0] != kNamespace) return bad("not in the " + std::string(kNamespace) + " namespace");
  for (auto l : levels) {
    if (l.empty()) return bad("empty level");
    if (l.find_first_of("+#") != std::string_view::npos) return bad("wildcards belong in filters, not topics");
  }
  Topic t;
  if (levels.size() == 3 && levels[1] == "STATE") {
    t.type = MessageType::state;
    t.node = std::string(levels[2]);
    return t;
  }
  if (levels.size() < 4) return bad("expected spBv1.0/<group>/<type>/<edge node>[/<device>]");
  static constexpr std::pair<std::string_view, MessageType> kTypes[] = {
      {"NBIRTH", MessageType::nbirth}, {"NDEATH", MessageType::ndeath}, {"NDATA", MessageType::ndata},
      {"NCMD", MessageType::ncmd},     {"DBIRTH", MessageType::dbirth}, {"DDEATH", MessageType::ddeath},
      {"DDATA", MessageType::ddata},   {"DCMD", MessageType::dcmd}};
  bool found = false;
  for (const auto& [name, type] : kTypes)
    if (levels[2] == name) {
      t.type = type;
      found = true;
    }
  if (!found) return bad("unknown message type '" + std::string(levels[2]) + "'");
  bool device_type = t.type == MessageType::dbirth || t.type == MessageType::ddeath || t.type == MessageType::ddata ||
                     t.type == MessageType::dcmd;
  if (levels.size() != (device_type ? 5u : 4u))
    return bad(std::string(message_type_name(t.type)) + (device_type ? " needs a device id" : " has no device level"));
  t.group = std::string(levels[1]);
  t.node = std::string(levels[3]);
  if (device_type) t.device = std::string(levels[4]);
  return t;
}

Result<Payload> parse_payload(std::span<const std::uint8_t> payload, const CodecOptions& opts) {
  if (payload.size() > opts.max_payload_bytes)
    return fail(reject("too_large", std::to_string(payload.size()) + " bytes exceeds max_payload_bytes " +
                                        std::to_string(opts.max_payload_bytes)));
  auto outer = parse_pb(payload.data(), payload.size());
  if (!outer) return fail(outer.error());
  const pb::Payload* p = &*outer;
  pb::Payload inner;
  bool compressed = p->has_uuid() && p->uuid() == kCompressedUuid;
  if (compressed) {
    for (const auto& m : p->metrics())
      if (m.name() == "algorithm" && m.value_case() == pb::Payload::Metric::kStringValue) {
        std::string a = m.string_value();
        for (auto& c : a) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (a != "DEFLATE" && a != "GZIP") return fail(reject("compressed", "unknown compression '" + a + "'"));
      }
    auto body = inflate_body(p->body(), opts.max_payload_bytes);
    if (!body) return fail(body.error());
    auto in = parse_pb(body->data(), body->size());
    if (!in) return fail(in.error());
    inner = std::move(*in);
    p = &inner;
  }
  Converter c{opts};
  auto out = c.payload(*p);
  if (out) out->was_compressed = compressed;
  return out;
}

std::uint32_t inferred_datatype(const WireValue& v) {
  switch (v.index()) {
    case 1: return dt::kUInt32;
    case 2: return dt::kUInt64;
    case 3: return dt::kFloat;
    case 4: return dt::kDouble;
    case 5: return dt::kBoolean;
    case 6: return dt::kString;
    case 7: return dt::kBytes;
    case 8: return dt::kDataSet;
    case 9: return dt::kTemplate;
    default: return dt::kUnknown;
  }
}

Result<void> expand(const Metric& m, std::uint32_t datatype, std::vector<Leaf>& out, const CodecOptions& opts) {
  Expander e(opts, out);
  return e.metric(m, datatype, "", 0);
}

std::vector<std::uint8_t> encode_rebirth_request(std::int64_t now_ms) {
  pb::Payload p;
  p.set_timestamp(static_cast<std::uint64_t>(now_ms));
  auto* m = p.add_metrics();
  m->set_name(std::string(kRebirthMetric));
  m->set_timestamp(static_cast<std::uint64_t>(now_ms));
  m->set_datatype(dt::kBoolean);
  m->set_boolean_value(true);
  std::string s = p.SerializeAsString();
  return std::vector<std::uint8_t>(s.begin(), s.end());
}

std::vector<std::uint8_t> state_payload(bool online, std::int64_t timestamp_ms) {
  std::string s = std::string("{\"online\":") + (online ? "true" : "false") + ",\"timestamp\":" +
                  std::to_string(timestamp_ms) + "}";
  return std::vector<std::uint8_t>(s.begin(), s.end());
}

std::string ncmd_topic(std::string_view group, std::string_view node) {
  return std::string(kNamespace) + "/" + std::string(group) + "/NCMD/" + std::string(node);
}

std::string state_topic(std::string_view host_id) { return std::string(kNamespace) + "/STATE/" + std::string(host_id); }

}  // namespace cg::sparkplug
