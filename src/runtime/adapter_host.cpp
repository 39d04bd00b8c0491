#include "runtime/adapter_host.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <atomic>
#include <future>

#include <spdlog/spdlog.h>

#include "runtime/http_ingest.hpp"
#include "runtime/stream_listener.hpp"
#include "runtime/worker_pool.hpp"
#include "transport/mqtt_client.hpp"

namespace cg::runtime {

namespace asio = boost::asio;

namespace {

class HostLog final : public AdapterLog {
 public:
  explicit HostLog(std::string id) : prefix_("adapter '" + id + "': ") {}
  void debug(std::string_view m) override { spdlog::debug("{}{}", prefix_, m); }
  void info(std::string_view m) override { spdlog::info("{}{}", prefix_, m); }
  void warn(std::string_view m) override { spdlog::warn("{}{}", prefix_, m); }
  void error(std::string_view m) override { spdlog::error("{}{}", prefix_, m); }

 private:
  std::string prefix_;
};

// The sink an adapter sees: applies the device policy and the gateway's receive time, then
// hands the readings to the store under the adapter's identity.
class PolicySink final : public ReadingSink {
 public:
  PolicySink(std::string id, store::Store& store, const DevicePolicy& policy, const Clock& clock, Metrics& m,
             RecordClass cls)
      : id_(std::move(id)),
        cls_(cls),
        store_(store),
        policy_(policy),
        clock_(clock),
        unregistered_(m.counter("readings_unregistered_device_total", {{"adapter", id_}},
                                "Readings from devices not in [[devices]] (accepted, flagged)")),
        refused_(m.counter("readings_refused_unknown_device_total", {{"adapter", id_}},
                           "Readings from devices not in [[devices]] refused by policy")) {}

  void report_gap(GapRecord gap) override { store_.report_gap(std::move(gap)); }

  void submit(std::vector<Reading> readings, SubmitOptions opts, CommitCallback done) override {
    auto now = clock_.now();
    std::size_t kept = 0;
    for (auto& r : readings) {
      if (r.received == TimeNs{}) r.received = now;
      if (r.observed == TimeNs{}) {
        r.observed = r.received;
        r.quality |= quality::kTimeFromGateway;
      }
      auto it = policy_.registered.find(r.device);
      const DeviceEntry* entry = nullptr;
      if (it != policy_.registered.end() && (it->second.adapter.empty() || it->second.adapter == id_))
        entry = &it->second;
      if (entry) {
        bind(r, *entry);
      } else {
        if (policy_.reject_unknown) {
          refused_.inc();
          r.device.clear();  // marked for removal
          continue;
        }
        r.quality |= quality::kUnregistered;
        unregistered_.inc();
      }
      std::sort(r.tags.begin(), r.tags.end());
      ++kept;
    }
    if (kept != readings.size())
      std::erase_if(readings, [](const Reading& r) { return r.device.empty(); });
    opts.record_class = cls_;
    store_.submit_from(id_, std::move(readings), std::move(opts), std::move(done));
  }

  // The registry's view of the device travels with the reading: zone, profile and its tags.
  static void bind(Reading& r, const DeviceEntry& e) {
    auto add = [&r](const std::string& k, const std::string& v) {
      if (v.empty()) return;
      for (const auto& t : r.tags)
        if (t.first == k) return;
      r.tags.emplace_back(k, v);
    };
    add("zone", e.zone);
    add("profile", e.profile);
    for (const auto& [k, v] : e.tags) add(k, v);
  }

  void reject_payload(const std::string& adapter, const std::string& source, std::span<const std::uint8_t> payload,
                      const std::string& reason) override {
    store_.reject_payload(adapter, source, payload, reason);
  }

 private:
  std::string id_;
  RecordClass cls_;
  store::Store& store_;
  const DevicePolicy& policy_;
  const Clock& clock_;
  Counter& unregistered_;
  Counter& refused_;
};

}  // namespace

struct AdapterHost::Impl final : AdapterContext {
  HostServices svc;
  asio::strand<asio::io_context::executor_type> strand;
  std::string id;
  std::unique_ptr<Adapter> adapter;
  PolicySink sink_;
  HostLog log_;
  RateLimiter limiter;
  std::shared_ptr<std::atomic<bool>> alive = std::make_shared<std::atomic<bool>>(true);
  bool starting = false;  // registration calls are allowed only inside start()
  std::vector<IngestRouteSpec> routes;
  std::vector<std::unique_ptr<StreamListener>> listeners;

  Impl(HostServices s, std::string id_, std::unique_ptr<Adapter> a, InstanceLimits lim)
      : svc(s),
        strand(asio::make_strand(s.io)),
        id(std::move(id_)),
        adapter(std::move(a)),
        sink_(id, s.store, s.policy, s.clock, s.metrics, lim.record_class),
        log_(id),
        limiter(lim.rate_per_s, lim.burst > 0 ? lim.burst : std::max(1.0, lim.rate_per_s)) {}

  std::string_view instance_id() const override { return id; }
  ReadingSink& sink() override { return sink_; }
  const Clock& clock() const override { return svc.clock; }
  Metrics& metrics() override { return svc.metrics; }
  AdapterLog& log() override { return log_; }

  void post(std::function<void()> fn) override {
    asio::post(strand, [alive = alive, fn = std::move(fn)] {
      if (*alive) fn();
    });
  }

  void schedule(std::chrono::steady_clock::duration delay, std::function<void()> fn) override {
    auto t = std::make_shared<asio::steady_timer>(strand, delay);
    t->async_wait([t, alive = alive, fn = std::move(fn)](const boost::system::error_code& ec) {
      if (!ec && *alive) fn();
    });
  }

  Result<void> only_in_start(std::string_view what) const {
    if (starting) return {};
    return fail(Error::fatal("adapter_api", "adapter '" + id + "': " + std::string(what) + " is allowed only in start()"));
  }

  transport::MqttClient* broker(std::string_view broker_id) { return svc.mqtt.find(broker_id); }

  Result<void> no_broker(std::string_view broker_id) const {
    return fail(Error::fatal("config", "adapter '" + id + "': no broker '" + std::string(broker_id) + "'"));
  }

  Result<void> subscribe_mqtt(std::string_view broker_id, std::string filter, int qos, MqttDecodeFn decode) override {
    if (auto r = only_in_start("subscribe_mqtt"); !r) return r;
    auto* c = broker(broker_id);
    if (!c) return no_broker(broker_id);
    ReadingSink* s = &sink_;
    std::string adapter_id = id;
    if (!limiter.unlimited()) {
      // Over the limit a message is refused like a bad payload: counted, kept, acknowledged —
      // holding it unacknowledged would stall every other subscription of the connection.
      Counter* limited = &svc.metrics.counter("adapter_rate_limited_total", {{"adapter", id}},
                                              "Messages refused by the instance's rate limit");
      decode = [inner = std::move(decode), lim = &limiter, limited](const MqttMessage& m) -> Result<std::vector<Reading>> {
        if (!lim->try_take()) {
          limited->inc();
          return fail(Error::reject("rate_limited", "over the adapter instance's rate limit"));
        }
        return inner(m);
      };
    }
    c->add_subscription(
        std::move(filter), qos, id, std::move(decode),
        [s](std::vector<Reading> r, SubmitOptions o, CommitCallback d) { s->submit(std::move(r), std::move(o), std::move(d)); },
        [s, adapter_id](std::span<const std::uint8_t> payload, const std::string& topic, const Error& e) {
          s->reject_payload(adapter_id, topic, payload, e.code + ": " + e.message);
        });
    return {};
  }

  Result<void> publish_mqtt(std::string_view broker_id, std::string topic, std::vector<std::uint8_t> payload, int qos,
                            bool retain) override {
    auto* c = broker(broker_id);
    if (!c) return no_broker(broker_id);
    return c->publish(topic, std::move(payload), qos, retain);
  }

  Result<void> set_mqtt_presence(std::string_view broker_id, MqttPresence presence) override {
    if (auto r = only_in_start("set_mqtt_presence"); !r) return r;
    auto* c = broker(broker_id);
    if (!c) return no_broker(broker_id);
    if (!presence.payload || presence.topic.empty())
      return fail(Error::fatal("adapter_api", "adapter '" + id + "': presence needs a topic and a payload builder"));
    return c->set_presence(std::move(presence));
  }

  Result<void> route_http(HttpIngestRoute route, IngestDecodeFn decode) override {
    if (auto r = only_in_start("route_http"); !r) return r;
    if (route.path.empty() || route.path.front() != '/')
      return fail(Error::fatal("config", "adapter '" + id + "': HTTP path '" + route.path + "' must start with '/'"));
    for (auto& ct : route.content_types)
      std::transform(ct.begin(), ct.end(), ct.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    routes.push_back(IngestRouteSpec{id, std::move(route), std::move(decode), &sink_, &limiter});
    return {};
  }

  Result<void> listen_stream(StreamListen listen, IngestDecodeFn decode) override {
    if (auto r = only_in_start("listen_stream"); !r) return r;
    auto l = StreamListener::open(svc.io, listen, id, std::move(decode), sink_, limiter, svc.clock, svc.metrics);
    if (!l) return fail(Error::fatal("listen", "adapter '" + id + "': " + l.error().message));
    spdlog::info("adapter '{}': listening on {} {}:{}", id,
                 listen.protocol == StreamListen::Protocol::udp ? "udp" : "tcp", listen.host, (*l)->port());
    listeners.push_back(std::move(*l));
    return {};
  }

  void run_blocking(std::string key, std::function<void()> fn) override {
    svc.pool.submit(id + "/" + key, [alive = alive, fn = std::move(fn)] {
      if (*alive) fn();
    });
  }
};

AdapterHost::AdapterHost(HostServices services, std::string instance_id, std::unique_ptr<Adapter> adapter,
                         InstanceLimits limits)
    : impl_(std::make_unique<Impl>(services, std::move(instance_id), std::move(adapter), limits)) {}

AdapterHost::~AdapterHost() {
  *impl_->alive = false;
  for (auto& l : impl_->listeners) l->stop();
}

Result<void> AdapterHost::start() {
  // start() registers subscriptions, routes and listeners, which must exist before the MQTT
  // clients and the ingest listener start; it runs synchronously here, before the io threads
  // carry traffic for this adapter.
  impl_->starting = true;
  auto r = impl_->adapter->start(*impl_);
  impl_->starting = false;
  return r;
}

std::vector<IngestRouteSpec> AdapterHost::http_routes() const { return impl_->routes; }
const std::string& AdapterHost::id() const { return impl_->id; }

void AdapterHost::stop() {
  if (!*impl_->alive) return;
  for (auto& l : impl_->listeners) l->stop();
  // Stop on the strand so it never races a timer callback of the same adapter.
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  auto* m = impl_.get();
  asio::post(m->strand, [m, done] {
    if (m->alive->exchange(false)) m->adapter->stop();
    done->set_value();
  });
  if (fut.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    // the io threads are gone or stuck: nothing else runs adapter code now
    if (m->alive->exchange(false)) m->adapter->stop();
  }
}

}  // namespace cg::runtime
