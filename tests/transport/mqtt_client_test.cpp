// The gateway's MQTT client against a real mosquitto: a message is acknowledged only once the
// store committed it, so one the gateway held when it stopped (or died) comes again.
// The "store" here is a function that commits, refuses or never answers: faults are injected,
// the broker and the protocol are real.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "support/mqtt_pub.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"
#include "transport/mqtt_client.hpp"

using namespace cg;
using namespace cg::test;
using namespace std::chrono_literals;

namespace {

// What a store would see: each submit, with its message (the reading's device carries the payload).
struct FakeStore {
  enum class Mode { commit, hold, refuse_first };
  std::mutex mu;
  Mode mode = Mode::commit;
  int refusals_left = 0;
  std::vector<std::string> committed;        // payloads, in commit order
  std::vector<bool> committed_dup;           // the DUP flag each was delivered with
  std::vector<CommitCallback> held;          // answers never given (Mode::hold)
  std::vector<std::string> held_payloads;
  std::vector<std::pair<std::string, std::string>> rejected;  // topic, reason
  std::atomic<int> submits{0};

  transport::SubmitFn submit() {
    return [this](std::vector<Reading> rs, SubmitOptions opts, CommitCallback done) {
      ++submits;
      std::unique_lock lk(mu);
      const std::string payload = rs.empty() ? std::string() : rs[0].device;
      if (mode == Mode::hold) {
        held.push_back(std::move(done));
        held_payloads.push_back(payload);
        return;
      }
      if (mode == Mode::refuse_first && refusals_left > 0) {
        --refusals_left;
        lk.unlock();
        done(CommitStatus::throttled);
        return;
      }
      committed.push_back(payload);
      committed_dup.push_back(opts.dedup && opts.dedup->is_redelivery);
      lk.unlock();
      done(CommitStatus::committed);
    };
  }
  transport::RejectFn reject() {
    return [this](std::span<const std::uint8_t>, const std::string& topic, const Error& e) {
      std::lock_guard lk(mu);
      rejected.emplace_back(topic, e.code);
    };
  }
  std::size_t committed_count() {
    std::lock_guard lk(mu);
    return committed.size();
  }
  std::size_t held_count() {
    std::lock_guard lk(mu);
    return held.size();
  }
};

MqttDecodeFn payload_as_device() {
  return [](const MqttMessage& m) -> Result<std::vector<Reading>> {
    Reading r;
    r.device.assign(reinterpret_cast<const char*>(m.payload.data()), m.payload.size());
    r.metric = "x";
    return std::vector<Reading>{r};
  };
}

std::unique_ptr<transport::MqttClient> make_client(const Mosquitto& broker, Metrics& metrics, FakeStore& store,
                                                   const std::string& client_id = "gw-test") {
  transport::BrokerSettings bs;
  bs.id = "local";
  bs.url = broker.url();
  bs.client_id = client_id;
  auto c = std::make_unique<transport::MqttClient>(bs, metrics);
  c->add_subscription("t/#", 1, "a1", payload_as_device(), store.submit(), store.reject());
  REQUIRE(c->start());
  return c;
}

std::string msg(int i) { return "m" + std::to_string(i); }

// A mosquitto of the test's own on a free loopback port, accepting connections.
struct LiveBroker {
  TempDir dir;
  Mosquitto broker;
  explicit LiveBroker(std::string extra_conf = {}) : broker(dir / "mosquitto", 0, std::move(extra_conf)) {
    REQUIRE(wait_port_open(broker.port()));
  }
};

// A first publish may reach the broker before the client's subscription: publish probes on t/x
// until the store has seen one.
void wait_subscribed(MqttPublisher& pub, FakeStore& store) {
  REQUIRE(wait_until([&] { return pub.publish("t/x", "probe") && store.submits > 0; }));
}

}  // namespace

TEST_CASE("MQTT: a message is acknowledged only after its commit, held ones come again after a stop",
          "[transport][mqtt_client]") {
  // the broker sends at most 10 unacknowledged messages at a time (stated, not mosquitto's default)
  LiveBroker live("max_inflight_messages 10\n");
  auto& broker = live.broker;
  Metrics metrics;
  FakeStore store;
  store.mode = FakeStore::Mode::hold;
  {
    auto a = make_client(broker, metrics, store);
    REQUIRE(wait_until([&] { return a->connected(); }));
    REQUIRE(wait_until([&] { return metrics.value("mqtt_connects_total", {{"broker", "local"}}) == 1; }));
    MqttPublisher pub(broker.url(), "dev");
    // the subscription is in place once a first message gets through
    REQUIRE(pub.publish("t/x", msg(0)));
    REQUIRE(wait_until([&] { return store.held_count() == 1; }));
    for (int i = 1; i < 30; ++i) REQUIRE(pub.publish("t/x", msg(i)));
    // the broker stops at 10 unacknowledged: nothing was acknowledged before a commit
    REQUIRE(wait_until([&] { return store.held_count() == 10; }));
    a->stop();
  }
  // the store answers late, after the client is gone: nothing to acknowledge, no crash
  for (auto& cb : store.held) cb(CommitStatus::committed);
  {
    std::lock_guard lk(store.mu);
    CHECK(store.held_payloads == std::vector<std::string>{msg(0), msg(1), msg(2), msg(3), msg(4), msg(5), msg(6),
                                                           msg(7), msg(8), msg(9)});
    store.mode = FakeStore::Mode::commit;
  }
  // the same session again: the 10 held come again (DUP), then the 20 still queued, in order
  {
    auto b = make_client(broker, metrics, store);
    REQUIRE(wait_until([&] { return store.committed_count() == 30; }));
    b->stop();
  }
  {
    std::lock_guard lk(store.mu);
    for (int i = 0; i < 30; ++i) {
      CHECK(store.committed[i] == msg(i));
      CHECK(store.committed_dup[i] == (i < 10));
    }
  }
  // and once committed and acknowledged, they do not come a third time: a marker published now
  // is the next message
  {
    auto c = make_client(broker, metrics, store);
    REQUIRE(wait_until([&] { return c->connected(); }));
    MqttPublisher pub(broker.url(), "dev2");
    REQUIRE(pub.publish("t/x", "marker"));
    REQUIRE(wait_until([&] { return store.committed_count() >= 31; }));
    std::lock_guard lk(store.mu);
    CHECK(store.committed.size() == 31);
    CHECK(store.committed.back() == "marker");
  }
}

TEST_CASE("MQTT: messages the store refuses are retried until taken, none lost and none twice",
          "[transport][mqtt_client]") {
  LiveBroker live;
  auto& broker = live.broker;
  Metrics metrics;
  FakeStore store;
  store.mode = FakeStore::Mode::refuse_first;
  store.refusals_left = 25;
  auto c = make_client(broker, metrics, store);
  REQUIRE(wait_until([&] { return c->connected(); }));
  MqttPublisher pub(broker.url(), "dev");
  wait_subscribed(pub, store);
  for (int i = 0; i < 100; ++i) REQUIRE(pub.publish("t/y", msg(i)));
  REQUIRE(wait_until([&] {
    std::lock_guard lk(store.mu);
    return std::count_if(store.committed.begin(), store.committed.end(), [](auto& s) { return s[0] == 'm'; }) == 100;
  }));
  CHECK(metrics.value("mqtt_messages_refused_total", {{"broker", "local"}}) >= 1);
  std::lock_guard lk(store.mu);
  std::multiset<std::string> got(store.committed.begin(), store.committed.end());
  for (int i = 0; i < 100; ++i) CHECK(got.count(msg(i)) == 1);
  CHECK(store.refusals_left == 0);
}

TEST_CASE("MQTT: a QoS 2 subscription is served at QoS 1, so its acknowledgement can wait for the commit",
          "[transport][mqtt_client]") {
  LiveBroker live;
  Metrics metrics;
  FakeStore store;
  std::atomic<int> qos_seen{-1};
  transport::BrokerSettings bs;
  bs.id = "local";
  bs.url = live.broker.url();
  bs.client_id = "gw-qos2";
  transport::MqttClient c(bs, metrics);
  auto decode = payload_as_device();
  c.add_subscription("t/#", 2, "a1", [&](const MqttMessage& m) {
    qos_seen = m.qos;
    return decode(m);
  }, store.submit(), store.reject());
  REQUIRE(c.start());
  REQUIRE(wait_until([&] { return c.connected(); }));
  MqttPublisher pub(live.broker.url(), "dev");
  REQUIRE(wait_until([&] { return pub.publish("t/x", "q2", 2) && store.committed_count() >= 1; }));
  CHECK(qos_seen == 1);
  c.stop();
}

TEST_CASE("MQTT: a message over 16 MiB is acknowledged and recorded as rejected, the next one arrives",
          "[transport][mqtt_client]") {
  LiveBroker live;
  auto& broker = live.broker;
  Metrics metrics;
  FakeStore store;
  auto c = make_client(broker, metrics, store);
  REQUIRE(wait_until([&] { return c->connected(); }));
  MqttPublisher pub(broker.url(), "dev");
  wait_subscribed(pub, store);
  REQUIRE(pub.publish("t/big", std::string((16u << 20) + 1, 'b')));
  REQUIRE(pub.publish("t/x", "after"));
  REQUIRE(wait_until([&] {
    std::lock_guard lk(store.mu);
    return !store.committed.empty() && store.committed.back() == "after";
  }, 60s));
  std::lock_guard lk(store.mu);
  REQUIRE(store.rejected.size() == 1);
  CHECK(store.rejected[0].first == "t/big");
  CHECK(store.rejected[0].second == "mqtt.too_large");
  CHECK(metrics.value("adapter_decode_errors_total", {{"adapter", "a1"}, {"reason", "mqtt.too_large"}}) == 1);
}

TEST_CASE("MQTT: a server that answers with bytes that are not MQTT is counted and the client goes on trying",
          "[transport][mqtt_client]") {
  // a listener that accepts, reads the CONNECT, and answers garbage (a reserved packet type)
  int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(ls >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  REQUIRE(::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t al = sizeof a;
  REQUIRE(::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &al) == 0);
  REQUIRE(::listen(ls, 4) == 0);
  std::atomic<int> accepted{0};
  std::thread server([&] {
    for (int i = 0; i < 2; ++i) {
      int s = ::accept(ls, nullptr, nullptr);
      if (s < 0) return;
      ++accepted;
      char buf[256];
      (void)::read(s, buf, sizeof buf);
      const char junk[] = {'\xf0', '\x7f', 'x', 'y', 'z'};
      (void)::write(s, junk, sizeof junk);
      char drain[64];
      while (::read(s, drain, sizeof drain) > 0) {
      }
      ::close(s);
    }
  });
  Metrics metrics;
  FakeStore store;
  transport::BrokerSettings bs;
  bs.id = "junk";
  bs.url = "tcp://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  bs.client_id = "gw-junk";
  {
    transport::MqttClient c(bs, metrics);
    c.add_subscription("t/#", 1, "a1", payload_as_device(), store.submit(), store.reject());
    REQUIRE(c.start());
    // answered twice with garbage: counted each time, and the client connected again after the first
    CHECK(wait_until([&] { return metrics.value("mqtt_protocol_errors_total", {{"broker", "junk"}}) >= 2; }));
    CHECK(accepted == 2);
    CHECK_FALSE(c.connected());
    c.stop();
  }
  ::shutdown(ls, SHUT_RDWR);
  ::close(ls);
  server.join();
}

TEST_CASE("MQTT: URLs the client cannot serve are refused at start", "[transport][mqtt_client]") {
  Metrics metrics;
  for (const char* url : {"ws://127.0.0.1:9001", "http://x", "tcp://", "tcp://h:0", "tcp://h:70000", "tcp://[::1"}) {
    transport::BrokerSettings bs;
    bs.id = "b";
    bs.url = url;
    bs.client_id = "c";
    transport::MqttClient c(bs, metrics);
    INFO(url);
    CHECK_FALSE(c.start());
  }
}
