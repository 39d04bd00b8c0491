#pragma once
// A deterministic model of a small city's sensors (pure: time in, readings out), shared by the
// `simulated` adapter and `citygate simulate`. Behaviour is plausible rather than random noise:
// air quality follows traffic with a daily cycle, traffic counts peak at rush hours, energy
// meters only ever count up, noise follows traffic with a night floor.
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/reading.hpp"

namespace cg::sim {

enum class DeviceKind { air_quality, traffic, energy_meter, noise };

struct SimDevice {
  std::string id;
  DeviceKind kind;
  double phase = 0;       // per-device variation
  double energy_kwh = 0;  // cumulative state for meters
  std::uint64_t counter = 0;
};

class Fleet {
 public:
  // `count` devices, kinds round-robin, ids like "sim-aq-001", "sim-traffic-002", ...
  Fleet(int count, std::uint64_t seed);
  // One sample of every metric of device i at time t (observed = received = t); advances state.
  std::vector<Reading> sample(std::size_t i, TimeNs t, std::chrono::milliseconds since_last);
  std::size_t size() const { return devices_.size(); }
  const SimDevice& device(std::size_t i) const { return devices_[i]; }

 private:
  std::vector<SimDevice> devices_;
  std::mt19937_64 rng_;
};

std::string_view kind_name(DeviceKind k);

}  // namespace cg::sim
