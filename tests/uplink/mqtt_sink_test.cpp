// MqttSink against a real mosquitto (MQTT v5), checked by an independent subscriber (Paho C async,
// MQTT v5, QoS 1): what arrives, with which properties; a broker restart in the middle of a run;
// a broker that is down or frozen; the broker's maximum packet size; TLS verification.
#include <MQTTAsync.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/uuid.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"
#include "uplink/mqtt_sink.hpp"
#include "wire/batch_codec.hpp"

using namespace cg;
using namespace std::chrono_literals;
using Kind = uplink::SendResult::Kind;

namespace {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::settled: return "settled";
    case Kind::wait: return "wait";
    case Kind::retry: return "retry";
    case Kind::rejected: return "rejected";
    case Kind::too_large: return "too_large";
  }
  return "?";
}

// ---- batches ----

struct TestBatch {
  wire::BatchHeader header;
  std::vector<Reading> readings;
  std::string body;

  uplink::OutgoingBatch outgoing() const { return {header, readings, {}, body}; }
};

const std::string kIncarnation = uuid_v7(from_unix_ns(1'700'000'000'000'000'000));

TestBatch make_batch(std::uint64_t seq, int n_readings = 3, RecordClass cls = RecordClass::telemetry) {
  TestBatch b;
  auto now = from_unix_ns(1'700'000'000'000'000'000 + static_cast<std::int64_t>(seq) * 1'000'000);
  b.header.gateway_id = "gw-t";
  b.header.incarnation_id = kIncarnation;
  b.header.batch_id = uuid_v7(now);
  b.header.batch_seq = seq;
  b.header.created_at = now;
  b.header.record_class = cls;
  for (int i = 0; i < n_readings; ++i) {
    Reading r;
    r.device = "dev-" + std::to_string(seq % 5);
    r.metric = "temperature";
    r.unit = "Cel";
    r.value = i % 2 ? Value{std::int64_t{static_cast<std::int64_t>(seq) * 1000 + i}} : Value{20.0 + i + seq / 8.0};
    r.tags = {{"zone", "z" + std::to_string(i % 3)}};
    r.observed = now + std::chrono::milliseconds(i);
    r.received = r.observed + std::chrono::milliseconds(5);
    r.seq = seq * 100 + static_cast<std::uint64_t>(i) + 1;
    b.readings.push_back(std::move(r));
  }
  b.body = wire::encode_batch(b.header, b.readings);
  return b;
}

// ---- an independent MQTT v5 subscriber ----

struct Received {
  std::string topic;
  std::string payload;
  std::string content_type;
  std::map<std::string, std::string> user;
};

// Paho C async, MQTT v5, QoS 1. With `persistent`, the session outlives connections (clean start
// off, session expiry 1 h) and Paho reconnects by itself, so messages published while it was away
// (a broker restart) are delivered when it is back.
class Subscriber {
 public:
  Subscriber(const std::string& url, std::string client_id, std::string filter, bool persistent = false)
      : filter_(std::move(filter)) {
    MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer5;
    if (MQTTAsync_createWithOptions(&c_, url.c_str(), client_id.c_str(), MQTTCLIENT_PERSISTENCE_NONE, nullptr,
                                    &cro) != MQTTASYNC_SUCCESS)
      throw std::runtime_error("subscriber: create failed");
    MQTTAsync_setCallbacks(c_, this, nullptr, on_message, nullptr);
    MQTTAsync_setConnected(c_, this, on_connected);
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
    co.keepAliveInterval = 10;
    MQTTProperties props = MQTTProperties_initializer;
    if (persistent) {
      co.cleanstart = 0;
      co.automaticReconnect = 1;
      co.minRetryInterval = 1;
      co.maxRetryInterval = 1;
      MQTTProperty expiry{};
      expiry.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
      expiry.value.integer4 = 3600;
      MQTTProperties_add(&props, &expiry);
      co.connectProperties = &props;
    }
    int rc = MQTTAsync_connect(c_, &co);
    MQTTProperties_free(&props);
    if (rc != MQTTASYNC_SUCCESS) throw std::runtime_error("subscriber: connect failed");
    if (!test::wait_until([&] { return subscriptions() > 0; }, 10s))
      throw std::runtime_error("subscriber: not subscribed to " + filter_);
  }

  ~Subscriber() {
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
    d.timeout = 500;
    MQTTAsync_disconnect(c_, &d);
    MQTTAsync_destroy(&c_);
  }

  std::vector<Received> messages() const {
    std::lock_guard lk(mu_);
    return got_;
  }
  std::size_t count() const {
    std::lock_guard lk(mu_);
    return got_.size();
  }
  int subscriptions() const {
    std::lock_guard lk(mu_);
    return subscribed_;
  }

 private:
  // On every (re)connection: subscribe (a no-op for a session that already has it).
  static void on_connected(void* ctx, char*) {
    auto* self = static_cast<Subscriber*>(ctx);
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess5 = [](void* c, MQTTAsync_successData5*) {
      auto* s = static_cast<Subscriber*>(c);
      std::lock_guard lk(s->mu_);
      ++s->subscribed_;
    };
    ro.context = self;
    MQTTAsync_subscribe(self->c_, self->filter_.c_str(), 1, &ro);
  }

  static int on_message(void* ctx, char* topic, int topic_len, MQTTAsync_message* m) {
    auto* self = static_cast<Subscriber*>(ctx);
    Received r;
    r.topic = topic_len > 0 ? std::string(topic, static_cast<std::size_t>(topic_len)) : std::string(topic);
    r.payload.assign(static_cast<const char*>(m->payload), static_cast<std::size_t>(m->payloadlen));
    for (int i = 0; i < m->properties.count; ++i) {
      const MQTTProperty& p = m->properties.array[i];
      if (p.identifier == MQTTPROPERTY_CODE_USER_PROPERTY)
        r.user[std::string(p.value.data.data, static_cast<std::size_t>(p.value.data.len))] =
            std::string(p.value.value.data, static_cast<std::size_t>(p.value.value.len));
      else if (p.identifier == MQTTPROPERTY_CODE_CONTENT_TYPE)
        r.content_type.assign(p.value.data.data, static_cast<std::size_t>(p.value.data.len));
    }
    {
      std::lock_guard lk(self->mu_);
      self->got_.push_back(std::move(r));
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
  }

  MQTTAsync c_ = nullptr;
  std::string filter_;
  mutable std::mutex mu_;
  std::vector<Received> got_;
  int subscribed_ = 0;
};

uplink::MqttSinkOptions sink_options(const std::string& url) {
  uplink::MqttSinkOptions o;
  o.id = "mq";
  o.url = url;
  o.gateway_id = "gw-t";
  // Paho's network thread, shared by every client of the process, polls with a 1 s timeout and
  // may take up to about 2 s to notice a new connection while another client is connected.
  o.connect_timeout = 5000ms;
  o.publish_timeout = 5000ms;
  o.keepalive = 5s;
  return o;
}

std::unique_ptr<uplink::MqttSink> make_sink(const uplink::MqttSinkOptions& o) {
  auto s = uplink::MqttSink::create(o);
  if (!s) FAIL("MqttSink::create: " << s.error().message);
  return std::move(*s);
}

// The uplink's back-off between attempts, simulated: a bounded pause (nothing to wait for).
void backoff_pause(std::chrono::milliseconds d) {
  std::mutex m;
  std::condition_variable cv;
  std::unique_lock lk(m);
  cv.wait_for(lk, d, [] { return false; });
}

// Sends `b` until it settles, like the uplink: retry → pause and send again. Returns the number of
// retries; fails the test on any other answer or after `limit`.
int send_until_settled(uplink::Sink& sink, const TestBatch& b, std::chrono::seconds limit = 60s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  int retries = 0;
  while (true) {
    auto r = sink.send(b.outgoing());
    if (r.kind == Kind::settled) return retries;
    INFO("batch " << b.header.batch_seq << ": " << kind_name(r.kind) << " status " << r.status << " " << r.detail);
    REQUIRE(r.kind == Kind::retry);
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    ++retries;
    backoff_pause(50ms);
  }
}

// Captures what the sink logs (spdlog's default logger) while alive.
class LogCapture {
 public:
  LogCapture() : old_(spdlog::default_logger()), ring_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000)) {
    auto l = std::make_shared<spdlog::logger>("capture", ring_);
    l->set_level(spdlog::level::trace);
    spdlog::set_default_logger(l);
  }
  ~LogCapture() { spdlog::set_default_logger(old_); }
  int count(spdlog::level::level_enum lvl, std::string_view needle) const {
    int n = 0;
    for (auto& m : ring_->last_raw())
      if (m.level == lvl && std::string_view(m.payload.data(), m.payload.size()).find(needle) != std::string_view::npos)
        ++n;
    return n;
  }
  std::string all() const {
    std::string s;
    for (auto& line : ring_->last_formatted()) s += line;
    return s;
  }

 private:
  std::shared_ptr<spdlog::logger> old_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> ring_;
};

void openssl(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  test::Process p(argv, log);
  if (p.wait(30000) != 0) throw std::runtime_error("openssl failed: " + p.log());
}

// A CA, a broker certificate whose subjectAltName is `san`, and a client certificate, in `d`.
void make_certificates(const std::filesystem::path& d, const std::string& san) {
  auto f = [&](const char* n) { return (d / n).string(); };
  auto log = d / "openssl.log";
  auto key = [&](const char* keyfile, const char* subject, const char* out, bool self_signed) {
    std::vector<std::string> a{"req"};
    if (self_signed) a.insert(a.end(), {"-x509", "-days", "2"});
    a.insert(a.end(), {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", subject, "-keyout",
                       f(keyfile), "-out", f(out)});
    openssl(a, log);
  };
  auto sign = [&](const char* csr, const char* out, const char* ext) {
    std::vector<std::string> a{"x509", "-req", "-in", f(csr), "-CA", f("ca.pem"), "-CAkey", f("ca.key"),
                               "-CAcreateserial", "-days", "2", "-out", f(out)};
    if (ext) a.insert(a.end(), {"-extfile", f(ext)});
    openssl(a, log);
  };
  key("ca.key", "/CN=citygate mqtt sink test CA", "ca.pem", true);
  key("broker.key", "/CN=broker", "broker.csr", false);
  test::write_file(d / "broker.ext", "subjectAltName=" + san + "\n");
  sign("broker.csr", "broker.pem", "broker.ext");
  key("client.key", "/CN=citygate-sink", "client.csr", false);
  sign("client.csr", "client.pem", nullptr);
}

// A second mosquitto listener on `port`: TLS with client certificates.
std::string tls_listener(const std::filesystem::path& d, int port) {
  return "listener " + std::to_string(port) + " 127.0.0.1\ncafile " + (d / "ca.pem").string() + "\ncertfile " +
         (d / "broker.pem").string() + "\nkeyfile " + (d / "broker.key").string() +
         "\nrequire_certificate true\nuse_identity_as_username true\n";
}

// Size of a QoS 1 PUBLISH on the wire (MQTT 5.0 §3.3), computed here from the spec.
std::size_t vbi(std::size_t n) { return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4; }
std::size_t publish_size(const std::string& topic, const wire::BatchHeader& h, std::size_t body) {
  auto str = [](std::size_t n) { return 2 + n; };
  std::size_t props = 1 + str(std::string_view("application/x-protobuf").size());
  auto user = [&](std::string_view k, const std::string& v) { props += 1 + str(k.size()) + str(v.size()); };
  user("batch_id", h.batch_id);
  user("batch_seq", std::to_string(h.batch_seq));
  user("part", std::to_string(h.part));
  user("parts", std::to_string(h.parts));
  user("gateway_id", h.gateway_id);
  user("incarnation_id", h.incarnation_id);
  user("record_class", std::string(record_class_name(h.record_class)));
  std::size_t remaining = str(topic.size()) + 2 + vbi(props) + props + body;
  return 1 + vbi(remaining) + remaining;
}

}  // namespace

TEST_CASE("mqtt sink: options are validated and placeholders expanded", "[mqtt_sink]") {
  auto ok = [](uplink::MqttSinkOptions o) { return uplink::MqttSink::create(std::move(o)).has_value(); };
  auto base = sink_options("tcp://127.0.0.1:1883");
  CHECK(ok(base));
  for (const char* url : {"mqtt://broker.example", "ssl://broker.example:8883", "mqtts://[::1]:8883",
                          "tcp://10.0.0.1:1883/"}) {
    auto o = base;
    o.url = url;
    INFO(url);
    CHECK(ok(o));
  }
  for (const char* url : {"", "broker:1883", "http://broker:1883", "tcp://", "tcp://:1883", "tcp://host:0",
                          "tcp://host:70000", "tcp://host:12ab", "tcp://host:1883/path", "tcp://user@host:1883",
                          "tcp://::1:1883", "ws://host:80"}) {
    auto o = base;
    o.url = url;
    INFO(url);
    CHECK_FALSE(ok(o));
  }
  for (const char* topic : {"", "city/+/batches", "city/#", "city/{gw}/x"}) {
    auto o = base;
    o.topic = topic;
    INFO(topic);
    CHECK_FALSE(ok(o));
  }
  {
    test::TempDir dir;
    test::write_file(dir / "ca.pem", "not checked until a connect\n");
    auto o = base;
    o.ca_file = (dir / "ca.pem").string();  // TLS settings with a plain tcp:// url
    CHECK_FALSE(ok(o));
    o.url = "ssl://127.0.0.1:8883";
    CHECK(ok(o));
    o.ca_file = "/nonexistent/ca.pem";
    CHECK_FALSE(ok(o));
  }
  {
    auto o = base;
    o.publish_timeout = 0ms;
    CHECK_FALSE(ok(o));
  }
  CHECK(uplink::expand_mqtt_topic("citygate/{gateway}/batches", "gw-1", RecordClass::alert) == "citygate/gw-1/batches");
  CHECK(uplink::expand_mqtt_topic("c/{gateway}/{class}/{class}", "g", RecordClass::status) == "c/g/status/status");
  CHECK(uplink::MqttSinkOptions{}.tls_verify);
  CHECK(uplink::MqttSinkOptions{}.topic == "citygate/{gateway}/batches");
}

TEST_CASE("mqtt sink: batches are published at QoS 1 with their properties and settle on PUBACK", "[mqtt_sink]") {
  test::TempDir dir;
  test::Mosquitto broker(dir / "mosquitto");
  Subscriber sub(broker.url(), "test-sub-deliver", "citygate/#");

  auto o = sink_options(broker.url());
  o.topic = "citygate/{gateway}/{class}";
  auto sink = make_sink(o);
  CHECK(sink->id() == "mq");

  constexpr int kBatches = 12;
  std::vector<TestBatch> sent;
  for (int i = 1; i <= kBatches; ++i) {
    auto cls = i % 3 == 0 ? RecordClass::alert : RecordClass::telemetry;
    sent.push_back(make_batch(static_cast<std::uint64_t>(i), 1 + i % 4, cls));
  }
  // a part of a split batch keeps the parent's id and seq and carries part k of n
  sent.back().header.part = 2;
  sent.back().header.parts = 3;
  sent.back().body = wire::encode_batch(sent.back().header, sent.back().readings);

  for (auto& b : sent) {
    auto r = sink->send(b.outgoing());
    INFO(r.detail);
    REQUIRE(r.kind == Kind::settled);
    CHECK(r.status == 0);
  }
  REQUIRE(test::wait_until([&] { return sub.count() >= sent.size(); }, 10s));

  auto got = sub.messages();
  CHECK(got.size() == sent.size());  // no reconnects, so no redeliveries
  std::set<std::string> ids;
  for (auto& m : got) {
    auto it = std::find_if(sent.begin(), sent.end(),
                           [&](const TestBatch& b) { return b.header.batch_id == m.user["batch_id"]; });
    REQUIRE(it != sent.end());
    const auto& h = it->header;
    ids.insert(h.batch_id);
    CHECK(m.topic == "citygate/gw-t/" + std::string(record_class_name(h.record_class)));
    CHECK(m.content_type == "application/x-protobuf");
    CHECK(m.user["batch_seq"] == std::to_string(h.batch_seq));
    CHECK(m.user["part"] == std::to_string(h.part));
    CHECK(m.user["parts"] == std::to_string(h.parts));
    CHECK(m.user["gateway_id"] == "gw-t");
    CHECK(m.user["incarnation_id"] == kIncarnation);
    CHECK(m.user["record_class"] == record_class_name(h.record_class));
    CHECK(m.user.size() == 7);
    CHECK(m.payload == it->body);
    auto d = wire::decode_batch(m.payload);
    REQUIRE(d);
    CHECK(d->header.batch_id == h.batch_id);
    CHECK(d->header.batch_seq == h.batch_seq);
    CHECK(d->header.part == h.part);
    CHECK(d->header.parts == h.parts);
    CHECK(d->readings == it->readings);
  }
  CHECK(ids.size() == sent.size());
}

TEST_CASE("mqtt sink: the default topic carries the gateway id", "[mqtt_sink]") {
  test::TempDir dir;
  test::Mosquitto broker(dir / "mosquitto");
  Subscriber sub(broker.url(), "test-sub-default", "citygate/gw-t/batches");
  auto sink = make_sink(sink_options(broker.url()));
  auto b = make_batch(1, 2, RecordClass::status);
  REQUIRE(sink->send(b.outgoing()).kind == Kind::settled);
  REQUIRE(test::wait_until([&] { return sub.count() == 1; }, 10s));
  CHECK(sub.messages()[0].user["record_class"] == "status");
}

TEST_CASE("mqtt sink: a broker restarted with SIGTERM mid-run loses no batch", "[mqtt_sink]") {
  LogCapture logs;
  test::TempDir dir;
  test::Mosquitto broker(dir / "mosquitto");
  Subscriber sub(broker.url(), "test-sub-restart", "citygate/#", /*persistent=*/true);
  auto o = sink_options(broker.url());
  o.publish_timeout = 2000ms;
  auto sink = make_sink(o);

  constexpr int kBatches = 150;
  std::vector<TestBatch> sent;
  for (int i = 1; i <= kBatches; ++i) sent.push_back(make_batch(static_cast<std::uint64_t>(i), 5));

  // The sender runs on its own thread, like the uplink's; this thread restarts the broker once it
  // is a third of the way through (the broker must be started by this thread: test processes die
  // with the thread that started them). The sender waits at two thirds until the restart is done,
  // so the restart always falls in the middle of the run.
  std::atomic<int> progress{0};
  std::atomic<bool> restarted{false}, stop{false};
  int retries = 0;
  std::string sender_error;  // read after join
  std::thread sender([&] {
    for (int k = 0; k < kBatches && !stop; ++k) {
      if (k == 2 * kBatches / 3 && !test::wait_until([&] { return restarted || stop; }, 60s)) {
        sender_error = "the restart did not happen";
        return;
      }
      const auto& b = sent[static_cast<std::size_t>(k)];
      auto deadline = std::chrono::steady_clock::now() + 60s;
      while (!stop) {
        auto r = sink->send(b.outgoing());
        if (r.kind == Kind::settled) break;
        if (r.kind != Kind::retry || std::chrono::steady_clock::now() > deadline) {
          sender_error = "batch " + std::to_string(b.header.batch_seq) + ": " + kind_name(r.kind) + " " + r.detail;
          return;
        }
        ++retries;
        backoff_pause(50ms);
      }
      progress = k + 1;
    }
  });
  struct Join {
    std::thread& t;
    std::atomic<bool>& stop;
    ~Join() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } join{sender, stop};
  REQUIRE(test::wait_until([&] { return progress >= kBatches / 3; }, 60s));
  CHECK(progress < kBatches);
  broker.restart();
  restarted = true;
  sender.join();
  INFO(sender_error);
  REQUIRE(sender_error.empty());
  REQUIRE(progress == kBatches);
  // The restart was noticed and logged: sends in flight answered retry, or the next send found the
  // connection gone and reconnected first (the broker may be back by then).
  INFO(logs.all());
  CHECK(logs.count(spdlog::level::warn, "mqtt sink 'mq'") >= 1);
  CHECK(logs.count(spdlog::level::info, "again") >= 1);

  std::map<std::string, const TestBatch*> by_id;
  for (auto& b : sent) by_id[b.header.batch_id] = &b;
  auto distinct = [&] {
    std::set<std::string> ids;
    for (auto& m : sub.messages()) ids.insert(m.user["batch_id"]);
    return ids.size();
  };
  bool all = test::wait_until([&] { return distinct() == sent.size(); }, 30s);
  INFO("received " << sub.count() << " messages, " << distinct() << " distinct batches, sender retries " << retries);
  CHECK(all);
  // Duplicates are allowed only as whole repeated batches: every message is one of ours, intact.
  for (auto& m : sub.messages()) {
    auto it = by_id.find(m.user["batch_id"]);
    REQUIRE(it != by_id.end());
    CHECK(m.payload == it->second->body);
    CHECK(m.user["batch_seq"] == std::to_string(it->second->header.batch_seq));
  }
}

TEST_CASE("mqtt sink: a refused connect answers retry with the CONNACK reason code", "[mqtt_sink]") {
  test::TempDir dir;
  test::Mosquitto broker(dir / "mosquitto", 0, "allow_anonymous false\n");  // the last setting wins
  auto o = sink_options(broker.url());
  o.username = "nobody";
  o.password = "wrong";
  auto sink = make_sink(o);
  auto b = make_batch(1);
  auto r = sink->send(b.outgoing());
  INFO(r.detail);
  CHECK(r.kind == Kind::retry);
  CHECK((r.status == 0x86 || r.status == 0x87));  // bad user name or password / not authorized
  CHECK(r.detail.find("refused") != std::string::npos);
}

TEST_CASE("mqtt sink: a PUBACK refusing the message (0x87) answers rejected", "[mqtt_sink]") {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "mosquitto");
  // anonymous clients may read everything but publish telemetry only
  test::write_file(dir / "acl", "topic read citygate/#\ntopic write citygate/gw-t/telemetry\n");
  test::Mosquitto broker(dir / "mosquitto", 0, "acl_file " + (dir / "acl").string() + "\n");
  Subscriber sub(broker.url(), "test-sub-acl", "citygate/#");
  auto o = sink_options(broker.url());
  o.topic = "citygate/{gateway}/{class}";
  auto sink = make_sink(o);
  auto telemetry = make_batch(1, 2, RecordClass::telemetry);
  auto alert = make_batch(2, 2, RecordClass::alert);
  auto later = make_batch(3, 2, RecordClass::telemetry);
  auto r1 = sink->send(telemetry.outgoing());
  INFO(r1.detail);
  CHECK(r1.kind == Kind::settled);
  auto r2 = sink->send(alert.outgoing());
  INFO(r2.detail);
  CHECK(r2.kind == Kind::rejected);
  CHECK(r2.status == 0x87);
  CHECK(r2.detail.find("PUBACK") != std::string::npos);
  // the batches behind it still go (mosquitto 2.0 closes the connection after a denied publish,
  // so this may take a reconnect)
  send_until_settled(*sink, later, 20s);
  REQUIRE(test::wait_until([&] { return sub.count() >= 2; }, 10s));
  auto got = sub.messages();
  CHECK(got.size() == 2);
  for (auto& m : got) CHECK(m.user["record_class"] == "telemetry");
}

TEST_CASE("mqtt sink: a broker that is down or frozen gets retry within the timeouts and abort() ends a send",
          "[mqtt_sink]") {
  LogCapture logs;
  test::TempDir dir;
  int port = test::free_port();
  auto o = sink_options("tcp://127.0.0.1:" + std::to_string(port));
  o.connect_timeout = 4000ms;
  o.publish_timeout = 1000ms;
  auto sink = make_sink(o);
  auto b = make_batch(1);
  auto timed_send = [&](uplink::Sink& s) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = s.send(b.outgoing());
    return std::pair{r, std::chrono::steady_clock::now() - t0};
  };

  SECTION("nothing listens: retry within connect_timeout, logged once at warn") {
    for (int i = 0; i < 3; ++i) {
      auto [r, took] = timed_send(*sink);
      INFO(r.detail);
      CHECK(r.kind == Kind::retry);
      CHECK(!r.detail.empty());
      CHECK(took < o.connect_timeout + 1500ms);
    }
    CHECK(logs.count(spdlog::level::warn, "mqtt sink 'mq'") == 1);
    // the broker comes up: the next send connects and settles; the recovery is logged at info
    test::Mosquitto broker(dir / "mosquitto", port);
    auto [r, took] = timed_send(*sink);
    INFO(r.detail);
    CHECK(r.kind == Kind::settled);
    INFO(logs.all());
    CHECK(logs.count(spdlog::level::info, "after failed attempts") == 1);
    CHECK(logs.count(spdlog::level::warn, "mqtt sink 'mq'") == 1);
  }

  SECTION("frozen broker (SIGSTOP): no PUBACK, then no CONNACK, each bounded; it recovers after SIGCONT") {
    test::Mosquitto broker(dir / "mosquitto", port);
    REQUIRE(sink->send(b.outgoing()).kind == Kind::settled);
    broker.process().signal(SIGSTOP);
    auto [r1, took1] = timed_send(*sink);
    INFO(r1.detail);
    CHECK(r1.kind == Kind::retry);
    CHECK(r1.detail.find("PUBACK") != std::string::npos);
    CHECK(took1 >= o.publish_timeout);
    CHECK(took1 < o.publish_timeout + 1500ms);
    // the connection was dropped: the next send reconnects, and the frozen broker never answers
    auto [r2, took2] = timed_send(*sink);
    INFO(r2.detail);
    CHECK(r2.kind == Kind::retry);
    CHECK(r2.detail.find("CONNACK") != std::string::npos);
    CHECK(took2 >= o.connect_timeout);
    CHECK(took2 < o.connect_timeout + 1500ms);
    CHECK(logs.count(spdlog::level::warn, "mqtt sink 'mq'") == 1);
    broker.process().signal(SIGCONT);
    // (the thawed broker may first process the stale connections, with the same client id)
    send_until_settled(*sink, b, 20s);
  }

  SECTION("abort() ends a send blocked on a frozen broker, and every later send") {
    test::Mosquitto broker(dir / "mosquitto", port);
    auto lo = o;
    lo.connect_timeout = 60s;
    lo.publish_timeout = 60s;
    auto slow = make_sink(lo);
    REQUIRE(slow->send(b.outgoing()).kind == Kind::settled);
    broker.process().signal(SIGSTOP);
    std::atomic<bool> returned{false};
    uplink::SendResult r;
    auto t0 = std::chrono::steady_clock::now();
    std::thread t([&] {
      r = slow->send(b.outgoing());
      returned = true;
    });
    // it is blocked waiting for the PUBACK (the broker cannot answer); no answer within a while
    CHECK_FALSE(test::wait_until([&] { return returned.load(); }, 300ms));
    slow->abort();
    CHECK(test::wait_until([&] { return returned.load(); }, 3s));
    t.join();
    CHECK(r.kind == Kind::retry);
    CHECK(std::chrono::steady_clock::now() - t0 < 10s);
    auto [r2, took2] = timed_send(*slow);
    CHECK(r2.kind == Kind::retry);
    CHECK(took2 < 100ms);
    broker.process().signal(SIGCONT);
  }

  SECTION("abort() ends a send waiting for a CONNACK") {
    test::Mosquitto broker(dir / "mosquitto", port);
    broker.process().signal(SIGSTOP);  // the kernel still accepts the TCP connection
    auto lo = o;
    lo.connect_timeout = 60s;
    auto slow = make_sink(lo);
    std::atomic<bool> returned{false};
    uplink::SendResult r;
    std::thread t([&] {
      r = slow->send(b.outgoing());
      returned = true;
    });
    CHECK_FALSE(test::wait_until([&] { return returned.load(); }, 300ms));
    slow->abort();
    CHECK(test::wait_until([&] { return returned.load(); }, 3s));
    t.join();
    CHECK(r.kind == Kind::retry);
    CHECK(r.detail == "aborted");
    broker.process().signal(SIGCONT);
  }
}

TEST_CASE("mqtt sink: a publish over the broker's maximum packet size answers too_large unsent", "[mqtt_sink]") {
  constexpr std::size_t kMax = 4096;
  test::TempDir dir;
  test::Mosquitto broker(dir / "mosquitto", 0, "max_packet_size " + std::to_string(kMax) + "\n");
  Subscriber sub(broker.url(), "test-sub-large", "citygate/#");
  auto sink = make_sink(sink_options(broker.url()));
  const std::string topic = "citygate/gw-t/batches";

  // a body that makes the PUBLISH exactly one byte too large, then exactly the maximum
  auto big = make_batch(1, 1);
  std::size_t fixed = publish_size(topic, big.header, 0);
  std::size_t body = kMax - fixed + 1;
  while (publish_size(topic, big.header, body) > kMax + 1) --body;  // a VBI byte boundary
  REQUIRE(publish_size(topic, big.header, body) == kMax + 1);
  big.body.assign(body, 'x');  // the sink sends the body as is; its size is what matters here
  auto r = sink->send(big.outgoing());
  INFO(r.detail);
  CHECK(r.kind == Kind::too_large);
  CHECK(r.detail.find(std::to_string(kMax)) != std::string::npos);

  auto fits = make_batch(2, 1);
  fits.body.assign(body - 1, 'y');
  REQUIRE(publish_size(topic, fits.header, fits.body.size()) == kMax);
  auto r2 = sink->send(fits.outgoing());
  INFO(r2.detail);
  CHECK(r2.kind == Kind::settled);

  auto small = make_batch(3, 2);
  CHECK(sink->send(small.outgoing()).kind == Kind::settled);
  REQUIRE(test::wait_until([&] { return sub.count() >= 2; }, 10s));
  auto got = sub.messages();
  REQUIRE(got.size() == 2);  // in order on one topic: the oversized one was never published
  CHECK(got[0].user["batch_id"] == fits.header.batch_id);
  CHECK(got[1].user["batch_id"] == small.header.batch_id);
}

TEST_CASE("mqtt sink: TLS verifies the broker's certificate and host name by default", "[mqtt_sink][tls]") {
  test::TempDir dir;
  auto tls_sink_options = [&](const std::filesystem::path& pki, int port, const char* scheme) {
    auto o = sink_options(std::string(scheme) + "://127.0.0.1:" + std::to_string(port));
    o.ca_file = (pki / "ca.pem").string();
    o.cert_file = (pki / "client.pem").string();
    o.key_file = (pki / "client.key").string();
    return o;
  };
  auto b = make_batch(1);

  SECTION("a certificate for another host is refused; accepted only with tls_verify off") {
    auto pki = dir / "pki";
    std::filesystem::create_directories(pki);
    make_certificates(pki, "DNS:broker.elsewhere.example");
    int port = test::free_port();
    test::Mosquitto broker(dir / "mosquitto", 0, tls_listener(pki, port));
    REQUIRE(test::wait_port_open(port));
    auto strict = make_sink(tls_sink_options(pki, port, "ssl"));
    auto r = strict->send(b.outgoing());
    INFO(r.detail);
    CHECK(r.kind == Kind::retry);
    CHECK(r.status == 0);

    auto o = tls_sink_options(pki, port, "ssl");
    o.tls_verify = false;
    o.client_id = "citygate-sink-lax";
    auto lax = make_sink(o);
    auto r2 = lax->send(b.outgoing());
    INFO(r2.detail);
    CHECK(r2.kind == Kind::settled);
  }

  SECTION("a certificate naming the host (IP) is accepted, with a client certificate (mTLS)") {
    auto pki = dir / "pki";
    std::filesystem::create_directories(pki);
    make_certificates(pki, "IP:127.0.0.1");
    int port = test::free_port();
    test::Mosquitto broker(dir / "mosquitto", 0, tls_listener(pki, port));
    REQUIRE(test::wait_port_open(port));
    Subscriber sub(broker.url(), "test-sub-tls", "citygate/#");
    auto sink = make_sink(tls_sink_options(pki, port, "mqtts"));
    auto r = sink->send(b.outgoing());
    INFO(r.detail);
    CHECK(r.kind == Kind::settled);
    REQUIRE(test::wait_until([&] { return sub.count() == 1; }, 10s));
    CHECK(sub.messages()[0].payload == b.body);
  }
}
