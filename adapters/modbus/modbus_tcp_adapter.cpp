// `modbus_tcp`: polls energy meters and other Modbus TCP devices (or RTU devices behind a Modbus
// TCP gateway) with libmodbus on the runtime's worker pool; register maps come from profiles.
#include "adapter_api/adapter.hpp"
#include "modbus/modbus_adapter.hpp"

namespace cg {

namespace {

constexpr ConfigKey kKeys[] = {
    {"host", KeyType::string, "", true, "Modbus TCP server (device or gateway): host name or IP address."},
    {"port", KeyType::integer, "502", false, "Modbus TCP port (1..65535)."},
    modbus::kUnitsKey,
    modbus::kProfileKey,
    modbus::kUnitProfilesKey,
    modbus::kProfilesDirKey,
    modbus::kPollIntervalKey,
    modbus::kTimeoutKey,
};

Result<std::unique_ptr<Adapter>> make(const std::string& id, const ConfigView& cfg) {
  modbus::PollerConfig pc;
  pc.kind = "modbus_tcp";
  pc.tcp = true;
  pc.tcp_target.host = cfg.get_string("host");
  if (pc.tcp_target.host.empty() || pc.tcp_target.host.size() > 253)
    return fail(Error::fatal("config", "host must be a host name or address (1..253 characters)"));
  auto port = cfg.get_int("port");
  if (port < 1 || port > 65535) return fail(Error::fatal("config", "port must be 1..65535"));
  pc.tcp_target.port = static_cast<int>(port);
  if (auto r = modbus::read_common(cfg, pc); !r) return fail(r.error());
  return std::unique_ptr<Adapter>(std::make_unique<modbus::PollAdapter>(id, std::move(pc)));
}

}  // namespace

const AdapterDescriptor& modbus_tcp_descriptor() {
  static const AdapterDescriptor d{"modbus_tcp",
                                   "Modbus TCP polling (libmodbus on the worker pool); register maps from device profiles",
                                   kKeys, make, modbus::make_frame_decoder};
  return d;
}

}  // namespace cg
