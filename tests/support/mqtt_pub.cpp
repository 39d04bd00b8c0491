#include "support/mqtt_pub.hpp"

#include <MQTTAsync.h>

#include <condition_variable>
#include <mutex>
#include <stdexcept>

namespace cg::test {

namespace {
// Completion of one request, signalled from Paho's thread.
struct Done {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  bool ok = false;
  static void success(void* ctx, MQTTAsync_successData*) { static_cast<Done*>(ctx)->set(true); }
  static void failure(void* ctx, MQTTAsync_failureData*) { static_cast<Done*>(ctx)->set(false); }
  void set(bool v) {
    std::lock_guard lk(mu);
    finished = true;
    ok = v;
    cv.notify_all();
  }
  bool wait(std::chrono::milliseconds t) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, t, [&] { return finished; }) && ok;
  }
};
}  // namespace

MqttPublisher::MqttPublisher(const std::string& url, const std::string& client_id) {
  MQTTAsync c;
  if (MQTTAsync_create(&c, url.c_str(), client_id.c_str(), MQTTCLIENT_PERSISTENCE_NONE, nullptr) != MQTTASYNC_SUCCESS)
    throw std::runtime_error("MQTTAsync_create failed");
  client_ = c;
  MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
  o.cleansession = 1;
  o.keepAliveInterval = 30;
  Done d;
  o.onSuccess = Done::success;
  o.onFailure = Done::failure;
  o.context = &d;
  if (MQTTAsync_connect(c, &o) != MQTTASYNC_SUCCESS || !d.wait(std::chrono::seconds(10)))
    throw std::runtime_error("MQTT connect failed to " + url);
}

MqttPublisher::~MqttPublisher() {
  auto c = static_cast<MQTTAsync>(client_);
  MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
  Done d;
  o.onSuccess = [](void* ctx, MQTTAsync_successData*) { static_cast<Done*>(ctx)->set(true); };
  o.onFailure = [](void* ctx, MQTTAsync_failureData*) { static_cast<Done*>(ctx)->set(false); };
  o.context = &d;
  if (MQTTAsync_disconnect(c, &o) == MQTTASYNC_SUCCESS) d.wait(std::chrono::seconds(2));
  MQTTAsync_destroy(&c);
}

bool MqttPublisher::publish(const std::string& topic, const std::string& payload, int qos) {
  auto c = static_cast<MQTTAsync>(client_);
  MQTTAsync_message m = MQTTAsync_message_initializer;
  m.payload = const_cast<char*>(payload.data());
  m.payloadlen = static_cast<int>(payload.size());
  m.qos = qos;
  Done d;
  MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
  ro.onSuccess = Done::success;
  ro.onFailure = Done::failure;
  ro.context = &d;
  if (MQTTAsync_sendMessage(c, topic.c_str(), &m, &ro) != MQTTASYNC_SUCCESS) return false;
  // QoS 1: success = the broker's PUBACK; QoS 0: written to the socket
  return d.wait(std::chrono::seconds(10));
}

}  // namespace cg::test
