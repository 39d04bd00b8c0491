#include <catch2/catch.hpp>

#include <vector>

#include "lorawan_ttn/cayenne_lpp.hpp"

using namespace cg;
using namespace cg::lorawan_ttn;

namespace {
Result<std::vector<LppField>> lpp(std::vector<std::uint8_t> b) { return decode_cayenne_lpp(b); }
const Value& value_of(const std::vector<LppField>& f, const std::string& metric) {
  for (const auto& x : f)
    if (x.metric == metric) return x.value;
  FAIL("no metric " << metric);
  static Value none;
  return none;
}
}  // namespace

TEST_CASE("LPP: scalar types from the public type table", "[lorawan_ttn][lpp]") {
  auto r = lpp({
      0x01, 0x00, 0x08,              // ch1 digital in 8
      0x02, 0x01, 0xFF,              // ch2 digital out 255
      0x03, 0x02, 0x01, 0x36,        // ch3 analog in 3.10
      0x04, 0x03, 0xFF, 0x38,        // ch4 analog out -2.00
      0x05, 0x65, 0x07, 0xD8,        // ch5 illuminance 2008 lx
      0x06, 0x66, 0x01,              // ch6 presence 1
      0x07, 0x67, 0xFF, 0xD7,        // ch7 temperature -4.1 C
      0x08, 0x68, 0x61,              // ch8 humidity 48.5 %
      0x09, 0x73, 0x27, 0x6F,        // ch9 barometer 1009.5 hPa
  });
  REQUIRE(r);
  REQUIRE(r->size() == 9);
  CHECK((*r)[0] == LppField{"digital_in_1", std::int64_t{8}, ""});
  CHECK((*r)[1] == LppField{"digital_out_2", std::int64_t{255}, ""});
  CHECK((*r)[2] == LppField{"analog_in_3", 3.1, ""});
  CHECK((*r)[3] == LppField{"analog_out_4", -2.0, ""});
  CHECK((*r)[4] == LppField{"illuminance_5", std::int64_t{2008}, "lx"});
  CHECK((*r)[5] == LppField{"presence_6", std::int64_t{1}, ""});
  CHECK((*r)[6] == LppField{"temperature_7", -4.1, "Cel"});
  CHECK((*r)[7] == LppField{"relative_humidity_8", 48.5, "%"});
  CHECK((*r)[8] == LppField{"barometric_pressure_9", 1009.5, "hPa"});
}

TEST_CASE("LPP: accelerometer, gyrometer and GPS", "[lorawan_ttn][lpp]") {
  // Examples from the LPP documentation: accelerometer ch6 (1.234, -1.234, 0) g,
  // GPS ch1 42.3519 N, -87.9094 E, 10 m.
  auto r = lpp({0x06, 0x71, 0x04, 0xD2, 0xFB, 0x2E, 0x00, 0x00,                       //
                0x07, 0x86, 0x00, 0x64, 0xFF, 0x9C, 0x27, 0x10,                       // gyro 1, -1, 100
                0x01, 0x88, 0x06, 0x76, 0x5F, 0xF2, 0x96, 0x0A, 0x00, 0x03, 0xE8});
  REQUIRE(r);
  REQUIRE(r->size() == 9);
  CHECK(std::get<double>(value_of(*r, "accelerometer_6.x")) == 1.234);
  CHECK(std::get<double>(value_of(*r, "accelerometer_6.y")) == -1.234);
  CHECK(std::get<double>(value_of(*r, "accelerometer_6.z")) == 0.0);
  CHECK((*r)[0].unit == "g");
  CHECK(std::get<double>(value_of(*r, "gyrometer_7.x")) == 1.0);
  CHECK(std::get<double>(value_of(*r, "gyrometer_7.y")) == -1.0);
  CHECK(std::get<double>(value_of(*r, "gyrometer_7.z")) == 100.0);
  CHECK((*r)[3].unit == "deg/s");
  CHECK(std::get<double>(value_of(*r, "gps_1.latitude")) == 42.3519);
  CHECK(std::get<double>(value_of(*r, "gps_1.longitude")) == -87.9094);
  CHECK(std::get<double>(value_of(*r, "gps_1.altitude")) == 10.0);
  CHECK((*r)[6].unit == "deg");
  CHECK((*r)[8].unit == "m");
}

TEST_CASE("LPP: the default_valid vector's frm_payload", "[lorawan_ttn][lpp]") {
  auto r = lpp({0x01, 0x00, 0x08, 0x01, 0x00, 0x08, 0x03, 0x02, 0x01, 0x36, 0x29, 0x67, 0x00,
                0xf6, 0x2a, 0x02, 0x02, 0x58, 0x2b, 0x02, 0x0f, 0x60, 0x2c, 0x65, 0x07, 0xd8});
  REQUIRE(r);
  REQUIRE(r->size() == 7);
  CHECK(std::get<double>(value_of(*r, "temperature_41")) == 24.6);
  CHECK(std::get<double>(value_of(*r, "analog_in_42")) == 6.0);
  CHECK(std::get<double>(value_of(*r, "analog_in_43")) == 39.36);
  CHECK(std::get<std::int64_t>(value_of(*r, "illuminance_44")) == 2008);
}

TEST_CASE("LPP: empty, truncated and unknown input", "[lorawan_ttn][lpp]") {
  auto empty = lpp({});
  REQUIRE(empty);
  CHECK(empty->empty());
  for (auto bad : std::vector<std::vector<std::uint8_t>>{
           {0x01},                                      // header cut
           {0x01, 0x67},                                // no data
           {0x01, 0x67, 0x00},                          // temperature needs 2 bytes
           {0x01, 0x00, 0x08, 0x02},                    // second header cut
           {0x06, 0x71, 0x04, 0xD2, 0xFB, 0x2E, 0x00},  // accelerometer 5 of 6 bytes
           {0x01, 0x88, 0x06, 0x76, 0x5F, 0xF2, 0x96, 0x0A, 0x00, 0x03},  // GPS 8 of 9
       }) {
    auto r = lpp(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "lpp_truncated");
    CHECK(r.error().disposition == Disposition::reject);
  }
  auto unknown = lpp({0x01, 0xEE, 0x00});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == "lpp_type");
}
