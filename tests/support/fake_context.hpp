#pragma once
// An AdapterContext for unit tests of adapter glue: it records what the adapter registers
// (subscriptions, routes, listeners, publishes, presence) and runs posted work inline. It is not
// a transport: tests that prove delivery run the real gateway with a real broker or listener.
#include <functional>
#include <string>
#include <vector>

#include "adapter_api/adapter.hpp"

namespace cg::test {

class RecordingSink final : public ReadingSink {
 public:
  void submit(std::vector<Reading> r, SubmitOptions, CommitCallback done) override {
    for (auto& x : r) readings.push_back(std::move(x));
    done(CommitStatus::committed);
  }
  void reject_payload(const std::string&, const std::string&, std::span<const std::uint8_t>,
                      const std::string& reason) override {
    rejected.push_back(reason);
  }
  void report_gap(GapRecord g) override { gaps.push_back(std::move(g)); }
  std::vector<Reading> readings;
  std::vector<GapRecord> gaps;
  std::vector<std::string> rejected;
};

class NullLog final : public AdapterLog {
 public:
  void debug(std::string_view) override {}
  void info(std::string_view) override {}
  void warn(std::string_view) override {}
  void error(std::string_view) override {}
};

class FakeContext final : public AdapterContext {
 public:
  struct Subscription {
    std::string broker, filter;
    int qos;
    MqttDecodeFn decode;
  };
  struct Publish {
    std::string broker, topic;
    std::vector<std::uint8_t> payload;
    int qos;
    bool retain;
  };
  struct Route {
    HttpIngestRoute route;
    IngestDecodeFn decode;
  };
  struct Listener {
    StreamListen listen;
    IngestDecodeFn decode;
  };

  explicit FakeContext(std::string id = "test") : id_(std::move(id)) {}
  std::string_view instance_id() const override { return id_; }
  ReadingSink& sink() override { return sink_; }
  const Clock& clock() const override { return clock_; }
  Metrics& metrics() override { return metrics_; }
  AdapterLog& log() override { return log_; }
  void post(std::function<void()> fn) override { fn(); }
  void schedule(std::chrono::steady_clock::duration, std::function<void()> fn) override { timers.push_back(std::move(fn)); }
  Result<void> subscribe_mqtt(std::string_view broker, std::string filter, int qos, MqttDecodeFn decode) override {
    subs.push_back({std::string(broker), std::move(filter), qos, std::move(decode)});
    return {};
  }
  Result<void> publish_mqtt(std::string_view broker, std::string topic, std::vector<std::uint8_t> payload, int qos,
                            bool retain) override {
    publishes.push_back({std::string(broker), std::move(topic), std::move(payload), qos, retain});
    return {};
  }
  Result<void> set_mqtt_presence(std::string_view, MqttPresence p) override {
    presence.push_back(std::move(p));
    return {};
  }
  Result<void> route_http(HttpIngestRoute route, IngestDecodeFn decode) override {
    routes.push_back({std::move(route), std::move(decode)});
    return {};
  }
  Result<void> listen_stream(StreamListen listen, IngestDecodeFn decode) override {
    listeners.push_back({std::move(listen), std::move(decode)});
    return {};
  }
  void run_blocking(std::string, std::function<void()> fn) override { fn(); }

  std::vector<Subscription> subs;
  std::vector<Publish> publishes;
  std::vector<MqttPresence> presence;
  std::vector<Route> routes;
  std::vector<Listener> listeners;
  std::vector<std::function<void()>> timers;  // scheduled, not run: the test runs them
  ManualClock clock_;
  Metrics metrics_;
  RecordingSink sink_;
  NullLog log_;

 private:
  std::string id_;
};

}  // namespace cg::test
