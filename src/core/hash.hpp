#pragma once
// FNV-1a, 64 bit: a cheap, stable fingerprint of a payload (recognising a redelivered message).
// Not cryptographic. Chain calls by passing the previous result as `h`.
#include <cstdint>
#include <span>
#include <string_view>

namespace cg {

inline constexpr std::uint64_t kFnv1aBasis = 1469598103934665603ull;

inline std::uint64_t fnv1a(std::span<const std::uint8_t> b, std::uint64_t h = kFnv1aBasis) {
  for (auto c : b) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

inline std::uint64_t fnv1a(std::string_view s, std::uint64_t h = kFnv1aBasis) {
  return fnv1a(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()), h);
}

}  // namespace cg
