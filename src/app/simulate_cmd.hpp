#pragma once
// `citygate simulate`: a fleet of simulated city devices talking to a gateway the way real ones do
// (MQTT, HTTP push/webhooks, line protocol over UDP/TCP) or, for Modbus, a meter the gateway polls.
#include <cstdint>
#include <string>

namespace cg::app {

struct SimulateArgs {
  std::string kind;    // mqtt_json | senml | sparkplug_b | lorawan_ttn | lorawan_chirpstack | influx_line | http_push | modbus_tcp
  std::string target;  // tcp://|mqtt:// broker, http:// URL, udp://|tcp:// line listener, HOST:PORT to serve Modbus on
  int devices = 10;
  double rate = 0;      // messages per second over the whole fleet; 0: one per device per second
  double duration = 0;  // seconds; 0: until SIGINT/SIGTERM
  std::uint64_t seed = 1;
  std::string profile = "eastron_sdm630";  // modbus_tcp: the register map served
  std::string profiles_dir;                // "": /etc/citygate/profiles, else firmware-config/profiles
};

// Exit: 0 when everything was sent, 69 when the target could not be reached at all, 65 when some
// messages failed, 64 for usage errors.
int run_simulate(const SimulateArgs& a);

}  // namespace cg::app
