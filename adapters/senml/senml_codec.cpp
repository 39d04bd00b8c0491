#include "senml/senml_codec.hpp"

#include <cbor.h>
#include <simdjson.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

namespace cg::senml {

namespace {

// ---------------------------------------------------------------------------------------------
// Raw records: what one pack says, field by field, before resolution. Both parsers produce these.

struct Num {
  double d = 0;
  bool is_int = false;  // an integer on the wire (JSON integer literal, CBOR major type 0/1)
  std::int64_t i = 0;
};

struct RawRecord {
  std::optional<std::string> bn, bu, n, u, vs;
  std::optional<Num> bt, bv, bs, t, v, s, ut;
  std::optional<std::int64_t> bver;
  std::optional<bool> vb;
  std::optional<std::vector<std::uint8_t>> vd;
};

enum class Label { bver, bn, bt, bu, bv, bs, n, u, v, vs, vb, s, t, ut, vd, unknown };

Label label_from_name(std::string_view k) {
  static constexpr std::pair<std::string_view, Label> kNames[] = {
      {"bver", Label::bver}, {"bn", Label::bn}, {"bt", Label::bt}, {"bu", Label::bu}, {"bv", Label::bv},
      {"bs", Label::bs},     {"n", Label::n},   {"u", Label::u},   {"v", Label::v},   {"vs", Label::vs},
      {"vb", Label::vb},     {"s", Label::s},   {"t", Label::t},   {"ut", Label::ut}, {"vd", Label::vd},
  };
  for (const auto& [name, label] : kNames)
    if (name == k) return label;
  return Label::unknown;
}

// RFC 8428 §6, Table 4.
Label label_from_int(std::int64_t k) {
  switch (k) {
    case -1: return Label::bver;
    case -2: return Label::bn;
    case -3: return Label::bt;
    case -4: return Label::bu;
    case -5: return Label::bv;
    case -6: return Label::bs;
    case 0: return Label::n;
    case 1: return Label::u;
    case 2: return Label::v;
    case 3: return Label::vs;
    case 4: return Label::vb;
    case 5: return Label::s;
    case 6: return Label::t;
    case 7: return Label::ut;
    case 8: return Label::vd;
    default: return Label::unknown;
  }
}

const char* label_name(Label l) {
  static constexpr const char* kNames[] = {"bver", "bn", "bt", "bu", "bv", "bs", "n", "u",
                                           "v",    "vs", "vb", "s",  "t",  "ut", "vd", "?"};
  return kNames[static_cast<int>(l)];
}

struct FieldVal {
  enum Kind { text, number, boolean, bytes, other } kind = other;
  std::string_view str;  // text, or bytes (raw)
  Num num;
  bool b = false;
};

Error reject(const char* code, std::string msg) { return Error::reject(code, std::move(msg)); }

// Unknown label given by name: ignored, unless it ends in '_' (must-understand, RFC 8428 §4.4).
std::optional<Error> check_unknown_name(std::string_view k) {
  if (!k.empty() && k.back() == '_')
    return reject("must_understand", "must-understand field '" + std::string(k) + "' is not supported");
  return std::nullopt;
}

template <class T>
std::optional<Error> put(std::optional<T>& slot, T v, Label l) {
  if (slot) return reject("duplicate_field", std::string("field '") + label_name(l) + "' given twice in one record");
  slot = std::move(v);
  return std::nullopt;
}

std::optional<Error> set_field(RawRecord& r, Label l, const FieldVal& f, Format fmt) {
  auto type_error = [&](const char* want) {
    return reject("field_type", std::string("field '") + label_name(l) + "' must be " + want);
  };
  switch (l) {
    case Label::bn: case Label::bu: case Label::n: case Label::u: case Label::vs: {
      if (f.kind != FieldVal::text) return type_error("a string");
      std::string s(f.str);
      auto& slot = l == Label::bn ? r.bn : l == Label::bu ? r.bu : l == Label::n ? r.n : l == Label::u ? r.u : r.vs;
      return put(slot, std::move(s), l);
    }
    case Label::bt: case Label::bv: case Label::bs: case Label::t: case Label::v: case Label::s: case Label::ut: {
      if (f.kind != FieldVal::number) return type_error("a number");
      if (!std::isfinite(f.num.d)) return type_error("a finite number");
      auto& slot = l == Label::bt ? r.bt : l == Label::bv ? r.bv : l == Label::bs ? r.bs : l == Label::t ? r.t
                 : l == Label::v ? r.v : l == Label::s ? r.s : r.ut;
      return put(slot, f.num, l);
    }
    case Label::bver: {
      if (f.kind != FieldVal::number || !f.num.is_int) return reject("bver", "bver must be an integer");
      if (f.num.i > 10) return reject("bver", "SenML version " + std::to_string(f.num.i) + " is newer than 10");
      if (f.num.i < 1) return reject("bver", "invalid SenML version " + std::to_string(f.num.i));
      return put(r.bver, f.num.i, l);
    }
    case Label::vb:
      if (f.kind != FieldVal::boolean) return type_error("a boolean");
      return put(r.vb, f.b, l);
    case Label::vd: {
      if (fmt == Format::json) {
        if (f.kind != FieldVal::text) return type_error("a base64url string");
        auto bytes = base64url_decode(f.str);
        if (!bytes) return reject("bad_base64", "vd is not base64url without padding");
        return put(r.vd, std::move(*bytes), l);
      }
      if (f.kind != FieldVal::bytes) return type_error("a byte string");
      return put(r.vd, std::vector<std::uint8_t>(f.str.begin(), f.str.end()), l);
    }
    case Label::unknown: break;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// JSON

Result<std::vector<RawRecord>> parse_json(std::span<const std::uint8_t> payload, const CodecOptions& opts) {
  thread_local simdjson::dom::parser parser;
  const auto depth = static_cast<std::size_t>(opts.max_depth);
  if (parser.max_depth() != depth) {
    if (auto e = parser.allocate(std::max<std::size_t>(payload.size(), 4096), depth))
      return fail(Error::retry("memory", std::string("JSON parser allocation: ") + simdjson::error_message(e)));
  }
  simdjson::dom::element doc;
  auto err = parser.parse(reinterpret_cast<const char*>(payload.data()), payload.size(), true).get(doc);
  if (err == simdjson::DEPTH_ERROR)
    return fail(reject("depth", "JSON nested deeper than " + std::to_string(opts.max_depth)));
  if (err) return fail(reject("json", std::string("invalid JSON: ") + simdjson::error_message(err)));
  simdjson::dom::array arr;
  if (doc.get(arr)) return fail(reject("json", "a SenML pack must be a JSON array"));
  if (arr.size() > opts.max_records)
    return fail(reject("too_many_records", "more than " + std::to_string(opts.max_records) + " records"));

  std::vector<RawRecord> out;
  out.reserve(arr.size());
  using T = simdjson::dom::element_type;
  for (auto elem : arr) {
    simdjson::dom::object obj;
    if (elem.get(obj)) return fail(reject("not_record", "record " + std::to_string(out.size()) + " is not an object"));
    RawRecord r;
    for (auto field : obj) {
      Label l = label_from_name(field.key);
      if (l == Label::unknown) {
        if (auto e = check_unknown_name(field.key)) return fail(*e);
        continue;
      }
      FieldVal f;
      auto v = field.value;
      switch (v.type()) {
        case T::INT64:
          f.kind = FieldVal::number;
          f.num.is_int = true;
          f.num.i = v.get_int64().value_unsafe();
          f.num.d = static_cast<double>(f.num.i);
          break;
        case T::UINT64:  // above INT64_MAX: kept as a float
          f.kind = FieldVal::number;
          f.num.d = static_cast<double>(v.get_uint64().value_unsafe());
          break;
        case T::DOUBLE:
          f.kind = FieldVal::number;
          f.num.d = v.get_double().value_unsafe();
          break;
        case T::STRING: f.kind = FieldVal::text; f.str = v.get_string().value_unsafe(); break;
        case T::BOOL: f.kind = FieldVal::boolean; f.b = v.get_bool().value_unsafe(); break;
        default: f.kind = FieldVal::other; break;
      }
      if (auto e = set_field(r, l, f, Format::json)) return fail(*e);
    }
    out.push_back(std::move(r));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// CBOR: libcbor's streaming decoder fills a small bounded tree (own limits on items, depth and
// declared lengths), which is then read like the JSON DOM.

struct Node {
  enum Kind : std::uint8_t { uint, negint, flt, boolean, null, undef, text, bytes, array, map } kind = null;
  bool indefinite = false;
  bool b = false;
  std::uint64_t u = 0;   // uint value, or n for negint (value -1-n)
  double d = 0;
  std::uint64_t remaining = 0;  // definite containers: children still expected
  std::string str;              // text or bytes
  std::vector<std::uint32_t> kids;
};

struct Builder {
  Builder(const CodecOptions& o, std::size_t n) : opts(o), size(n) {}
  const CodecOptions& opts;
  std::size_t size = 0;
  std::size_t pos = 0;  // offset of the item being decoded
  std::vector<Node> nodes;
  std::vector<std::uint32_t> stack;
  std::size_t items = 0;
  bool have_root = false;
  bool root_done = false;
  std::optional<Error> err;

  void set_err(Error e) {
    if (!err) err = std::move(e);
  }

  bool top_is_open_string() const {
    if (stack.empty()) return false;
    auto k = nodes[stack.back()].kind;
    return k == Node::text || k == Node::bytes;
  }

  void cascade() {
    while (!stack.empty()) {
      const Node& top = nodes[stack.back()];
      if (top.indefinite || top.remaining > 0) break;
      stack.pop_back();
    }
    if (stack.empty()) root_done = true;
  }

  bool count_item() {
    if (err) return false;
    if (root_done) {
      set_err(reject("cbor", "trailing data after the pack"));
      return false;
    }
    if (++items > opts.max_cbor_items) {
      set_err(reject("too_many_items", "more than " + std::to_string(opts.max_cbor_items) + " CBOR items"));
      return false;
    }
    return true;
  }

  // Adds a complete scalar, or a container / indefinite string that stays open when `open`.
  void add(Node n, bool open) {
    if (!count_item()) return;
    if (top_is_open_string()) {
      Node& s = nodes[stack.back()];
      if (open || n.kind != s.kind) {
        set_err(reject("cbor", "bad chunk in an indefinite-length string"));
        return;
      }
      s.str += n.str;
      return;
    }
    if (nodes.size() >= std::numeric_limits<std::uint32_t>::max()) {
      set_err(reject("too_many_items", "too many CBOR items"));
      return;
    }
    auto idx = static_cast<std::uint32_t>(nodes.size());
    nodes.push_back(std::move(n));
    if (!stack.empty()) {
      Node& parent = nodes[stack.back()];
      parent.kids.push_back(idx);
      if (!parent.indefinite) --parent.remaining;
    } else {
      have_root = true;
    }
    if (open) {
      stack.push_back(idx);
      if (stack.size() > static_cast<std::size_t>(opts.max_depth)) {
        set_err(reject("depth", "CBOR nested deeper than " + std::to_string(opts.max_depth)));
        return;
      }
    }
    cascade();
  }

  void scalar(Node::Kind k, std::uint64_t u = 0, double d = 0, bool b = false) {
    Node n;
    n.kind = k;
    n.u = u;
    n.d = d;
    n.b = b;
    add(std::move(n), false);
  }

  void string(Node::Kind k, cbor_data data, std::size_t len) {
    Node n;
    n.kind = k;
    n.str.assign(reinterpret_cast<const char*>(data), len);
    add(std::move(n), false);
  }

  void string_start(Node::Kind k) {
    Node n;
    n.kind = k;
    n.indefinite = true;
    add(std::move(n), true);
  }

  void container(Node::Kind k, std::size_t declared, bool indefinite) {
    if (err) return;
    Node n;
    n.kind = k;
    n.indefinite = indefinite;
    if (!indefinite) {
      const std::size_t left = size - pos;  // every child needs at least one byte
      if (k == Node::map && declared > left / 2) {
        set_err(reject("too_large", "CBOR map declares " + std::to_string(declared) + " pairs in " +
                                        std::to_string(left) + " bytes"));
        return;
      }
      if (declared > left) {
        set_err(reject("too_large", "CBOR array declares " + std::to_string(declared) + " items in " +
                                        std::to_string(left) + " bytes"));
        return;
      }
      if (stack.empty() && !have_root && k == Node::array && declared > opts.max_records) {
        set_err(reject("too_many_records", "more than " + std::to_string(opts.max_records) + " records"));
        return;
      }
      n.remaining = k == Node::map ? declared * 2 : declared;
    }
    const bool open = indefinite || n.remaining > 0;
    add(std::move(n), open);
  }

  void brk() {
    if (err) return;
    if (stack.empty() || !nodes[stack.back()].indefinite) {
      set_err(reject("cbor", "unexpected break"));
      return;
    }
    const Node& top = nodes[stack.back()];
    if (top.kind == Node::map && top.kids.size() % 2 != 0) {
      set_err(reject("cbor", "indefinite-length map with a key but no value"));
      return;
    }
    stack.pop_back();
    cascade();
  }
};

Builder& B(void* ctx) { return *static_cast<Builder*>(ctx); }

const cbor_callbacks& callbacks() {
  static const cbor_callbacks cb = [] {
    cbor_callbacks c = cbor_empty_callbacks;
    c.uint8 = [](void* x, uint8_t v) { B(x).scalar(Node::uint, v); };
    c.uint16 = [](void* x, uint16_t v) { B(x).scalar(Node::uint, v); };
    c.uint32 = [](void* x, uint32_t v) { B(x).scalar(Node::uint, v); };
    c.uint64 = [](void* x, uint64_t v) { B(x).scalar(Node::uint, v); };
    c.negint8 = [](void* x, uint8_t v) { B(x).scalar(Node::negint, v); };
    c.negint16 = [](void* x, uint16_t v) { B(x).scalar(Node::negint, v); };
    c.negint32 = [](void* x, uint32_t v) { B(x).scalar(Node::negint, v); };
    c.negint64 = [](void* x, uint64_t v) { B(x).scalar(Node::negint, v); };
    c.byte_string_start = [](void* x) { B(x).string_start(Node::bytes); };
    c.byte_string = [](void* x, cbor_data d, size_t n) { B(x).string(Node::bytes, d, n); };
    c.string_start = [](void* x) { B(x).string_start(Node::text); };
    c.string = [](void* x, cbor_data d, size_t n) { B(x).string(Node::text, d, n); };
    c.indef_array_start = [](void* x) { B(x).container(Node::array, 0, true); };
    c.array_start = [](void* x, size_t n) { B(x).container(Node::array, n, false); };
    c.indef_map_start = [](void* x) { B(x).container(Node::map, 0, true); };
    c.map_start = [](void* x, size_t n) { B(x).container(Node::map, n, false); };
    // Tags carry no meaning in SenML: counted against the item limit, otherwise transparent.
    c.tag = [](void* x, uint64_t) {
      auto& b = B(x);
      if (b.count_item() && b.top_is_open_string()) b.set_err(reject("cbor", "tag inside a string"));
    };
    c.float2 = [](void* x, float v) { B(x).scalar(Node::flt, 0, v); };
    c.float4 = [](void* x, float v) { B(x).scalar(Node::flt, 0, v); };
    c.float8 = [](void* x, double v) { B(x).scalar(Node::flt, 0, v); };
    c.undefined = [](void* x) { B(x).scalar(Node::undef); };
    c.null = [](void* x) { B(x).scalar(Node::null); };
    c.boolean = [](void* x, bool v) { B(x).scalar(Node::boolean, 0, 0, v); };
    c.indef_break = [](void* x) { B(x).brk(); };
    return c;
  }();
  return cb;
}

FieldVal cbor_field(const Node& n) {
  FieldVal f;
  switch (n.kind) {
    case Node::uint:
      f.kind = FieldVal::number;
      f.num.d = static_cast<double>(n.u);
      if (n.u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        f.num.is_int = true;
        f.num.i = static_cast<std::int64_t>(n.u);
      }
      break;
    case Node::negint:
      f.kind = FieldVal::number;
      f.num.d = -1.0 - static_cast<double>(n.u);
      if (n.u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        f.num.is_int = true;
        f.num.i = -1 - static_cast<std::int64_t>(n.u);
      }
      break;
    case Node::flt: f.kind = FieldVal::number; f.num.d = n.d; break;
    case Node::boolean: f.kind = FieldVal::boolean; f.b = n.b; break;
    case Node::text: f.kind = FieldVal::text; f.str = n.str; break;
    case Node::bytes: f.kind = FieldVal::bytes; f.str = n.str; break;
    default: break;
  }
  return f;
}

Result<std::vector<RawRecord>> parse_cbor(std::span<const std::uint8_t> payload, const CodecOptions& opts) {
  Builder b(opts, payload.size());
  while (b.pos < payload.size()) {
    if (b.root_done) return fail(reject("cbor", "trailing data after the pack"));
    auto res = cbor_stream_decode(payload.data() + b.pos, payload.size() - b.pos, &callbacks(), &b);
    if (b.err) return fail(*b.err);
    if (res.status == CBOR_DECODER_NEDATA) return fail(reject("cbor", "truncated CBOR"));
    if (res.status != CBOR_DECODER_FINISHED || res.read == 0) return fail(reject("cbor", "malformed CBOR"));
    b.pos += res.read;
  }
  if (!b.root_done) return fail(reject("cbor", "truncated CBOR"));

  const Node& root = b.nodes.front();
  if (root.kind != Node::array) return fail(reject("cbor", "a SenML pack must be a CBOR array"));
  if (root.kids.size() > opts.max_records)
    return fail(reject("too_many_records", "more than " + std::to_string(opts.max_records) + " records"));
  std::vector<RawRecord> out;
  out.reserve(root.kids.size());
  for (auto ri : root.kids) {
    const Node& rec = b.nodes[ri];
    if (rec.kind != Node::map) return fail(reject("not_record", "record " + std::to_string(out.size()) + " is not a map"));
    RawRecord r;
    for (std::size_t i = 0; i + 1 < rec.kids.size(); i += 2) {
      const Node& key = b.nodes[rec.kids[i]];
      Label l = Label::unknown;
      if (key.kind == Node::uint && key.u <= 100) {
        l = label_from_int(static_cast<std::int64_t>(key.u));
      } else if (key.kind == Node::negint && key.u <= 100) {
        l = label_from_int(-1 - static_cast<std::int64_t>(key.u));
      } else if (key.kind == Node::text) {
        l = label_from_name(key.str);
        if (l == Label::unknown) {
          if (auto e = check_unknown_name(key.str)) return fail(*e);
        }
      }
      if (l == Label::unknown) continue;
      if (auto e = set_field(r, l, cbor_field(b.nodes[rec.kids[i + 1]]), Format::cbor)) return fail(*e);
    }
    out.push_back(std::move(r));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Resolution (RFC 8428 §4.6)

bool valid_name(std::string_view s) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (s.empty() || !alnum(s.front())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-' && c != ':' && c != '.' && c != '/' && c != '_') return false;
  return true;
}

Value add_values(const std::optional<Num>& base, const Num& v) {
  if (v.is_int && (!base || base->is_int)) {
    std::int64_t sum = 0;
    if (!__builtin_add_overflow(base ? base->i : 0, v.i, &sum)) return sum;
  }
  return (base ? base->d : 0.0) + v.d;
}

std::int64_t seconds_to_ns(double t) {
  double whole = std::floor(t);
  double frac = t - whole;
  return static_cast<std::int64_t>(whole) * 1'000'000'000 + std::llround(frac * 1e9);
}

}  // namespace

std::optional<std::vector<std::uint8_t>> base64url_decode(std::string_view s) {
  if (s.size() % 4 == 1) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(s.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    else return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::optional<Format> detect_format(std::span<const std::uint8_t> payload) {
  if (payload.empty()) return std::nullopt;
  if (payload[0] >= 0x80 && payload[0] <= 0x9f) return Format::cbor;
  for (auto c : payload) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (c == '[') return Format::json;
    break;
  }
  return std::nullopt;
}

Result<std::vector<Record>> resolve(std::span<const std::uint8_t> payload, const CodecOptions& opts) {
  if (payload.size() > opts.max_payload_bytes)
    return fail(reject("too_large", "payload of " + std::to_string(payload.size()) + " bytes exceeds " +
                                        std::to_string(opts.max_payload_bytes)));
  auto fmt = detect_format(payload);
  if (!fmt) return fail(reject("format", "neither a JSON array nor a CBOR array"));
  auto raw = *fmt == Format::json ? parse_json(payload, opts) : parse_cbor(payload, opts);
  if (!raw) return fail(raw.error());

  std::optional<std::string> bn, bu;
  std::optional<Num> bv, bs;
  double bt = 0;
  std::vector<Record> out;
  out.reserve(raw->size());
  std::size_t index = 0;
  for (auto& r : *raw) {
    const std::string where = "record " + std::to_string(index++);
    if (r.bn) bn = r.bn;
    if (r.bt) bt = r.bt->d;
    if (r.bu) bu = r.bu;
    if (r.bv) bv = r.bv;
    if (r.bs) bs = r.bs;

    Record rec;
    rec.base_name = bn;
    rec.n = r.n;
    rec.name = bn.value_or("") + r.n.value_or("");
    if (rec.name.empty()) return fail(reject("no_name", where + " has no name (neither bn nor n)"));
    if (!valid_name(rec.name)) return fail(reject("bad_name", where + ": invalid SenML name '" + rec.name + "'"));
    int values = int(r.v.has_value()) + int(r.vs.has_value()) + int(r.vb.has_value()) + int(r.vd.has_value());
    if (values > 1) return fail(reject("two_values", where + " has more than one value field"));
    rec.unit = r.u ? *r.u : bu.value_or("");
    rec.time_s = bt + (r.t ? r.t->d : 0.0);
    if (!std::isfinite(rec.time_s) || std::fabs(rec.time_s) > 9.0e9)
      return fail(reject("time", where + ": time out of range"));
    if (r.v) rec.value = add_values(bv, *r.v);
    else if (r.vs) rec.value = std::move(*r.vs);
    else if (r.vb) rec.value = *r.vb;
    else if (r.vd) rec.value = Bytes{std::move(*r.vd)};
    if (r.s) rec.sum = add_values(bs, *r.s);
    out.push_back(std::move(rec));
  }
  return out;
}

Result<std::vector<Reading>> decode(std::span<const std::uint8_t> payload, TimeNs received, const CodecOptions& opts) {
  auto recs = resolve(payload, opts);
  if (!recs) return fail(recs.error());
  std::vector<Reading> out;
  for (auto& rec : *recs) {
    if (!rec.value && !rec.sum) continue;  // base fields only
    std::string device;
    if (rec.base_name && !rec.base_name->empty()) {
      device = *rec.base_name;
      if (device.back() == ':' || device.back() == '/') device.pop_back();
    }
    if (device.empty()) device = rec.name;
    std::string metric = rec.n && !rec.n->empty() ? *rec.n : std::string("value");

    Reading base;
    base.device = std::move(device);
    base.unit = rec.unit;
    base.received = received;
    if (rec.time_s < kRelativeTimeLimit) {
      base.observed = received + std::chrono::nanoseconds(seconds_to_ns(rec.time_s));
      base.quality |= quality::kTimeFromGateway;
    } else {
      base.observed = from_unix_ns(seconds_to_ns(rec.time_s));
    }
    if (rec.value) {
      Reading r = base;
      r.metric = metric;
      r.value = std::move(*rec.value);
      out.push_back(std::move(r));
    }
    if (rec.sum) {
      Reading r = std::move(base);
      r.metric = metric + ".sum";
      r.value = std::move(*rec.sum);
      out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace cg::senml
