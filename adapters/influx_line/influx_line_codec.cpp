#include "influx_line/influx_line_codec.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <system_error>
#include <unordered_map>

namespace cg::influx_line {

namespace {

constexpr std::string_view kMeasurementEscapes = ", ";
constexpr std::string_view kKeyEscapes = ",= ";

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t'; }

// Strict UTF-8 check (no overlongs, no surrogates, max U+10FFFF).
bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    unsigned min;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, min = 0x10000, cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= n) return false;
    for (int k = 1; k <= n; ++k) {
      if ((p[k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += n + 1;
  }
  return true;
}

struct LineParser {
  std::string_view s;
  std::size_t i = 0;

  tl::unexpected<Error> err(std::string code, std::string_view what) const {
    return fail(Error::reject(std::move(code), "column " + std::to_string(i + 1) + ": " + std::string(what)));
  }
  bool at_end() const { return i >= s.size(); }
  void skip_spaces() {
    while (i < s.size() && s[i] == ' ') ++i;
  }
  // Reads an identifier up to an unescaped char of `stops`; `\x` with x in `escapable` yields x,
  // any other backslash is literal.
  std::string scan(std::string_view stops, std::string_view escapable) {
    std::string out;
    while (i < s.size()) {
      char c = s[i];
      if (c == '\\' && i + 1 < s.size() && escapable.find(s[i + 1]) != std::string_view::npos) {
        out.push_back(s[i + 1]);
        i += 2;
        continue;
      }
      if (stops.find(c) != std::string_view::npos) break;
      out.push_back(c);
      ++i;
    }
    return out;
  }
};

bool valid_float_syntax(std::string_view t) {
  std::size_t i = 0;
  if (i < t.size() && (t[i] == '-' || t[i] == '+')) ++i;
  std::size_t int_digits = 0, frac_digits = 0;
  while (i < t.size() && is_digit(t[i])) ++i, ++int_digits;
  if (i < t.size() && t[i] == '.') {
    ++i;
    while (i < t.size() && is_digit(t[i])) ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '-' || t[i] == '+')) ++i;
    std::size_t exp_digits = 0;
    while (i < t.size() && is_digit(t[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == t.size();
}

bool all_digits(std::string_view t) {
  return !t.empty() && std::all_of(t.begin(), t.end(), is_digit);
}

// Parses an unquoted field value. Errors carry a code and a message (no column).
Result<FieldValue> parse_scalar(std::string_view t) {
  if (t.empty()) return fail(Error::reject("syntax", "missing field value"));
  static constexpr std::string_view kTrue[] = {"t", "T", "true", "True", "TRUE"};
  static constexpr std::string_view kFalse[] = {"f", "F", "false", "False", "FALSE"};
  for (auto w : kTrue)
    if (t == w) return FieldValue{true};
  for (auto w : kFalse)
    if (t == w) return FieldValue{false};
  char last = t.back();
  if (last == 'i') {
    auto body = t.substr(0, t.size() - 1);
    auto digits = (!body.empty() && body[0] == '-') ? body.substr(1) : body;
    if (!all_digits(digits)) return fail(Error::reject("syntax", "invalid integer '" + std::string(t) + "'"));
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
    if (ec == std::errc::result_out_of_range)
      return fail(Error::reject("range", "integer out of int64 range: " + std::string(t)));
    if (ec != std::errc{} || p != body.data() + body.size())
      return fail(Error::reject("syntax", "invalid integer '" + std::string(t) + "'"));
    return FieldValue{v};
  }
  if (last == 'u') {
    auto body = t.substr(0, t.size() - 1);
    if (!all_digits(body)) return fail(Error::reject("syntax", "invalid unsigned integer '" + std::string(t) + "'"));
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
    if (ec == std::errc::result_out_of_range)
      return fail(Error::reject("range", "unsigned integer out of uint64 range: " + std::string(t)));
    if (ec != std::errc{} || p != body.data() + body.size())
      return fail(Error::reject("syntax", "invalid unsigned integer '" + std::string(t) + "'"));
    return FieldValue{v};
  }
  if (!valid_float_syntax(t))
    return fail(Error::reject("syntax", "field value '" + std::string(t) + "' has an unrecognised type"));
  auto num = t[0] == '+' ? t.substr(1) : t;
  double v = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (ec == std::errc::result_out_of_range) {
    // from_chars reports underflow as out of range too: tiny values become 0 / subnormal, only an
    // overflow to infinity is an error.
    std::string copy(num);
    v = std::strtod(copy.c_str(), nullptr);
    if (!(v <= std::numeric_limits<double>::max() && v >= -std::numeric_limits<double>::max()))
      return fail(Error::reject("range", "float out of range: " + std::string(t)));
    return FieldValue{v};
  }
  if (ec != std::errc{} || p != num.data() + num.size())
    return fail(Error::reject("syntax", "invalid float '" + std::string(t) + "'"));
  return FieldValue{v};
}

// floor(t / unit) * unit, without overflow.
TimeNs truncate_to(TimeNs t, std::int64_t unit) {
  std::int64_t ns = to_unix_ns(t);
  std::int64_t q = ns / unit;
  if (ns % unit != 0 && ns < 0) --q;
  return from_unix_ns(q * unit);
}

void sort_unique_tags(Tags& tags) {
  std::stable_sort(tags.begin(), tags.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // keep the last of each run of equal keys
  Tags out;
  out.reserve(tags.size());
  for (std::size_t k = 0; k < tags.size(); ++k) {
    if (k + 1 < tags.size() && tags[k + 1].first == tags[k].first) continue;
    out.push_back(std::move(tags[k]));
  }
  tags = std::move(out);
}

void unique_fields(std::vector<std::pair<std::string, FieldValue>>& fields) {
  std::vector<std::pair<std::string, FieldValue>> out;
  out.reserve(fields.size());
  if (fields.size() <= 32) {
    for (auto& f : fields) {
      auto it = std::find_if(out.begin(), out.end(), [&](const auto& o) { return o.first == f.first; });
      if (it != out.end()) it->second = std::move(f.second);
      else out.push_back(std::move(f));
    }
  } else {
    std::unordered_map<std::string, std::size_t> index;
    index.reserve(fields.size());
    for (auto& f : fields) {
      auto [it, inserted] = index.try_emplace(f.first, out.size());
      if (inserted) out.push_back(std::move(f));
      else out[it->second].second = std::move(f.second);
    }
  }
  fields = std::move(out);
}

bool is_blank_or_comment(std::string_view line) {
  std::size_t k = 0;
  while (k < line.size() && is_space(line[k])) ++k;
  return k == line.size() || line[k] == '#';
}

}  // namespace

std::optional<Precision> parse_precision(std::string_view text) {
  if (text.size() > 1 && text[0] == '1') text.remove_prefix(1);
  if (text == "ns") return Precision::ns;
  if (text == "us" || text == "\xC2\xB5s" /* µs */) return Precision::us;
  if (text == "ms") return Precision::ms;
  if (text == "s") return Precision::s;
  return std::nullopt;
}

std::int64_t precision_ns(Precision p) {
  switch (p) {
    case Precision::ns: return 1;
    case Precision::us: return 1000;
    case Precision::ms: return 1000000;
    case Precision::s: return 1000000000;
  }
  return 1;
}

Result<Point> parse_line(std::string_view line, TimeNs default_time, const CodecOptions& opts) {
  if (line.size() > opts.max_line_bytes)
    return fail(Error::reject("line_too_long", "line of " + std::to_string(line.size()) + " bytes exceeds the limit of " +
                                                   std::to_string(opts.max_line_bytes)));
  if (!valid_utf8(line)) return fail(Error::reject("utf8", "line is not valid UTF-8"));
  LineParser ps{line};
  while (!ps.at_end() && is_space(line[ps.i])) ++ps.i;
  if (ps.at_end()) return ps.err("syntax", "blank line");
  if (line[ps.i] == '#') return ps.err("syntax", "comment line");

  Point pt;
  pt.measurement = ps.scan(", ", kMeasurementEscapes);
  if (pt.measurement.empty()) return ps.err("syntax", "missing measurement");
  if (ps.at_end()) return ps.err("syntax", "missing field set");

  if (line[ps.i] == ',') {
    for (;;) {
      ++ps.i;  // the ','
      std::string key = ps.scan("=, ", kKeyEscapes);
      if (key.empty()) return ps.err("syntax", "missing tag key");
      if (ps.at_end() || line[ps.i] != '=') return ps.err("syntax", "tag key '" + key + "' without '='");
      ++ps.i;
      std::string value = ps.scan(", =", kKeyEscapes);
      if (!ps.at_end() && line[ps.i] == '=') return ps.err("syntax", "unescaped '=' in tag value");
      if (value.empty()) return ps.err("syntax", "missing tag value for '" + key + "'");
      pt.tags.emplace_back(std::move(key), std::move(value));
      if (ps.at_end()) return ps.err("syntax", "missing field set");
      if (line[ps.i] == ' ') break;
    }
  }
  ps.skip_spaces();
  if (ps.at_end()) return ps.err("syntax", "missing field set");

  for (;;) {
    std::string key = ps.scan("=, ", kKeyEscapes);
    if (key.empty()) return ps.err("syntax", "missing field key");
    if (ps.at_end() || line[ps.i] != '=') return ps.err("syntax", "field key '" + key + "' without '='");
    ++ps.i;
    if (ps.at_end()) return ps.err("syntax", "missing value for field '" + key + "'");
    if (line[ps.i] == '"') {
      ++ps.i;
      std::string v;
      bool closed = false;
      while (!ps.at_end()) {
        char c = line[ps.i];
        if (c == '\\' && ps.i + 1 < line.size() && (line[ps.i + 1] == '"' || line[ps.i + 1] == '\\')) {
          v.push_back(line[ps.i + 1]);
          ps.i += 2;
          continue;
        }
        ++ps.i;
        if (c == '"') {
          closed = true;
          break;
        }
        v.push_back(c);
      }
      if (!closed) return ps.err("syntax", "unterminated string value for field '" + key + "'");
      if (!ps.at_end() && line[ps.i] != ',' && line[ps.i] != ' ')
        return ps.err("syntax", "unexpected character after string value");
      pt.fields.emplace_back(std::move(key), FieldValue{std::move(v)});
    } else {
      std::size_t start = ps.i;
      while (!ps.at_end() && line[ps.i] != ',' && line[ps.i] != ' ') ++ps.i;
      auto v = parse_scalar(line.substr(start, ps.i - start));
      if (!v) {
        ps.i = start;
        return ps.err(v.error().code, "field '" + key + "': " + v.error().message);
      }
      pt.fields.emplace_back(std::move(key), std::move(*v));
    }
    if (pt.fields.size() > opts.max_fields_per_line)
      return ps.err("too_many_fields", "more than " + std::to_string(opts.max_fields_per_line) + " fields");
    if (ps.at_end() || line[ps.i] == ' ') break;
    ++ps.i;  // the ','
  }

  ps.skip_spaces();
  const std::int64_t unit = precision_ns(opts.precision);
  if (ps.at_end()) {
    pt.time = truncate_to(default_time, unit);
    pt.has_timestamp = false;
  } else {
    std::size_t start = ps.i;
    while (!ps.at_end() && line[ps.i] != ' ') ++ps.i;
    auto tok = line.substr(start, ps.i - start);
    auto digits = (!tok.empty() && tok[0] == '-') ? tok.substr(1) : tok;
    ps.i = start;
    if (!all_digits(digits)) return ps.err("syntax", "invalid timestamp '" + std::string(tok) + "'");
    std::int64_t ts = 0;
    auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), ts);
    if (ec == std::errc::result_out_of_range) return ps.err("range", "timestamp out of int64 range");
    if (ec != std::errc{} || p != tok.data() + tok.size()) return ps.err("syntax", "invalid timestamp");
    std::int64_t ns = 0;
    if (__builtin_mul_overflow(ts, unit, &ns)) return ps.err("range", "timestamp out of range for the precision");
    ps.i = start + tok.size();
    ps.skip_spaces();
    if (!ps.at_end()) return ps.err("syntax", "unexpected text after the timestamp");
    pt.time = from_unix_ns(ns);
    pt.has_timestamp = true;
  }

  sort_unique_tags(pt.tags);
  unique_fields(pt.fields);
  return pt;
}

PointsResult decode_points(std::string_view body, TimeNs default_time, const CodecOptions& opts) {
  PointsResult out;
  std::size_t total_fields = 0;
  std::size_t line_no = 0;
  auto reject = [&](std::size_t n, std::string code, std::string reason) {
    ++out.rejected_lines;
    if (out.errors.size() < opts.max_errors) out.errors.push_back({n, std::move(code), std::move(reason)});
  };
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t nl = body.find('\n', pos);
    std::string_view line = body.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? body.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (is_blank_or_comment(line)) continue;
    auto p = parse_line(line, default_time, opts);
    if (!p) {
      reject(line_no, p.error().code, p.error().message);
      continue;
    }
    if (total_fields + p->fields.size() > opts.max_readings) {
      reject(line_no, "too_many_readings",
             "the body exceeds the limit of " + std::to_string(opts.max_readings) + " readings");
      continue;
    }
    total_fields += p->fields.size();
    out.points.push_back(std::move(*p));
  }
  return out;
}

std::string device_of(const Point& p) {
  for (const auto& [k, v] : p.tags)
    if (k == "device") return v;
  for (const auto& [k, v] : p.tags)
    if (k == "host") return v;
  return p.measurement;
}

DecodeResult decode(std::string_view body, TimeNs received, const CodecOptions& opts) {
  auto pr = decode_points(body, received, opts);
  DecodeResult out;
  out.errors = std::move(pr.errors);
  out.rejected_lines = pr.rejected_lines;
  std::size_t n = 0;
  for (const auto& p : pr.points) n += p.fields.size();
  out.readings.reserve(n);
  for (auto& p : pr.points) {
    std::string device = device_of(p);
    for (auto& [key, value] : p.fields) {
      Reading r;
      r.device = device;
      r.metric = p.measurement + "." + key;
      r.value = std::move(value);
      r.tags = p.tags;
      r.observed = p.time;
      r.received = received;
      if (!p.has_timestamp) r.quality |= quality::kTimeFromGateway;
      out.readings.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace cg::influx_line
