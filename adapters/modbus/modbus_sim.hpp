#pragma once
// Simulated Modbus meters serving a profile's register map with plausible, slowly moving values:
// the server behind `citygate simulate --kind modbus_tcp`, the adapter tests and the demo.
//
// Both servers are blocking loops meant for a thread of their own; they check `stop` at least
// every 100 ms and return when it is true. They answer functions 0x03/0x04 from a libmodbus
// mapping covering the profile's addresses (unused addresses read 0; outside the map: exception
// 2, illegal data address) and refresh the values before each answer.
#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "modbus/modbus_profile.hpp"

namespace cg::modbus {

// The value a simulated meter shows for `reg` (in the register's scaled unit), `seconds` after the
// simulation started; `unit` varies it a little between meters. Chosen by the register's unit:
// V ~230 (line-to-line metrics ~400), A ~5, W ~1150, VA/var, Hz ~50, power factor ~0.95,
// kWh/kvarh/kVAh/Ah counters that only grow, % ~2.5; anything else 1.
double simulated_value(const Register& reg, double seconds, int unit);

struct TcpSimOptions {
  std::string host = "127.0.0.1";
  int port = 502;  // 0: a free port, reported through on_listening
  // Unit ids answered; empty: every unit. Requests for other units are read and never answered,
  // like a Modbus gateway whose meter went silent.
  std::vector<int> units;
  std::function<void(int port)> on_listening;  // called once listening (from the serving thread)
};

// Serves `profile` over Modbus TCP (any number of concurrent connections) until `stop`.
// Returns an error (code "listen") when it cannot listen.
Result<void> serve_tcp(const Profile& profile, const TcpSimOptions& o, const std::atomic<bool>& stop);

// Serves Modbus RTU on an open serial or pseudo-terminal file descriptor (the caller owns it):
// each unit id in `units` answers with its profile; other unit ids on the bus stay silent.
// Requests are framed by their CRC (8-byte read requests); anything else is skipped.
Result<void> serve_rtu(int fd, const std::map<int, const Profile*>& units, const std::atomic<bool>& stop);

}  // namespace cg::modbus
