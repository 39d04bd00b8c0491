#include "runtime/adapter_host.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <future>

#include <spdlog/spdlog.h>

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
  PolicySink(std::string id, store::Store& store, const DevicePolicy& policy, const Clock& clock, Metrics& m)
      : id_(std::move(id)),
        store_(store),
        policy_(policy),
        clock_(clock),
        unregistered_(m.counter("readings_unregistered_device_total", {{"adapter", id_}},
                                "Readings from devices not in [[devices]] (accepted, flagged)")),
        refused_(m.counter("readings_refused_unknown_device_total", {{"adapter", id_}},
                           "Readings from devices not in [[devices]] refused by policy")) {}

  void submit(std::vector<Reading> readings, SubmitOptions opts, CommitCallback done) override {
    auto now = clock_.now();
    std::size_t kept = 0;
    for (auto& r : readings) {
      if (r.received == TimeNs{}) r.received = now;
      if (r.observed == TimeNs{}) {
        r.observed = r.received;
        r.quality |= quality::kTimeFromGateway;
      }
      std::sort(r.tags.begin(), r.tags.end());
      bool known = policy_.registered.count(r.device) > 0;
      if (!known) {
        if (policy_.reject_unknown) {
          refused_.inc();
          r.device.clear();  // marked for removal
          continue;
        }
        r.quality |= quality::kUnregistered;
        unregistered_.inc();
      }
      ++kept;
    }
    if (kept != readings.size())
      std::erase_if(readings, [](const Reading& r) { return r.device.empty(); });
    store_.submit_from(id_, std::move(readings), std::move(opts), std::move(done));
  }

  void reject_payload(const std::string& adapter, const std::string& source, std::span<const std::uint8_t> payload,
                      const std::string& reason) override {
    store_.reject_payload(adapter, source, payload, reason);
  }

 private:
  std::string id_;
  store::Store& store_;
  const DevicePolicy& policy_;
  const Clock& clock_;
  Counter& unregistered_;
  Counter& refused_;
};

}  // namespace

struct AdapterHost::Impl final : AdapterContext {
  asio::io_context& io;
  asio::strand<asio::io_context::executor_type> strand;
  std::string id;
  std::unique_ptr<Adapter> adapter;
  PolicySink sink_;
  MqttClients& mqtt;
  const Clock& clock_;
  Metrics& metrics_;
  HostLog log_;
  std::shared_ptr<std::atomic<bool>> alive = std::make_shared<std::atomic<bool>>(true);

  Impl(asio::io_context& io_, std::string id_, std::unique_ptr<Adapter> a, store::Store& store,
       const DevicePolicy& policy, MqttClients& mq, const Clock& clock, Metrics& metrics)
      : io(io_),
        strand(asio::make_strand(io_)),
        id(std::move(id_)),
        adapter(std::move(a)),
        sink_(id, store, policy, clock, metrics),
        mqtt(mq),
        clock_(clock),
        metrics_(metrics),
        log_(id) {}

  std::string_view instance_id() const override { return id; }
  ReadingSink& sink() override { return sink_; }
  const Clock& clock() const override { return clock_; }
  Metrics& metrics() override { return metrics_; }
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

  Result<void> subscribe_mqtt(std::string_view broker_id, std::string filter, int qos, MqttDecodeFn decode) override {
    auto* c = mqtt.find(broker_id);
    if (!c) return fail(Error::fatal("config", "adapter '" + id + "': no broker '" + std::string(broker_id) + "'"));
    ReadingSink* s = &sink_;
    std::string adapter_id = id;
    c->add_subscription(
        std::move(filter), qos, id, std::move(decode),
        [s](std::vector<Reading> r, SubmitOptions o, CommitCallback d) { s->submit(std::move(r), std::move(o), std::move(d)); },
        [s, adapter_id](std::span<const std::uint8_t> payload, const std::string& topic, const Error& e) {
          s->reject_payload(adapter_id, topic, payload, e.code + ": " + e.message);
        });
    return {};
  }
};

AdapterHost::AdapterHost(asio::io_context& io, std::string instance_id, std::unique_ptr<Adapter> adapter,
                         store::Store& store, const DevicePolicy& policy, MqttClients& mqtt, const Clock& clock,
                         Metrics& metrics)
    : impl_(std::make_unique<Impl>(io, std::move(instance_id), std::move(adapter), store, policy, mqtt, clock,
                                   metrics)) {}

AdapterHost::~AdapterHost() { *impl_->alive = false; }

Result<void> AdapterHost::start() {
  // start() registers subscriptions, which must happen before the MQTT clients start; it runs
  // synchronously here (before the io threads carry traffic for this adapter).
  return impl_->adapter->start(*impl_);
}

void AdapterHost::stop() {
  if (!*impl_->alive) return;
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
