#include "uplink/mqtt_sink.hpp"

#include <MQTTAsync.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <optional>

#include <spdlog/spdlog.h>

#include "core/broker_url.hpp"

namespace cg::uplink {

namespace {

constexpr std::string_view kContentType = "application/x-protobuf";
constexpr std::size_t kMqttMaxRemainingLength = 268'435'455;  // largest "remaining length" MQTT encodes
constexpr auto kDisconnectTimeout = std::chrono::milliseconds(1000);

void replace_all(std::string& s, std::string_view what, std::string_view with) {
  for (std::size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + with.size()))
    s.replace(pos, what.size(), with);
}

Error config_error(const std::string& sink_id, const std::string& what) {
  return Error::fatal("config", "mqtt sink '" + sink_id + "': " + what);
}

struct BrokerAddress {
  bool tls = false;
  std::string paho_uri;  // tcp://host:port or ssl://host:port, as Paho takes it
};

Result<BrokerAddress> broker_address(const std::string& sink_id, std::string_view url) {
  auto u = cg::parse_broker_url(url);
  if (!u) return fail(config_error(sink_id, "url '" + std::string(url) + "': " + u.error().message));
  BrokerAddress a;
  a.tls = u->tls;
  a.paho_uri = std::string(u->tls ? "ssl://" : "tcp://") + (u->ipv6 ? "[" + u->host + "]" : u->host) + ":" +
               std::to_string(u->port);
  return a;
}

bool readable(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return f.good();
}

std::size_t vbi_size(std::size_t n) { return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4; }

std::string reason_text(int code) {
  const char* s = MQTTReasonCode_toString(static_cast<MQTTReasonCodes>(code));
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned>(code) & 0xFFu);
  return std::string(hex) + " " + (s ? s : "unknown reason");
}

// MQTT v5 properties of one PUBLISH; Paho copies what is added and what is sent.
class PublishProperties {
 public:
  PublishProperties() = default;
  PublishProperties(const PublishProperties&) = delete;
  PublishProperties& operator=(const PublishProperties&) = delete;
  ~PublishProperties() { MQTTProperties_free(&p_); }

  bool add_string(MQTTPropertyCodes id, std::string_view v) {
    MQTTProperty prop{};
    prop.identifier = id;
    prop.value.data.data = const_cast<char*>(v.data());
    prop.value.data.len = static_cast<int>(v.size());
    return MQTTProperties_add(&p_, &prop) == 0;
  }
  bool add_user(std::string_view key, std::string_view value) {
    MQTTProperty prop{};
    prop.identifier = MQTTPROPERTY_CODE_USER_PROPERTY;
    prop.value.data.data = const_cast<char*>(key.data());
    prop.value.data.len = static_cast<int>(key.size());
    prop.value.value.data = const_cast<char*>(value.data());
    prop.value.value.len = static_cast<int>(value.size());
    return MQTTProperties_add(&p_, &prop) == 0;
  }
  MQTTProperties& get() { return p_; }
  std::size_t encoded_length() const { return static_cast<std::size_t>(p_.length); }

 private:
  MQTTProperties p_ = MQTTProperties_initializer;
};

}  // namespace

std::string expand_mqtt_topic(std::string_view pattern, std::string_view gateway_id, RecordClass record_class) {
  std::string t(pattern);
  replace_all(t, "{gateway}", gateway_id);
  replace_all(t, "{class}", record_class_name(record_class));
  return t;
}

struct MqttSink::Impl {
  MqttSinkOptions o;
  BrokerAddress address;
  std::string client_id;
  std::array<std::string, kRecordClassCount> topics;  // by RecordClass value

  // Owned by the sending thread (and the destructor, once no send() runs).
  MQTTAsync client = nullptr;
  bool up = false;                        // CONNACK received on `client`, no loss seen since
  std::optional<std::uint32_t> max_packet;  // the broker's Maximum Packet Size (CONNACK)
  bool outage = false;                    // a failure was logged at warn; the recovery is not yet
  bool ever_connected = false;

  // Results handed over by Paho's callbacks. Callbacks only write these under `mu` and notify;
  // the sending thread never calls Paho while holding `mu` (Paho calls back under its own lock).
  struct Outcome {
    bool done = false;
    bool ok = false;
    int code = 0;    // Paho return code (negative) or, for a refused connect, the CONNACK reason
    int reason = 0;  // MQTT v5 reason code, when the broker answered one
    std::string message;
  };
  std::mutex mu;
  std::condition_variable cv;
  bool aborting = false;
  Outcome connecting;
  std::optional<std::uint32_t> connack_max_packet;
  Outcome publishing;
  Outcome disconnecting;
  bool lost = false;           // connection lost (or closed by the broker) after it was up
  int server_disconnect = -1;  // reason code of a DISCONNECT sent by the broker, -1 if none

  // ---- Paho callbacks (Paho's thread; hand over and notify, nothing else) ----

  static void on_connect_success(void* ctx, MQTTAsync_successData5* r) {
    auto* self = static_cast<Impl*>(ctx);
    std::optional<std::uint32_t> maxp;
    if (r && MQTTProperties_hasProperty(&r->properties, MQTTPROPERTY_CODE_MAXIMUM_PACKET_SIZE)) {
      int v = MQTTProperties_getNumericValue(&r->properties, MQTTPROPERTY_CODE_MAXIMUM_PACKET_SIZE);
      if (v > 0) maxp = static_cast<std::uint32_t>(v);
    }
    std::lock_guard lk(self->mu);
    self->connecting = {true, true, 0, 0, {}};
    self->connack_max_packet = maxp;
    self->cv.notify_all();
  }
  static void on_connect_failure(void* ctx, MQTTAsync_failureData5* r) {
    auto* self = static_cast<Impl*>(ctx);
    std::lock_guard lk(self->mu);
    self->connecting = {true, false, r ? r->code : MQTTASYNC_FAILURE, r ? static_cast<int>(r->reasonCode) : 0,
                        r && r->message ? r->message : ""};
    self->cv.notify_all();
  }
  static void on_publish_success(void* ctx, MQTTAsync_successData5*) {
    auto* self = static_cast<Impl*>(ctx);
    std::lock_guard lk(self->mu);
    self->publishing = {true, true, 0, 0, {}};
    self->cv.notify_all();
  }
  static void on_publish_failure(void* ctx, MQTTAsync_failureData5* r) {
    auto* self = static_cast<Impl*>(ctx);
    std::lock_guard lk(self->mu);
    self->publishing = {true, false, r ? r->code : MQTTASYNC_FAILURE, r ? static_cast<int>(r->reasonCode) : 0,
                        r && r->message ? r->message : ""};
    self->cv.notify_all();
  }
  static void on_connection_lost(void* ctx, char*) {
    auto* self = static_cast<Impl*>(ctx);
    std::lock_guard lk(self->mu);
    self->lost = true;
    self->cv.notify_all();
  }
  static void on_server_disconnect(void* ctx, MQTTProperties*, MQTTReasonCodes reason) {
    auto* self = static_cast<Impl*>(ctx);
    std::lock_guard lk(self->mu);
    self->lost = true;
    self->server_disconnect = static_cast<int>(reason);
    self->cv.notify_all();
  }
  static void on_disconnect_success(void* ctx, MQTTAsync_successData5*) {
    auto* self = static_cast<Impl*>(ctx);
    std::lock_guard lk(self->mu);
    self->disconnecting = {true, true, 0, 0, {}};
    self->cv.notify_all();
  }
  static void on_disconnect_failure(void* ctx, MQTTAsync_failureData5* r) {
    auto* self = static_cast<Impl*>(ctx);
    std::lock_guard lk(self->mu);
    self->disconnecting = {true, false, r ? r->code : MQTTASYNC_FAILURE, 0, {}};
    self->cv.notify_all();
  }
  // We subscribe to nothing, but Paho wants a message callback.
  static int on_message(void*, char* topic, int, MQTTAsync_message* msg) {
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
  }

  // ---- sending thread ----

  static SendResult retry(std::string detail, int status = 0) {
    SendResult r;
    r.kind = SendResult::Kind::retry;
    r.status = status;
    r.detail = std::move(detail);
    return r;
  }

  // Closes the connection (if any) and frees the Paho handle: nothing Paho held survives it.
  // Paho runs callbacks and destroys under its global lock, so once destroy returns no callback
  // of this handle runs any more (it may still call the failure callbacks of pending requests
  // while destroying: they only take `mu`, which this thread does not hold here).
  void drop() {
    if (client) MQTTAsync_destroy(&client);
    client = nullptr;
    up = false;
    max_packet.reset();
  }

  // Logs a failure once per outage at warn (then at debug), the recovery at info.
  void note_failure(bool was_up, const std::string& why) {
    if (!outage) {
      outage = true;
      if (was_up)
        spdlog::warn("mqtt sink '{}': connection to {} lost ({}); batches wait in the outbox", o.id, o.url, why);
      else
        spdlog::warn("mqtt sink '{}': cannot connect to {} ({}); retrying with backoff", o.id, o.url, why);
    } else {
      spdlog::debug("mqtt sink '{}': {}", o.id, why);
    }
  }

  std::string connect_failure_text(const Outcome& c, int& status) const {
    // A refused CONNACK comes as a positive code (or a v5 reason code); the rest are Paho's codes.
    int reason = c.reason >= 0x80 ? c.reason : (c.code > 0 ? c.code : 0);
    status = reason;
    std::string s;
    if (reason > 0)
      s = "broker refused the connection: " + reason_text(reason);
    else
      s = std::string(MQTTAsync_strerror(c.code));
    if (!c.message.empty()) s += " (" + c.message + ")";
    if (address.tls && reason == 0) s += "; with TLS, check the broker's certificate, its host name and ca_file";
    return s;
  }

  // Connects if needed; nullopt when connected, else the answer for send().
  std::optional<SendResult> ensure_connected() {
    bool was_up = up;
    if (client && up) {
      bool gone;
      int server_reason;
      {
        std::lock_guard lk(mu);
        gone = lost;
        server_reason = server_disconnect;
      }
      if (!gone) return std::nullopt;
      note_failure(true, server_reason >= 0 ? "broker sent DISCONNECT " + reason_text(server_reason)
                                            : "connection closed");
      was_up = false;
    }
    drop();

    MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer5;
    cro.sendWhileDisconnected = 0;
    cro.maxBufferedMessages = 8;  // a bound Paho insists on; we never have more than one publish outstanding
    cro.restoreMessages = 0;
    cro.persistQoS0 = 0;
    int rc = MQTTAsync_createWithOptions(&client, address.paho_uri.c_str(), client_id.c_str(),
                                         MQTTCLIENT_PERSISTENCE_NONE, nullptr, &cro);
    if (rc != MQTTASYNC_SUCCESS) {
      client = nullptr;
      std::string why = std::string("cannot create the MQTT client: ") + MQTTAsync_strerror(rc);
      note_failure(was_up, why);
      return retry(why);
    }
    MQTTAsync_setCallbacks(client, this, on_connection_lost, on_message, nullptr);
    MQTTAsync_setDisconnected(client, this, on_server_disconnect);
    {
      std::lock_guard lk(mu);
      connecting = {};
      connack_max_packet.reset();
      publishing = {};
      lost = false;
      server_disconnect = -1;
    }

    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
    co.keepAliveInterval = static_cast<int>(o.keepalive.count());
    co.cleanstart = 1;  // no session state kept on either side: the outbox is the only buffer
    co.automaticReconnect = 0;
    // Paho's own bound, in whole seconds (it checks it every few seconds); ours below is exact.
    co.connectTimeout = static_cast<int>(std::max<std::int64_t>(1, (o.connect_timeout.count() + 999) / 1000));
    co.onSuccess5 = on_connect_success;
    co.onFailure5 = on_connect_failure;
    co.context = this;
    if (!o.username.empty()) co.username = o.username.c_str();
    if (!o.password.empty()) co.password = o.password.c_str();
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    if (address.tls) {
      if (!o.ca_file.empty()) ssl.trustStore = o.ca_file.c_str();
      if (!o.cert_file.empty()) ssl.keyStore = o.cert_file.c_str();
      if (!o.key_file.empty()) ssl.privateKey = o.key_file.c_str();
      ssl.enableServerCertAuth = o.tls_verify ? 1 : 0;  // the chain
      ssl.verify = o.tls_verify ? 1 : 0;                // the host name (off by default in Paho)
      ssl.sslVersion = MQTT_SSL_VERSION_DEFAULT;        // TLS 1.2 or 1.3 (OpenSSL 3 refuses older)
      co.ssl = &ssl;
    }
    rc = MQTTAsync_connect(client, &co);
    if (rc != MQTTASYNC_SUCCESS) {
      std::string why = std::string("connect not started: ") + MQTTAsync_strerror(rc);
      drop();
      note_failure(was_up, why);
      return retry(why);
    }

    Outcome result;
    bool aborted = false;
    {
      std::unique_lock lk(mu);
      cv.wait_until(lk, std::chrono::steady_clock::now() + o.connect_timeout,
                    [&] { return connecting.done || aborting; });
      result = connecting;
      aborted = aborting && !connecting.done;
    }
    if (aborted) {
      drop();
      return retry("aborted");
    }
    if (!result.done) {
      drop();
      std::string why = "no CONNACK within " + std::to_string(o.connect_timeout.count()) + " ms";
      note_failure(was_up, why);
      return retry(why);
    }
    if (!result.ok) {
      int status = 0;
      std::string why = connect_failure_text(result, status);
      drop();
      note_failure(was_up, why);
      return retry(why, status);
    }
    up = true;
    {
      std::lock_guard lk(mu);
      max_packet = connack_max_packet;
    }
    if (outage && ever_connected)
      spdlog::info("mqtt sink '{}': connected to {} again", o.id, o.url);
    else if (outage)
      spdlog::info("mqtt sink '{}': connected to {} after failed attempts", o.id, o.url);
    else if (!ever_connected)
      spdlog::info("mqtt sink '{}': connected to {}{}", o.id, o.url,
                   max_packet ? " (broker maximum packet size " + std::to_string(*max_packet) + ")" : std::string());
    outage = false;
    ever_connected = true;
    return std::nullopt;
  }

  SendResult send(const OutgoingBatch& batch) {
    {
      std::lock_guard lk(mu);
      if (aborting) return retry("aborted");
    }
    const auto& h = batch.header;
    auto cls = static_cast<std::size_t>(h.record_class);
    const std::string topic =
        cls < topics.size() ? topics[cls] : expand_mqtt_topic(o.topic, o.gateway_id, h.record_class);

    PublishProperties props;
    const std::string seq = std::to_string(h.batch_seq), part = std::to_string(h.part),
                      parts = std::to_string(h.parts);
    bool ok = props.add_string(MQTTPROPERTY_CODE_CONTENT_TYPE, kContentType) &&
              props.add_user("batch_id", h.batch_id) && props.add_user("batch_seq", seq) &&
              props.add_user("part", part) && props.add_user("parts", parts) &&
              props.add_user("gateway_id", h.gateway_id) && props.add_user("incarnation_id", h.incarnation_id) &&
              props.add_user("record_class", record_class_name(h.record_class));
    if (!ok) return retry("cannot build the MQTT v5 properties");

    // Size of the PUBLISH on the wire: fixed header, topic, packet id, properties, payload.
    const std::size_t props_len = props.encoded_length();
    const std::size_t remaining = 2 + topic.size() + 2 + vbi_size(props_len) + props_len + batch.body.size();
    const std::size_t packet = 1 + vbi_size(remaining) + remaining;
    if (remaining > kMqttMaxRemainingLength) {
      SendResult r;
      r.kind = SendResult::Kind::too_large;
      r.detail = "PUBLISH of " + std::to_string(packet) + " bytes exceeds MQTT's limit";
      return r;
    }

    if (auto answer = ensure_connected()) return *answer;

    if (max_packet && packet > *max_packet) {
      SendResult r;
      r.kind = SendResult::Kind::too_large;
      r.detail = "PUBLISH of " + std::to_string(packet) + " bytes exceeds the broker's maximum packet size " +
                 std::to_string(*max_packet);
      return r;
    }

    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = const_cast<char*>(batch.body.data());
    msg.payloadlen = static_cast<int>(batch.body.size());
    msg.qos = 1;
    msg.retained = 0;
    msg.properties = props.get();  // Paho copies them (and the payload) before returning
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess5 = on_publish_success;
    ro.onFailure5 = on_publish_failure;
    ro.context = this;
    {
      std::lock_guard lk(mu);
      publishing = {};
    }
    int rc = MQTTAsync_sendMessage(client, topic.c_str(), &msg, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
      std::string why = std::string("publish not accepted by the client: ") + MQTTAsync_strerror(rc);
      drop();
      note_failure(true, why);
      return retry(why);
    }

    Outcome result;
    bool gone = false, aborted = false;
    int server_reason = -1;
    {
      std::unique_lock lk(mu);
      cv.wait_until(lk, std::chrono::steady_clock::now() + o.publish_timeout,
                    [&] { return publishing.done || lost || aborting; });
      result = publishing;
      gone = lost;
      aborted = aborting;
      server_reason = server_disconnect;
    }

    SendResult r;
    if (result.done && result.ok) {
      r.kind = SendResult::Kind::settled;  // PUBACK < 0x80 (Paho does not pass the code on)
      return r;
    }
    if (result.done && result.reason >= 0x80) {
      r.status = result.reason;
      r.detail = "PUBACK " + reason_text(result.reason);
      if (!result.message.empty()) r.detail += ": " + result.message;
      switch (result.reason) {
        case MQTTREASONCODE_QUOTA_EXCEEDED:
          r.kind = SendResult::Kind::wait;
          return r;
        case MQTTREASONCODE_PACKET_TOO_LARGE:
          r.kind = SendResult::Kind::too_large;
          return r;
        case MQTTREASONCODE_NOT_AUTHORIZED:
        case MQTTREASONCODE_TOPIC_NAME_INVALID:
        case MQTTREASONCODE_PAYLOAD_FORMAT_INVALID:
        case MQTTREASONCODE_IMPLEMENTATION_SPECIFIC_ERROR:
          r.kind = SendResult::Kind::rejected;
          return r;
        default:
          drop();
          note_failure(true, r.detail);
          r.kind = SendResult::Kind::retry;
          return r;
      }
    }
    // No PUBACK: the connection went, the wait timed out, or we are shutting down.
    drop();
    if (server_reason == MQTTREASONCODE_PACKET_TOO_LARGE) {
      r.kind = SendResult::Kind::too_large;
      r.status = server_reason;
      r.detail = "broker disconnected: " + reason_text(server_reason);
      return r;
    }
    r.kind = SendResult::Kind::retry;
    if (server_reason >= 0) r.status = server_reason;
    if (aborted && !result.done && !gone) {
      r.detail = "aborted";
      return r;
    }
    if (result.done)
      r.detail = std::string("publish failed: ") + MQTTAsync_strerror(result.code);
    else if (gone)
      r.detail = server_reason >= 0 ? "broker sent DISCONNECT " + reason_text(server_reason) + " before the PUBACK"
                                    : "connection lost before the PUBACK";
    else
      r.detail = "no PUBACK within " + std::to_string(o.publish_timeout.count()) + " ms";
    note_failure(true, r.detail);
    return r;
  }

  // Clean DISCONNECT (bounded), then free the handle.
  void close() {
    if (!client) return;
    if (up) {
      {
        std::lock_guard lk(mu);
        disconnecting = {};
      }
      MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
      d.timeout = static_cast<int>(kDisconnectTimeout.count());
      d.onSuccess5 = on_disconnect_success;
      d.onFailure5 = on_disconnect_failure;
      d.context = this;
      if (MQTTAsync_disconnect(client, &d) == MQTTASYNC_SUCCESS) {
        std::unique_lock lk(mu);
        cv.wait_for(lk, kDisconnectTimeout + std::chrono::milliseconds(500), [&] { return disconnecting.done; });
      }
    }
    drop();
  }
};

MqttSink::MqttSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MqttSink::~MqttSink() { impl_->close(); }

Result<std::unique_ptr<MqttSink>> MqttSink::create(MqttSinkOptions opts) {
  const std::string& sid = opts.id;
  auto addr = broker_address(sid, opts.url);
  if (!addr) return fail(addr.error());
  if (opts.connect_timeout <= std::chrono::milliseconds::zero())
    return fail(config_error(sid, "connect_timeout must be positive"));
  if (opts.publish_timeout <= std::chrono::milliseconds::zero())
    return fail(config_error(sid, "publish_timeout must be positive"));
  if (opts.keepalive < std::chrono::seconds::zero() || opts.keepalive > std::chrono::seconds(65535))
    return fail(config_error(sid, "keepalive must be 0-65535 s"));
  if (!addr->tls && (!opts.ca_file.empty() || !opts.cert_file.empty() || !opts.key_file.empty()))
    return fail(config_error(sid, "ca_file, cert_file and key_file need an ssl:// or mqtts:// url"));
  if (!opts.key_file.empty() && opts.cert_file.empty())
    return fail(config_error(sid, "key_file without cert_file"));
  for (const std::string* f : {&opts.ca_file, &opts.cert_file, &opts.key_file})
    if (!f->empty() && !readable(*f)) return fail(config_error(sid, "cannot read '" + *f + "'"));

  auto impl = std::make_unique<Impl>();
  for (int c = 0; c < kRecordClassCount; ++c) {
    std::string t = expand_mqtt_topic(opts.topic, opts.gateway_id, static_cast<RecordClass>(c));
    if (t.empty()) return fail(config_error(sid, "empty topic"));
    if (t.find_first_of("+#") != std::string::npos || t.find('\0') != std::string::npos)
      return fail(config_error(sid, "topic '" + t + "' must not contain +, # or NUL"));
    if (t.find_first_of("{}") != std::string::npos)
      return fail(config_error(sid, "topic '" + opts.topic + "': unknown placeholder (known: {gateway}, {class})"));
    if (t.size() > 65535) return fail(config_error(sid, "topic too long"));
    impl->topics[static_cast<std::size_t>(c)] = std::move(t);
  }
  std::string cid = opts.client_id.empty() ? "citygate-sink-{gateway}-{id}" : opts.client_id;
  replace_all(cid, "{gateway}", opts.gateway_id);
  replace_all(cid, "{id}", opts.id);
  if (cid.empty() || cid.size() > 65535) return fail(config_error(sid, "client_id must be 1-65535 bytes"));

  impl->address = std::move(*addr);
  impl->client_id = std::move(cid);
  impl->o = std::move(opts);
  return std::unique_ptr<MqttSink>(new MqttSink(std::move(impl)));
}

const std::string& MqttSink::id() const { return impl_->o.id; }

SendResult MqttSink::send(const OutgoingBatch& batch) { return impl_->send(batch); }

void MqttSink::abort() {
  std::lock_guard lk(impl_->mu);
  impl_->aborting = true;
  impl_->cv.notify_all();
}

}  // namespace cg::uplink
