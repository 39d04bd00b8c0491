#include "simulated/fleet.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace cg::sim {

std::string_view kind_name(DeviceKind k) {
  switch (k) {
    case DeviceKind::air_quality: return "aq";
    case DeviceKind::traffic: return "traffic";
    case DeviceKind::energy_meter: return "meter";
    case DeviceKind::noise: return "noise";
  }
  return "?";
}

Fleet::Fleet(int count, std::uint64_t seed) : rng_(seed) {
  static constexpr DeviceKind kinds[] = {DeviceKind::air_quality, DeviceKind::traffic, DeviceKind::energy_meter,
                                         DeviceKind::noise};
  std::uniform_real_distribution<double> ph(0, 1);
  for (int i = 0; i < count; ++i) {
    DeviceKind k = kinds[i % 4];
    char buf[64];
    std::snprintf(buf, sizeof buf, "sim-%s-%03d", std::string(kind_name(k)).c_str(), i + 1);
    devices_.push_back({buf, k, ph(rng_), 1000.0 + 500.0 * ph(rng_), 0});
  }
}

namespace {
// Local hour of day in [0,24) (UTC is good enough for a simulation).
double hour_of_day(TimeNs t) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  return static_cast<double>(((s % 86400) + 86400) % 86400) / 3600.0;
}
// Two rush-hour peaks (08:00, 17:30) over a daytime plateau, near zero at night.
double traffic_shape(double h) {
  auto bump = [](double x, double mu, double sigma) { return std::exp(-0.5 * std::pow((x - mu) / sigma, 2)); };
  double day = 0.35 * (1.0 / (1.0 + std::exp(-(h - 6.5) * 2))) * (1.0 / (1.0 + std::exp((h - 22) * 2)));
  return 0.05 + day + 0.9 * bump(h, 8.0, 1.0) + 0.8 * bump(h, 17.5, 1.2);
}
}  // namespace

std::vector<Reading> Fleet::sample(std::size_t i, TimeNs t, std::chrono::milliseconds since_last) {
  auto& d = devices_[i];
  std::normal_distribution<double> noise(0, 1);
  double h = hour_of_day(t) + d.phase;  // devices are not all in the same street
  double tr = traffic_shape(std::fmod(h, 24.0));
  std::vector<Reading> out;
  auto add = [&](std::string metric, Value v, std::string unit) {
    Reading r;
    r.device = d.id;
    r.metric = std::move(metric);
    r.value = std::move(v);
    r.unit = std::move(unit);
    r.observed = t;
    r.received = t;
    r.src_seq = d.counter;
    r.quality = quality::kSimulated;
    out.push_back(std::move(r));
  };
  switch (d.kind) {
    case DeviceKind::air_quality: {
      double pm25 = std::max(1.0, 6 + 22 * tr + 2 * noise(rng_));
      add("pm2_5", std::round(pm25 * 10) / 10, "ug/m3");
      add("pm10", std::round((pm25 * 1.6 + 3 + noise(rng_)) * 10) / 10, "ug/m3");
      add("no2", std::round(std::max(2.0, 12 + 40 * tr + 3 * noise(rng_)) * 10) / 10, "ug/m3");
      double temp = 11 + 6 * std::sin((h - 9) / 24 * 2 * std::numbers::pi) + 0.3 * noise(rng_);
      add("temperature", std::round(temp * 100) / 100, "Cel");
      add("humidity", std::round(std::clamp(70 - 2 * (temp - 11) + 2 * noise(rng_), 5.0, 100.0) * 10) / 10, "%RH");
      break;
    }
    case DeviceKind::traffic: {
      double per_min = 60 * tr;
      double secs = std::chrono::duration<double>(since_last).count();
      std::poisson_distribution<std::int64_t> p(std::max(0.01, per_min * secs / 60.0));
      add("vehicle_count", static_cast<std::int64_t>(p(rng_)), "{vehicles}");
      add("avg_speed", std::round(std::max(5.0, 50 - 25 * tr + 3 * noise(rng_)) * 10) / 10, "km/h");
      break;
    }
    case DeviceKind::energy_meter: {
      double kw = std::max(0.1, 3 + 4 * tr + 0.5 * noise(rng_));
      d.energy_kwh += kw * std::chrono::duration<double, std::ratio<3600>>(since_last).count();
      add("active_power", std::round(kw * 1000), "W");
      add("energy_import", std::round(d.energy_kwh * 1000) / 1000, "kWh");
      add("voltage", std::round((230 + 2 * noise(rng_)) * 10) / 10, "V");
      break;
    }
    case DeviceKind::noise: {
      add("laeq", std::round((38 + 30 * tr + 2 * noise(rng_)) * 10) / 10, "dB");
      break;
    }
  }
  ++d.counter;
  return out;
}

}  // namespace cg::sim
