#pragma once
// Modbus codec: pure (registers / frames -> Readings), no I/O, no libmodbus, fuzzable.
//
// Values:
//   int16/uint16/int32/uint32 with scale 1 -> i64 (exact); with another scale -> f64.
//   float32 -> f64 holding the shortest decimal that round-trips the float32, then scaled:
//   43 66 33 33 reads 230.2 and 43 66 33 34 (the next float up) 230.20001, not their exact
//   binary values 230.1999969482421875 / 230.20001220703125. Still lossless (the same float32
//   comes back from the double), without digits the meter never measured. NaN and infinities are not
//   readings: they are reported as errors (code "non_finite"), the other registers still decode.
//   Scaling: a scale whose inverse is a whole number (0.1, 0.01, 0.001 ...) divides by that
//   number, so 2301 x 0.1 reads 230.1 rather than 230.10000000000002; other scales multiply.
//
// Readings: device as given, metric/unit from the profile, observed = received = the time the
// response arrived, quality kTimeFromGateway (a meter's registers carry no time), no tags.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/reading.hpp"
#include "core/result.hpp"
#include "modbus/modbus_profile.hpp"

namespace cg::modbus {

// Decodes one register value from its words (as read: words[0] is at the register's address).
// `words` must hold width(reg.kind) words.
Result<Value> decode_value(const Register& reg, std::span<const std::uint16_t> words);

// The inverse, for simulators and tests: the words a device would hold for `value` (already in
// the reading's scaled unit). Integers are rounded and clamped to the type's range.
std::vector<std::uint16_t> encode_value(const Register& reg, double value);

struct Decoded {
  std::vector<Reading> readings;
  std::vector<Error> errors;  // per register that did not decode (non_finite)
};

// Decodes the profile registers of `block` from the words read for it (block.count words).
void decode_block(const Profile& p, const ReadBlock& block, std::span<const std::uint16_t> words,
                  const std::string& device, TimeNs received, Decoded& out);

// CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF); sent low byte first.
std::uint16_t crc16(std::span<const std::uint8_t> data);

// ---- frames (offline decoding: `citygate decode --kind modbus_tcp|modbus_rtu`) ----
//
// Input: text, one frame per line, bytes as hex pairs ("01 04 04 43 66 33 34 1B 38",
// "0104044366"; optional "0x" per byte), '#' starts a comment, blank lines ignored.
// A frame is Modbus TCP (MBAP header: protocol id 0 and a length that matches) or RTU (slave
// address, PDU, valid CRC). Functions 0x03 and 0x04 only:
//   * a read request (PDU of 5 bytes: function, start, quantity) sets the start address for the
//     next response of the same unit and function;
//   * a response (function, byte count, registers) decodes every profile register of that
//     function lying wholly inside the registers it carries, starting at the pending request's
//     start - or, without a request in the file, at the lowest address the profile has for
//     that function (so a lone answer to the profile's first read decodes as expected);
//   * an exception response (function | 0x80) is an error (code "exception").
// Device: the `units` entry (device id -> unit id) naming the frame's unit id, else "unit-<id>".
struct FrameDecodeOptions {
  TimeNs received{};
  std::vector<std::pair<std::string, std::string>> units;  // device id -> unit id (config)
};
Decoded decode_frames(const Profile& p, std::string_view text, const FrameDecodeOptions& o);

}  // namespace cg::modbus
