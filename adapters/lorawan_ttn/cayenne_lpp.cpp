#include "lorawan_ttn/cayenne_lpp.hpp"

#include <array>
#include <string_view>

namespace cg::lorawan_ttn {

namespace {

enum class Shape { scalar, xyz, gps };

struct LppType {
  std::uint8_t type;
  std::string_view name;
  Shape shape;
  std::uint8_t width;  // bytes per component
  bool is_signed;
  double divisor;      // 1 = integer value
  std::string_view unit;
};

constexpr std::array<LppType, 25> kTypes{{
    {0, "digital_in", Shape::scalar, 1, false, 1, ""},
    {1, "digital_out", Shape::scalar, 1, false, 1, ""},
    {2, "analog_in", Shape::scalar, 2, true, 100, ""},
    {3, "analog_out", Shape::scalar, 2, true, 100, ""},
    {100, "generic_sensor", Shape::scalar, 4, false, 1, ""},
    {101, "illuminance", Shape::scalar, 2, false, 1, "lx"},
    {102, "presence", Shape::scalar, 1, false, 1, ""},
    {103, "temperature", Shape::scalar, 2, true, 10, "Cel"},
    {104, "relative_humidity", Shape::scalar, 1, false, 2, "%"},
    {113, "accelerometer", Shape::xyz, 2, true, 1000, "g"},
    {115, "barometric_pressure", Shape::scalar, 2, false, 10, "hPa"},
    {116, "voltage", Shape::scalar, 2, false, 100, "V"},
    {117, "current", Shape::scalar, 2, false, 1000, "A"},
    {118, "frequency", Shape::scalar, 4, false, 1, "Hz"},
    {120, "percentage", Shape::scalar, 1, false, 1, "%"},
    {121, "altitude", Shape::scalar, 2, true, 1, "m"},
    {125, "concentration", Shape::scalar, 2, false, 1, "ppm"},
    {128, "power", Shape::scalar, 2, false, 1, "W"},
    {130, "distance", Shape::scalar, 4, false, 1000, "m"},
    {131, "energy", Shape::scalar, 4, false, 1000, "kWh"},
    {132, "direction", Shape::scalar, 2, false, 1, "deg"},
    {133, "unixtime", Shape::scalar, 4, false, 1, "s"},
    {134, "gyrometer", Shape::xyz, 2, true, 100, "deg/s"},
    {136, "gps", Shape::gps, 3, true, 1, ""},
    {142, "switch", Shape::scalar, 1, false, 1, ""},
}};

const LppType* find_type(std::uint8_t t) {
  for (const auto& x : kTypes)
    if (x.type == t) return &x;
  return nullptr;
}

// Big-endian integer of `width` bytes at p, sign-extended when is_signed.
std::int64_t read_int(const std::uint8_t* p, std::uint8_t width, bool is_signed) {
  std::uint64_t v = 0;
  for (std::uint8_t i = 0; i < width; ++i) v = (v << 8) | p[i];
  if (is_signed && width < 8 && (v & (std::uint64_t{1} << (width * 8 - 1))))
    v |= ~std::uint64_t{0} << (width * 8);
  return static_cast<std::int64_t>(v);
}

Value scaled(std::int64_t raw, double divisor) {
  if (divisor == 1) return raw;
  return static_cast<double>(raw) / divisor;
}

}  // namespace

Result<std::vector<LppField>> decode_cayenne_lpp(std::span<const std::uint8_t> frame) {
  std::vector<LppField> out;
  std::size_t i = 0;
  while (i < frame.size()) {
    if (frame.size() - i < 2)
      return fail(Error::reject("lpp_truncated", "CayenneLPP field header cut off at byte " + std::to_string(i)));
    std::uint8_t channel = frame[i];
    std::uint8_t type = frame[i + 1];
    const LppType* t = find_type(type);
    if (!t)
      return fail(Error::reject("lpp_type", "unknown CayenneLPP type " + std::to_string(type) + " at byte " +
                                                std::to_string(i + 1)));
    std::size_t components = t->shape == Shape::scalar ? 1 : 3;
    std::size_t need = components * t->width;
    i += 2;
    if (frame.size() - i < need)
      return fail(Error::reject("lpp_truncated", "CayenneLPP " + std::string(t->name) + " on channel " +
                                                     std::to_string(channel) + " needs " + std::to_string(need) +
                                                     " bytes, " + std::to_string(frame.size() - i) + " left"));
    const std::uint8_t* p = frame.data() + i;
    std::string base = std::string(t->name) + "_" + std::to_string(channel);
    switch (t->shape) {
      case Shape::scalar:
        out.push_back({base, scaled(read_int(p, t->width, t->is_signed), t->divisor), std::string(t->unit)});
        break;
      case Shape::xyz: {
        static constexpr std::string_view kAxes[] = {"x", "y", "z"};
        for (std::size_t a = 0; a < 3; ++a)
          out.push_back({base + "." + std::string(kAxes[a]),
                         scaled(read_int(p + a * t->width, t->width, true), t->divisor), std::string(t->unit)});
        break;
      }
      case Shape::gps:
        out.push_back({base + ".latitude", static_cast<double>(read_int(p, 3, true)) / 10000.0, "deg"});
        out.push_back({base + ".longitude", static_cast<double>(read_int(p + 3, 3, true)) / 10000.0, "deg"});
        out.push_back({base + ".altitude", static_cast<double>(read_int(p + 6, 3, true)) / 100.0, "m"});
        break;
    }
    i += need;
  }
  return out;
}

}  // namespace cg::lorawan_ttn
