#include "runtime/gateway.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <systemd/sd-daemon.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
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
#include "runtime/admin_api.hpp"
#include "uplink/http_sink.hpp"
#include "uplink/kafka_sink.hpp"
#include "uplink/mqtt_sink.hpp"
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
  std::unique_ptr<http::Server> admin;
  std::vector<std::thread> threads;
  std::string version;
  std::chrono::steady_clock::time_point started_at = std::chrono::steady_clock::now();
  // The status record thread: one StatusRecord every [uplink] status_interval_s.
  std::thread status_thread;
  std::mutex status_mu;
  std::condition_variable status_cv;
  bool status_stop = false;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::atomic<bool> ready{false};
  bool started = false;
  bool stopped = false;
  std::unique_ptr<asio::steady_timer> watchdog;

  Impl(const config::GatewayConfig& c, const Clock& cl) : cfg(c), clock(cl) {}

  GatewayInfo info() const {
    return {cfg.gateway_id, version,
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_at).count(), true,
            ready.load()};
  }

  StatusRecord make_status() {
    auto st = store->status(/*count_readings=*/false);
    StatusRecord r;
    r.version = version;
    r.at = clock.now();
    r.uptime_s = info().uptime_s;
    r.backlog_rows = st.outbox.unsent_rows;
    r.backlog_bytes = st.outbox.unsent_bytes;
    r.oldest_unsent_age_ms = st.outbox.oldest_unsent_age.count();
    r.db_bytes = st.db_bytes;
    r.disk_budget_bytes = st.disk_budget_bytes;
    r.disk_free_bytes = st.disk_free_bytes;
    r.dead_batches = st.outbox.dead_batches;
    r.evicted_rows = st.evicted_rows;
    r.last_ingest = std::move(st.last_ingest);
    for (int c = 0; c < kRecordClassCount; ++c) {
      const Labels l{{"class", std::string(record_class_name(static_cast<RecordClass>(c)))}};
      metrics.gauge("outbox_rows", l, "Rows not yet settled by every sink, by class").set(st.outbox.by_class[c].rows);
      metrics.gauge("outbox_bytes", l, "Estimated bytes not yet settled by every sink, by class")
          .set(st.outbox.by_class[c].bytes);
    }
    metrics.gauge("outbox_oldest_unsent_age_seconds", {}, "Age of the oldest unsent reading (monotonic)")
        .set(st.outbox.oldest_unsent_age.count() / 1000);
    metrics.gauge("outbox_dead_batches", {}, "Dead batches not replayed").set(st.outbox.dead_batches);
    metrics.gauge("store_db_bytes", {}, "Database pages in use").set(st.db_bytes);
    return r;
  }

  // Refreshes the outbox gauges every 10 s (or status_interval, if shorter) and queues a status
  // record every status_interval (0: none), the first at start.
  void status_loop() {
    const auto every = cfg.uplink.status_interval;
    const auto tick = every.count() > 0 ? std::min<std::chrono::seconds>(every, std::chrono::seconds(10))
                                        : std::chrono::seconds(10);
    auto next_record = std::chrono::steady_clock::now();
    std::unique_lock lk(status_mu);
    while (!status_stop) {
      lk.unlock();
      auto rec = make_status();
      if (every.count() > 0 && std::chrono::steady_clock::now() >= next_record) {
        store->add_record(std::move(rec), RecordClass::status);
        // never a burst of records to catch up after a stall (suspend, a slow store)
        next_record = std::max(next_record + every, std::chrono::steady_clock::now());
      }
      lk.lock();
      status_cv.wait_for(lk, tick, [&] { return status_stop; });
    }
  }

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

namespace {
// One instance of a configured sink (the uplink runs max_in_flight of them).
Result<std::unique_ptr<uplink::Sink>> make_sink(const config::SinkConfig& s, const std::string& gateway_id) {
  if (s.kind == "http") {
    auto token = read_secret_file(s.bearer_token_file, "bearer token of sink '" + s.id + "'");
    if (!token) return fail(token.error());
    uplink::HttpSinkOptions ho;
    ho.id = s.id;
    ho.url = s.url;
    ho.compression = s.compression;
    ho.connect_timeout = s.connect_timeout;
    ho.total_timeout = s.total_timeout;
    ho.bearer_token = *token;
    ho.gateway_id = gateway_id;
    ho.proxy = s.proxy;
    ho.ca_file = s.ca_file;
    ho.cert_file = s.cert_file;
    ho.key_file = s.key_file;
    ho.tls_verify = s.tls_verify;
    auto hs = uplink::HttpSink::create(ho);
    if (!hs) return fail(hs.error());
    return std::unique_ptr<uplink::Sink>(std::move(*hs));
  }
  if (s.kind == "mqtt") {
    auto pw = read_secret_file(s.password_file, "password of sink '" + s.id + "'");
    if (!pw) return fail(pw.error());
    uplink::MqttSinkOptions mo;
    mo.id = s.id;
    mo.url = s.url;
    if (!s.topic.empty()) mo.topic = s.topic;
    mo.client_id = s.client_id;
    mo.username = s.username;
    mo.password = *pw;
    mo.ca_file = s.ca_file;
    mo.cert_file = s.cert_file;
    mo.key_file = s.key_file;
    mo.tls_verify = s.tls_verify;
    mo.keepalive = s.keepalive;
    mo.connect_timeout = s.connect_timeout;
    mo.publish_timeout = s.publish_timeout;
    mo.gateway_id = gateway_id;
    auto ms = uplink::MqttSink::create(mo);
    if (!ms) return fail(ms.error());
    return std::unique_ptr<uplink::Sink>(std::move(*ms));
  }
  if (s.kind == "kafka") {
    auto pw = read_secret_file(s.sasl_password_file, "SASL password of sink '" + s.id + "'");
    if (!pw) return fail(pw.error());
    uplink::KafkaSinkOptions ko;
    ko.id = s.id;
    ko.brokers = s.brokers;
    if (!s.topic.empty()) ko.topic = s.topic;
    ko.gateway_id = gateway_id;
    ko.delivery_timeout = s.delivery_timeout;
    ko.queue_max_messages = s.queue_max_messages;
    ko.queue_max_kbytes = s.queue_max_kbytes;
    ko.compression = s.compression;
    ko.security_protocol = s.security_protocol;
    ko.ssl_ca_file = s.ca_file;
    ko.ssl_cert_file = s.cert_file;
    ko.ssl_key_file = s.key_file;
    ko.sasl_mechanism = s.sasl_mechanism;
    ko.sasl_username = s.sasl_username;
    ko.sasl_password = *pw;
    ko.properties = s.properties;
    auto ks = uplink::KafkaSink::create(ko);
    if (!ks) return fail(ks.error());
    return std::unique_ptr<uplink::Sink>(std::move(*ks));
  }
  return fail(Error::fatal("config", "sink kind '" + s.kind + "' is not available"));
}
}  // namespace

Result<std::unique_ptr<Gateway>> Gateway::create(const config::GatewayConfig& cfg, const Clock& clock,
                                                 std::string version) {
  auto impl = std::make_unique<Impl>(cfg, clock);
  auto& m = *impl;
  m.version = std::move(version);

  store::StoreOptions so;
  so.path = cfg.store.path;
  so.sync_interval = cfg.store.sync_interval;
  so.queue_max_rows = cfg.store.queue_max_rows;
  so.rejected_max = cfg.store.rejected_max;
  so.disk_budget_bytes = cfg.store.disk_budget_bytes;
  so.reserve_bytes = cfg.store.reserve_bytes;
  so.retention = cfg.store.retention;
  so.backlog_threshold_rows = cfg.store.backlog_threshold_rows;
  so.alert_quota_pct = cfg.store.alert_quota_pct;
  so.report_quota_pct = cfg.store.report_quota_pct;
  so.summary_quota_pct = cfg.store.summary_quota_pct;
  auto st = store::Store::open(so, clock, m.metrics);
  if (!st) return fail(st.error());
  m.store = std::move(*st);

  for (const auto& d : cfg.devices) m.policy.registered.emplace(d.id, DeviceEntry{d.adapter, d.profile, d.zone, d.tags});
  m.policy.reject_unknown = cfg.unknown_devices == "reject";

  std::vector<uplink::SinkSlot> sinks;
  for (const auto& s : cfg.uplink.sinks) {
    if (!s.enabled) continue;
    uplink::SinkSlot slot;
    slot.id = s.id;
    slot.policy = {s.bandwidth_bytes_per_s, s.backlog_rows_per_s};
    for (std::size_t i = 0; i < std::max<std::size_t>(1, s.max_in_flight); ++i) {
      auto sk = make_sink(s, cfg.gateway_id);
      if (!sk) return fail(sk.error());
      slot.workers.push_back(std::move(*sk));
    }
    sinks.push_back(std::move(slot));
  }
  uplink::UplinkOptions uo{cfg.gateway_id,         cfg.uplink.batch_max_rows,  cfg.uplink.batch_max_bytes,
                           cfg.uplink.batch_max_age, cfg.uplink.backoff_initial, cfg.uplink.backoff_max};
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
        std::make_unique<AdapterHost>(hs, a.id, std::move(*made),
                                      InstanceLimits{a.rate_limit_per_s, a.rate_burst,
                                                     record_class_from_name(a.record_class).value_or(RecordClass::telemetry)}));
  }

  http::Router router;
  http::add_public_routes(router, {*m.store, [p = &m.ready] { return p->load(); }});
  http::Limits lim;
  lim.body_max = cfg.http.body_max;
  lim.header_max = cfg.http.header_max;
  lim.read_timeout = cfg.http.read_timeout;
  lim.max_connections = cfg.http.max_connections;
  m.server = std::make_unique<http::Server>(m.io, std::move(router), lim, m.metrics, "public");

  if (cfg.admin.listen) {
    auto token = read_secret_file(cfg.admin.token_file, "admin token");
    if (!token) return fail(token.error());
    http::Router ar;
    add_admin_routes(ar, {*m.store, m.metrics, [p = &m] { return p->info(); }, *token});
    http::Limits al;
    al.max_connections = 16;
    m.admin = std::make_unique<http::Server>(m.io, std::move(ar), al, m.metrics, "admin");
  }
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
  if (m.admin) {
    const auto& l = *m.cfg.admin.listen;
    if (auto r = m.admin->listen(l.host, l.port); !r)
      return fail(Error::fatal("listen", "admin listener " + l.host + ":" + std::to_string(l.port) + ": " + r.error().message));
  }
  if (auto r = m.up->start(); !r) return r;
  m.status_thread = std::thread([&m] { m.status_loop(); });
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
  if (m.admin) m.admin->stop();
  if (m.watchdog) m.watchdog->cancel();
  {
    std::lock_guard lk(m.status_mu);
    m.status_stop = true;
  }
  m.status_cv.notify_all();
  if (m.status_thread.joinable()) m.status_thread.join();
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

std::uint16_t Gateway::admin_port() const { return impl_->admin ? impl_->admin->port() : 0; }

}  // namespace cg::runtime
