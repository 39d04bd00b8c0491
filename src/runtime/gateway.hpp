#pragma once
// The running gateway: composes store, transports, adapters, uplink and the HTTP listener from a
// validated GatewayConfig, and owns the threads (DESIGN §3). No Beast/Asio/Paho headers here.
//
// Startup order: store → sinks → adapters (subscriptions registered) → HTTP bound → MQTT
// connect → uplink → READY (systemd), never waiting for upstream. Shutdown is the reverse, so
// every message being acknowledged finishes its commit before the store closes.
#include <cstdint>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/result.hpp"

namespace cg::runtime {

class Gateway {
 public:
  // `version` goes into status records and `citygate status`.
  static Result<std::unique_ptr<Gateway>> create(const config::GatewayConfig& cfg, const Clock& clock,
                                                 std::string version = "");
  ~Gateway();
  Result<void> start();
  void stop();
  // start(), wait for SIGINT/SIGTERM, stop(). Returns the process exit code.
  int run_until_signal();
  std::uint16_t http_port() const;
  std::uint16_t ingest_port() const;  // 0 when no adapter registered an HTTP route
  std::uint16_t admin_port() const;   // 0 when [admin] listen is off
  Metrics& metrics();

  struct Impl;

 private:
  explicit Gateway(std::unique_ptr<Impl> impl);
  Result<void> start_ingest();
  std::unique_ptr<Impl> impl_;
};

}  // namespace cg::runtime
