#pragma once
// Hosts one adapter instance: its AdapterContext (strand, timers, sink with the device policy,
// MQTT subscriptions) — the runtime side of adapter_api. Asio stays in the .cpp.
#include <memory>
#include <set>
#include <string>

#include "adapter_api/adapter.hpp"
#include "store/store.hpp"

namespace boost::asio {
class io_context;
}

namespace cg::transport {
class MqttClient;
}

namespace cg::runtime {

// How readings of devices missing from [[devices]] are treated.
struct DevicePolicy {
  std::set<std::string, std::less<>> registered;
  bool reject_unknown = false;
};

class MqttClients {
 public:
  virtual ~MqttClients() = default;
  virtual transport::MqttClient* find(std::string_view broker_id) = 0;
};

class AdapterHost {
 public:
  AdapterHost(boost::asio::io_context& io, std::string instance_id, std::unique_ptr<Adapter> adapter,
              store::Store& store, const DevicePolicy& policy, MqttClients& mqtt, const Clock& clock,
              Metrics& metrics);
  ~AdapterHost();
  Result<void> start();  // runs adapter->start() on its strand and waits for the result
  void stop();           // runs adapter->stop() on its strand; later timers do not fire

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cg::runtime
