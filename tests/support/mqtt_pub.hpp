#pragma once
// A plain MQTT publisher for tests (Paho C synchronous client): an independent device, not our code.
#include <memory>
#include <string>

namespace cg::test {

class MqttPublisher {
 public:
  MqttPublisher(const std::string& url, const std::string& client_id);
  ~MqttPublisher();
  // Publishes and waits for the broker's acknowledgement (QoS 1) — returns false on failure.
  bool publish(const std::string& topic, const std::string& payload, int qos = 1);

 private:
  void* client_ = nullptr;
};

}  // namespace cg::test
