// `modbus_rtu`: polls Modbus RTU devices (energy meters) on one RS-485 serial bus with libmodbus on
// the runtime's worker pool; the units on the bus are polled in turn.
#include <algorithm>

#include "adapter_api/adapter.hpp"
#include "modbus/modbus_adapter.hpp"

namespace cg {

namespace {

constexpr ConfigKey kKeys[] = {
    {"device", KeyType::string, "", true, "Serial port of the RS-485 bus, e.g. \"/dev/ttyUSB0\"."},
    {"baud", KeyType::integer, "9600", false, "Baud rate: 1200, 2400, 4800, 9600, 19200, 38400, 57600 or 115200."},
    {"parity", KeyType::string, "\"N\"", false, "Parity: \"N\" (none), \"E\" (even) or \"O\" (odd)."},
    {"data_bits", KeyType::integer, "8", false, "Data bits: 7 or 8."},
    {"stop_bits", KeyType::integer, "1", false, "Stop bits: 1 or 2."},
    modbus::kUnitsKey,
    modbus::kProfileKey,
    modbus::kUnitProfilesKey,
    modbus::kProfilesDirKey,
    modbus::kPollIntervalKey,
    modbus::kTimeoutKey,
};

constexpr int kBauds[] = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200};

Result<std::unique_ptr<Adapter>> make(const std::string& id, const ConfigView& cfg) {
  modbus::PollerConfig pc;
  pc.kind = "modbus_rtu";
  pc.tcp = false;
  auto& s = pc.serial_target;
  s.device = cfg.get_string("device");
  if (s.device.empty()) return fail(Error::fatal("config", "device must name the serial port, e.g. /dev/ttyUSB0"));
  auto baud = cfg.get_int("baud");
  if (std::find(std::begin(kBauds), std::end(kBauds), baud) == std::end(kBauds))
    return fail(Error::fatal("config", "baud must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200"));
  s.baud = static_cast<int>(baud);
  auto parity = cfg.get_string("parity");
  if (parity != "N" && parity != "E" && parity != "O")
    return fail(Error::fatal("config", "parity must be \"N\", \"E\" or \"O\""));
  s.parity = parity[0];
  auto data_bits = cfg.get_int("data_bits");
  if (data_bits != 7 && data_bits != 8) return fail(Error::fatal("config", "data_bits must be 7 or 8"));
  s.data_bits = static_cast<int>(data_bits);
  auto stop_bits = cfg.get_int("stop_bits");
  if (stop_bits != 1 && stop_bits != 2) return fail(Error::fatal("config", "stop_bits must be 1 or 2"));
  s.stop_bits = static_cast<int>(stop_bits);
  if (auto r = modbus::read_common(cfg, pc); !r) return fail(r.error());
  // The units share the bus and are polled in turn: a round in which every unit times out must
  // still fit in one interval, or polls are skipped for good.
  auto worst = pc.timeout * static_cast<long>(pc.devices.size());
  if (worst >= pc.interval)
    return fail(Error::fatal("config", "timeout_ms x units (" + std::to_string(worst.count()) +
                                           " ms) must be below poll_interval_ms (" +
                                           std::to_string(pc.interval.count()) +
                                           "): the units on one bus are polled in turn"));
  return std::unique_ptr<Adapter>(std::make_unique<modbus::PollAdapter>(id, std::move(pc)));
}

}  // namespace

const AdapterDescriptor& modbus_rtu_descriptor() {
  static const AdapterDescriptor d{
      "modbus_rtu",
      "Modbus RTU polling over one RS-485 serial bus (libmodbus on the worker pool); units polled in turn", kKeys,
      make, modbus::make_frame_decoder};
  return d;
}

}  // namespace cg
