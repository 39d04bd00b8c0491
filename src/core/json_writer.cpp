#include "core/json_writer.hpp"

#include <optional>
#include <vector>

#include <cmath>

#include <fmt/format.h>

namespace cg::json {

namespace {
// Length of a valid UTF-8 sequence starting at s[i], or 0 if invalid.
std::size_t utf8_len(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n;
  std::uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  // reject overlongs, surrogates, out of range
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}
}  // namespace

void append_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = utf8_len(s, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
}

void append_double(std::string& out, double v) {
  if (std::isnan(v)) { out += "\"NaN\""; return; }
  if (std::isinf(v)) { out += v > 0 ? "\"Infinity\"" : "\"-Infinity\""; return; }
  // fmt's default for double is the shortest round-trip representation; a float that happens to
  // be integral keeps a ".0" so readers can tell it from an integer value (1.0 vs 1).
  auto start = out.size();
  fmt::format_to(std::back_inserter(out), "{}", v);
  if (out.find_first_of(".eE", start) == std::string::npos) out += ".0";
}

std::string base64_encode(const std::uint8_t* data, std::size_t n) {
  static constexpr char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < n; i += 3) {
    std::uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out.push_back(tbl[v >> 18]); out.push_back(tbl[(v >> 12) & 63]);
    out.push_back(tbl[(v >> 6) & 63]); out.push_back(tbl[v & 63]);
  }
  if (i + 1 == n) {
    std::uint32_t v = data[i] << 16;
    out.push_back(tbl[v >> 18]); out.push_back(tbl[(v >> 12) & 63]); out += "==";
  } else if (i + 2 == n) {
    std::uint32_t v = (data[i] << 16) | (data[i + 1] << 8);
    out.push_back(tbl[v >> 18]); out.push_back(tbl[(v >> 12) & 63]);
    out.push_back(tbl[(v >> 6) & 63]); out.push_back('=');
  }
  return out;
}

void append_value(std::string& out, const Value& v) {
  struct V {
    std::string& o;
    void operator()(double d) { append_double(o, d); }
    void operator()(std::int64_t i) { fmt::format_to(std::back_inserter(o), "{}", i); }
    void operator()(std::uint64_t u) { fmt::format_to(std::back_inserter(o), "{}", u); }
    void operator()(bool b) { o += b ? "true" : "false"; }
    void operator()(const std::string& s) { append_string(o, s); }
    void operator()(const Bytes& b) { append_string(o, base64_encode(b.data.data(), b.data.size())); }
  };
  std::visit(V{out}, v);
}

void append_tags(std::string& out, const Tags& tags) {
  out.push_back('{');
  bool first = true;
  for (const auto& [k, val] : tags) {
    if (!first) out.push_back(',');
    first = false;
    append_string(out, k);
    out.push_back(':');
    append_string(out, val);
  }
  out.push_back('}');
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view s) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::size_t n = s.size();
  std::size_t pad = 0;
  while (n > 0 && s[n - 1] == '=' && pad < 2) {
    --n;
    ++pad;
  }
  if (pad && (n + pad) % 4 != 0) return std::nullopt;
  if (n % 4 == 1) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(n * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    int v = val(s[i]);
    if (v < 0) return std::nullopt;
    acc = ((acc << 6) | static_cast<std::uint32_t>(v)) & 0xFFFFFFu;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xFFu));
    }
  }
  return out;
}

}  // namespace cg::json
