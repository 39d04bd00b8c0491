#include "runtime/gateway.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <systemd/sd-daemon.h>

#include <atomic>
#include <map>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/secret_file.hpp"
#include "http/public_api.hpp"
#include "http/server.hpp"
#include "runtime/adapter_host.hpp"
#include "runtime/http_ingest.hpp"
#include "runtime/worker_pool.hpp"
#include "store/store.hpp"
#include "transport/mqtt_client.hpp"
#include "uplink/http_sink.hpp"
#include "uplink/uplink.hpp"

namespace cg::runtime {

namespace asio = boost::asio;


struct Gateway::Impl : MqttClients {
  config::GatewayConfig cfg;
  const Clock& clock;
  Metrics metrics;
  asio::io_context io;
  std::unique_ptr<store::Store> store;
  DevicePolicy policy;
  std::map<std::string, std::unique_ptr<transport::MqttClient>, std::less<>> brokers;
  std::unique_ptr<WorkerPool> pool;
  std::vector<std::unique_ptr<AdapterHost>> adapters;
  std::unique_ptr<http::Server> ingest;
  std::unique_ptr<uplink::Uplink> up;
  std::unique_ptr<http::Server> server;
  std::vector<std::thread> threads;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::atomic<bool> ready{false};
  bool started = false;
  bool stopped = false;
  std::unique_ptr<asio::steady_timer> watchdog;

  Impl(const config::GatewayConfig& c, const Clock& cl) : cfg(c), clock(cl) {}

  transport::MqttClient* find(std::string_view broker_id) override {
    auto it = brokers.find(broker_id);
    return it == brokers.end() ? nullptr : it->second.get();
  }

  void arm_watchdog(std::chrono::microseconds period) {
    // WATCHDOG=1 only while the io loop runs and the writer keeps up: a stuck loop stops the pings.
    watchdog->expires_after(period / 2);
    watchdog->async_wait([this, period](const boost::system::error_code& ec) {
      if (ec) return;
      sd_notify(0, "WATCHDOG=1");
      arm_watchdog(period);
    });
  }
};

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Gateway::~Gateway() { stop(); }

Metrics& Gateway::metrics() { return impl_->metrics; }

Result<std::unique_ptr<Gateway>> Gateway::create(const config::GatewayConfig& cfg, const Clock& clock) {
  auto impl = std::make_unique<Impl>(cfg, clock);
  auto& m = *impl;

  store::StoreOptions so;
  so.path = cfg.store.path;
  so.sync_interval = cfg.store.sync_interval;
  so.queue_max_rows = cfg.store.queue_max_rows;
  so.rejected_max = cfg.store.rejected_max;
  auto st = store::Store::open(so, clock, m.metrics);
  if (!st) return fail(st.error());
  m.store = std::move(*st);

  for (const auto& d : cfg.devices) m.policy.registered.emplace(d.id, DeviceEntry{d.adapter, d.profile, d.zone, d.tags});
  m.policy.reject_unknown = cfg.unknown_devices == "reject";

  std::vector<std::unique_ptr<uplink::Sink>> sinks;
  for (const auto& s : cfg.uplink.sinks) {
    if (!s.enabled) continue;
    if (s.kind != "http") return fail(Error::fatal("config", "sink kind '" + s.kind + "' is not available"));
    auto token = read_secret_file(s.bearer_token_file, "bearer token of sink '" + s.id + "'");
    if (!token) return fail(token.error());
    uplink::HttpSinkOptions ho{s.id, s.url, s.compression, s.connect_timeout, s.total_timeout, *token, cfg.gateway_id};
    auto hs = uplink::HttpSink::create(ho);
    if (!hs) return fail(hs.error());
    sinks.push_back(std::move(*hs));
  }
  uplink::UplinkOptions uo{cfg.gateway_id, cfg.uplink.batch_max_rows, cfg.uplink.batch_max_age,
                           cfg.uplink.backoff_initial, cfg.uplink.backoff_max};
  m.up = std::make_unique<uplink::Uplink>(*m.store, std::move(sinks), uo, clock, m.metrics);
  auto* up = m.up.get();
  m.store->set_commit_listener([up] { up->notify(); });

  for (const auto& b : cfg.brokers) {
    auto pw = read_secret_file(b.password_file, "password of broker '" + b.id + "'");
    if (!pw) return fail(pw.error());
    transport::BrokerSettings bs{b.id,      b.url,       b.client_id, b.username, *pw,
                                 b.keepalive, b.ca_file, b.cert_file, b.key_file, b.tls_verify};
    m.brokers.emplace(b.id, std::make_unique<transport::MqttClient>(bs, m.metrics));
  }

  m.pool = std::make_unique<WorkerPool>(cfg.blocking_workers, m.metrics);
  for (const auto& a : cfg.adapters) {
    const auto* desc = find_adapter(a.kind);
    if (!desc) return fail(Error::fatal("config", "unknown adapter kind '" + a.kind + "'"));
    auto made = desc->make(a.id, a.settings);
    if (!made) return fail(Error::fatal("config", "adapter '" + a.id + "': " + made.error().message));
    HostServices hs{m.io, *m.store, m.policy, m, *m.pool, clock, m.metrics};
    m.adapters.push_back(
        std::make_unique<AdapterHost>(hs, a.id, std::move(*made), InstanceLimits{a.rate_limit_per_s, a.rate_burst}));
  }

  http::Router router;
  http::add_public_routes(router, {*m.store, [p = &m.ready] { return p->load(); }});
  http::Limits lim;
  lim.body_max = cfg.http.body_max;
  lim.header_max = cfg.http.header_max;
  lim.read_timeout = cfg.http.read_timeout;
  lim.max_connections = cfg.http.max_connections;
  m.server = std::make_unique<http::Server>(m.io, std::move(router), lim, m.metrics, "public");
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

// The ingest listener serves the routes adapters registered in start(); without any, it is not bound.
Result<void> Gateway::start_ingest() {
  auto& m = *impl_;
  http::Router router;
  std::size_t n = 0;
  for (auto& a : m.adapters)
    for (auto& r : a->http_routes()) {
      add_ingest_route(router, r, m.clock, m.metrics);
      spdlog::info("adapter '{}': HTTP ingest route POST {}", r.adapter_id, r.route.path);
      ++n;
    }
  if (n == 0) return {};
  http::Limits lim;
  lim.body_max = m.cfg.http.ingest_body_max;
  lim.header_max = m.cfg.http.header_max;
  lim.read_timeout = m.cfg.http.read_timeout;
  lim.max_connections = m.cfg.http.max_connections;
  m.ingest = std::make_unique<http::Server>(m.io, std::move(router), lim, m.metrics, "ingest");
  const auto& l = m.cfg.http.ingest_listen;
  if (auto r = m.ingest->listen(l.host, l.port); !r)
    return fail(Error::fatal("listen", "ingest listener " + l.host + ":" + std::to_string(l.port) + ": " + r.error().message));
  spdlog::info("citygate: ingest listener on {}:{} ({} route(s))", l.host, m.ingest->port(), n);
  return {};
}

std::uint16_t Gateway::ingest_port() const { return impl_->ingest ? impl_->ingest->port() : 0; }

Result<void> Gateway::start() {
  auto& m = *impl_;
  if (m.started) return {};
  m.started = true;
  for (auto& a : m.adapters)
    if (auto r = a->start(); !r) return fail(r.error());
  if (auto r = start_ingest(); !r) return r;
  if (auto r = m.server->listen(m.cfg.http.public_listen.host, m.cfg.http.public_listen.port); !r)
    return fail(Error::fatal("listen", "public listener " + m.cfg.http.public_listen.host + ":" +
                                           std::to_string(m.cfg.http.public_listen.port) + ": " + r.error().message));
  m.work.emplace(asio::make_work_guard(m.io));
  for (int i = 0; i < 2; ++i) m.threads.emplace_back([&m] { m.io.run(); });
  for (auto& [id, b] : m.brokers)
    if (auto r = b->start(); !r) return fail(r.error());
  m.up->start();
  m.ready = true;
  spdlog::info("citygate: gateway '{}' ready: {} adapter(s), public API on {}:{}", m.cfg.gateway_id, m.adapters.size(),
               m.cfg.http.public_listen.host, m.server->port());
  sd_notifyf(0, "READY=1\nSTATUS=serving: %zu adapters, public API on port %u", m.adapters.size(),
             static_cast<unsigned>(m.server->port()));
  std::uint64_t wd_usec = 0;
  if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
    m.watchdog = std::make_unique<asio::steady_timer>(m.io);
    m.arm_watchdog(std::chrono::microseconds(wd_usec));
  }
  return {};
}

void Gateway::stop() {
  auto& m = *impl_;
  if (m.stopped) return;
  m.stopped = true;
  m.ready = false;
  sd_notify(0, "STOPPING=1");
  for (auto& a : m.adapters) a->stop();
  if (m.ingest) m.ingest->stop();
  if (m.pool) m.pool->stop();  // running Modbus polls finish (bounded by their timeouts)
  // MQTT first: a callback waiting for its commit finishes while the store is still open.
  for (auto& [id, b] : m.brokers) b->stop();
  if (m.server) m.server->stop();
  if (m.watchdog) m.watchdog->cancel();
  m.up->stop();
  if (m.store) m.store->set_commit_listener(nullptr);  // the uplink goes before the store
  m.work.reset();
  m.io.stop();
  for (auto& t : m.threads) t.join();
  m.threads.clear();
  if (m.store) m.store->flush();
  spdlog::info("citygate: stopped");
}

int Gateway::run_until_signal() {
  if (auto r = start(); !r) {
    spdlog::error("citygate: {}", r.error().message);
    stop();
    return r.error().disposition == Disposition::fatal ? 78 : 70;
  }
  // Signals are waited for on this (main) thread; the io threads keep serving meanwhile.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  while (true) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig == SIGHUP) {
      spdlog::warn("citygate: SIGHUP received; configuration reload is not implemented yet, keeping the running config");
      continue;
    }
    spdlog::info("citygate: signal {} received, stopping", sig);
    break;
  }
  stop();
  return 0;
}

std::uint16_t Gateway::http_port() const { return impl_->server->port(); }

}  // namespace cg::runtime
