#include "uplink/kafka_sink.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>

namespace cg::uplink {

namespace {

using Clock = std::chrono::steady_clock;
using Kind = SendResult::Kind;

// librdkafka reports a timed-out record within about a second of message.timeout.ms (its
// timeout scan runs once a second); the margin covers that and the callback latency.
constexpr std::chrono::milliseconds kReportMargin{2500};
// One slice of rd_kafka_poll(): how late an abort() is noticed.
constexpr int kPollSliceMs = 50;
// How long the destructor lets queued records go out before destroying the producer.
constexpr int kCloseFlushMs = 1000;

// Properties the typed options or the delivery contract own (see KafkaSinkOptions::properties).
constexpr std::string_view kOwnedProperties[] = {
    "bootstrap.servers",  "metadata.broker.list",         "enable.idempotence",         "acks",
    "request.required.acks", "message.timeout.ms",        "delivery.timeout.ms",        "queue.buffering.max.messages",
    "queue.buffering.max.kbytes", "compression.type",     "compression.codec",          "security.protocol",
    "ssl.ca.location",    "ssl.certificate.location",     "ssl.key.location",           "sasl.mechanisms",
    "sasl.mechanism",     "sasl.username",                "sasl.password",              "transactional.id",
};

bool legal_topic(std::string_view t) {
  if (t.empty() || t.size() > 249 || t == "." || t == "..") return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

void replace_all(std::string& s, std::string_view what, std::string_view with) {
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + with.size())) s.replace(p, what.size(), with);
}

// The answer for one error. Order of the enum values below is the precedence when a send meets
// several errors (rejected wins over too_large over wait over retry).
Kind classify(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return Kind::settled;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
      return Kind::too_large;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return Kind::wait;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
      return Kind::rejected;
    default:
      // Timeouts, transport, leadership, replicas, unknown topic, fatal, purge: try again later.
      return Kind::retry;
  }
}

int precedence(Kind k) {
  switch (k) {
    case Kind::rejected: return 4;
    case Kind::too_large: return 3;
    case Kind::wait: return 2;
    case Kind::retry: return 1;
    case Kind::settled: return 0;
  }
  return 0;
}

bool is_connectivity_error(int err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
      return true;
    default:
      return false;
  }
}

std::string err_text(rd_kafka_resp_err_t err) {
  return std::string(rd_kafka_err2name(err)) + ": " + rd_kafka_err2str(err);
}

// One record of a send, before it is handed to librdkafka.
struct OutRecord {
  std::string_view key;
  std::string owned_value;   // a per-device encoding
  std::string_view value;    // owned_value or the batch body
  std::string_view device;   // empty: not a device record
};

}  // namespace

struct KafkaSink::Impl {
  KafkaSinkOptions o;
  std::array<std::string, kRecordClassCount> topics;  // expanded topic per record class
  rd_kafka_t* rk = nullptr;
  std::atomic<bool> aborting{false};

  // Delivery tracking for the send in progress. Touched only by the thread inside send() or the
  // destructor: librdkafka runs the delivery and error callbacks from rd_kafka_poll/flush, which
  // only those call. Records carry the send's number as their opaque; a late report for an
  // earlier send (one that answered before all reports came) is recognised and ignored.
  std::uint64_t send_no = 0;
  std::size_t outstanding = 0;
  rd_kafka_resp_err_t worst_err = RD_KAFKA_RESP_ERR_NO_ERROR;
  Kind worst = Kind::settled;
  std::string worst_detail;

  // Connectivity state for log transitions (error callback / successful deliveries).
  bool degraded = false;
  std::uint64_t suppressed_events = 0;

  ~Impl() { close_producer(kCloseFlushMs); }

  void note_error(rd_kafka_resp_err_t err, std::string detail) {
    Kind k = classify(err);
    if (precedence(k) > precedence(worst)) {
      worst = k;
      worst_err = err;
      worst_detail = std::move(detail);
    }
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto& self = *static_cast<Impl*>(opaque);
    if (reinterpret_cast<std::uintptr_t>(m->_private) != static_cast<std::uintptr_t>(self.send_no)) return;
    if (self.outstanding > 0) --self.outstanding;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (self.degraded) {
        spdlog::info("kafka sink '{}': delivering again ({} connection errors while degraded)", self.o.id,
                     self.suppressed_events);
        self.degraded = false;
        self.suppressed_events = 0;
      }
      return;
    }
    self.note_error(m->err, err_text(m->err));
  }

  static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto& self = *static_cast<Impl*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__FATAL) return;  // send() handles it (and logs it once)
    if (is_connectivity_error(err)) {
      if (!self.degraded) {
        self.degraded = true;
        self.suppressed_events = 0;
        spdlog::warn("kafka sink '{}': cluster unreachable or refusing us ({}: {}); retrying quietly", self.o.id,
                     rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), reason);
      } else {
        ++self.suppressed_events;
        spdlog::debug("kafka sink '{}': {}", self.o.id, reason);
      }
      return;
    }
    spdlog::debug("kafka sink '{}': {} ({})", self.o.id, reason,
                  rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
  }

  // librdkafka's own log, from its threads: debug only (the error callback does the telling).
  static void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
    auto* self = static_cast<const Impl*>(rd_kafka_opaque(rk));
    spdlog::debug("kafka sink '{}': rdkafka[{}] {}: {}", self ? self->o.id : std::string(), level, fac, buf);
  }

  // Builds a producer from the options. Errors name the property that librdkafka refused.
  Result<rd_kafka_t*> make_producer() {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    auto set = [&](const std::string& k, const std::string& v) -> Result<void> {
      if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return fail(Error::fatal("config", "kafka property '" + k + "': " + errstr));
      return {};
    };
    std::string brokers;
    for (const auto& b : o.brokers) brokers += (brokers.empty() ? "" : ",") + b;
    std::vector<std::pair<std::string, std::string>> props = {
        {"bootstrap.servers", brokers},
        {"client.id", "citygate-" + o.gateway_id},
        // The delivery contract: every record acknowledged by all in-sync replicas, no duplicates
        // or reordering from librdkafka's own retries (max in flight ≤ 5 is enforced with it).
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"max.in.flight.requests.per.connection", "5"},
        {"message.timeout.ms", std::to_string(o.delivery_timeout.count())},
        {"queue.buffering.max.messages", std::to_string(o.queue_max_messages)},
        {"queue.buffering.max.kbytes", std::to_string(o.queue_max_kbytes)},
        {"compression.type", o.compression},
        // Same partition for a key as the Java client's default partitioner, so consumers that
        // co-partition by device id agree with us.
        {"partitioner", "murmur2_random"},
        {"security.protocol", o.security_protocol},
    };
    if (!o.ssl_ca_file.empty()) props.emplace_back("ssl.ca.location", o.ssl_ca_file);
    if (!o.ssl_cert_file.empty()) props.emplace_back("ssl.certificate.location", o.ssl_cert_file);
    if (!o.ssl_key_file.empty()) props.emplace_back("ssl.key.location", o.ssl_key_file);
    if (!o.sasl_mechanism.empty()) props.emplace_back("sasl.mechanisms", o.sasl_mechanism);
    if (!o.sasl_username.empty()) props.emplace_back("sasl.username", o.sasl_username);
    if (!o.sasl_password.empty()) props.emplace_back("sasl.password", o.sasl_password);
    props.insert(props.end(), o.properties.begin(), o.properties.end());
    for (const auto& [k, v] : props) {
      if (auto r = set(k, v); !r) {
        rd_kafka_conf_destroy(conf);
        return fail(r.error());
      }
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, &Impl::on_delivery);
    rd_kafka_conf_set_error_cb(conf, &Impl::on_error);
    rd_kafka_conf_set_log_cb(conf, &Impl::on_log);
    rd_kafka_t* p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!p) {
      rd_kafka_conf_destroy(conf);  // rd_kafka_new takes the conf only on success
      return fail(Error::fatal("kafka", std::string("cannot create the producer: ") + errstr));
    }
    return p;
  }

  void close_producer(int flush_ms) {
    if (!rk) return;
    if (flush_ms > 0) rd_kafka_flush(rk, flush_ms);
    rd_kafka_destroy(rk);
    rk = nullptr;
  }

  // A fatal error leaves the producer unusable: replace it. Logged once per occurrence.
  SendResult recover_from_fatal() {
    char reason[512] = "";
    rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk, reason, sizeof reason);
    spdlog::error("kafka sink '{}': fatal producer error {} ({}); recreating the producer, the batch will be re-sent",
                  o.id, rd_kafka_err2name(err), reason);
    // The old producer's records are void; nothing of it is worth flushing.
    close_producer(0);
    ++send_no;  // whatever the old producer still reports is not this send's
    if (auto p = make_producer()) rk = *p;
    else spdlog::error("kafka sink '{}': {}", o.id, p.error().message);
    SendResult r;
    r.kind = Kind::retry;
    r.status = static_cast<int>(err);
    r.detail = std::string("fatal producer error ") + rd_kafka_err2name(err) + ": " + reason;
    return r;
  }

  bool fatal() const {
    char unused[8];
    return rd_kafka_fatal_error(rk, unused, sizeof unused) != RD_KAFKA_RESP_ERR_NO_ERROR;
  }

  enum class Waited { done, aborted, deadline, fatal };

  // Serves callbacks until this send has no record without a report, or something ends it.
  Waited drain(Clock::time_point deadline) {
    while (outstanding > 0) {
      if (aborting.load()) return Waited::aborted;
      if (fatal()) return Waited::fatal;
      if (Clock::now() >= deadline) return Waited::deadline;
      rd_kafka_poll(rk, kPollSliceMs);
    }
    return Waited::done;
  }

  // Hands one record to librdkafka (copied). NO_ERROR when queued.
  rd_kafka_resp_err_t produce(const std::string& topic, const OutRecord& rec,
                              std::span<const std::pair<std::string_view, std::string>> headers) {
    std::vector<rd_kafka_vu_t> vu;
    vu.reserve(5 + headers.size());
    auto add = [&](rd_kafka_vtype_t t) -> rd_kafka_vu_t& {
      vu.emplace_back();
      vu.back().vtype = t;
      return vu.back();
    };
    add(RD_KAFKA_VTYPE_TOPIC).u.cstr = topic.c_str();
    auto& key = add(RD_KAFKA_VTYPE_KEY);
    key.u.mem.ptr = const_cast<char*>(rec.key.data());
    key.u.mem.size = rec.key.size();
    auto& val = add(RD_KAFKA_VTYPE_VALUE);
    val.u.mem.ptr = const_cast<char*>(rec.value.data());
    val.u.mem.size = rec.value.size();
    add(RD_KAFKA_VTYPE_MSGFLAGS).u.i = RD_KAFKA_MSG_F_COPY;  // send() may return before delivery
    add(RD_KAFKA_VTYPE_OPAQUE).u.ptr = reinterpret_cast<void*>(static_cast<std::uintptr_t>(send_no));
    for (const auto& [name, value] : headers) {
      auto& h = add(RD_KAFKA_VTYPE_HEADER);
      h.u.header.name = name.data();  // string literals: NUL-terminated
      h.u.header.val = value.data();
      h.u.header.size = static_cast<ssize_t>(value.size());
    }
    rd_kafka_error_t* e = rd_kafka_produceva(rk, vu.data(), vu.size());
    if (!e) return RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t err = rd_kafka_error_code(e);
    rd_kafka_error_destroy(e);
    return err;
  }
};

KafkaSink::KafkaSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaSink::~KafkaSink() = default;

Result<std::unique_ptr<KafkaSink>> KafkaSink::create(KafkaSinkOptions opts) {
  auto bad = [&](const std::string& what) { return fail(Error::fatal("config", "kafka sink '" + opts.id + "': " + what)); };
  if (opts.brokers.empty()) return bad("brokers is empty");
  for (const auto& b : opts.brokers)
    if (b.empty() || b.find(',') != std::string::npos) return bad("broker '" + b + "' is not one host:port");
  if (opts.gateway_id.empty()) return bad("gateway_id is empty");
  if (opts.delivery_timeout.count() <= 0) return bad("delivery_timeout must be positive");
  if (opts.queue_max_messages == 0 || opts.queue_max_kbytes == 0) return bad("queue bounds must be positive");
  static constexpr std::array<std::string_view, 5> kCompressions = {"none", "gzip", "zstd", "lz4", "snappy"};
  if (std::find(kCompressions.begin(), kCompressions.end(), opts.compression) == kCompressions.end())
    return bad("unknown compression '" + opts.compression + "' (none, gzip, zstd, lz4, snappy)");
  const std::string& sp = opts.security_protocol;
  if (sp != "plaintext" && sp != "ssl" && sp != "sasl_ssl" && sp != "sasl_plaintext")
    return bad("unknown security_protocol '" + sp + "' (plaintext, ssl, sasl_ssl, sasl_plaintext)");
  const bool tls = sp == "ssl" || sp == "sasl_ssl";
  const bool sasl = sp == "sasl_ssl" || sp == "sasl_plaintext";
  if (!tls && !(opts.ssl_ca_file.empty() && opts.ssl_cert_file.empty() && opts.ssl_key_file.empty()))
    return bad("ssl_* files need security_protocol ssl or sasl_ssl");
  if (opts.ssl_cert_file.empty() != opts.ssl_key_file.empty()) return bad("ssl_cert_file and ssl_key_file go together");
  if (!sasl && !(opts.sasl_mechanism.empty() && opts.sasl_username.empty() && opts.sasl_password.empty()))
    return bad("sasl_* settings need security_protocol sasl_ssl or sasl_plaintext");
  for (const auto& [k, v] : opts.properties)
    if (std::find(std::begin(kOwnedProperties), std::end(kOwnedProperties), k) != std::end(kOwnedProperties))
      return bad("property '" + k + "' is set by the sink (use its option, or it is part of the delivery contract)");

  auto impl = std::make_unique<Impl>();
  for (int c = 0; c < kRecordClassCount; ++c) {
    std::string t = opts.topic;
    replace_all(t, "{gateway}", opts.gateway_id);
    replace_all(t, "{class}", record_class_name(static_cast<RecordClass>(c)));
    if (!legal_topic(t))
      return bad("topic '" + opts.topic + "' gives '" + t +
                 "', not a Kafka topic name ([A-Za-z0-9._-], 1..249 characters; placeholders {gateway} {class})");
    impl->topics[static_cast<std::size_t>(c)] = std::move(t);
  }
  impl->o = std::move(opts);
  auto p = impl->make_producer();
  if (!p) {
    p.error().message = "kafka sink '" + impl->o.id + "': " + p.error().message;
    return fail(p.error());
  }
  impl->rk = *p;
  return std::unique_ptr<KafkaSink>(new KafkaSink(std::move(impl)));
}

const std::string& KafkaSink::id() const { return impl_->o.id; }

void KafkaSink::abort() { impl_->aborting = true; }

SendResult KafkaSink::send(const OutgoingBatch& batch) {
  auto& m = *impl_;
  SendResult r;
  r.kind = Kind::retry;
  if (m.aborting.load()) {
    r.detail = "aborted";
    return r;
  }
  if (!m.rk) {  // a producer recreated after a fatal error failed to start: try again now
    auto p = m.make_producer();
    if (!p) {
      r.detail = p.error().message;
      return r;
    }
    m.rk = *p;
  }
  const auto& h = batch.header;
  const auto deadline = Clock::now() + m.o.delivery_timeout + kReportMargin;

  // Records: one per device group (first-appearance order, batch order inside), then one for
  // the batch's non-reading records, if any.
  std::vector<OutRecord> recs;
  if (!batch.readings.empty()) {
    std::unordered_map<std::string_view, std::size_t> group_of;
    std::vector<std::vector<Reading>> groups;
    for (const auto& rd : batch.readings) {
      auto [it, fresh] = group_of.try_emplace(rd.device, groups.size());
      if (fresh) groups.emplace_back();
      groups[it->second].push_back(rd);
    }
    recs.resize(groups.size());
    for (auto& [dev, gi] : group_of) {
      auto& rec = recs[gi];
      rec.device = dev;
      rec.key = dev;
      rec.owned_value = wire::encode_batch(h, groups[gi], {});
    }
    if (!batch.records.empty()) {
      auto& rec = recs.emplace_back();
      rec.key = h.gateway_id;
      rec.owned_value = wire::encode_batch(h, {}, batch.records);
    }
    for (auto& rec : recs) rec.value = rec.owned_value;
  } else {
    auto& rec = recs.emplace_back();
    rec.key = h.gateway_id;
    rec.value = batch.body;
  }

  ++m.send_no;
  m.outstanding = 0;
  m.worst = Kind::settled;
  m.worst_err = RD_KAFKA_RESP_ERR_NO_ERROR;
  m.worst_detail.clear();
  const std::string& topic = m.topics[static_cast<std::size_t>(h.record_class)];
  const std::string n = std::to_string(recs.size());
  std::vector<std::pair<std::string_view, std::string>> headers = {
      {"batch_id", h.batch_id},
      {"batch_seq", std::to_string(h.batch_seq)},
      {"part", std::to_string(h.part)},
      {"parts", std::to_string(h.parts)},
      {"gateway_id", h.gateway_id},
      {"incarnation_id", h.incarnation_id},
      {"record_class", std::string(record_class_name(h.record_class))},
      {"records", {}},
      {"device", {}},
  };

  auto ended = [&](Impl::Waited w) -> std::optional<SendResult> {
    switch (w) {
      case Impl::Waited::done:
        return std::nullopt;
      case Impl::Waited::fatal:
        return m.recover_from_fatal();
      case Impl::Waited::aborted:
        r.kind = Kind::retry;
        r.detail = "aborted";
        return r;
      case Impl::Waited::deadline:
        r.kind = Kind::retry;
        r.detail = std::to_string(m.outstanding) + " of " + n + " records without a delivery report after " +
                   std::to_string((m.o.delivery_timeout + kReportMargin).count()) + " ms";
        return r;
    }
    return std::nullopt;
  };

  for (std::size_t i = 0; i < recs.size(); ++i) {
    const auto& rec = recs[i];
    headers[7].second = std::to_string(i + 1) + "/" + n;
    const bool with_device = !rec.device.empty();
    if (with_device) headers[8].second.assign(rec.device);
    auto hs = std::span(headers).first(with_device ? headers.size() : headers.size() - 1);
    rd_kafka_resp_err_t err = m.produce(topic, rec, hs);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      // Make room by waiting for this send's own records, then try once more. Still full with
      // none of ours queued: either the record is larger than the whole queue (too_large) or
      // librdkafka still holds an earlier send's records (wait).
      if (auto e = ended(m.drain(deadline))) return *e;
      if (m.worst != Kind::settled) break;  // already a failed send: the rest would only be duplicates
      err = m.produce(topic, rec, hs);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && rd_kafka_outq_len(m.rk) == 0) {
        m.note_error(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                     "record of " + std::to_string(rec.value.size()) + " bytes does not fit the producer queue (" +
                         std::to_string(m.o.queue_max_kbytes) + " KiB)");
        break;
      }
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL) return m.recover_from_fatal();
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // Stop here: the answer is already not settled. Records queued so far are still waited
      // for below, so that this send's reports do not leak into the next one's time.
      m.note_error(err, "produce: " + err_text(err));
      break;
    }
    ++m.outstanding;
  }

  if (auto e = ended(m.drain(deadline))) return *e;
  if (m.fatal()) {
    // Every report is in, but the producer is no longer usable: replace it before the next send.
    // All delivered still means settled (re-sending would only make duplicates).
    auto fr = m.recover_from_fatal();
    if (m.worst != Kind::settled) return fr;
  }
  r.kind = m.worst;
  r.status = static_cast<int>(m.worst_err);
  if (m.worst != Kind::settled) r.detail = m.worst_detail;
  return r;
}

}  // namespace cg::uplink
