#pragma once
// CayenneLPP (Cayenne Low Power Payload) decoder: pure, bounds-checked, no allocation beyond the
// result. A frame is a sequence of [channel][type][data...]; multi-byte data is big-endian.
//
// Supported types (LPP type = IPSO object id - 3200), metric "<name>_<channel>":
//   0 digital_in (u8)          1 digital_out (u8)          2 analog_in (i16 /100)
//   3 analog_out (i16 /100)    100 generic_sensor (u32)    101 illuminance (u16, lx)
//   102 presence (u8)          103 temperature (i16 /10, Cel)
//   104 relative_humidity (u8 /2, %)                       113 accelerometer (3 x i16 /1000, g)
//   115 barometric_pressure (u16 /10, hPa)                 116 voltage (u16 /100, V)
//   117 current (u16 /1000, A) 118 frequency (u32, Hz)     120 percentage (u8, %)
//   121 altitude (i16, m)      125 concentration (u16, ppm) 128 power (u16, W)
//   130 distance (u32 /1000, m) 131 energy (u32 /1000, kWh) 132 direction (u16, deg)
//   133 unixtime (u32, s)      134 gyrometer (3 x i16 /100, deg/s)
//   136 gps (lat i24 /10000 deg, lon i24 /10000 deg, alt i24 /100 m)   142 switch (u8)
// Three-axis values become "<name>_<ch>.x|.y|.z"; GPS "gps_<ch>.latitude|.longitude|.altitude".
// Values with a divisor of 1 are integers (i64); scaled values are f64 (raw / divisor).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/reading.hpp"
#include "core/result.hpp"

namespace cg::lorawan_ttn {

struct LppField {
  std::string metric;
  Value value;
  std::string unit;
  friend bool operator==(const LppField&, const LppField&) = default;
};

// Errors (Disposition::reject): lpp_truncated (a field runs past the end), lpp_type (unknown
// type byte). An empty frame decodes to no fields.
Result<std::vector<LppField>> decode_cayenne_lpp(std::span<const std::uint8_t> frame);

}  // namespace cg::lorawan_ttn
