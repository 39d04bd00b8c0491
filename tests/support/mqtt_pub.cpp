#include "support/mqtt_pub.hpp"

#include <MQTTClient.h>

#include <stdexcept>

namespace cg::test {

MqttPublisher::MqttPublisher(const std::string& url, const std::string& client_id) {
  MQTTClient c;
  if (MQTTClient_create(&c, url.c_str(), client_id.c_str(), MQTTCLIENT_PERSISTENCE_NONE, nullptr) != MQTTCLIENT_SUCCESS)
    throw std::runtime_error("MQTTClient_create failed");
  client_ = c;
  MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
  o.cleansession = 1;
  o.keepAliveInterval = 30;
  int rc = MQTTClient_connect(c, &o);
  if (rc != MQTTCLIENT_SUCCESS) throw std::runtime_error("MQTT connect failed: " + std::to_string(rc));
}

MqttPublisher::~MqttPublisher() {
  auto c = static_cast<MQTTClient>(client_);
  MQTTClient_disconnect(c, 1000);
  MQTTClient_destroy(&c);
}

bool MqttPublisher::publish(const std::string& topic, const std::string& payload, int qos) {
  auto c = static_cast<MQTTClient>(client_);
  MQTTClient_deliveryToken tok;
  int rc = MQTTClient_publish(c, topic.c_str(), static_cast<int>(payload.size()), payload.data(), qos, 0, &tok);
  if (rc != MQTTCLIENT_SUCCESS) return false;
  if (qos > 0) rc = MQTTClient_waitForCompletion(c, tok, 10000);
  return rc == MQTTCLIENT_SUCCESS;
}

}  // namespace cg::test
