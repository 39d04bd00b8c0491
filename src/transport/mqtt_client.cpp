#include "transport/mqtt_client.hpp"

#include <MQTTAsync.h>

#include <atomic>
#include <cstring>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "transport/topic_match.hpp"

namespace cg::transport {

namespace {

std::uint64_t fnv1a(std::uint64_t h, const void* data, std::size_t n) {
  auto* p = static_cast<const std::uint8_t*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

struct Subscription {
  std::string filter;
  int qos;
  std::string adapter_id;
  std::string dedup_source;  // broker/client/adapter: identifies redeliveries (built once, not per message)
  MqttDecodeFn decode;
  SubmitFn submit;
  RejectFn reject;
  Counter* messages;
};

// Waits for the commit of one message's readings. Paho runs every callback of the process on one
// thread, so one waiter per client suffices and is reused (no allocation per message).
struct CommitWait {
  std::mutex mu;
  std::condition_variable cv;
  int pending = 0;
  bool refused = false;

  void arm(int n) {
    std::lock_guard lk(mu);
    pending = n;
    refused = false;
  }
  CommitCallback callback() {
    return [this](CommitStatus st) {
      std::lock_guard lk(mu);
      if (st == CommitStatus::throttled || st == CommitStatus::failed) refused = true;
      if (--pending == 0) cv.notify_all();
    };
  }
  bool wait_ok() {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return pending == 0; });
    return !refused;
  }
};

}  // namespace

struct MqttClient::Impl {
  BrokerSettings s;
  Metrics& metrics;
  MQTTAsync client = nullptr;
  std::vector<Subscription> subs;
  std::atomic<bool> is_connected{false};
  std::atomic<bool> stopping{false};
  std::atomic<bool> failing{false};  // a connect failure was logged at warn since the last success
  CommitWait wait;
  Counter& c_refused;
  Counter& c_connects;
  Gauge& g_connected;

  // reconnect loop for the initial connection (Paho's automatic reconnect covers later losses)
  std::mutex rmu;
  std::condition_variable rcv;
  bool need_connect = false;
  std::thread reconnector;
  std::chrono::milliseconds backoff{500};

  std::optional<MqttPresence> presence;
  // Will payload of the connect in progress: Paho reads it during MQTTAsync_connect only, but
  // keep it alive until the next connect to be safe.
  std::vector<std::uint8_t> will_payload;
  std::int64_t connect_ms = 0;

  Impl(BrokerSettings settings, Metrics& m)
      : s(std::move(settings)),
        metrics(m),
        c_refused(m.counter("mqtt_messages_refused_total", {{"broker", s.id}},
                            "Messages not acknowledged because the store refused them (redelivered later)")),
        c_connects(m.counter("mqtt_connects_total", {{"broker", s.id}}, "Successful connections to the broker")),
        g_connected(m.gauge("mqtt_connected", {{"broker", s.id}}, "1 while connected to the broker")) {}

  static int on_message(void* ctx, char* topic_name, int topic_len, MQTTAsync_message* msg) {
    auto* self = static_cast<Impl*>(ctx);
    std::string_view topic(topic_name, topic_len > 0 ? static_cast<std::size_t>(topic_len) : std::strlen(topic_name));
    int rc = self->handle(topic, msg);
    if (rc) {
      MQTTAsync_freeMessage(&msg);
      MQTTAsync_free(topic_name);
    }
    return rc;
  }

  int handle(std::string_view topic, MQTTAsync_message* msg) {
    MqttMessage m;
    m.topic = topic;
    m.payload = {static_cast<const std::uint8_t*>(msg->payload), static_cast<std::size_t>(msg->payloadlen)};
    m.qos = msg->qos;
    m.retained = msg->retained != 0;
    m.duplicate = msg->dup != 0;
    std::uint64_t hash = fnv1a(fnv1a(1469598103934665603ull, topic.data(), topic.size()), m.payload.data(), m.payload.size());

    // decode for every matching subscription first, then submit all and wait once
    struct Out {
      Subscription* sub;
      std::vector<Reading> readings;
    };
    std::vector<Out> outs;
    for (auto& sub : subs) {
      if (!topic_matches(sub.filter, topic)) continue;
      sub.messages->inc();
      auto r = sub.decode(m);
      if (!r) {
        // bad payload: count, keep it for inspection, acknowledge (a redelivery cannot fix it)
        metrics.counter("adapter_decode_errors_total", {{"adapter", sub.adapter_id}, {"reason", r.error().code}}).inc();
        sub.reject(m.payload, std::string(topic), r.error());
        continue;
      }
      outs.push_back({&sub, std::move(*r)});
    }
    if (outs.empty()) return 1;
    // QoS 0 has no packet id and no redelivery
    wait.arm(static_cast<int>(outs.size()));
    for (auto& o : outs) {
      SubmitOptions opts;
      if (m.qos > 0)
        opts.dedup = DedupKey{o.sub->dedup_source, static_cast<std::uint32_t>(msg->msgid), hash, m.duplicate};
      o.sub->submit(std::move(o.readings), opts, wait.callback());
    }
    if (wait.wait_ok()) return 1;
    // Refused (queue full or store failing): do not acknowledge; Paho hands the message back and
    // it is decoded again. A short pause keeps a full store from becoming a busy loop.
    c_refused.inc();
    if (!stopping) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return 0;
  }

  static void on_connected(void* ctx, char*) {
    auto* self = static_cast<Impl*>(ctx);
    self->is_connected = true;
    self->g_connected.set(1);
    self->c_connects.inc();
    self->backoff = std::chrono::milliseconds(500);
    self->failing = false;
    spdlog::info("mqtt: broker '{}' connected ({})", self->s.id, self->s.url);
    if (self->subs.empty()) self->publish_birth();
    self->subscribe_all();
  }

  // Hands one message to Paho (which copies the payload); `token` receives its delivery token.
  int send(const std::string& topic, const std::vector<std::uint8_t>& payload, int qos, bool retain,
           MQTTAsync_token* token = nullptr) {
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = const_cast<std::uint8_t*>(payload.data());
    msg.payloadlen = static_cast<int>(payload.size());
    msg.qos = qos;
    msg.retained = retain ? 1 : 0;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int rc = MQTTAsync_sendMessage(client, topic.c_str(), &msg, &ro);
    if (token) *token = ro.token;
    return rc;
  }

  void publish_birth() {
    if (!presence) return;
    int rc = send(presence->topic, presence->payload(true, connect_ms), presence->qos, presence->retain);
    if (rc != MQTTASYNC_SUCCESS) spdlog::warn("mqtt: broker '{}': presence birth not sent ({})", s.id, rc);
  }

  static void on_connection_lost(void* ctx, char* cause) {
    auto* self = static_cast<Impl*>(ctx);
    if (self->is_connected.exchange(false)) {
      self->g_connected.set(0);
      spdlog::warn("mqtt: broker '{}' connection lost{}{}; reconnecting", self->s.id, cause ? ": " : "",
                   cause ? cause : "");
    }
    std::lock_guard lk(self->rmu);
    self->need_connect = true;
    self->rcv.notify_all();
  }

  static void on_connect_failure(void* ctx, MQTTAsync_failureData* resp) {
    auto* self = static_cast<Impl*>(ctx);
    // once per outage at warn (TLS verification, refused credentials, nothing listening), then debug
    if (!self->failing.exchange(true))
      spdlog::warn("mqtt: broker '{}' connect to {} failed (code {}{}{}); retrying with backoff", self->s.id, self->s.url,
                   resp ? resp->code : -1, resp && resp->message ? ": " : "", resp && resp->message ? resp->message : "");
    else
      spdlog::debug("mqtt: broker '{}' connect failed: {}", self->s.id, resp && resp->message ? resp->message : "");
    std::lock_guard lk(self->rmu);
    self->need_connect = true;
    self->rcv.notify_all();
  }

  static void on_subscribed(void* ctx, MQTTAsync_successData*) {
    auto* self = static_cast<Impl*>(ctx);
    spdlog::info("mqtt: broker '{}' subscribed to {} filter(s)", self->s.id, self->subs.size());
    self->publish_birth();
  }

  static void on_subscribe_failure(void* ctx, MQTTAsync_failureData* resp) {
    auto* self = static_cast<Impl*>(ctx);
    spdlog::error("mqtt: broker '{}' refused a subscription (code {})", self->s.id, resp ? resp->code : -1);
  }

  void subscribe_all() {
    std::vector<char*> filters;
    std::vector<int> qos;
    for (auto& sub : subs) {
      filters.push_back(sub.filter.data());
      qos.push_back(sub.qos);
    }
    if (filters.empty()) return;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_subscribed;
    ro.onFailure = on_subscribe_failure;
    ro.context = this;
    int rc = MQTTAsync_subscribeMany(client, static_cast<int>(filters.size()), filters.data(), qos.data(), &ro);
    if (rc != MQTTASYNC_SUCCESS) spdlog::error("mqtt: broker '{}': subscribe failed ({})", s.id, rc);
  }

  int connect() {
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    co.keepAliveInterval = static_cast<int>(s.keepalive.count());
    co.cleansession = 0;  // the broker keeps our session and queued QoS 1 messages across restarts
    co.MQTTVersion = MQTTVERSION_3_1_1;
    co.automaticReconnect = 0;  // our loop reconnects, with options rebuilt each time
    co.connectTimeout = 10;
    co.onFailure = on_connect_failure;
    co.context = this;
    if (!s.username.empty()) co.username = s.username.c_str();
    if (!s.password.empty()) co.password = s.password.c_str();
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    if (presence) {
      connect_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
      will_payload = presence->payload(false, connect_ms);
      will.topicName = presence->topic.c_str();
      will.message = nullptr;
      will.payload.data = will_payload.data();
      will.payload.len = static_cast<int>(will_payload.size());
      will.qos = presence->qos;
      will.retained = presence->retain ? 1 : 0;
      co.will = &will;
    }
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    if (uses_tls(s.url)) {
      if (!s.ca_file.empty()) ssl.trustStore = s.ca_file.c_str();
      if (!s.cert_file.empty()) ssl.keyStore = s.cert_file.c_str();
      if (!s.key_file.empty()) ssl.privateKey = s.key_file.c_str();
      ssl.enableServerCertAuth = s.tls_verify ? 1 : 0;
      ssl.verify = s.tls_verify ? 1 : 0;  // host name check (off by default in Paho)
      ssl.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
      co.ssl = &ssl;
    }
    return MQTTAsync_connect(client, &co);
  }

  static bool uses_tls(std::string_view url) {
    return url.starts_with("ssl://") || url.starts_with("mqtts://") || url.starts_with("wss://");
  }

  void reconnect_loop() {
    std::unique_lock lk(rmu);
    while (!stopping) {
      rcv.wait(lk, [&] { return stopping.load() || need_connect; });
      if (stopping) break;
      need_connect = false;
      auto delay = backoff;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(30000));
      if (rcv.wait_for(lk, delay, [&] { return stopping.load(); })) break;
      lk.unlock();
      int rc = connect();
      lk.lock();
      if (rc != MQTTASYNC_SUCCESS) need_connect = true;
    }
  }
};

MqttClient::MqttClient(BrokerSettings settings, Metrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(settings), metrics)) {}

MqttClient::~MqttClient() { stop(); }

void MqttClient::add_subscription(std::string filter, int qos, std::string adapter_id, MqttDecodeFn decode,
                                  SubmitFn submit, RejectFn reject) {
  auto& m = impl_->metrics;
  Labels l{{"adapter", adapter_id}};
  std::string dedup_source = impl_->s.id + "/" + impl_->s.client_id + "/" + adapter_id;
  impl_->subs.push_back({std::move(filter), qos, adapter_id, std::move(dedup_source), std::move(decode), std::move(submit),
                         std::move(reject),
                         &m.counter("mqtt_messages_received_total", l, "MQTT messages delivered to the adapter")});
}

Result<void> MqttClient::start() {
  auto& m = *impl_;
  MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer;
  cro.MQTTVersion = MQTTVERSION_3_1_1;
  int rc = MQTTAsync_createWithOptions(&m.client, m.s.url.c_str(), m.s.client_id.c_str(), MQTTCLIENT_PERSISTENCE_NONE,
                                       nullptr, &cro);
  if (rc != MQTTASYNC_SUCCESS)
    return fail(Error::fatal("mqtt", "broker '" + m.s.id + "': cannot create client for " + m.s.url + " (" +
                                         std::to_string(rc) + ")"));
  MQTTAsync_setCallbacks(m.client, &m, Impl::on_connection_lost, Impl::on_message, nullptr);
  MQTTAsync_setConnected(m.client, &m, Impl::on_connected);
  m.reconnector = std::thread([&m] { m.reconnect_loop(); });
  if (m.connect() != MQTTASYNC_SUCCESS) {
    std::lock_guard lk(m.rmu);
    m.need_connect = true;
    m.rcv.notify_all();
  }
  return {};
}

void MqttClient::stop() {
  auto& m = *impl_;
  if (m.stopping.exchange(true)) return;
  {
    std::lock_guard lk(m.rmu);
    m.rcv.notify_all();
  }
  if (m.reconnector.joinable()) m.reconnector.join();
  if (m.client && m.presence && m.is_connected) {
    // A clean disconnect does not fire the will: say offline ourselves (Sparkplug 3.0 host STATE),
    // with the timestamp of this connection's birth, and give it a moment to leave.
    MQTTAsync_token token = 0;
    if (m.send(m.presence->topic, m.presence->payload(false, m.connect_ms), m.presence->qos, m.presence->retain,
               &token) == MQTTASYNC_SUCCESS)
      MQTTAsync_waitForCompletion(m.client, token, 2000);
  }
  if (m.client) {
    MQTTAsync_disconnectOptions dopts = MQTTAsync_disconnectOptions_initializer;
    dopts.timeout = 2000;
    MQTTAsync_disconnect(m.client, &dopts);
    // Paho's destroy waits for its threads; after it no callback can run.
    MQTTAsync_destroy(&m.client);
  }
  m.g_connected.set(0);
}

Result<void> MqttClient::set_presence(MqttPresence presence) {
  if (impl_->presence)
    return fail(Error::fatal("mqtt", "broker '" + impl_->s.id + "' already has a presence (" + impl_->presence->topic +
                                         "): a connection has one will"));
  impl_->presence = std::move(presence);
  return {};
}

Result<void> MqttClient::publish(const std::string& topic, std::vector<std::uint8_t> payload, int qos, bool retain) {
  auto& m = *impl_;
  if (!m.client || !m.is_connected)
    return fail(Error::retry("mqtt.not_connected", "broker '" + m.s.id + "' is not connected"));
  int rc = m.send(topic, payload, qos, retain);
  if (rc != MQTTASYNC_SUCCESS)
    return fail(Error::retry("mqtt.publish", "broker '" + m.s.id + "': publish to " + topic + " failed (" +
                                                 std::to_string(rc) + ")"));
  return {};
}

bool MqttClient::connected() const { return impl_->is_connected; }
const std::string& MqttClient::id() const { return impl_->s.id; }

}  // namespace cg::transport
