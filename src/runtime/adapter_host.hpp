#pragma once
#include "core/records.hpp"
// Hosts one adapter instance: its AdapterContext (strand, timers, sink with the device policy,
// MQTT subscriptions) — the runtime side of adapter_api. Asio stays in the .cpp.
#include <memory>
#include <map>
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

// The device registry as ingest sees it ([[devices]]): a reading is bound to its device entry
// when the device is listed and either names no adapter or names this one.
struct DeviceEntry {
  std::string adapter;  // empty: any adapter
  std::string profile;
  std::string zone;
  Tags tags;            // copied onto every reading (the reading's own tag of the same key wins)
};

// How readings of devices missing from [[devices]] are treated.
struct DevicePolicy {
  std::map<std::string, DeviceEntry, std::less<>> registered;
  bool reject_unknown = false;
};

class MqttClients {
 public:
  virtual ~MqttClients() = default;
  virtual transport::MqttClient* find(std::string_view broker_id) = 0;
};

class WorkerPool;
struct IngestRouteSpec;

// What the runtime lends every adapter host.
struct HostServices {
  boost::asio::io_context& io;
  store::Store& store;
  const DevicePolicy& policy;
  MqttClients& mqtt;
  WorkerPool& pool;
  const Clock& clock;
  Metrics& metrics;
};

// Per-instance limits common to every kind ([[adapters]] rate_limit_per_s / rate_burst).
struct InstanceLimits {
  double rate_per_s = 0;  // <= 0: unlimited
  double burst = 0;
  RecordClass record_class = RecordClass::telemetry;  // [[adapters]] class: outbox class of the readings
};

class AdapterHost {
 public:
  AdapterHost(HostServices services, std::string instance_id, std::unique_ptr<Adapter> adapter, InstanceLimits limits);
  ~AdapterHost();
  Result<void> start();  // runs adapter->start() (registering subscriptions, routes, listeners)
  void stop();           // runs adapter->stop() on its strand; later timers and jobs do not run
  // The HTTP routes the adapter registered in start(), for the ingest listener.
  std::vector<IngestRouteSpec> http_routes() const;
  const std::string& id() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cg::runtime
