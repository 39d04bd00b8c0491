#include "transport/mqtt_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <atomic>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/broker_url.hpp"
#include "core/hash.hpp"
#include "transport/mqtt_codec.hpp"
#include "transport/topic_match.hpp"

namespace cg::transport {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// Messages read but not yet acknowledged: past this the socket is not read (TCP back-pressure;
// the broker keeps the rest queued for our session).
constexpr std::size_t kMaxInflight = 256;
constexpr std::size_t kMaxInflightBytes = 16u << 20;
// A PUBLISH larger than this is acknowledged and recorded as rejected, not kept in memory.
constexpr std::size_t kMaxPacket = 16u << 20;
// Gateway-originated publishes (presence, rebirth requests) waiting to be written or acknowledged.
constexpr std::size_t kMaxOutgoing = 1000;
constexpr auto kConnectTimeout = 10s;

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

// One received message, from its PUBLISH until it is acknowledged (in arrival order).
struct Inbound {
  std::uint64_t n = 0;  // arrival number on this connection
  std::uint16_t id = 0;
  int qos = 0;
  bool dup = false;
  bool retained = false;
  std::string topic;
  std::vector<std::uint8_t> payload;
  enum class St { working, refused, done } st = St::working;
  int pending = 0;  // store commits outstanding
  bool any_refused = false;
  int attempts = 0;
};

}  // namespace

// Everything runs on this client's own io thread; the store's commit callbacks are posted to it.
struct MqttClient::Impl : std::enable_shared_from_this<MqttClient::Impl> {
  BrokerSettings s;
  Metrics& metrics;
  BrokerUrl ep;
  std::vector<Subscription> subs;
  std::optional<MqttPresence> presence;

  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread th;
  std::atomic<bool> is_connected{false};
  std::atomic<bool> stopping{false};

  // ---- connection (io thread only)
  enum class State { idle, connecting, awaiting_connack, connected } state = State::idle;
  std::uint64_t gen = 0;  // bumped when a connection ends: handlers of an older one do nothing
  std::optional<asio::ssl::context> sslctx;
  std::unique_ptr<tcp::socket> plain;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> tls;
  // The previous connection's streams: kept until the next attempt so that its aborted handlers
  // never outlive the objects they ran on.
  std::unique_ptr<tcp::socket> old_plain;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> old_tls;
  tcp::resolver resolver{ioc};
  asio::steady_timer connect_timer{ioc}, reconnect_timer{ioc}, ping_timer{ioc}, retry_timer{ioc}, stop_timer{ioc};
  std::chrono::milliseconds backoff{500};
  bool failing = false;  // a connect failure was logged at warn since the last success
  bool had_session = false;
  std::int64_t connect_ms = 0;

  mqtt::Framer framer{kMaxPacket};
  std::array<std::uint8_t, 64 * 1024> rbuf{};
  bool reading = false;
  std::deque<std::string> outq;
  bool writing = false;
  Clock::time_point last_send{}, ping_sent{};
  bool ping_out = false;

  std::deque<Inbound> inflight;
  std::size_t inflight_bytes = 0;
  std::uint64_t next_n = 0;
  int refused = 0;  // entries waiting for a retry
  bool retry_armed = false;

  std::map<std::uint16_t, std::string> out_unacked;  // our QoS 1 publishes, encoded
  std::uint16_t next_out_id = 0;
  std::uint16_t subscribe_id = 0;
  std::optional<std::uint16_t> stop_wait_id;
  bool closing = false;

  Counter& c_refused;
  Counter& c_connects;
  Counter& c_protocol_errors;
  Gauge& g_connected;

  Impl(BrokerSettings settings, Metrics& m)
      : s(std::move(settings)),
        metrics(m),
        c_refused(m.counter("mqtt_messages_refused_total", {{"broker", s.id}},
                            "Messages not acknowledged yet because the store refused them (retried)")),
        c_connects(m.counter("mqtt_connects_total", {{"broker", s.id}}, "Successful connections to the broker")),
        c_protocol_errors(m.counter("mqtt_protocol_errors_total", {{"broker", s.id}},
                                    "Connections closed because the broker sent bytes that are not MQTT 3.1.1")),
        g_connected(m.gauge("mqtt_connected", {{"broker", s.id}}, "1 while connected to the broker")) {}

  // ------------------------------------------------------------------ stream helpers

  template <class F>
  void with_stream(F&& f) {
    if (tls)
      f(*tls);
    else
      f(*plain);
  }

  void send(std::string pkt) {
    outq.push_back(std::move(pkt));
    if (!writing) write_next();
  }

  void write_next() {
    if (outq.empty() || (!plain && !tls)) return;
    writing = true;
    const auto g = gen;
    with_stream([&](auto& st) {
      asio::async_write(st, asio::buffer(outq.front()), [this, g](boost::system::error_code ec, std::size_t) {
        if (g != gen) return;
        writing = false;
        if (ec) return drop("write failed: " + ec.message());
        outq.pop_front();
        last_send = Clock::now();
        if (!outq.empty()) return write_next();
        if (closing) finish_close();
      });
    });
  }

  void start_read() {
    if (reading || (!plain && !tls)) return;
    reading = true;
    const auto g = gen;
    with_stream([&](auto& st) {
      st.async_read_some(asio::buffer(rbuf), [this, g](boost::system::error_code ec, std::size_t n) {
        if (g != gen) return;
        reading = false;
        if (ec) return drop(ec == asio::error::eof ? std::string("closed by the broker") : "read failed: " + ec.message());
        framer.append(rbuf.data(), n);
        on_bytes();
      });
    });
  }

  // Reads go on unless too much is waiting for the store or a message is being refused.
  bool may_read() const {
    return (state == State::connected || state == State::awaiting_connack) && refused == 0 &&
           inflight.size() < kMaxInflight && inflight_bytes < kMaxInflightBytes;
  }

  void maybe_read() {
    if (may_read())
      start_read();
    else if (!reading)
      ping_out = false;  // a PINGRESP cannot be read while paused: do not judge the link by it
  }

  // ------------------------------------------------------------------ connection life

  void connect_attempt() {
    if (stopping) return;
    old_plain.reset();
    old_tls.reset();
    state = State::connecting;
    const auto g = ++gen;
    framer.reset();
    if (ep.tls) {
      if (auto r = make_tls(); !r) return drop(r.error().message);
    } else {
      plain = std::make_unique<tcp::socket>(ioc);
    }
    connect_timer.expires_after(kConnectTimeout);
    connect_timer.async_wait([this, g](boost::system::error_code ec) {
      if (ec || g != gen) return;
      drop("no answer within " + std::to_string(kConnectTimeout.count()) + " s");
    });
    resolver.async_resolve(ep.host, std::to_string(ep.port), [this, g](boost::system::error_code ec, tcp::resolver::results_type rs) {
      if (g != gen) return;
      if (ec) return drop("cannot resolve " + ep.host + ": " + ec.message());
      auto& sock = tls ? tls->next_layer() : *plain;
      asio::async_connect(sock, rs, [this, g](boost::system::error_code ec, const tcp::endpoint&) {
        if (g != gen) return;
        if (ec) return drop(ec.message());
        boost::system::error_code ignore;
        (tls ? tls->next_layer() : *plain).set_option(tcp::no_delay(true), ignore);
        if (!tls) return send_connect();
        tls->async_handshake(asio::ssl::stream_base::client, [this, g](boost::system::error_code ec) {
          if (g != gen) return;
          if (ec) return drop("TLS handshake: " + ec.message());
          send_connect();
        });
      });
    });
  }

  // The TLS context is built at every attempt so that renewed certificates are picked up.
  Result<void> make_tls() {
    try {
      sslctx.emplace(asio::ssl::context::tls_client);
      sslctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                          asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                          asio::ssl::context::no_tlsv1_1);
      if (s.ca_file.empty())
        sslctx->set_default_verify_paths();
      else
        sslctx->load_verify_file(s.ca_file);
      if (!s.cert_file.empty()) sslctx->use_certificate_chain_file(s.cert_file);
      if (!s.key_file.empty()) sslctx->use_private_key_file(s.key_file, asio::ssl::context::pem);
    } catch (const boost::system::system_error& e) {
      return fail(Error::retry("mqtt.tls", std::string("TLS setup (ca_file/cert_file/key_file): ") + e.what()));
    }
    tls = std::make_unique<asio::ssl::stream<tcp::socket>>(ioc, *sslctx);
    SSL* ssl = tls->native_handle();
    boost::system::error_code ec;
    (void)asio::ip::make_address(ep.host, ec);
    const bool is_ip = !ec;
    if (!is_ip) SSL_set_tlsext_host_name(ssl, ep.host.c_str());  // SNI takes names only (RFC 6066)
    if (s.tls_verify) {
      // chain AND host name (or IP address) checked by OpenSSL itself
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      if (is_ip)
        X509_VERIFY_PARAM_set1_ip_asc(param, ep.host.c_str());
      else
        X509_VERIFY_PARAM_set1_host(param, ep.host.c_str(), 0);
      tls->set_verify_mode(asio::ssl::verify_peer);
    } else {
      tls->set_verify_mode(asio::ssl::verify_none);
    }
    return {};
  }

  void send_connect() {
    mqtt::ConnectOptions co;
    co.client_id = s.client_id;
    co.username = s.username;
    co.password = s.password;
    co.keepalive_s = static_cast<std::uint16_t>(std::clamp<long long>(s.keepalive.count(), 0, 65535));
    co.clean_session = false;  // the broker keeps our session and queued QoS 1 messages across restarts
    if (presence) {
      connect_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
              .count();
      co.will = mqtt::Will{presence->topic, presence->payload(false, connect_ms), presence->qos, presence->retain};
    }
    state = State::awaiting_connack;
    send(mqtt::encode_connect(co));
    start_read();
  }

  void on_connack(int code, bool session_present) {
    connect_timer.cancel();
    if (code != 0) return drop("refused by the broker: " + std::string(mqtt::connack_reason(code)));
    state = State::connected;
    is_connected = true;
    g_connected.set(1);
    c_connects.inc();
    backoff = 500ms;
    failing = false;
    spdlog::info("mqtt: broker '{}' connected ({})", s.id, s.url);
    if (had_session && !session_present && !subs.empty())
      spdlog::warn("mqtt: broker '{}' had no session for us: messages queued while we were away are gone "
                   "(broker restarted without persistence, or the session expired)",
                   s.id);
    had_session = true;
    last_send = Clock::now();
    ping_out = false;
    arm_ping();
    if (!subs.empty()) {
      std::vector<std::pair<std::string, int>> fs;
      // QoS 2 is subscribed as QoS 1: at-least-once plus the store's redelivery recognition stores
      // each message once, and a QoS 1 PUBACK can wait for the commit.
      for (auto& sub : subs) fs.emplace_back(sub.filter, std::min(sub.qos, 1));
      subscribe_id = next_id();
      send(mqtt::encode_subscribe(subscribe_id, fs));
    } else {
      publish_birth();
    }
    // our own QoS 1 publishes not acknowledged on the previous connection go again, marked DUP
    for (auto& [id, pkt] : out_unacked) {
      std::string again = pkt;
      again[0] = static_cast<char>(again[0] | 0x08);
      send(std::move(again));
    }
  }

  // Ends the connection (or the attempt) and schedules the next one. Messages read but not yet
  // acknowledged are forgotten: the broker still has them and sends them again (DUP); those
  // already committed are recognised and not stored twice.
  void drop(const std::string& why) {
    if (state == State::connected) {
      spdlog::warn("mqtt: broker '{}' connection lost: {}; reconnecting", s.id, why);
    } else if (!stopping) {
      // once per outage at warn (TLS verification, refused credentials, nothing listening), then debug
      if (!failing)
        spdlog::warn("mqtt: broker '{}' connect to {} failed ({}); retrying with backoff", s.id, s.url, why);
      else
        spdlog::debug("mqtt: broker '{}' connect failed: {}", s.id, why);
      failing = true;
    }
    close_link();
    schedule_reconnect();
  }

  void close_link() {
    ++gen;
    state = State::idle;
    if (is_connected.exchange(false)) g_connected.set(0);
    connect_timer.cancel();
    ping_timer.cancel();
    retry_timer.cancel();
    retry_armed = false;
    resolver.cancel();
    boost::system::error_code ignore;
    if (tls) tls->next_layer().close(ignore);
    if (plain) plain->close(ignore);
    old_tls = std::move(tls);
    old_plain = std::move(plain);
    reading = writing = false;
    outq.clear();
    inflight.clear();
    inflight_bytes = 0;
    refused = 0;
    framer.reset();
  }

  void schedule_reconnect() {
    if (stopping) return;
    auto delay = backoff;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(30000));
    reconnect_timer.expires_after(delay);
    reconnect_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec) connect_attempt();
    });
  }

  void arm_ping() {
    if (s.keepalive.count() <= 0) return;
    const auto g = gen;
    ping_timer.expires_after(std::max<std::chrono::milliseconds>(1s, s.keepalive / 2));
    ping_timer.async_wait([this, g](boost::system::error_code ec) {
      if (ec || g != gen || state != State::connected) return;
      const auto now = Clock::now();
      if (ping_out && reading && now - ping_sent > s.keepalive)
        return drop("no answer to PINGREQ within the keepalive (" + std::to_string(s.keepalive.count()) + " s)");
      if (!ping_out && now - last_send >= s.keepalive / 2) {
        send(mqtt::encode_pingreq());
        ping_out = reading;  // judged only while the socket is read
        ping_sent = now;
      }
      arm_ping();
    });
  }

  std::uint16_t next_id() {
    do {
      ++next_out_id;
    } while (next_out_id == 0 || out_unacked.count(next_out_id) || next_out_id == subscribe_id);
    return next_out_id;
  }

  // ------------------------------------------------------------------ incoming packets

  void on_bytes() {
    mqtt::Packet p;
    mqtt::Oversize o;
    std::string why;
    while (state != State::idle) {
      switch (framer.next(p, o, why)) {
        case mqtt::Framer::Next::need_more: return maybe_read();
        case mqtt::Framer::Next::error:
          c_protocol_errors.inc();
          return drop("protocol error: " + why);
        case mqtt::Framer::Next::oversize: on_oversize(o); break;
        case mqtt::Framer::Next::packet:
          if (!on_packet(p)) return;
          break;
      }
    }
  }

  // false: the connection was dropped
  bool on_packet(const mqtt::Packet& p) {
    std::string why;
    auto protocol_error = [&] {
      c_protocol_errors.inc();
      drop("protocol error: " + why);
      return false;
    };
    if (state == State::awaiting_connack) {
      if (p.type != mqtt::Type::connack) {
        why = "expected CONNACK first";
        return protocol_error();
      }
      auto ca = mqtt::parse_connack(p, why);
      if (!ca) return protocol_error();
      on_connack(ca->first, ca->second);
      return state == State::connected;
    }
    switch (p.type) {
      case mqtt::Type::publish: {
        auto pub = mqtt::parse_publish(p, why);
        if (!pub) return protocol_error();
        on_publish(*pub);
        return true;
      }
      case mqtt::Type::puback:
      case mqtt::Type::pubcomp: {
        auto id = mqtt::parse_id(p, why);
        if (!id) return protocol_error();
        out_unacked.erase(*id);
        if (stop_wait_id && *stop_wait_id == *id) finish_stop();
        return true;
      }
      case mqtt::Type::pubrec: {  // we never publish QoS 2, but answer as the standard says
        auto id = mqtt::parse_id(p, why);
        if (!id) return protocol_error();
        send(mqtt::encode_ack(mqtt::Type::pubrel, *id));
        return true;
      }
      case mqtt::Type::pubrel: {  // the second half of a QoS 2 delivery whose PUBREC we sent
        auto id = mqtt::parse_id(p, why);
        if (!id) return protocol_error();
        send(mqtt::encode_ack(mqtt::Type::pubcomp, *id));
        return true;
      }
      case mqtt::Type::suback: {
        auto sa = mqtt::parse_suback(p, why);
        if (!sa) return protocol_error();
        std::size_t ok = 0;
        for (std::size_t i = 0; i < sa->second.size(); ++i) {
          if (sa->second[i] == 0x80)
            spdlog::error("mqtt: broker '{}' refused the subscription to '{}' (not authorised?)", s.id,
                          i < subs.size() ? subs[i].filter : std::string("?"));
          else
            ++ok;
        }
        spdlog::info("mqtt: broker '{}' subscribed to {} filter(s)", s.id, ok);
        publish_birth();
        return true;
      }
      case mqtt::Type::pingresp: ping_out = false; return true;
      case mqtt::Type::unsuback: return true;
      default:
        why = "unexpected packet type " + std::to_string(static_cast<int>(p.type));
        return protocol_error();
    }
  }

  void on_publish(const mqtt::Publish& pub) {
    Inbound e;
    e.n = next_n++;
    e.id = pub.id;
    e.qos = pub.qos;
    e.dup = pub.dup;
    e.retained = pub.retain;
    e.topic.assign(pub.topic);
    e.payload.assign(pub.payload.begin(), pub.payload.end());
    inflight_bytes += e.payload.size() + e.topic.size();
    inflight.push_back(std::move(e));
    dispatch(inflight.back());
  }

  void on_oversize(const mqtt::Oversize& o) {
    spdlog::warn("mqtt: broker '{}': a {}-byte message on '{}' exceeds the {}-byte limit; acknowledged and "
                 "recorded as rejected",
                 s.id, o.size, o.topic, kMaxPacket);
    for (auto& sub : subs) {
      if (!topic_matches(sub.filter, o.topic)) continue;
      sub.messages->inc();
      metrics.counter("adapter_decode_errors_total", {{"adapter", sub.adapter_id}, {"reason", "mqtt.too_large"}}).inc();
      sub.reject({}, o.topic,
                 Error::reject("mqtt.too_large", "message of " + std::to_string(o.size) + " bytes (limit " +
                                                        std::to_string(kMaxPacket) + ")"));
    }
    Inbound e;
    e.n = next_n++;
    e.id = o.id;
    e.qos = o.qos;
    e.st = Inbound::St::done;
    inflight.push_back(std::move(e));
    flush_acks();
  }

  // Decodes for every matching subscription and submits; the commit callbacks come back here.
  void dispatch(Inbound& e) {
    MqttMessage m;
    m.topic = e.topic;
    m.payload = e.payload;
    m.qos = e.qos;
    m.retained = e.retained;
    m.duplicate = e.dup;
    const std::uint64_t hash = fnv1a(e.payload, fnv1a(e.topic));
    struct Out {
      Subscription* sub;
      std::vector<Reading> readings;
    };
    std::vector<Out> outs;
    for (auto& sub : subs) {
      if (!topic_matches(sub.filter, e.topic)) continue;
      if (e.attempts == 0) sub.messages->inc();
      auto r = sub.decode(m);
      if (!r) {
        // bad payload: count, keep it for inspection, acknowledge (a redelivery cannot fix it)
        if (e.attempts == 0) {
          metrics.counter("adapter_decode_errors_total", {{"adapter", sub.adapter_id}, {"reason", r.error().code}})
              .inc();
          sub.reject(m.payload, e.topic, r.error());
        }
        continue;
      }
      outs.push_back({&sub, std::move(*r)});
    }
    if (outs.empty()) {
      e.st = Inbound::St::done;
      return flush_acks();
    }
    e.st = Inbound::St::working;
    e.pending = static_cast<int>(outs.size());
    e.any_refused = false;
    const auto g = gen;
    const auto n = e.n;
    std::weak_ptr<Impl> weak = weak_from_this();
    for (auto& o : outs) {
      SubmitOptions opts;
      // Acknowledged only once fsync'd, so a power cut loses nothing acknowledged either; with
      // many messages read ahead, one group commit and one fsync cover them all.
      if (e.qos > 0) opts.durability = Durability::fsynced;
      // QoS 0 has no packet id and no redelivery
      if (e.qos > 0) opts.dedup = DedupKey{o.sub->dedup_source, static_cast<std::uint32_t>(e.id), hash, e.dup};
      o.sub->submit(std::move(o.readings), opts, [weak, g, n](CommitStatus st) {
        // runs on the store's writer thread (or here): hand the result to the io thread
        if (auto self = weak.lock()) {
          Impl* raw = self.get();
          asio::post(self->ioc, [raw, g, n, st] { raw->on_commit(g, n, st); });
        }
      });
    }
  }

  Inbound* find(std::uint64_t n) {
    if (inflight.empty() || n < inflight.front().n) return nullptr;
    auto i = n - inflight.front().n;
    return i < inflight.size() ? &inflight[i] : nullptr;
  }

  void on_commit(std::uint64_t g, std::uint64_t n, CommitStatus st) {
    if (g != gen) return;  // that connection is gone: the broker sends the message again
    Inbound* e = find(n);
    if (!e || e->st != Inbound::St::working) return;
    if (st == CommitStatus::throttled || st == CommitStatus::failed) e->any_refused = true;
    if (--e->pending > 0) return;
    if (e->any_refused) {
      // Refused (ingest queue full, disk full, store failing): not acknowledged, and the socket is
      // not read until it is taken; it is offered again after a short pause.
      c_refused.inc();
      e->st = Inbound::St::refused;
      ++refused;
      arm_retry(e->attempts);
      return;
    }
    e->st = Inbound::St::done;
    flush_acks();
  }

  void arm_retry(int attempts) {
    if (retry_armed) return;
    retry_armed = true;
    const auto g = gen;
    retry_timer.expires_after(std::min<std::chrono::milliseconds>(50ms * (1 << std::min(attempts, 5)), 1000ms));
    retry_timer.async_wait([this, g](boost::system::error_code ec) {
      if (ec || g != gen) return;
      retry_armed = false;
      // by arrival number: a dispatch may acknowledge and pop entries
      std::vector<std::uint64_t> again;
      for (auto& e : inflight)
        if (e.st == Inbound::St::refused) again.push_back(e.n);
      for (auto n : again) {
        Inbound* e = find(n);
        if (!e || e->st != Inbound::St::refused) continue;
        --refused;
        ++e->attempts;
        dispatch(*e);
        if (g != gen) return;
      }
    });
  }

  // PUBACK (QoS 1) / PUBREC (QoS 2) in arrival order, as MQTT 3.1.1 §4.6 requires: a message
  // still being committed holds back the acknowledgements of those behind it.
  void flush_acks() {
    while (!inflight.empty() && inflight.front().st == Inbound::St::done) {
      auto& e = inflight.front();
      if (e.qos == 1) send(mqtt::encode_ack(mqtt::Type::puback, e.id));
      if (e.qos == 2) send(mqtt::encode_ack(mqtt::Type::pubrec, e.id));
      inflight_bytes -= e.payload.size() + e.topic.size();
      inflight.pop_front();
    }
    maybe_read();
  }

  // ------------------------------------------------------------------ outgoing

  // On the io thread. QoS 2 is sent as QoS 1 (the gateway's own messages are presence and
  // requests, which tolerate a duplicate).
  void publish_now(const std::string& topic, const std::vector<std::uint8_t>& payload, int qos, bool retain,
                   std::uint16_t* id_out = nullptr) {
    qos = std::clamp(qos, 0, 1);
    if (qos == 0) {
      if (state == State::connected) send(mqtt::encode_publish(topic, payload, 0, retain, false, 0));
      return;
    }
    if (out_unacked.size() >= kMaxOutgoing) {
      spdlog::warn("mqtt: broker '{}': {} publishes await acknowledgement; publish to '{}' not sent", s.id,
                   out_unacked.size(), topic);
      return;
    }
    auto id = next_id();
    auto pkt = mqtt::encode_publish(topic, payload, 1, retain, false, id);
    out_unacked.emplace(id, pkt);
    if (id_out) *id_out = id;
    if (state == State::connected) send(std::move(pkt));
  }

  void publish_birth() {
    if (presence) publish_now(presence->topic, presence->payload(true, connect_ms), presence->qos, presence->retain);
  }

  // ------------------------------------------------------------------ stop

  void begin_stop() {
    reconnect_timer.cancel();
    if (state == State::connected && presence) {
      // A clean disconnect does not fire the will: say offline ourselves (Sparkplug 3.0 host
      // STATE), with the timestamp of this connection's birth, and give it a moment to leave.
      std::uint16_t id = 0;
      publish_now(presence->topic, presence->payload(false, connect_ms), std::max(presence->qos, 1), presence->retain,
                  &id);
      if (id != 0) {
        stop_wait_id = id;
        stop_timer.expires_after(2s);
        stop_timer.async_wait([this](boost::system::error_code ec) {
          if (!ec) finish_stop();
        });
        return;
      }
    }
    finish_stop();
  }

  void finish_stop() {
    if (closing) return;
    closing = true;
    stop_wait_id.reset();
    stop_timer.cancel();
    if (state == State::connected) {
      send(mqtt::encode_disconnect());
      // finish_close() runs once the DISCONNECT is written; at most 2 s more
      stop_timer.expires_after(2s);
      stop_timer.async_wait([this](boost::system::error_code ec) {
        if (!ec) finish_close();
      });
      return;
    }
    finish_close();
  }

  void finish_close() {
    close_link();
    reconnect_timer.cancel();
    stop_timer.cancel();
    work.reset();
    ioc.stop();
  }
};

MqttClient::MqttClient(BrokerSettings settings, Metrics& metrics)
    : impl_(std::make_shared<Impl>(std::move(settings), metrics)) {}

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
  auto ep = parse_broker_url(m.s.url);
  if (!ep) return fail(Error::fatal("mqtt", "broker '" + m.s.id + "': URL '" + m.s.url + "': " + ep.error().message));
  m.ep = *ep;
  m.work.emplace(m.ioc.get_executor());
  asio::post(m.ioc, [&m] { m.connect_attempt(); });
  m.th = std::thread([&m] { m.ioc.run(); });
  return {};
}

void MqttClient::stop() {
  auto& m = *impl_;
  if (m.stopping.exchange(true)) return;
  if (!m.th.joinable()) return;
  asio::post(m.ioc, [&m] { m.begin_stop(); });
  m.th.join();
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
  if (!m.is_connected || m.stopping)
    return fail(Error::retry("mqtt.not_connected", "broker '" + m.s.id + "' is not connected"));
  asio::post(m.ioc, [&m, topic, payload = std::move(payload), qos, retain] {
    m.publish_now(topic, payload, qos, retain);
  });
  return {};
}

bool MqttClient::connected() const { return impl_->is_connected; }
const std::string& MqttClient::id() const { return impl_->s.id; }

}  // namespace cg::transport
