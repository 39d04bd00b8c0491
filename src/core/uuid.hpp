#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "core/reading.hpp"

namespace cg {

// RFC 9562 UUID version 7: 48-bit Unix milliseconds, then 74 random bits. Random bits come from
// the OS (getrandom), so two gateways or two incarnations never collide in practice.
std::array<std::uint8_t, 16> uuid_v7_bytes(TimeNs now);
std::string uuid_v7(TimeNs now);                       // canonical 8-4-4-4-12 lower-case hex
std::string uuid_to_string(const std::array<std::uint8_t, 16>& b);

}  // namespace cg
