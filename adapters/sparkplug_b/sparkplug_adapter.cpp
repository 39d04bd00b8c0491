// `sparkplug_b`: a Sparkplug B 3.0 host application over MQTT. Edge nodes publish births, data
// and deaths under spBv1.0/...; the host session (sparkplug_host.hpp) turns them into readings and
// asks nodes for a rebirth (NCMD "Node Control/Rebirth") when its picture of them has a hole.
#include <memory>
#include <mutex>

#include "adapter_api/adapter.hpp"
#include "common/mqtt_binding.hpp"
#include "sparkplug_b/sparkplug_codec.hpp"
#include "sparkplug_b/sparkplug_host.hpp"

namespace cg {

namespace {

constexpr ConfigKey kKeys[] = {
    {"broker", KeyType::string, "", true, "Id of the [[brokers]] entry the edge nodes publish to."},
    {"topics", KeyType::string_list, "[\"spBv1.0/#\"]", false,
     "MQTT filters to subscribe to; narrow to groups with e.g. \"spBv1.0/Plant1/#\". NCMD, DCMD and STATE "
     "messages they match are ignored."},
    {"qos", KeyType::integer, "1", false, "Subscription QoS (0 or 1). QoS 1 is acknowledged only after commit."},
    {"host_id", KeyType::string, "\"\"", false,
     "Sparkplug host application id. When set, the gateway keeps a retained STATE on spBv1.0/STATE/<host_id> "
     "({\"online\":true|false,\"timestamp\":<ms>}, QoS 1; the broker publishes the offline one as the "
     "connection's will). \"\": no STATE."},
    {"rebirth_min_interval_ms", KeyType::integer, "5000", false,
     "Rebirth requests to one edge node are at least this far apart (100..3600000)."},
    {"max_payload_bytes", KeyType::integer, "1048576", false,
     "Larger payloads (and larger inflated bodies of compressed ones) are rejected (64..67108864)."},
    {"max_values", KeyType::integer, "50000", false,
     "A payload expanding to more values (metrics, array elements, data-set cells, template members) is "
     "rejected (1..1000000)."},
};

constexpr const char* kStateLabels[sparkplug::kStatusCount] = {"unknown", "online", "stale", "offline"};

struct Settings {
  adapters::MqttBinding binding;
  std::string host_id;
  sparkplug::HostOptions host;
};

Result<sparkplug::HostOptions> read_host_options(const ConfigView& cfg) {
  sparkplug::HostOptions o;
  if (cfg.has("max_payload_bytes")) {
    auto v = cfg.get_int("max_payload_bytes");
    if (v < 64 || v > 64 * 1024 * 1024) return fail(Error::fatal("config", "max_payload_bytes must be 64..67108864"));
    o.codec.max_payload_bytes = static_cast<std::size_t>(v);
  }
  if (cfg.has("max_values")) {
    auto v = cfg.get_int("max_values");
    if (v < 1 || v > 1000000) return fail(Error::fatal("config", "max_values must be 1..1000000"));
    o.codec.max_leaves = static_cast<std::size_t>(v);
  }
  if (cfg.has("rebirth_min_interval_ms")) {
    auto v = cfg.get_int("rebirth_min_interval_ms");
    if (v < 100 || v > 3600000) return fail(Error::fatal("config", "rebirth_min_interval_ms must be 100..3600000"));
    o.rebirth_min_interval = std::chrono::milliseconds(v);
  }
  return o;
}

Result<Settings> read_settings(const ConfigView& cfg) {
  Settings s;
  auto binding = adapters::read_mqtt_binding(cfg, {"spBv1.0/#"});
  if (!binding) return fail(binding.error());
  s.binding = std::move(*binding);
  s.host_id = cfg.get_string("host_id");
  if (s.host_id.find_first_of("/+#") != std::string::npos)
    return fail(Error::fatal("config", "host_id must be one MQTT topic level (no '/', '+' or '#')"));
  auto host = read_host_options(cfg);
  if (!host) return fail(host.error());
  s.host = *host;
  return s;
}

// What the decoder on the MQTT delivery thread shares: the session, under a mutex (deliveries of
// one broker come from one thread, so it is uncontended; it only guards against a second broker
// or a future transport that delivers from several threads).
struct Shared {
  explicit Shared(const sparkplug::HostOptions& o) : session(o) {}
  std::mutex mu;
  sparkplug::HostSession session;
};

struct Instruments {
  Counter* rebirths;
  Counter* suppressed;
  Counter* publish_failures;
  Counter* gaps;
  Counter* ndeath_ignored;
  Gauge* nodes[sparkplug::kStatusCount];
  Gauge* devices[sparkplug::kStatusCount];

  explicit Instruments(AdapterContext& ctx) {
    auto& m = ctx.metrics();
    std::string id(ctx.instance_id());
    Labels l{{"adapter", id}};
    rebirths = &m.counter("sparkplug_rebirth_requests_total", l, "NCMD Node Control/Rebirth requests sent");
    suppressed = &m.counter("sparkplug_rebirth_suppressed_total", l,
                            "Rebirth requests not sent because the last one to the node was too recent");
    publish_failures = &m.counter("sparkplug_rebirth_publish_failures_total", l,
                                  "Rebirth requests the MQTT client did not accept (not connected)");
    gaps = &m.counter("sparkplug_seq_gaps_total", l, "Sparkplug seq gaps (lost or reordered messages)");
    ndeath_ignored = &m.counter("sparkplug_ndeath_ignored_total", l,
                                "NDEATH messages ignored because their bdSeq is not the current NBIRTH's");
    for (int s = 1; s < sparkplug::kStatusCount; ++s) {
      nodes[s] = &m.gauge("sparkplug_edge_nodes", {{"adapter", id}, {"state", kStateLabels[s]}},
                          "Edge nodes by state (online: born and in sequence; stale: data in doubt, rebirth asked)");
      devices[s] = &m.gauge("sparkplug_devices", {{"adapter", id}, {"state", kStateLabels[s]}},
                            "Sparkplug devices by state");
    }
    nodes[0] = devices[0] = nullptr;  // "unknown" is not a state worth a gauge
    // a restarted adapter starts a new session: nothing is known of any node yet
    for (int s = 1; s < sparkplug::kStatusCount; ++s) {
      nodes[s]->set(0);
      devices[s]->set(0);
    }
  }
};

class SparkplugAdapter final : public Adapter {
 public:
  explicit SparkplugAdapter(Settings s) : s_(std::move(s)) {}

  Result<void> start(AdapterContext& ctx) override {
    if (!s_.host_id.empty()) {
      MqttPresence p;
      p.topic = sparkplug::state_topic(s_.host_id);
      p.payload = [](bool online, std::int64_t ms) { return sparkplug::state_payload(online, ms); };
      p.qos = 1;
      p.retain = true;
      if (auto r = ctx.set_mqtt_presence(s_.binding.broker, std::move(p)); !r) return r;
    }
    auto shared = std::make_shared<Shared>(s_.host);
    auto inst = std::make_shared<Instruments>(ctx);
    AdapterContext* c = &ctx;
    std::string broker = s_.binding.broker;
    MqttDecodeFn decode = [shared, inst, c, broker](const MqttMessage& m) -> Result<std::vector<Reading>> {
      const Clock& clock = c->clock();
      sparkplug::Outcome out;
      sparkplug::HostSession::Counts counts;
      {
        std::lock_guard lock(shared->mu);
        out = shared->session.process(m.topic, m.payload, clock.now(), clock.steady());
        if (!out.transitions.empty()) counts = shared->session.counts();
      }
      if (out.seq_gap) inst->gaps->inc();
      if (out.rebirth_suppressed) inst->suppressed->inc();
      if (out.ndeath_ignored) inst->ndeath_ignored->inc();
      if (!out.transitions.empty())
        for (int s = 1; s < sparkplug::kStatusCount; ++s) {
          inst->nodes[s]->set(counts.nodes[s]);
          inst->devices[s]->set(counts.devices[s]);
        }
      // Side effects (logs, the NCMD) run on the adapter's strand: this is the MQTT delivery thread.
      if (out.rebirth || !out.transitions.empty()) {
        auto now_ms = to_unix_ns(clock.now()) / 1'000'000;
        c->post([c, inst, broker, now_ms, rebirth = std::move(out.rebirth), transitions = std::move(out.transitions)] {
          for (const auto& t : transitions) {
            std::string line = std::string(t.is_device ? "device '" : "edge node '") + t.key + "' " +
                               std::string(sparkplug::status_name(t.from)) + " -> " +
                               std::string(sparkplug::status_name(t.to)) + " (" + t.reason + ")";
            if (t.is_device) c->log().debug(line);
            else c->log().info(line);
          }
          if (!rebirth) return;
          auto r = c->publish_mqtt(broker, sparkplug::ncmd_topic(rebirth->group, rebirth->node),
                                   sparkplug::encode_rebirth_request(now_ms), 0, false);
          if (r) {
            inst->rebirths->inc();
            c->log().info("asked edge node '" + rebirth->group + "/" + rebirth->node + "' for a rebirth (" +
                          rebirth->reason + ")");
          } else {
            inst->publish_failures->inc();
            c->log().warn("rebirth request to '" + rebirth->group + "/" + rebirth->node +
                          "' not sent: " + r.error().message);
          }
        });
      }
      if (out.error) return fail(std::move(*out.error));
      return std::move(out.readings);
    };
    for (const auto& t : s_.binding.topics)
      if (auto r = ctx.subscribe_mqtt(s_.binding.broker, t, s_.binding.qos, decode); !r) return r;
    return {};
  }

  void stop() override {}

 private:
  Settings s_;
};

// `citygate decode`: the inputs of one invocation are one session (an NBIRTH, then its NDATA). Rebirth
// requests have nowhere to go offline and are dropped.
//
// The command has one --topic for all its files: the topic names the node (device), and a birth and
// its data may share it. So, offline only, the message kind follows the file where the topic cannot
// be right for both: on an NDATA topic, a payload with a bdSeq metric and seq 0 for a node without
// birth is its NBIRTH; on an NBIRTH topic, a payload without bdSeq for a node already born is NDATA;
// on either, a payload with nothing but bdSeq for a node already born is its NDEATH; on a DBIRTH
// topic, a payload for a device already born is DDATA.
class OfflineSession final : public DecodeSession {
 public:
  explicit OfflineSession(const sparkplug::HostOptions& o) : opts_(o), session_(o) {}
  DecodeOutput decode(const DecodeInput& in) override {
    DecodeOutput d;
    if (in.topic.empty()) {
      d.errors.push_back(Error::reject("sparkplug.topic", "a Sparkplug payload needs its MQTT topic (--topic)"));
      return d;
    }
    auto topic = kind_for(in.topic, in.payload);
    auto out = session_.process(topic, in.payload, in.now, std::chrono::steady_clock::now());
    d.readings = std::move(out.readings);
    if (out.error) d.errors.push_back(std::move(*out.error));
    return d;
  }

 private:
  std::string kind_for(std::string_view topic, std::span<const std::uint8_t> payload) const {
    using sparkplug::MessageType;
    auto t = sparkplug::parse_topic(topic);
    if (!t || (t->type != MessageType::ndata && t->type != MessageType::nbirth && t->type != MessageType::dbirth))
      return std::string(topic);
    bool born = session_.born(*t);
    auto rebuilt = [&](std::string_view type) {
      std::string s = std::string(sparkplug::kNamespace) + "/" + t->group + "/" + std::string(type) + "/" + t->node;
      if (t->device_level()) s += "/" + t->device;
      return s;
    };
    if (t->type == MessageType::dbirth) return born ? rebuilt("DDATA") : std::string(topic);
    auto p = sparkplug::parse_payload(payload, opts_.codec);
    if (!p) return std::string(topic);
    bool bdseq = false;
    for (const auto& m : p->metrics) bdseq = bdseq || (m.name && *m.name == sparkplug::kBdSeqMetric);
    if (t->type == MessageType::ndata && !born && bdseq && p->seq == std::optional<std::uint64_t>(0))
      return rebuilt("NBIRTH");
    if (born && bdseq && p->metrics.size() == 1) return rebuilt("NDEATH");  // a death carries bdSeq alone
    if (t->type == MessageType::nbirth && born && !bdseq) return rebuilt("NDATA");
    return std::string(topic);
  }

  sparkplug::HostOptions opts_;
  sparkplug::HostSession session_;
};

Result<std::unique_ptr<Adapter>> make(const std::string&, const ConfigView& cfg) {
  auto s = read_settings(cfg);
  if (!s) return fail(s.error());
  return std::unique_ptr<Adapter>(std::make_unique<SparkplugAdapter>(std::move(*s)));
}

Result<std::unique_ptr<DecodeSession>> make_decoder(const ConfigView& cfg) {
  auto o = read_host_options(cfg);
  if (!o) return fail(o.error());
  return std::unique_ptr<DecodeSession>(std::make_unique<OfflineSession>(*o));
}

}  // namespace

const AdapterDescriptor& sparkplug_b_descriptor() {
  static const AdapterDescriptor d{"sparkplug_b",
                                   "Sparkplug B 3.0 host application over MQTT: births, aliases, seq checks, rebirth "
                                   "requests, host STATE",
                                   kKeys, make, make_decoder};
  return d;
}

}  // namespace cg
