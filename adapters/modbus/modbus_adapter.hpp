#pragma once
// The polling adapter shared by `modbus_tcp` and `modbus_rtu`, their common config keys, and the
// offline decoder both kinds offer.
//
// Threads (DESIGN §3): everything in PollAdapter runs on the adapter's strand except the poll
// itself, which runs on the runtime's worker pool through AdapterContext::run_blocking(key, job)
// (the runtime scopes keys to the adapter instance):
//   modbus_tcp  key "device:<device id>": one connection per device, so a silent meter blocks
//               only its own key;
//   modbus_rtu  key "bus:<serial device>": one port per instance, units polled in turn (an
//               RS-485 bus carries one request at a time).
// The job owns nothing of the adapter: it holds the Link (shared_ptr), the immutable profile and
// read plan, reads, decodes on the worker, and hands readings and the outcome back with post().
// It calls ctx.post() and ctx.clock().now() from the worker thread: the runtime keeps the context
// valid while the adapter's blocking jobs run.
//
// Cadence: each device has its own timer (first poll at start, then every poll_interval_ms). A
// tick that finds the device's previous poll still queued or running is skipped and counted
// (polls of one device never overlap or pile up). timeout_ms < poll_interval_ms is enforced.
//
// Failures never stop the adapter: each failed poll counts modbus_poll_errors_total{adapter,
// device,reason}; the device's state (up / down with a reason) is logged only when it changes;
// readings read before a failure in the same poll are still submitted.
//
// Metrics:
//   modbus_polls_total{adapter,device}                 polls that read every register block
//   modbus_poll_errors_total{adapter,device,reason}    connect|timeout|exception|protocol|io, and
//                                                      non_finite (a NaN/inf register, skipped)
//   modbus_polls_skipped_total{adapter,device}         ticks skipped: previous poll still busy
//   modbus_readings_dropped_total{adapter,reason}      throttled|failed: the store refused a poll's readings
//   modbus_device_up{adapter,device}                   1 after a good poll, 0 after a failed one
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "adapter_api/adapter.hpp"
#include "modbus/modbus_link.hpp"
#include "modbus/modbus_profile.hpp"

namespace cg::modbus {

struct DeviceSpec {
  std::string id;  // reading device id
  int unit = 1;    // Modbus unit id (RTU slave address)
  std::shared_ptr<const Profile> profile;
  std::shared_ptr<const std::vector<ReadBlock>> plan;
};

struct PollerConfig {
  std::string kind;  // "modbus_tcp" | "modbus_rtu"
  bool tcp = true;
  TcpTarget tcp_target;
  SerialTarget serial_target;
  std::chrono::milliseconds interval{10000};
  std::chrono::milliseconds timeout{1000};
  std::vector<DeviceSpec> devices;
};

class PollAdapter final : public Adapter {
 public:
  explicit PollAdapter(std::string id, PollerConfig cfg);
  ~PollAdapter() override;
  Result<void> start(AdapterContext& ctx) override;
  void stop() override;

  struct State;  // shared with timers, posted completions and (weakly) blocking jobs

 private:
  std::shared_ptr<State> st_;
};

// ---- config shared by both kinds ----

// The keys both kinds declare, in this order after their connection keys.
inline constexpr ConfigKey kUnitsKey{
    "units", KeyType::string_map, "", true,
    "Devices on this connection: device id -> Modbus unit id, e.g. { \"meter-01\" = \"1\" } (TCP 0..255, RTU 1..247)."};
inline constexpr ConfigKey kProfileKey{
    "profile", KeyType::string, "", false,
    "Device profile (register map) for every unit without a unit_profiles entry: a name looked up as "
    "<profiles_dir>/<name>.toml, or a path to a .toml file."};
inline constexpr ConfigKey kUnitProfilesKey{"unit_profiles", KeyType::string_map, "", false,
                                            "Per-device profile for mixed buses: device id -> profile name."};
inline constexpr ConfigKey kProfilesDirKey{"profiles_dir", KeyType::string, "\"/etc/citygate/profiles\"", false,
                                           "Where profile names are looked up (relative: to the working directory)."};
inline constexpr ConfigKey kPollIntervalKey{"poll_interval_ms", KeyType::integer, "10000", false,
                                            "How often each device is read, in milliseconds (100..86400000)."};
inline constexpr ConfigKey kTimeoutKey{
    "timeout_ms", KeyType::integer, "1000", false,
    "Per-request answer (and TCP connect) timeout in milliseconds (10..60000); must be below poll_interval_ms."};

// Reads units/profiles/timing into `out` (devices, interval, timeout): profiles are loaded and
// checked now, so `citygate check-config` reports a missing or bad profile. Unit ids must be
// 0..255 (TCP) or 1..247 (RTU); unit ids are unique within the instance.
Result<void> read_common(const ConfigView& cfg, PollerConfig& out);

// `citygate decode --kind modbus_tcp|modbus_rtu [--profile NAME] FILE`: the profile is
// --profile, else the config's `profile`, resolved in `profiles_dir`; the config's `units` name
// the devices. See modbus_codec.hpp (decode_frames) for the input format.
Result<std::unique_ptr<DecodeSession>> make_frame_decoder(const ConfigView& cfg);

}  // namespace cg::modbus
