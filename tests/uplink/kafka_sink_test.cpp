// KafkaSink against librdkafka's built-in mock cluster (rdkafka_mock.h).
//
// This is the one place in citygate where a mock stands in for the real upstream: no Kafka
// broker can run on the build and test machines (Kafka is a JVM service that is not packaged in
// Debian 12). The mock is librdkafka's own in-process implementation of the Kafka protocol over
// TCP on loopback — brokers, partition leaders, idempotent producer state, broker outages and
// injected request errors — so the sink under test runs unchanged, with its real producer, and
// the records are read back by a real librdkafka consumer over TCP. What the mock cannot show:
// replication between brokers (min.insync.replicas), real broker-side size limits and ACLs.
#include <catch2/catch.hpp>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <future>
#include <map>
#include <set>
#include <thread>

#include "core/uuid.hpp"
#include "support/wait.hpp"
#include "uplink/kafka_sink.hpp"
#include "wire/batch_codec.hpp"

using namespace cg;
using namespace std::chrono_literals;
using Kind = uplink::SendResult::Kind;

namespace {

constexpr std::int16_t kApiProduce = 0;  // Kafka protocol ApiKey of ProduceRequest

void quiet_log(const rd_kafka_t*, int, const char*, const char*) {}

// A mock cluster of `brokers` brokers (ids 1..n) on loopback, owned by a helper client handle.
struct MockCluster {
  rd_kafka_t* rk = nullptr;
  rd_kafka_mock_cluster_t* mc = nullptr;
  std::string bootstraps;

  explicit MockCluster(int brokers = 3) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    REQUIRE(rk);
    mc = rd_kafka_mock_cluster_new(rk, brokers);
    REQUIRE(mc);
    bootstraps = rd_kafka_mock_cluster_bootstraps(mc);
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
  }
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  void topic(const std::string& name, int partitions) {
    REQUIRE(rd_kafka_mock_topic_create(mc, name.c_str(), partitions, 3) == RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  void down(int broker) { REQUIRE(rd_kafka_mock_broker_set_down(mc, broker) == RD_KAFKA_RESP_ERR_NO_ERROR); }
  void up(int broker) { REQUIRE(rd_kafka_mock_broker_set_up(mc, broker) == RD_KAFKA_RESP_ERR_NO_ERROR); }
  void leader(const std::string& topic, int partition, int broker) {
    REQUIRE(rd_kafka_mock_partition_set_leader(mc, topic.c_str(), partition, broker) == RD_KAFKA_RESP_ERR_NO_ERROR);
  }
};

struct Consumed {
  std::string topic;
  std::int32_t partition = 0;
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
};

// A real consumer reading `topic` from the beginning of every partition (manual assignment).
class Consumer {
 public:
  Consumer(const std::string& bootstraps, const std::string& topic, int partitions) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    for (auto [k, v] : {std::pair{"bootstrap.servers", bootstraps.c_str()}, {"group.id", "citygate-test"},
                        {"enable.auto.commit", "false"}, {"auto.offset.reset", "earliest"}})
      REQUIRE(rd_kafka_conf_set(conf, k, v, err, sizeof err) == RD_KAFKA_CONF_OK);
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    REQUIRE(rk_);
    rd_kafka_poll_set_consumer(rk_);
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p)
      rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    REQUIRE(rd_kafka_assign(rk_, parts) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
  }
  ~Consumer() {
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
  }
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Reads until done(records so far) holds; false if `timeout` passes first.
  bool read_until(const std::function<bool(const std::vector<Consumed>&)>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(got)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 100);
      if (!m) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        Consumed c;
        c.topic = rd_kafka_topic_name(m->rkt);
        c.partition = m->partition;
        c.key.assign(static_cast<const char*>(m->key), m->key_len);
        c.value.assign(static_cast<const char*>(m->payload), m->len);
        rd_kafka_headers_t* hdrs = nullptr;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
          const char* name;
          const void* val;
          size_t size;
          for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
            c.headers[name] = std::string(static_cast<const char*>(val), size);
        }
        got.push_back(std::move(c));
      }
      rd_kafka_message_destroy(m);
    }
    return true;
  }

  std::vector<Consumed> got;

 private:
  rd_kafka_t* rk_ = nullptr;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto p = s.find(',', start);
    out.push_back(s.substr(start, p - start));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

uplink::KafkaSinkOptions options(const MockCluster& mock, std::string topic) {
  uplink::KafkaSinkOptions o;
  o.id = "kafka-test";
  o.brokers = split_commas(mock.bootstraps);
  o.topic = std::move(topic);
  o.gateway_id = "gw-1";
  o.delivery_timeout = 5000ms;
  // A broker that comes back is found again quickly (librdkafka backs off up to 10 s otherwise).
  o.properties = {{"reconnect.backoff.max.ms", "200"}, {"retry.backoff.ms", "50"}};
  return o;
}

std::unique_ptr<uplink::KafkaSink> make_sink(uplink::KafkaSinkOptions o) {
  auto s = uplink::KafkaSink::create(std::move(o));
  if (!s) FAIL("create: " << s.error().message);
  return std::move(*s);
}

// One batch as the uplink would hand it over.
struct TestBatch {
  wire::BatchHeader header;
  std::vector<Reading> readings;
  std::vector<Record> records;
  std::string body;
  uplink::OutgoingBatch out() const { return {header, readings, records, body}; }
};

const std::string kIncarnation = uuid_v7(from_unix_ns(1'700'000'000'000'000'000));

wire::BatchHeader header(std::uint64_t seq, RecordClass cls = RecordClass::telemetry) {
  wire::BatchHeader h;
  h.gateway_id = "gw-1";
  h.incarnation_id = kIncarnation;
  h.batch_id = uuid_v7(from_unix_ns(1'700'000'000'000'000'000 + static_cast<std::int64_t>(seq) * 1'000'000));
  h.batch_seq = seq;
  h.created_at = from_unix_ns(1'700'000'000'000'000'000);
  h.record_class = cls;
  return h;
}

// `per_device` readings for each device, interleaved (a, b, c, a, b, c, ...).
TestBatch readings_batch(std::uint64_t seq, const std::vector<std::string>& devices, int per_device,
                         std::size_t value_bytes = 0) {
  TestBatch b;
  b.header = header(seq);
  for (int i = 0; i < per_device; ++i) {
    for (const auto& d : devices) {
      Reading r;
      r.device = d;
      r.metric = "pm10";
      if (value_bytes > 0) r.value = std::string(value_bytes, 'x');
      else r.value = static_cast<std::int64_t>(seq * 1000 + static_cast<std::uint64_t>(i));
      r.unit = "ug/m3";
      r.observed = from_unix_ns(1'700'000'000'000'000'000 + i);
      r.received = r.observed + 5ms;
      r.seq = static_cast<std::uint64_t>(i + 1);
      b.readings.push_back(std::move(r));
    }
  }
  b.body = wire::encode_batch(b.header, b.readings, b.records);
  return b;
}

std::vector<Reading> readings_of(const TestBatch& b, const std::string& device) {
  std::vector<Reading> out;
  for (const auto& r : b.readings)
    if (r.device == device) out.push_back(r);
  return out;
}

// Sends until settled, as the uplink does (it would back off between attempts; the sink's own
// delivery timeout paces these). Returns the answers that were not `settled`.
std::vector<uplink::SendResult> send_until_settled(uplink::KafkaSink& sink, const TestBatch& b,
                                                   std::chrono::milliseconds budget,
                                                   const std::function<void(const uplink::SendResult&)>& on_fail = {}) {
  std::vector<uplink::SendResult> failures;
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (true) {
    auto r = sink.send(b.out());
    if (r.kind == Kind::settled) return failures;
    INFO("batch " << b.header.batch_seq << ": " << r.detail);
    REQUIRE(r.kind == Kind::retry);
    failures.push_back(r);
    if (on_fail) on_fail(r);
    REQUIRE(std::chrono::steady_clock::now() < deadline);
  }
}

// Captures what the sink logs (spdlog's default logger), for "log transitions, not repetitions".
// Construct it before the sink and let it outlive the sink: librdkafka's threads log through the
// default logger, which must not be swapped under them.
struct LogCapture {
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
  std::shared_ptr<spdlog::logger> capture = std::make_shared<spdlog::logger>("capture", ring);
  LogCapture() {
    capture->set_level(spdlog::level::info);
    capture->set_pattern("%l %v");
    spdlog::set_default_logger(capture);
  }
  ~LogCapture() { spdlog::set_default_logger(previous); }
  std::size_t count(std::string_view level, std::string_view text) const {
    std::size_t n = 0;
    for (const auto& line : ring->last_formatted())
      if (line.rfind(level, 0) == 0 && line.find(text) != std::string::npos) ++n;
    return n;
  }
};

}  // namespace

TEST_CASE("kafka: one record per device, keyed by device, each a complete batch with headers", "[kafka]") {
  MockCluster mock;
  mock.topic("city.gw-1.telemetry", 3);
  auto sink = make_sink(options(mock, "city.{gateway}.{class}"));
  const std::vector<std::string> devices = {"dev-a", "dev-b", "dev-c"};
  auto b = readings_batch(7, devices, 3);

  auto r = sink->send(b.out());
  INFO(r.detail);
  REQUIRE(r.kind == Kind::settled);
  CHECK(r.status == 0);

  Consumer consumer(mock.bootstraps, "city.gw-1.telemetry", 3);
  REQUIRE(consumer.read_until([](const auto& got) { return got.size() >= 3; }, 15s));
  REQUIRE(consumer.got.size() == 3);
  std::set<std::string> keys, ks;
  for (const auto& c : consumer.got) {
    INFO("key " << c.key);
    keys.insert(c.key);
    auto d = wire::decode_batch(c.value);
    REQUIRE(d.has_value());
    CHECK(d->header.batch_id == b.header.batch_id);
    CHECK(d->header.batch_seq == 7);
    CHECK(d->header.gateway_id == "gw-1");
    CHECK(d->header.incarnation_id == kIncarnation);
    CHECK(d->header.record_class == RecordClass::telemetry);
    CHECK(d->records.empty());
    CHECK(d->readings == readings_of(b, c.key));  // exactly this device's readings, in batch order
    CHECK(c.headers.at("batch_id") == b.header.batch_id);
    CHECK(c.headers.at("batch_seq") == "7");
    CHECK(c.headers.at("part") == "0");
    CHECK(c.headers.at("parts") == "0");
    CHECK(c.headers.at("gateway_id") == "gw-1");
    CHECK(c.headers.at("incarnation_id") == kIncarnation);
    CHECK(c.headers.at("record_class") == "telemetry");
    CHECK(c.headers.at("device") == c.key);
    ks.insert(c.headers.at("records"));
  }
  CHECK(keys == std::set<std::string>(devices.begin(), devices.end()));
  CHECK(ks == std::set<std::string>{"1/3", "2/3", "3/3"});
  // One device, one partition: the key decides (murmur2, as Java clients do); all three arrive.
}

TEST_CASE("kafka: a batch without readings is one record keyed by the gateway, the body as is", "[kafka]") {
  MockCluster mock;
  mock.topic("city.status", 1);
  auto sink = make_sink(options(mock, "city.{class}"));
  TestBatch b;
  b.header = header(9, RecordClass::status);
  StatusRecord st;
  st.version = "0.1.0";
  st.at = from_unix_ns(1'700'000'000'000'000'000);
  st.uptime_s = 42;
  b.records.emplace_back(st);
  b.body = wire::encode_batch(b.header, b.readings, b.records);

  auto r = sink->send(b.out());
  INFO(r.detail);
  REQUIRE(r.kind == Kind::settled);
  Consumer consumer(mock.bootstraps, "city.status", 1);
  REQUIRE(consumer.read_until([](const auto& got) { return !got.empty(); }, 15s));
  REQUIRE(consumer.got.size() == 1);
  const auto& c = consumer.got[0];
  CHECK(c.key == "gw-1");
  CHECK(c.value == b.body);
  CHECK(c.headers.at("records") == "1/1");
  CHECK(c.headers.at("record_class") == "status");
  CHECK(c.headers.count("device") == 0);
  auto d = wire::decode_batch(c.value);
  REQUIRE(d.has_value());
  REQUIRE(d->records.size() == 1);
  CHECK(std::get<StatusRecord>(d->records[0]) == st);
}

TEST_CASE("kafka: a partition leader going down mid-run loses no batch, duplicates only as repeated batch ids",
          "[kafka]") {
  MockCluster mock;
  const std::string topic = "city.batches";
  mock.topic(topic, 3);
  for (int p = 0; p < 3; ++p) mock.leader(topic, p, 1);  // broker 1 leads everything
  auto o = options(mock, topic);
  o.delivery_timeout = 1500ms;
  auto sink = make_sink(o);

  const std::vector<std::string> devices = {"dev-a", "dev-b", "dev-c"};
  constexpr int kBatches = 12;
  std::vector<TestBatch> sent;
  std::size_t failed_sends = 0;
  bool moved = false;
  for (int i = 1; i <= kBatches; ++i) {
    sent.push_back(readings_batch(static_cast<std::uint64_t>(i), devices, 2));
    if (i == 4) mock.down(1);  // the leader of every partition dies
    auto failures = send_until_settled(*sink, sent.back(), 30s, [&](const uplink::SendResult&) {
      // The outage was seen: the cluster elects broker 2 (as a real one would), and the old
      // leader comes back later as a follower.
      if (!moved) {
        for (int p = 0; p < 3; ++p) mock.leader(topic, p, 2);
        moved = true;
      }
    });
    failed_sends += failures.size();
    if (i == 8) mock.up(1);
  }
  CHECK(failed_sends >= 1);  // the outage was real: some send answered retry
  CHECK(moved);

  Consumer consumer(mock.bootstraps, topic, 3);
  std::map<std::string, const TestBatch*> by_id;
  for (const auto& b : sent) by_id[b.header.batch_id] = &b;
  auto complete = [&](const std::vector<Consumed>& got) {
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& c : got) seen.emplace(c.headers.at("batch_id"), c.key);
    return seen.size() == kBatches * devices.size();
  };
  REQUIRE(consumer.read_until(complete, 20s));
  // Every record is one of ours; a (batch_id, device) seen twice is a byte-identical duplicate.
  std::map<std::pair<std::string, std::string>, std::string> first_value;
  for (const auto& c : consumer.got) {
    auto it = by_id.find(c.headers.at("batch_id"));
    REQUIRE(it != by_id.end());
    auto d = wire::decode_batch(c.value);
    REQUIRE(d.has_value());
    CHECK(d->header.batch_seq == it->second->header.batch_seq);
    CHECK(d->readings == readings_of(*it->second, c.key));
    auto [fv, fresh] = first_value.try_emplace({c.headers.at("batch_id"), c.key}, c.value);
    if (!fresh) CHECK(fv->second == c.value);
  }
  CHECK(first_value.size() == kBatches * devices.size());
}

TEST_CASE("kafka: all brokers down answers retry within the delivery timeout, and once back up the same batch settles",
          "[kafka]") {
  MockCluster mock;
  const std::string topic = "city.batches";
  mock.topic(topic, 3);
  LogCapture log;
  auto o = options(mock, topic);
  o.delivery_timeout = 1000ms;
  auto sink = make_sink(o);

  // Connected and idempotent producer id obtained first, so the outage hits a working producer.
  // (On a loaded machine the mock's first connection can outlast the 1 s delivery timeout: the
  // warm-up may need a retry, and what it logs is not counted below.)
  auto warmup = readings_batch(1, {"dev-a"}, 1);
  send_until_settled(*sink, warmup, 20s);
  const auto warned_before = log.count("warning", "cluster unreachable");
  const auto recovered_before = log.count("info", "delivering again");

  for (int b = 1; b <= 3; ++b) mock.down(b);
  auto batch = readings_batch(2, {"dev-a", "dev-b"}, 2);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = sink->send(batch.out());
    const auto took = std::chrono::steady_clock::now() - t0;
    INFO(r.detail);
    CHECK(r.kind == Kind::retry);
    CHECK(took < 1000ms + 4s);  // delivery_timeout + the sink's margin + slack
  }
  // Two failed sends and many connection errors: one warning for the transition.
  CHECK(log.count("warning", "cluster unreachable") == warned_before + 1);

  for (int b = 1; b <= 3; ++b) mock.up(b);
  send_until_settled(*sink, batch, 20s);
  CHECK(log.count("info", "delivering again") == recovered_before + 1);
  CHECK(log.count("warning", "cluster unreachable") == warned_before + 1);

  Consumer consumer(mock.bootstraps, topic, 3);
  auto has_batch = [&](const std::vector<Consumed>& got) {
    std::set<std::string> devs;
    for (const auto& c : got)
      if (c.headers.at("batch_id") == batch.header.batch_id) devs.insert(c.key);
    return devs.size() == 2;
  };
  REQUIRE(consumer.read_until(has_batch, 15s));
  for (const auto& c : consumer.got) {
    if (c.headers.at("batch_id") != batch.header.batch_id) continue;
    auto d = wire::decode_batch(c.value);
    REQUIRE(d.has_value());
    CHECK(d->readings == readings_of(batch, c.key));
  }
}

TEST_CASE("kafka: a record over message.max.bytes or over the whole queue answers too_large", "[kafka]") {
  MockCluster mock;
  mock.topic("city.batches", 1);

  SECTION("message.max.bytes") {
    auto o = options(mock, "city.batches");
    o.properties.emplace_back("message.max.bytes", "1000");
    auto sink = make_sink(o);
    auto big = readings_batch(1, {"dev-a", "dev-b"}, 1, 2000);
    auto r = sink->send(big.out());
    INFO(r.detail);
    CHECK(r.kind == Kind::too_large);
    CHECK(r.status == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    // Small records still go through the same sink.
    auto small = readings_batch(2, {"dev-a", "dev-b"}, 1);
    CHECK(sink->send(small.out()).kind == Kind::settled);
  }
  SECTION("queue_max_kbytes") {
    auto o = options(mock, "city.batches");
    o.queue_max_kbytes = 1;
    auto sink = make_sink(o);
    auto big = readings_batch(1, {"dev-a"}, 1, 4000);
    auto r = sink->send(big.out());
    INFO(r.detail);
    CHECK(r.kind == Kind::too_large);
  }
}

TEST_CASE("kafka: more device records than the queue holds still settle (drained and continued)", "[kafka]") {
  MockCluster mock;
  mock.topic("city.batches", 3);
  auto o = options(mock, "city.batches");
  o.queue_max_messages = 2;
  auto sink = make_sink(o);
  auto b = readings_batch(1, {"d1", "d2", "d3", "d4", "d5"}, 2);
  auto r = sink->send(b.out());
  INFO(r.detail);
  REQUIRE(r.kind == Kind::settled);
  Consumer consumer(mock.bootstraps, "city.batches", 3);
  REQUIRE(consumer.read_until([](const auto& got) { return got.size() >= 5; }, 15s));
  std::set<std::string> keys;
  for (const auto& c : consumer.got) keys.insert(c.key);
  CHECK(keys == std::set<std::string>{"d1", "d2", "d3", "d4", "d5"});
}

TEST_CASE("kafka: topic authorization failure answers rejected", "[kafka]") {
  MockCluster mock;
  mock.topic("city.batches", 1);
  auto sink = make_sink(options(mock, "city.batches"));
  rd_kafka_mock_push_request_errors(mock.mc, kApiProduce, 1, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  auto r = sink->send(readings_batch(1, {"dev-a"}, 1).out());
  INFO(r.detail);
  CHECK(r.kind == Kind::rejected);
  CHECK(r.status == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
}

TEST_CASE("kafka: a fatal idempotence error recreates the producer, the batch is retried and settles", "[kafka]") {
  MockCluster mock;
  mock.topic("city.batches", 1);
  LogCapture log;
  auto sink = make_sink(options(mock, "city.batches"));
  // Head-of-line OutOfOrderSequence: librdkafka cannot vouch for ordering any more (fatal).
  rd_kafka_mock_push_request_errors(mock.mc, kApiProduce, 1, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
  auto b = readings_batch(1, {"dev-a", "dev-b"}, 1);
  auto r = sink->send(b.out());
  INFO(r.detail);
  CHECK(r.kind == Kind::retry);
  CHECK(r.detail.find("fatal") != std::string::npos);
  CHECK(log.count("error", "fatal producer error") == 1);
  REQUIRE(send_until_settled(*sink, b, 20s).empty());  // the new producer delivers at once
  Consumer consumer(mock.bootstraps, "city.batches", 1);
  REQUIRE(consumer.read_until(
      [&](const auto& got) {
        std::set<std::string> k;
        for (const auto& c : got) k.insert(c.key);
        return k.size() == 2;
      },
      15s));
}

TEST_CASE("kafka: abort() makes a send in progress return retry soon, and later sends too", "[kafka]") {
  MockCluster mock;
  mock.topic("city.batches", 1);
  auto o = options(mock, "city.batches");
  o.delivery_timeout = 30000ms;
  auto sink = make_sink(o);
  for (int b = 1; b <= 3; ++b) mock.down(b);
  auto batch = readings_batch(1, {"dev-a"}, 1);
  auto fut = std::async(std::launch::async, [&] { return sink->send(batch.out()); });
  // Without abort the send would take 30 s: it is still waiting after a while.
  REQUIRE(fut.wait_for(300ms) == std::future_status::timeout);
  const auto t0 = std::chrono::steady_clock::now();
  sink->abort();
  REQUIRE(fut.wait_for(5s) == std::future_status::ready);
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  auto r = fut.get();
  CHECK(r.kind == Kind::retry);
  CHECK(r.detail == "aborted");
  CHECK(sink->send(batch.out()).kind == Kind::retry);
}

TEST_CASE("kafka: create() refuses bad options before any I/O", "[kafka]") {
  MockCluster mock;
  auto base = options(mock, "city.batches");
  auto error_of = [](uplink::KafkaSinkOptions o) {
    auto s = uplink::KafkaSink::create(std::move(o));
    REQUIRE(!s);
    CHECK(s.error().disposition == Disposition::fatal);
    return s.error().message;
  };
  {
    auto o = base;
    o.compression = "brotli";
    CHECK(error_of(o).find("compression") != std::string::npos);
  }
  {
    auto o = base;
    o.topic = "city/{gateway}";
    CHECK(error_of(o).find("city/gw-1") != std::string::npos);
  }
  {
    auto o = base;
    o.topic = "city.{device}";
    CHECK(error_of(o).find("city.{device}") != std::string::npos);
  }
  {
    auto o = base;
    o.properties.emplace_back("linger.msx", "5");
    CHECK(error_of(o).find("'linger.msx'") != std::string::npos);
  }
  {
    auto o = base;
    o.properties.emplace_back("linger.ms", "not-a-number");
    CHECK(error_of(o).find("'linger.ms'") != std::string::npos);
  }
  {
    auto o = base;
    o.properties.emplace_back("enable.idempotence", "false");
    CHECK(error_of(o).find("'enable.idempotence'") != std::string::npos);
  }
  {
    auto o = base;
    o.security_protocol = "SASL_SSL";
    CHECK(error_of(o).find("security_protocol") != std::string::npos);
  }
  {
    auto o = base;
    o.ssl_ca_file = "/etc/ssl/certs/ca-certificates.crt";  // TLS file without TLS
    CHECK(error_of(o).find("ssl_") != std::string::npos);
  }
  {
    auto o = base;
    o.brokers.clear();
    CHECK(error_of(o).find("brokers") != std::string::npos);
  }
}
