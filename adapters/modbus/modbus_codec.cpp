#include "modbus/modbus_codec.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <limits>

namespace cg::modbus {

namespace {

// The value's bytes A (most significant) .. D from the two registers as read, per word order
// (the order names how A..D travel on the wire, two bytes per register, high byte first).
std::uint32_t combine(WordOrder o, std::uint16_t w0, std::uint16_t w1) {
  const std::uint32_t b0 = w0 >> 8, b1 = w0 & 0xFF, b2 = w1 >> 8, b3 = w1 & 0xFF;
  std::uint32_t a = 0, b = 0, c = 0, d = 0;
  switch (o) {
    case WordOrder::abcd: a = b0, b = b1, c = b2, d = b3; break;
    case WordOrder::cdab: a = b2, b = b3, c = b0, d = b1; break;
    case WordOrder::badc: a = b1, b = b0, c = b3, d = b2; break;
    case WordOrder::dcba: a = b3, b = b2, c = b1, d = b0; break;
  }
  return (a << 24) | (b << 16) | (c << 8) | d;
}

void split(WordOrder o, std::uint32_t v, std::uint16_t out[2]) {
  const std::uint32_t a = v >> 24, b = (v >> 16) & 0xFF, c = (v >> 8) & 0xFF, d = v & 0xFF;
  std::uint32_t b0 = 0, b1 = 0, b2 = 0, b3 = 0;
  switch (o) {
    case WordOrder::abcd: b0 = a, b1 = b, b2 = c, b3 = d; break;
    case WordOrder::cdab: b0 = c, b1 = d, b2 = a, b3 = b; break;
    case WordOrder::badc: b0 = b, b1 = a, b2 = d, b3 = c; break;
    case WordOrder::dcba: b0 = d, b1 = c, b2 = b, b3 = a; break;
  }
  out[0] = static_cast<std::uint16_t>((b0 << 8) | b1);
  out[1] = static_cast<std::uint16_t>((b2 << 8) | b3);
}

// The double nearest the shortest decimal text that round-trips `f` (see the header).
double widen_shortest(float f) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, f);
  double d = static_cast<double>(f);
  std::from_chars(buf, res.ptr, d);
  return d;
}

// A scale with a whole-number inverse divides, so decimal scales give the decimal answer.
std::optional<double> inverse_divisor(double scale) {
  if (std::abs(scale) >= 1.0) return std::nullopt;
  double inv = 1.0 / scale;
  double r = std::round(inv);
  if (r != 0.0 && std::abs(inv - r) <= 1e-9 * std::abs(r)) return r;
  return std::nullopt;
}

double apply_scale(double x, double scale) {
  if (scale == 1.0) return x;
  if (auto div = inverse_divisor(scale)) return x / *div;
  return x * scale;
}

double unapply_scale(double x, double scale) {
  if (scale == 1.0) return x;
  if (auto div = inverse_divisor(scale)) return x * *div;
  return x / scale;
}

template <class T>
T clamp_round(double v) {
  if (std::isnan(v)) return 0;
  double r = std::round(v);
  if (r <= static_cast<double>(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
  if (r >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(r);
}

}  // namespace

Result<Value> decode_value(const Register& reg, std::span<const std::uint16_t> words) {
  if (words.size() < static_cast<std::size_t>(width(reg.kind)))
    return fail(Error::reject("short", "register '" + reg.metric + "' needs " + std::to_string(width(reg.kind)) +
                                           " words"));
  auto integer = [&](std::int64_t raw) -> Value {
    if (reg.scale == 1.0) return raw;
    return apply_scale(static_cast<double>(raw), reg.scale);
  };
  switch (reg.kind) {
    case ValueKind::int16: return integer(static_cast<std::int16_t>(words[0]));
    case ValueKind::uint16: return integer(words[0]);
    case ValueKind::int32: return integer(static_cast<std::int32_t>(combine(reg.order, words[0], words[1])));
    case ValueKind::uint32: return integer(combine(reg.order, words[0], words[1]));
    case ValueKind::float32: {
      float f = std::bit_cast<float>(combine(reg.order, words[0], words[1]));
      if (!std::isfinite(f))
        return fail(Error::reject("non_finite", "register '" + reg.metric + "' holds " +
                                                    (std::isnan(f) ? std::string("NaN") : std::string("infinity"))));
      return apply_scale(widen_shortest(f), reg.scale);
    }
  }
  return fail(Error::reject("type", "unknown register type"));
}

std::vector<std::uint16_t> encode_value(const Register& reg, double value) {
  double raw = unapply_scale(value, reg.scale);
  std::uint16_t w[2] = {0, 0};
  switch (reg.kind) {
    case ValueKind::int16: return {static_cast<std::uint16_t>(clamp_round<std::int16_t>(raw))};
    case ValueKind::uint16: return {clamp_round<std::uint16_t>(raw)};
    case ValueKind::int32: split(reg.order, static_cast<std::uint32_t>(clamp_round<std::int32_t>(raw)), w); break;
    case ValueKind::uint32: split(reg.order, clamp_round<std::uint32_t>(raw), w); break;
    case ValueKind::float32: split(reg.order, std::bit_cast<std::uint32_t>(static_cast<float>(raw)), w); break;
  }
  return {w[0], w[1]};
}

void decode_block(const Profile& p, const ReadBlock& block, std::span<const std::uint16_t> words,
                  const std::string& device, TimeNs received, Decoded& out) {
  for (std::size_t i : block.regs) {
    const Register& reg = p.registers[i];
    std::size_t off = reg.address - block.start;
    if (reg.address < block.start || off + width(reg.kind) > words.size()) {
      out.errors.push_back(Error::reject("short", "register '" + reg.metric + "' lies outside the registers read"));
      continue;
    }
    auto v = decode_value(reg, words.subspan(off, width(reg.kind)));
    if (!v) {
      out.errors.push_back(v.error());
      continue;
    }
    Reading r;
    r.device = device;
    r.metric = reg.metric;
    r.value = std::move(*v);
    r.unit = reg.unit;
    r.observed = received;
    r.received = received;
    r.quality = quality::kTimeFromGateway;
    out.readings.push_back(std::move(r));
  }
}

std::uint16_t crc16(std::span<const std::uint8_t> data) {
  std::uint16_t crc = 0xFFFF;
  for (auto byte : data) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? static_cast<std::uint16_t>((crc >> 1) ^ 0xA001) : crc >> 1;
  }
  return crc;
}

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One line of hex text (comment already removed) into bytes; false on a bad token.
bool parse_hex_line(std::string_view line, std::vector<std::uint8_t>& out, std::string& why) {
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == ',')) ++i;
    std::size_t j = i;
    while (j < line.size() && !(line[j] == ' ' || line[j] == '\t' || line[j] == '\r' || line[j] == ',')) ++j;
    std::string_view tok = line.substr(i, j - i);
    i = j;
    if (tok.empty()) continue;
    if (tok.size() > 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X')) tok.remove_prefix(2);
    if (tok.size() % 2) {
      why = "'" + std::string(tok) + "' is not whole bytes of hex";
      return false;
    }
    for (std::size_t k = 0; k < tok.size(); k += 2) {
      int hi = hex_digit(tok[k]), lo = hex_digit(tok[k + 1]);
      if (hi < 0 || lo < 0) {
        why = "'" + std::string(tok) + "' is not hex";
        return false;
      }
      out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
  }
  return true;
}

std::string_view exception_name(int code) {
  switch (code) {
    case 1: return "illegal function";
    case 2: return "illegal data address";
    case 3: return "illegal data value";
    case 4: return "server device failure";
    case 5: return "acknowledge";
    case 6: return "server device busy";
    case 8: return "memory parity error";
    case 10: return "gateway path unavailable";
    case 11: return "gateway target device failed to respond";
  }
  return "unknown exception";
}

std::string hex2(int v) {
  static const char* k = "0123456789abcdef";
  return std::string("0x") + k[(v >> 4) & 15] + k[v & 15];
}

}  // namespace

Decoded decode_frames(const Profile& p, std::string_view text, const FrameDecodeOptions& o) {
  Decoded out;
  std::map<int, std::string> device_of_unit;
  for (const auto& [device, unit] : o.units) {
    int u = -1;
    auto res = std::from_chars(unit.data(), unit.data() + unit.size(), u);
    if (res.ec == std::errc() && res.ptr == unit.data() + unit.size()) device_of_unit.emplace(u, device);
  }
  struct Pending {
    std::uint16_t start, count;
  };
  std::map<std::pair<int, int>, Pending> pending;  // (unit, function) -> the last read request

  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto eol = text.find('\n', pos);
    std::string_view line = text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? text.size() + 1 : eol + 1;
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    const std::string at = "line " + std::to_string(line_no) + ": ";
    std::vector<std::uint8_t> b;
    std::string why;
    if (!parse_hex_line(line, b, why)) {
      out.errors.push_back(Error::reject("hex", at + why));
      continue;
    }
    if (b.empty()) continue;

    int unit = 0;
    std::span<const std::uint8_t> pdu;
    const std::size_t n = b.size();
    if (n >= 8 && b[2] == 0 && b[3] == 0 && static_cast<std::size_t>((b[4] << 8) | b[5]) == n - 6) {
      unit = b[6];  // Modbus TCP: MBAP header (transaction, protocol 0, length, unit), then the PDU
      pdu = std::span<const std::uint8_t>(b).subspan(7);
    } else if (n >= 4 && crc16(std::span<const std::uint8_t>(b).first(n - 2)) == (b[n - 2] | (b[n - 1] << 8))) {
      unit = b[0];  // RTU: address, PDU, CRC low byte first
      pdu = std::span<const std::uint8_t>(b).subspan(1, n - 3);
    } else {
      out.errors.push_back(Error::reject(
          "frame", at + "neither a Modbus TCP frame (MBAP header) nor an RTU frame with a valid CRC"));
      continue;
    }
    if (pdu.empty()) {
      out.errors.push_back(Error::reject("frame", at + "empty PDU"));
      continue;
    }
    const int fc = pdu[0];
    if (fc & 0x80) {
      int code = pdu.size() > 1 ? pdu[1] : 0;
      out.errors.push_back(Error::reject("exception", at + "unit " + std::to_string(unit) + " answered function " +
                                                          hex2(fc & 0x7F) + " with exception " + std::to_string(code) +
                                                          " (" + std::string(exception_name(code)) + ")"));
      continue;
    }
    if (fc != 0x03 && fc != 0x04) {
      out.errors.push_back(Error::reject("function", at + "function " + hex2(fc) +
                                                         " is not a register read (0x03 holding, 0x04 input)"));
      continue;
    }
    const Function f = static_cast<Function>(fc);
    if (pdu.size() == 5) {  // a read request (a response always has an even PDU length)
      std::uint16_t start = static_cast<std::uint16_t>((pdu[1] << 8) | pdu[2]);
      std::uint16_t count = static_cast<std::uint16_t>((pdu[3] << 8) | pdu[4]);
      pending[{unit, fc}] = {start, count};
      continue;
    }
    const std::size_t bc = pdu.size() >= 2 ? pdu[1] : 0;
    if (pdu.size() < 4 || bc != pdu.size() - 2 || bc % 2) {
      out.errors.push_back(Error::reject("frame", at + "malformed read response (byte count " + std::to_string(bc) +
                                                      ", " + std::to_string(pdu.size() - 1) + " bytes follow)"));
      continue;
    }
    const auto count = static_cast<std::uint16_t>(bc / 2);
    std::vector<std::uint16_t> words(count);
    for (std::size_t k = 0; k < count; ++k)
      words[k] = static_cast<std::uint16_t>((pdu[2 + 2 * k] << 8) | pdu[3 + 2 * k]);

    std::optional<std::uint16_t> start;
    if (auto it = pending.find({unit, fc}); it != pending.end()) {
      if (it->second.count != count) {
        out.errors.push_back(Error::reject("mismatch", at + "the request asked for " + std::to_string(it->second.count) +
                                                           " registers, the response holds " + std::to_string(count)));
        pending.erase(it);
        continue;
      }
      start = it->second.start;
      pending.erase(it);
    } else {
      for (const auto& r : p.registers)
        if (r.function == f && (!start || r.address < *start)) start = r.address;
    }
    ReadBlock block{f, start.value_or(0), count, {}};
    for (std::size_t i = 0; i < p.registers.size(); ++i) {
      const auto& r = p.registers[i];
      if (start && r.function == f && r.address >= *start && r.end() <= *start + count) block.regs.push_back(i);
    }
    if (block.regs.empty()) {
      out.errors.push_back(Error::reject(
          "no_registers", at + std::string(function_name(f)) + " registers " +
                              (start ? std::to_string(*start) + ".." + std::to_string(*start + count - 1)
                                     : std::string("(none in the profile)")) +
                              " hold no register of profile " + p.name));
      continue;
    }
    auto dev = device_of_unit.find(unit);
    std::string device = dev != device_of_unit.end() ? dev->second : "unit-" + std::to_string(unit);
    decode_block(p, block, words, device, o.received, out);
  }
  return out;
}

}  // namespace cg::modbus
