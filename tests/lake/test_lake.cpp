// The reference lake receiver in-process, on port 0 in a temp dir, driven over real HTTP.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <simdjson.h>
#include <zlib.h>
#include <zstd.h>

#include "core/clock.hpp"
#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "lake/lake.hpp"
#include "lake/seq_tracker.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"
#include "wire/batch_codec.hpp"

namespace fs = std::filesystem;

// Sanitizers keep freed memory resident (ASan's quarantine) or multiply it (TSan's shadow).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

using cg::Reading;
using cg::test::HttpResult;

namespace {

// A LakeReceiver on 127.0.0.1:0 with its own io thread; restartable on the same directory.
class Lake {
 public:
  explicit Lake(fs::path dir, cg::lake::LakeOptions base = {}) : dir_(std::move(dir)), base_(std::move(base)) { start(); }
  ~Lake() { stop(); }

  void start() {
    io_ = std::make_unique<boost::asio::io_context>();
    guard_.emplace(boost::asio::make_work_guard(*io_));
    auto opts = base_;
    opts.dir = dir_;
    rx_ = std::make_unique<cg::lake::LakeReceiver>(*io_, opts, metrics);
    auto r = rx_->start();
    REQUIRE(r.has_value());
    thread_ = std::thread([this] { io_->run(); });
  }
  void stop() {
    if (!rx_) return;
    rx_->stop();
    guard_.reset();
    thread_.join();
    rx_.reset();
    io_.reset();
  }
  void restart() {
    stop();
    start();
  }

  std::uint16_t port() const { return rx_->port(); }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port()) + path; }
  HttpResult post(const std::string& body, std::vector<std::string> headers = {}) {
    headers.push_back("Content-Type: application/x-protobuf");
    return cg::test::http_request("POST", url("/v1/batches"), body, headers, 60000);
  }

  cg::Metrics metrics;

 private:
  fs::path dir_;
  cg::lake::LakeOptions base_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::unique_ptr<cg::lake::LakeReceiver> rx_;
  std::thread thread_;
};

cg::wire::BatchHeader header(std::string gateway = "gw-1", std::uint32_t part = 0, std::uint32_t parts = 0) {
  cg::wire::BatchHeader h;
  h.gateway_id = std::move(gateway);
  h.incarnation_id = "inc-1";
  h.batch_id = cg::uuid_v7(cg::SystemClock{}.now());
  h.batch_seq = 17;
  h.created_at = cg::from_unix_ns(1'700'000'000'000'000'000);
  h.part = part;
  h.parts = parts;
  return h;
}

Reading reading(std::string metric, cg::Value v) {
  Reading r;
  r.device = "dev-\"1\"";
  r.metric = std::move(metric);
  r.value = std::move(v);
  r.unit = "Cel";
  r.tags = {{"floor", "2"}, {"zone", "n\u00e4rd"}};
  r.observed = cg::from_unix_ns(1'700'000'000'123'456'789);
  r.received = cg::from_unix_ns(1'700'000'001'987'000'001);
  r.seq = 5;
  r.src_seq = 99;
  r.quality = 9;
  return r;
}

std::vector<Reading> sample_readings() {
  std::vector<Reading> v;
  v.push_back(reading("temp", 21.5));
  v.push_back(reading("nan", std::numeric_limits<double>::quiet_NaN()));
  v.push_back(reading("i64min", std::numeric_limits<std::int64_t>::min()));
  v.push_back(reading("u64max", std::numeric_limits<std::uint64_t>::max()));
  v.push_back(reading("on", true));
  v.push_back(reading("text", std::string("a \"quoted\"\nline")));
  v.push_back(reading("blob", cg::Bytes{{0x00, 0x01, 0x00, 0xFF}}));
  v.back().src_seq.reset();
  v.back().tags.clear();
  v.back().seq = 6;
  return v;
}

std::string gzip(std::string_view in) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, in.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string zstd(std::string_view in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  auto n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
  REQUIRE(!ZSTD_isError(n));
  out.resize(n);
  return out;
}

// `total` zero bytes, compressed in a stream (never held uncompressed). Without `declare` the
// frame header does not carry the content size, so only decoding can tell how big it is.
std::string zstd_zeros(std::size_t total, bool declare) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
  if (declare) ZSTD_CCtx_setPledgedSrcSize(c, total);
  const std::string zeros(1 << 20, '\0');
  std::string out;
  std::string buf(ZSTD_CStreamOutSize(), '\0');
  for (std::size_t done = 0; done < total;) {
    std::size_t n = std::min(zeros.size(), total - done);
    done += n;
    ZSTD_inBuffer in{zeros.data(), n, 0};
    auto mode = done == total ? ZSTD_e_end : ZSTD_e_continue;
    while (true) {
      ZSTD_outBuffer o{buf.data(), buf.size(), 0};
      auto rem = ZSTD_compressStream2(c, &o, &in, mode);
      REQUIRE(!ZSTD_isError(rem));
      out.append(buf.data(), o.pos);
      if (mode == ZSTD_e_end ? rem == 0 : in.pos == in.size) break;
    }
  }
  ZSTD_freeCCtx(c);
  return out;
}

std::string gzip_zeros(std::size_t total) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  const std::string zeros(1 << 20, '\0');
  std::string out;
  std::string buf(1 << 16, '\0');
  for (std::size_t done = 0; done < total;) {
    std::size_t n = std::min(zeros.size(), total - done);
    done += n;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
    zs.avail_in = static_cast<uInt>(n);
    int flush = done == total ? Z_FINISH : Z_NO_FLUSH;
    do {
      zs.next_out = reinterpret_cast<Bytef*>(buf.data());
      zs.avail_out = static_cast<uInt>(buf.size());
      deflate(&zs, flush);
      out.append(buf.data(), buf.size() - zs.avail_out);
    } while (zs.avail_out == 0);
  }
  deflateEnd(&zs);
  return out;
}

// Every data file (relative path) under dir, excluding the state directory.
std::vector<std::string> data_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    auto rel = fs::relative(e.path(), dir).string();
    if (rel.rfind("_state", 0) == 0 || !e.is_regular_file()) continue;
    out.push_back(rel);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> data_lines(const fs::path& dir) {
  std::vector<std::string> lines;
  for (const auto& f : data_files(dir)) {
    auto text = cg::test::read_file(dir / f);
    REQUIRE((text.empty() || text.back() == '\n'));
    std::size_t pos = 0;
    while (pos < text.size()) {
      auto nl = text.find('\n', pos);
      lines.push_back(text.substr(pos, nl - pos));
      pos = nl + 1;
    }
  }
  return lines;
}

std::string_view str(simdjson::dom::element e) { return e.get_string().value(); }

cg::wire::BatchHeader seq_header(std::string gateway, std::string incarnation, std::uint64_t seq) {
  auto h = header(std::move(gateway));
  h.incarnation_id = std::move(incarnation);
  h.batch_seq = seq;
  return h;
}

// A one-reading batch with its own batch_id.
std::string small_batch(std::uint64_t seq, std::string gateway = "gw-1", std::string incarnation = "inc-1") {
  return cg::wire::encode_batch(seq_header(std::move(gateway), std::move(incarnation), seq),
                                std::vector<Reading>{reading("m", 1.0)});
}

cg::lake::LakeOptions with_faults() {
  cg::lake::LakeOptions o;
  o.faults_enabled = true;
  return o;
}

HttpResult faults(Lake& lake, const std::string& method, const std::string& body = "") {
  return cg::test::http_request(method, lake.url("/v1/faults"), body, {"Content-Type: application/json"});
}

std::int64_t injected(Lake& lake, const std::string& kind) {
  return lake.metrics.value("lake_faults_injected_total", {{"kind", kind}});
}

using Ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
struct SeqReport {
  std::uint64_t max_seq = 0;
  Ranges missing;
  std::uint64_t missing_count = 0;
};

// GET /v1/gaps as (gateway, incarnation) → report.
std::map<std::pair<std::string, std::string>, SeqReport> seq_gaps(Lake& lake) {
  auto r = cg::test::http_get(lake.url("/v1/gaps"));
  REQUIRE(r.status == 200);
  simdjson::dom::parser p;
  auto doc = p.parse(r.body);
  REQUIRE(doc.error() == simdjson::SUCCESS);
  std::map<std::pair<std::string, std::string>, SeqReport> out;
  simdjson::dom::array gateways = doc.value()["gateways"].get_array().value();
  for (auto g : gateways) {
    SeqReport s;
    s.max_seq = g["max_seq"].get_uint64().value();
    s.missing_count = g["missing_count"].get_uint64().value();
    simdjson::dom::array ranges = g["missing"].get_array().value();
    for (auto range : ranges) {
      auto a = range.get_array().value();
      REQUIRE(a.size() == 2);
      s.missing.emplace_back(a.at(0).get_uint64().value(), a.at(1).get_uint64().value());
    }
    out[{std::string(str(g["gateway"])), std::string(str(g["incarnation"]))}] = s;
  }
  return out;
}

std::uint64_t stat(Lake& lake, const char* key) {
  auto r = cg::test::http_get(lake.url("/v1/stats"));
  REQUIRE(r.status == 200);
  simdjson::dom::parser p;
  return p.parse(r.body).value()[key].get_uint64().value();
}

}  // namespace

TEST_CASE("lake: a batch is written as NDJSON lines with exact fields", "[lake]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path());
  auto h = header();
  const auto readings = sample_readings();
  const auto before = cg::format_utc_date(cg::SystemClock{}.now());
  auto r = lake.post(cg::wire::encode_batch(h, readings));
  const auto after = cg::format_utc_date(cg::SystemClock{}.now());
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.body == R"({"status":"accepted","batch_id":")" + h.batch_id + R"(","part":0,"readings":7,"records":0})");

  auto files = data_files(tmp.path());
  REQUIRE(files.size() == 1);
  INFO(files[0]);
  CHECK((files[0].rfind("dt=" + before + "/gateway=gw-1/readings-", 0) == 0 ||
         files[0].rfind("dt=" + after + "/gateway=gw-1/readings-", 0) == 0));
  CHECK(files[0].size() > 6);
  CHECK(files[0].substr(files[0].size() - 7) == ".ndjson");

  auto lines = data_lines(tmp.path());
  REQUIRE(lines.size() == readings.size());
  simdjson::dom::parser p;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    INFO(lines[i]);
    auto doc = p.parse(lines[i]);
    REQUIRE(doc.error() == simdjson::SUCCESS);
    simdjson::dom::element o = doc.value();
    CHECK(str(o["type"]) == "reading");
    CHECK(str(o["gateway"]) == "gw-1");
    CHECK(str(o["incarnation"]) == "inc-1");
    CHECK(str(o["batch_id"]) == h.batch_id);
    CHECK(o["batch_seq"].get_uint64().value() == 17);
    CHECK(o["part"].get_uint64().value() == 0);
    CHECK(str(o["record_class"]) == "telemetry");
    CHECK(str(o["device"]) == "dev-\"1\"");
    CHECK(str(o["metric"]) == readings[i].metric);
    CHECK(str(o["unit"]) == "Cel");
    CHECK(str(o["observed_at"]) == "2023-11-14T22:13:20.123Z");
    CHECK(str(o["received_at"]) == "2023-11-14T22:13:21.987Z");
    CHECK(o["quality"].get_uint64().value() == 9);
  }
  auto line = [&](std::size_t i) { return p.parse(lines[i]).value(); };
  CHECK(line(0)["value"].get_double().value() == 21.5);
  CHECK(str(line(0)["value_type"]) == "f64");
  CHECK(line(0)["seq"].get_uint64().value() == 5);
  CHECK(line(0)["src_seq"].get_uint64().value() == 99);
  auto tags = line(0)["tags"].get_object().value();
  CHECK(str(tags["floor"]) == "2");
  CHECK(str(tags["zone"]) == "n\u00e4rd");
  CHECK(str(line(1)["value"]) == "NaN");
  CHECK(str(line(1)["value_type"]) == "f64");
  CHECK(line(2)["value"].get_int64().value() == std::numeric_limits<std::int64_t>::min());
  CHECK(str(line(2)["value_type"]) == "i64");
  CHECK(line(3)["value"].get_uint64().value() == std::numeric_limits<std::uint64_t>::max());
  CHECK(str(line(3)["value_type"]) == "u64");
  CHECK(line(4)["value"].get_bool().value() == true);
  CHECK(str(line(4)["value_type"]) == "bool");
  CHECK(str(line(5)["value"]) == "a \"quoted\"\nline");
  CHECK(str(line(5)["value_type"]) == "string");
  CHECK(str(line(6)["value"]) == "AAEA/w==");
  CHECK(str(line(6)["value_type"]) == "bytes");
  CHECK(line(6)["src_seq"].is_null());
  CHECK(line(6)["seq"].get_uint64().value() == 6);
  CHECK(line(6)["tags"].get_object().value().size() == 0);
  // the raw text of integers is exact (no float detour)
  CHECK(lines[3].find("\"value\":18446744073709551615,") != std::string::npos);
  CHECK(lines[2].find("\"value\":-9223372036854775808,") != std::string::npos);

  CHECK(cg::test::read_file(tmp.path() / "_state" / "accepted.log") == h.batch_id + " 0 gw-1 inc-1 17\n");
  CHECK(lake.metrics.value("lake_batches_accepted_total") == 1);
  CHECK(lake.metrics.value("lake_readings_written_total") == 7);
}

TEST_CASE("lake: a repeated (batch_id, part) is a 409 and is not written twice", "[lake]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path());
  auto h = header();
  auto body = cg::wire::encode_batch(h, sample_readings());
  REQUIRE(lake.post(body).status == 200);
  auto dup = lake.post(body);
  CHECK(dup.status == 409);
  CHECK(dup.body == R"({"status":"duplicate","batch_id":")" + h.batch_id + R"("})");
  // the same batch compressed is the same batch
  CHECK(lake.post(zstd(body), {"Content-Encoding: zstd"}).status == 409);
  CHECK(data_lines(tmp.path()).size() == 7);

  // parts of a split batch share batch_id and are distinct
  auto p1 = h;
  p1.part = 1;
  p1.parts = 2;
  auto p2 = p1;
  p2.part = 2;
  CHECK(lake.post(cg::wire::encode_batch(p1, std::vector<Reading>{reading("a", 1.0)})).status == 200);
  CHECK(lake.post(cg::wire::encode_batch(p2, std::vector<Reading>{reading("b", 2.0)})).status == 200);
  CHECK(lake.post(cg::wire::encode_batch(p2, std::vector<Reading>{reading("b", 2.0)})).status == 409);
  CHECK(data_lines(tmp.path()).size() == 9);

  auto stats = cg::test::http_get(lake.url("/v1/stats"));
  CHECK(stats.status == 200);
  // every batch carries batch_seq 17: seqs 1..16 of gw-1/inc-1 count as missing (one hole)
  CHECK(stats.body == R"({"batches_accepted":3,"duplicates":3,"rejected":0,"readings_written":9,"gaps_written":0,)"
                      R"("aggregates_written":0,"statuses_written":0,"batch_seq_gaps":1,"batch_seq_missing":16,)"
                      R"("faults_injected":0})");
  CHECK(cg::test::http_get(lake.url("/healthz")).status == 200);
}

TEST_CASE("lake: gzip and zstd bodies are accepted, bad encodings are refused", "[lake]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path());
  auto body_gz = cg::wire::encode_batch(header(), sample_readings());
  auto body_zs = cg::wire::encode_batch(header(), sample_readings());
  auto body_id = cg::wire::encode_batch(header(), sample_readings());

  CHECK(lake.post(gzip(body_gz), {"Content-Encoding: gzip"}).status == 200);
  CHECK(lake.post(zstd(body_zs), {"Content-Encoding: zstd"}).status == 200);
  CHECK(lake.post(body_id, {"Content-Encoding: identity"}).status == 200);
  CHECK(data_lines(tmp.path()).size() == 21);

  auto other = cg::wire::encode_batch(header(), sample_readings());
  auto r = lake.post(other, {"Content-Encoding: br"});
  CHECK(r.status == 415);
  CHECK(r.header("content-type") == "application/problem+json");

  // a body that does not match its declared encoding, or is cut short
  CHECK(lake.post(other, {"Content-Encoding: gzip"}).status == 400);
  CHECK(lake.post(other, {"Content-Encoding: zstd"}).status == 400);
  auto gz = gzip(other);
  CHECK(lake.post(gz.substr(0, gz.size() / 2), {"Content-Encoding: gzip"}).status == 400);
  auto zs = zstd(other);
  CHECK(lake.post(zs.substr(0, zs.size() - 3), {"Content-Encoding: zstd"}).status == 400);
  CHECK(data_lines(tmp.path()).size() == 21);
  // the refused batch was not recorded as accepted
  CHECK(lake.post(other).status == 200);

  auto stats = cg::test::http_get(lake.url("/v1/stats"));
  CHECK(stats.body == R"({"batches_accepted":4,"duplicates":0,"rejected":5,"readings_written":28,"gaps_written":0,)"
                      R"("aggregates_written":0,"statuses_written":0,"batch_seq_gaps":1,"batch_seq_missing":16,)"
                      R"("faults_injected":0})");
}

TEST_CASE("lake: undecodable batches are 400 problem+json with the reason", "[lake]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path());
  simdjson::dom::parser p;

  auto r = lake.post("this is not a batch");
  CHECK(r.status == 400);
  CHECK(r.header("content-type") == "application/problem+json");
  auto doc = p.parse(r.body).value();
  CHECK(doc["status"].get_int64().value() == 400);
  CHECK(str(doc["detail"]).find("citygate.wire.v1.Batch") != std::string_view::npos);

  auto h = header();
  h.batch_id = "nope";
  r = lake.post(cg::wire::encode_batch(h, sample_readings()));
  CHECK(r.status == 400);
  CHECK(str(p.parse(r.body).value()["detail"]).find("batch_id") != std::string_view::npos);

  CHECK(data_files(tmp.path()).empty());
  CHECK(lake.metrics.value("lake_batches_rejected_total", {{"reason", "protobuf"}}) == 1);
  CHECK(lake.metrics.value("lake_batches_rejected_total", {{"reason", "batch_id"}}) == 1);
}

TEST_CASE("lake: a zstd bomb is refused with 413 without inflating it", "[lake]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path());
  const auto bomb = zstd_zeros(200u << 20, false);  // 200 MiB of zeros, size not declared
  REQUIRE(bomb.size() < (1u << 20));
  REQUIRE(ZSTD_getFrameContentSize(bomb.data(), bomb.size()) == ZSTD_CONTENTSIZE_UNKNOWN);
  auto r = lake.post(bomb, {"Content-Encoding: zstd"});
  CHECK(r.status == 413);
  CHECK(r.header("content-type") == "application/problem+json");
  // The receiver stopped at its 64 MiB cap (≈ 1.5 × cap transiently while growing the buffer):
  // the whole process never came near 200 MiB.
  if (!kSanitized) {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    INFO("max RSS KiB: " << ru.ru_maxrss);
    CHECK(ru.ru_maxrss < 150 * 1024);  // KiB
  }

  // a frame that declares its 200 MiB is refused before decoding
  CHECK(lake.post(zstd_zeros(200u << 20, true), {"Content-Encoding: zstd"}).status == 413);

  const auto gz_bomb = gzip_zeros(100u << 20);  // beyond the 64 MiB cap is enough
  CHECK(lake.post(gz_bomb, {"Content-Encoding: gzip"}).status == 413);
  CHECK(data_files(tmp.path()).empty());
  CHECK(lake.metrics.value("lake_batches_rejected_total", {{"reason", "too_large"}}) == 3);
}

TEST_CASE("lake: body and decompressed-size limits are options", "[lake]") {
  cg::test::TempDir tmp;
  cg::lake::LakeOptions o;
  o.max_body = 4096;
  o.max_decompressed = 2048;
  Lake lake(tmp.path(), o);
  std::vector<Reading> many;
  for (int i = 0; i < 100; ++i) many.push_back(reading("m" + std::to_string(i), static_cast<double>(i)));
  auto body = cg::wire::encode_batch(header(), many);
  REQUIRE(body.size() > 4096);
  CHECK(lake.post(body).status == 413);                                // over max_body
  CHECK(lake.post(zstd(body), {"Content-Encoding: zstd"}).status == 413);  // over max_decompressed
  std::vector<Reading> few(many.begin(), many.begin() + 5);
  CHECK(lake.post(zstd(cg::wire::encode_batch(header(), few)), {"Content-Encoding: zstd"}).status == 200);
}

TEST_CASE("lake: dedup state survives a restart on the same directory", "[lake]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path());
  auto body = cg::wire::encode_batch(header(), sample_readings());
  REQUIRE(lake.post(body).status == 200);
  lake.restart();
  CHECK(lake.post(body).status == 409);
  CHECK(data_lines(tmp.path()).size() == 7);
  CHECK(lake.post(cg::wire::encode_batch(header(), sample_readings())).status == 200);
  CHECK(data_lines(tmp.path()).size() == 14);
}

TEST_CASE("lake: a torn last line in accepted.log is cut off", "[lake]") {
  cg::test::TempDir tmp;
  auto a = header();
  auto b = header();
  fs::create_directories(tmp.path() / "_state");
  // b's line was being written when the process died: "<b> 1" is a prefix of "<b> 12"
  cg::test::write_file(tmp.path() / "_state" / "accepted.log", a.batch_id + " 0\n" + b.batch_id + " 1");
  Lake lake(tmp.path());
  CHECK(lake.post(cg::wire::encode_batch(a, sample_readings())).status == 409);
  b.part = 1;
  b.parts = 12;
  CHECK(lake.post(cg::wire::encode_batch(b, sample_readings())).status == 200);
  // a's old-format line had no batch_seq: its 409 recorded one (a second line for the same key)
  CHECK(cg::test::read_file(tmp.path() / "_state" / "accepted.log") ==
        a.batch_id + " 0\n" + a.batch_id + " 0 gw-1 inc-1 17\n" + b.batch_id + " 1 gw-1 inc-1 17\n");
  lake.restart();
  CHECK(lake.post(cg::wire::encode_batch(b, sample_readings())).status == 409);
}

TEST_CASE("lake: partition is dt=<UTC date>/gateway=<percent-encoded id>", "[lake]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path());
  const auto before = cg::format_utc_date(cg::SystemClock{}.now());
  REQUIRE(lake.post(cg::wire::encode_batch(header("city/north gw%1"), sample_readings())).status == 200);
  REQUIRE(lake.post(cg::wire::encode_batch(header(".."), sample_readings())).status == 200);
  REQUIRE(lake.post(cg::wire::encode_batch(header("Gw_2.x-y"), sample_readings())).status == 200);
  const auto after = cg::format_utc_date(cg::SystemClock{}.now());
  auto files = data_files(tmp.path());
  REQUIRE(files.size() == 3);
  std::vector<std::string> dirs;
  for (const auto& f : files) dirs.push_back(fs::path(f).parent_path().string());
  for (const auto& date : {before, after}) {
    if (dirs[0].rfind("dt=" + date, 0) != 0) continue;
    CHECK(dirs == std::vector<std::string>{"dt=" + date + "/gateway=..", "dt=" + date + "/gateway=Gw_2.x-y",
                                           "dt=" + date + "/gateway=city%2Fnorth%20gw%251"});
  }
  CHECK((dirs[0].rfind("dt=" + before, 0) == 0 || dirs[0].rfind("dt=" + after, 0) == 0));
  // "gateway=.." is a plain directory name: nothing lands outside a dt= partition
  for (const auto& f : files) CHECK(f.rfind("dt=", 0) == 0);
}

TEST_CASE("lake: a storage failure is a 500, nothing is recorded, the retry succeeds", "[lake]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path());
  const auto date = cg::format_utc_date(cg::SystemClock{}.now());
  // A file where the partition directory must go: mkdir of gateway=… fails with ENOTDIR.
  cg::test::write_file(tmp.path() / ("dt=" + date), "obstacle");
  auto body = cg::wire::encode_batch(header(), sample_readings());
  auto r = lake.post(body);
  if (cg::format_utc_date(cg::SystemClock{}.now()) != date) return;  // crossed midnight: inconclusive
  CHECK(r.status == 500);
  CHECK(r.header("content-type") == "application/problem+json");
  CHECK(lake.metrics.value("lake_io_errors_total") == 1);
  CHECK(cg::test::read_file(tmp.path() / "_state" / "accepted.log").empty());

  fs::remove(tmp.path() / ("dt=" + date));
  CHECK(lake.post(body).status == 200);
  CHECK(data_lines(tmp.path()).size() == 7);
}

TEST_CASE("lake: start() errors, run_lake returns 70 when it cannot start", "[lake]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path() / "a");
  cg::lake::LakeOptions o;
  o.port = lake.port();
  o.dir = tmp.path() / "b";
  CHECK(cg::lake::run_lake(o) == 70);  // port in use

  cg::test::write_file(tmp.path() / "file", "x");
  boost::asio::io_context io;
  cg::Metrics m;
  cg::lake::LakeOptions bad;
  bad.dir = tmp.path() / "file";  // not a directory
  cg::lake::LakeReceiver rx(io, bad, m);
  auto r = rx.start();
  REQUIRE(!r.has_value());
  CHECK(r.error().code == "lake_state");
  CHECK(r.error().disposition == cg::Disposition::fatal);
  o.port = 0;
  o.dir = bad.dir;
  CHECK(cg::lake::run_lake(o) == 70);

  cg::lake::LakeReceiver no_dir(io, cg::lake::LakeOptions{}, m);
  CHECK(!no_dir.start().has_value());
}

TEST_CASE("lake: gap, aggregate and status records are written as lines of their own type", "[lake]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path());
  using cg::from_unix_ns;

  auto hs = header();
  hs.record_class = cg::RecordClass::summary;
  hs.batch_seq = 1;
  const cg::GapRecord evicted{cg::GapRecord::Kind::evicted,
                              "dev-9",
                              "pm10",
                              100,
                              149,
                              50,
                              from_unix_ns(1'700'000'000'000'000'000),
                              from_unix_ns(1'700'000'060'500'000'001),
                              from_unix_ns(1'700'000'100'000'000'000),
                              "disk budget"};
  const cg::GapRecord lost{cg::GapRecord::Kind::src_seq, "dev-8", "", 7, 9, 3, {}, {},
                           from_unix_ns(1'700'000'100'000'000'000), "f_cnt \"jumped\""};
  const cg::AggregateRecord agg{"dev-9", "pm10", "ug/m3", from_unix_ns(1'700'000'040'000'000'000), 12, 1.5, 9.25,
                                60.0, 4.0, 100, 111};
  const cg::GapRecord missed{cg::GapRecord::Kind::missed_poll, "meter-3", "", 0, 0, 29,
                             from_unix_ns(1'700'000'000'000'000'000), from_unix_ns(1'700'000'028'000'000'000),
                             from_unix_ns(1'700'000'029'000'000'000), "29 poll(s) without data (last: timeout)"};
  const std::vector<cg::Record> summary{evicted, lost, agg, missed};
  auto r = lake.post(cg::wire::encode_batch(hs, std::vector<Reading>{}, summary));
  REQUIRE(r.status == 200);
  CHECK(r.body == R"({"status":"accepted","batch_id":")" + hs.batch_id + R"(","part":0,"readings":0,"records":4})");

  auto hst = header();
  hst.record_class = cg::RecordClass::status;
  hst.batch_seq = 2;
  hst.part = 1;
  hst.parts = 1;
  cg::StatusRecord st;
  st.version = "1.2.3";
  st.at = from_unix_ns(1'700'000'200'000'000'000);
  st.uptime_s = 3600;
  st.backlog_rows = 12;
  st.backlog_bytes = 3400;
  st.oldest_unsent_age_ms = 5000;
  st.db_bytes = 1 << 20;
  st.disk_budget_bytes = std::int64_t{1} << 32;
  st.disk_free_bytes = std::int64_t{5} << 30;
  st.dead_batches = 2;
  st.evicted_rows = 77;
  st.last_ingest = {{"mqtt-1", from_unix_ns(1'700'000'199'123'456'789)}, {"http \"x\"", from_unix_ns(1'700'000'150'000'000'000)}};
  REQUIRE(lake.post(cg::wire::encode_batch(hst, std::vector<Reading>{}, std::vector<cg::Record>{st})).status == 200);

  auto ha = header();
  ha.record_class = cg::RecordClass::alert;
  ha.batch_seq = 3;
  REQUIRE(lake.post(cg::wire::encode_batch(ha, std::vector<Reading>{reading("smoke", true)})).status == 200);

  auto lines = data_lines(tmp.path());
  REQUIRE(lines.size() == 6);
  std::vector<simdjson::dom::element> gaps, aggs, stats, reads;
  std::vector<simdjson::dom::parser> parsers(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    INFO(lines[i]);
    auto doc = parsers[i].parse(lines[i]);
    REQUIRE(doc.error() == simdjson::SUCCESS);
    auto o = doc.value();
    CHECK(str(o["gateway"]) == "gw-1");
    CHECK(str(o["incarnation"]) == "inc-1");
    CHECK(o["lake_received_at"].is_string());
    // the common keys come first, in a fixed order
    CHECK(lines[i].rfind(R"({"type":")", 0) == 0);
    CHECK(lines[i].find(R"(,"gateway":"gw-1","incarnation":"inc-1","batch_id":")") != std::string::npos);
    auto type = str(o["type"]);
    if (type == "gap") gaps.push_back(o);
    else if (type == "aggregate") aggs.push_back(o);
    else if (type == "status") stats.push_back(o);
    else if (type == "reading") reads.push_back(o);
    else FAIL("unexpected type " << type);
  }
  REQUIRE(gaps.size() == 3);
  REQUIRE(aggs.size() == 1);
  REQUIRE(stats.size() == 1);
  REQUIRE(reads.size() == 1);

  for (auto o : {gaps[0], gaps[1], aggs[0]}) {
    CHECK(str(o["batch_id"]) == hs.batch_id);
    CHECK(o["batch_seq"].get_uint64().value() == 1);
    CHECK(o["part"].get_uint64().value() == 0);
    CHECK(o["parts"].get_uint64().value() == 0);
    CHECK(str(o["record_class"]) == "summary");
  }
  auto g = gaps[0];
  CHECK(str(g["kind"]) == "evicted");
  CHECK(str(g["device"]) == "dev-9");
  CHECK(str(g["metric"]) == "pm10");
  CHECK(g["first"].get_uint64().value() == 100);
  CHECK(g["last"].get_uint64().value() == 149);
  CHECK(g["count"].get_uint64().value() == 50);
  CHECK(str(g["from"]) == "2023-11-14T22:13:20.000Z");
  CHECK(g["from_ns"].get_int64().value() == 1'700'000'000'000'000'000);
  CHECK(str(g["to"]) == "2023-11-14T22:14:20.500Z");
  CHECK(g["to_ns"].get_int64().value() == 1'700'000'060'500'000'001);
  CHECK(str(g["detected_at"]) == "2023-11-14T22:15:00.000Z");
  CHECK(g["detected_at_ns"].get_int64().value() == 1'700'000'100'000'000'000);
  CHECK(str(g["reason"]) == "disk budget");
  g = gaps[1];
  CHECK(str(g["kind"]) == "src_seq");
  CHECK(str(g["metric"]).empty());
  CHECK(g["from"].is_null());
  CHECK(g["from_ns"].is_null());
  CHECK(g["to"].is_null());
  CHECK(g["to_ns"].is_null());
  CHECK(str(g["reason"]) == "f_cnt \"jumped\"");
  g = gaps[2];  // a meter that did not answer 29 polls
  CHECK(str(g["kind"]) == "missed_poll");
  CHECK(str(g["device"]) == "meter-3");
  CHECK(g["count"].get_uint64().value() == 29);
  CHECK(g["from_ns"].get_int64().value() == 1'700'000'000'000'000'000);
  CHECK(g["to_ns"].get_int64().value() == 1'700'000'028'000'000'000);

  auto a = aggs[0];
  CHECK(str(a["device"]) == "dev-9");
  CHECK(str(a["metric"]) == "pm10");
  CHECK(str(a["unit"]) == "ug/m3");
  CHECK(str(a["minute_start"]) == "2023-11-14T22:14:00.000Z");
  CHECK(a["minute_start_ns"].get_int64().value() == 1'700'000'040'000'000'000);
  CHECK(a["count"].get_uint64().value() == 12);
  CHECK(a["min"].get_double().value() == 1.5);
  CHECK(a["max"].get_double().value() == 9.25);
  CHECK(a["sum"].get_double().value() == 60.0);
  CHECK(a["last"].get_double().value() == 4.0);
  CHECK(a["first_seq"].get_uint64().value() == 100);
  CHECK(a["last_seq"].get_uint64().value() == 111);

  auto s = stats[0];
  CHECK(str(s["record_class"]) == "status");
  CHECK(s["batch_seq"].get_uint64().value() == 2);
  CHECK(s["part"].get_uint64().value() == 1);
  CHECK(s["parts"].get_uint64().value() == 1);
  CHECK(str(s["version"]) == "1.2.3");
  CHECK(str(s["at"]) == "2023-11-14T22:16:40.000Z");
  CHECK(s["at_ns"].get_int64().value() == 1'700'000'200'000'000'000);
  CHECK(s["uptime_s"].get_int64().value() == 3600);
  CHECK(s["backlog_rows"].get_int64().value() == 12);
  CHECK(s["backlog_bytes"].get_int64().value() == 3400);
  CHECK(s["oldest_unsent_age_ms"].get_int64().value() == 5000);
  CHECK(s["db_bytes"].get_int64().value() == 1 << 20);
  CHECK(s["disk_budget_bytes"].get_int64().value() == std::int64_t{1} << 32);
  CHECK(s["disk_free_bytes"].get_int64().value() == std::int64_t{5} << 30);
  CHECK(s["dead_batches"].get_int64().value() == 2);
  CHECK(s["evicted_rows"].get_int64().value() == 77);
  auto li = s["last_ingest"].get_array().value();
  REQUIRE(li.size() == 2);
  CHECK(str(li.at(0)["adapter"]) == "mqtt-1");
  CHECK(str(li.at(0)["last_commit"]) == "2023-11-14T22:16:39.123Z");
  CHECK(li.at(0)["last_commit_ns"].get_int64().value() == 1'700'000'199'123'456'789);
  CHECK(str(li.at(1)["adapter"]) == "http \"x\"");

  CHECK(str(reads[0]["record_class"]) == "alert");
  CHECK(reads[0]["value"].get_bool().value() == true);

  CHECK(stat(lake, "gaps_written") == 3);
  CHECK(stat(lake, "aggregates_written") == 1);
  CHECK(stat(lake, "statuses_written") == 1);
  CHECK(stat(lake, "readings_written") == 1);
  CHECK(lake.metrics.value("lake_records_written_total", {{"type", "gap"}}) == 3);
  CHECK(lake.metrics.value("lake_records_written_total", {{"type", "aggregate"}}) == 1);
  CHECK(lake.metrics.value("lake_records_written_total", {{"type", "status"}}) == 1);
}

TEST_CASE("lake: SeqTracker keeps holes as ranges and bounds them", "[lake]") {
  using Range = cg::lake::SeqTracker::Range;
  cg::lake::SeqTracker t;
  auto missing = [&] {
    Ranges v;
    t.for_each_missing([&](Range r) { v.push_back(r); });
    return v;
  };
  CHECK(!t.add(1));
  CHECK(!t.add(2));
  CHECK(t.add(5) == Range{3, 4});
  CHECK(!t.add(6));
  CHECK(t.add(10) == Range{7, 9});
  CHECK(!t.add(8));  // inside a hole: splits it, opens none
  CHECK(missing() == Ranges{{3, 4}, {7, 7}, {9, 9}});
  CHECK(t.missing_count() == 4);
  CHECK(!t.add(8));  // again: nothing changes
  CHECK(!t.add(4));
  CHECK(!t.add(3));
  CHECK(missing() == Ranges{{7, 7}, {9, 9}});
  CHECK(!t.add(9));  // joins 8 and 10
  CHECK(missing() == Ranges{{7, 7}});
  CHECK(!t.add(7));
  CHECK(missing().empty());
  CHECK(t.max_seq() == 10);
  CHECK(t.contains(10));
  CHECK(!t.contains(11));
  CHECK(t.contains(0));  // not tracked
  CHECK(!t.add(0));
  CHECK(t.add(20) == Range{11, 19});

  // A gateway that skips every other seq: holes are capped, the oldest are given up and counted.
  cg::lake::SeqTracker b;
  const std::size_t extra = 10;
  for (std::uint64_t i = 1; i <= cg::lake::SeqTracker::kMaxRanges + extra; ++i) CHECK(b.add(2 * i) == Range{2 * i - 1, 2 * i - 1});
  CHECK(b.missing_ranges() == cg::lake::SeqTracker::kMaxRanges);
  CHECK(b.forgotten() == extra);
  CHECK(b.missing_count() == cg::lake::SeqTracker::kMaxRanges);
  std::uint64_t first_missing = 0;
  b.for_each_missing([&](Range r) {
    if (!first_missing) first_missing = r.first;
  });
  CHECK(first_missing == 2 * extra + 1);
  CHECK(b.contains(1));  // given up: counts as known
}

TEST_CASE("lake: batch_seq holes are reported per gateway and incarnation and survive a restart", "[lake]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path());
  const std::string gw = "city gw 1";
  std::map<std::uint64_t, std::string> sent;
  for (std::uint64_t seq : {1, 2, 4, 7}) {
    sent[seq] = small_batch(seq, gw, "inc-1");
    REQUIRE(lake.post(sent[seq]).status == 200);
  }
  REQUIRE(lake.post(small_batch(1, "gw-b", "inc-1")).status == 200);
  REQUIRE(lake.post(small_batch(3, gw, "inc-2")).status == 200);
  // one part of a split batch is enough for its batch_seq
  auto part = seq_header(gw, "inc-1", 9);
  part.part = 1;
  part.parts = 2;
  REQUIRE(lake.post(cg::wire::encode_batch(part, std::vector<Reading>{reading("m", 2.0)})).status == 200);

  auto g = seq_gaps(lake);
  REQUIRE(g.size() == 3);
  CHECK(g[{gw, "inc-1"}].max_seq == 9);
  CHECK(g[{gw, "inc-1"}].missing == Ranges{{3, 3}, {5, 6}, {8, 8}});
  CHECK(g[{gw, "inc-1"}].missing_count == 4);
  CHECK(g[{gw, "inc-2"}].max_seq == 3);
  CHECK(g[{gw, "inc-2"}].missing == Ranges{{1, 2}});
  CHECK(g[{"gw-b", "inc-1"}].max_seq == 1);
  CHECK(g[{"gw-b", "inc-1"}].missing.empty());
  CHECK(g[{"gw-b", "inc-1"}].missing_count == 0);
  // each hole was noticed once, when it appeared
  CHECK(lake.metrics.value("lake_batch_seq_gaps_total") == 4);

  // a duplicate and a batch inside a hole open no new hole
  CHECK(lake.post(sent[4]).status == 409);
  REQUIRE(lake.post(small_batch(5, gw, "inc-1")).status == 200);
  CHECK(seq_gaps(lake)[{gw, "inc-1"}].missing == Ranges{{3, 3}, {6, 6}, {8, 8}});
  CHECK(lake.metrics.value("lake_batch_seq_gaps_total") == 4);
  CHECK(stat(lake, "batch_seq_gaps") == 4);
  CHECK(stat(lake, "batch_seq_missing") == 5);

  // the state line carries the percent-encoded gateway, the incarnation and the batch_seq
  const auto log = cg::test::read_file(tmp.path() / "_state" / "accepted.log");
  CHECK(log.find(" 0 city%20gw%201 inc-1 4\n") != std::string::npos);
  CHECK(log.find(" 1 city%20gw%201 inc-1 9\n") != std::string::npos);

  const auto before = cg::test::http_get(lake.url("/v1/gaps")).body;
  lake.restart();
  CHECK(cg::test::http_get(lake.url("/v1/gaps")).body == before);
  CHECK(lake.metrics.value("lake_batch_seq_gaps_total") == 4);  // loading does not report holes again
  REQUIRE(lake.post(small_batch(3, gw, "inc-1")).status == 200);
  CHECK(seq_gaps(lake)[{gw, "inc-1"}].missing == Ranges{{6, 6}, {8, 8}});
  REQUIRE(lake.post(small_batch(12, gw, "inc-1")).status == 200);
  CHECK(seq_gaps(lake)[{gw, "inc-1"}].missing == Ranges{{6, 6}, {8, 8}, {10, 11}});
  CHECK(lake.metrics.value("lake_batch_seq_gaps_total") == 5);
}

TEST_CASE("lake: /v1/faults exists only when fault injection is enabled", "[lake][faults]") {
  cg::test::TempDir tmp;
  {
    Lake off(tmp.path() / "off");
    CHECK(faults(off, "GET").status == 404);
    CHECK(faults(off, "POST", R"({"status":[503]})").status == 404);
    CHECK(faults(off, "DELETE").status == 404);
    CHECK(off.post(small_batch(1)).status == 200);
  }
  Lake lake(tmp.path() / "on", with_faults());
  const std::string defaults =
      R"({"status":[],"retry_after_s":1,"status_for_seq":{},"delay_ms":0,"drop_after_commit":0,)"
      R"("failure_rate":0.0,"seed":1,"max_batch_bytes":0})";
  auto r = faults(lake, "GET");
  CHECK(r.status == 200);
  CHECK(r.body == defaults);

  for (const char* bad : {"nope", "[]", R"({"status":"x"})", R"({"status":[99]})", R"({"status":[503,600]})",
                          R"({"failure_rate":1.5})", R"({"failure_rate":"0.1"})", R"({"bogus":1})",
                          R"({"status_for_seq":{"x":400}})", R"({"status_for_seq":[400]})", R"({"delay_ms":-1})",
                          R"({"delay_ms":600001})", R"({"seed":1.5})", R"({"status":[503],"oops":true})"}) {
    INFO(bad);
    auto b = faults(lake, "POST", bad);
    CHECK(b.status == 400);
    CHECK(b.header("content-type") == "application/problem+json");
  }
  CHECK(faults(lake, "GET").body == defaults);  // a refused body changes nothing

  r = faults(lake, "POST",
             R"({"status":[503,400],"status_for_seq":{"7":400,"12":503},"max_batch_bytes":100000,)"
             R"("failure_rate":0.25,"seed":9,"retry_after_s":3})");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"status":[503,400],"retry_after_s":3,"status_for_seq":{"7":400,"12":503},"delay_ms":0,)"
                  R"("drop_after_commit":0,"failure_rate":0.25,"seed":9,"max_batch_bytes":100000})");
  // keys absent from a POST keep their setting
  r = faults(lake, "POST", R"({"delay_ms":5,"drop_after_commit":2})");
  CHECK(r.body == R"({"status":[503,400],"retry_after_s":3,"status_for_seq":{"7":400,"12":503},"delay_ms":5,)"
                  R"("drop_after_commit":2,"failure_rate":0.25,"seed":9,"max_batch_bytes":100000})");
  CHECK(faults(lake, "GET").body == r.body);
  r = faults(lake, "DELETE");
  CHECK(r.status == 200);
  CHECK(r.body == defaults);
  CHECK(lake.post(small_batch(7)).status == 200);
  CHECK(stat(lake, "faults_injected") == 0);
}

TEST_CASE("lake fault: a status sequence is answered in order with Retry-After, writing nothing", "[lake][faults]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path(), with_faults());
  REQUIRE(faults(lake, "POST", R"({"status":[503,429,400],"retry_after_s":7})").status == 200);
  const auto body = small_batch(1);
  auto r = lake.post(body);
  CHECK(r.status == 503);
  CHECK(r.header("retry-after") == "7");
  CHECK(r.header("content-type") == "application/problem+json");
  r = lake.post(body);
  CHECK(r.status == 429);
  CHECK(r.header("retry-after") == "7");
  r = lake.post(body);
  CHECK(r.status == 400);
  CHECK(r.header("retry-after").empty());
  CHECK(data_files(tmp.path()).empty());
  CHECK(cg::test::read_file(tmp.path() / "_state" / "accepted.log").empty());
  CHECK(lake.post(body).status == 200);  // the queue is used up
  CHECK(data_lines(tmp.path()).size() == 1);
  CHECK(injected(lake, "status") == 3);
  CHECK(stat(lake, "faults_injected") == 3);
  CHECK(stat(lake, "rejected") == 0);

  // Retry-After defaults to 1 s
  REQUIRE(faults(lake, "DELETE").status == 200);
  REQUIRE(faults(lake, "POST", R"({"status":[503]})").status == 200);
  r = lake.post(small_batch(2));
  CHECK(r.status == 503);
  CHECK(r.header("retry-after") == "1");
  CHECK(faults(lake, "GET").body.find(R"("status":[],)") != std::string::npos);
  CHECK(lake.post(small_batch(2)).status == 200);
  CHECK(injected(lake, "status") == 4);
}

TEST_CASE("lake fault: status_for_seq refuses one batch_seq every time while later batches go", "[lake][faults]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path(), with_faults());
  REQUIRE(faults(lake, "POST", R"({"status_for_seq":{"2":400}})").status == 200);
  CHECK(lake.post(small_batch(1)).status == 200);
  const auto two = small_batch(2);
  CHECK(lake.post(two).status == 400);
  CHECK(lake.post(two).status == 400);
  CHECK(lake.post(zstd(two), {"Content-Encoding: zstd"}).status == 400);
  CHECK(lake.post(small_batch(2)).status == 400);  // another batch with that seq too
  CHECK(lake.post(small_batch(3)).status == 200);
  CHECK(lake.post(small_batch(4)).status == 200);
  CHECK(data_lines(tmp.path()).size() == 3);
  CHECK(injected(lake, "status_for_seq") == 4);
  // what a gateway dead-letters shows up as a hole
  auto g = seq_gaps(lake)[{"gw-1", "inc-1"}];
  CHECK(g.max_seq == 4);
  CHECK(g.missing == Ranges{{2, 2}});
}

TEST_CASE("lake fault: delay_ms answers late without holding the io thread", "[lake][faults]") {
  using namespace std::chrono;
  cg::test::TempDir tmp;
  Lake lake(tmp.path(), with_faults());
  REQUIRE(faults(lake, "POST", R"({"delay_ms":1500})").status == 200);

  std::atomic<bool> done{false};
  HttpResult slow;
  const auto t0 = steady_clock::now();
  std::thread client([&] {
    slow = lake.post(small_batch(1));
    done = true;
  });
  REQUIRE(cg::test::wait_until([&] { return injected(lake, "delay") == 1; }));
  // The batch is committed already; only its answer waits. Meanwhile the single io thread
  // serves other connections.
  CHECK(data_lines(tmp.path()).size() == 1);
  auto hz = cg::test::http_get(lake.url("/healthz"));
  CHECK(hz.status == 200);
  CHECK(!done.load());
  client.join();
  const auto took = steady_clock::now() - t0;
  CHECK(slow.status == 200);
  CHECK(took >= milliseconds(1500));

  // Stopping the receiver does not wait for a pending delayed answer.
  REQUIRE(faults(lake, "POST", R"({"delay_ms":600000})").status == 200);
  std::thread stuck([&] { slow = lake.post(small_batch(2)); });
  REQUIRE(cg::test::wait_until([&] { return injected(lake, "delay") == 2; }));
  const auto s0 = steady_clock::now();
  lake.stop();
  stuck.join();
  CHECK(steady_clock::now() - s0 < seconds(20));
  CHECK(slow.status == 0);  // the connection closed without an answer
}

TEST_CASE("lake fault: drop_after_commit writes the batch, drops the answer, the re-send is a 409", "[lake][faults]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path(), with_faults());
  REQUIRE(faults(lake, "POST", R"({"drop_after_commit":1})").status == 200);
  auto h = seq_header("gw-1", "inc-1", 1);
  const auto body = cg::wire::encode_batch(h, sample_readings());
  auto r = lake.post(body);
  INFO(r.error);
  CHECK(r.status == 0);  // no answer: a transport error for the client
  CHECK(data_lines(tmp.path()).size() == 7);
  CHECK(cg::test::read_file(tmp.path() / "_state" / "accepted.log") == h.batch_id + " 0 gw-1 inc-1 1\n");
  CHECK(injected(lake, "drop_after_commit") == 1);

  auto again = lake.post(body);
  CHECK(again.status == 409);
  CHECK(data_lines(tmp.path()).size() == 7);  // exactly one copy
  CHECK(lake.post(small_batch(2)).status == 200);  // only the next 1 was dropped
  CHECK(data_lines(tmp.path()).size() == 8);
  CHECK(injected(lake, "drop_after_commit") == 1);
  CHECK(seq_gaps(lake)[{"gw-1", "inc-1"}].missing.empty());
  CHECK(stat(lake, "batches_accepted") == 2);
}

TEST_CASE("lake fault: failure_rate is roughly honoured and repeats for a seed", "[lake][faults]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path(), with_faults());
  std::uint64_t seq = 0;
  auto run = [&](int n) {
    std::string pattern;
    for (int i = 0; i < n; ++i) {
      auto r = lake.post(small_batch(++seq));
      CHECK((r.status == 200 || r.status == 500));
      pattern += r.status == 500 ? 'x' : '.';
    }
    return pattern;
  };
  auto fails = [](const std::string& p) { return static_cast<std::size_t>(std::count(p.begin(), p.end(), 'x')); };
  constexpr int kN = 120;

  REQUIRE(faults(lake, "POST", R"({"failure_rate":0.3,"seed":42})").status == 200);
  const auto a = run(kN);
  INFO(a);
  CHECK(fails(a) >= 12);  // expected 36, sd 5
  CHECK(fails(a) <= 60);
  REQUIRE(faults(lake, "POST", R"({"failure_rate":0.3,"seed":42})").status == 200);
  const auto b = run(kN);
  CHECK(a == b);  // same seed, same draws
  REQUIRE(faults(lake, "POST", R"({"seed":43})").status == 200);
  const auto c = run(kN);
  CHECK(c != a);
  CHECK(injected(lake, "failure_rate") == static_cast<std::int64_t>(fails(a) + fails(b) + fails(c)));
  // a failed request writes nothing
  CHECK(data_lines(tmp.path()).size() == 3 * kN - fails(a) - fails(b) - fails(c));

  REQUIRE(faults(lake, "POST", R"({"failure_rate":0})").status == 200);
  CHECK(fails(run(20)) == 0);
  REQUIRE(faults(lake, "POST", R"({"failure_rate":1})").status == 200);
  CHECK(fails(run(5)) == 5);
}

TEST_CASE("lake fault: max_batch_bytes answers 413 for a large decoded batch, smaller parts go", "[lake][faults]") {
  cg::test::TempDir tmp;
  Lake lake(tmp.path(), with_faults());
  REQUIRE(faults(lake, "POST", R"({"max_batch_bytes":2000})").status == 200);
  std::vector<Reading> many;
  for (int i = 0; i < 100; ++i) many.push_back(reading("m" + std::to_string(i), static_cast<double>(i)));
  auto h = seq_header("gw-1", "inc-1", 1);
  const auto whole = cg::wire::encode_batch(h, many);
  REQUIRE(whole.size() > 2000);
  auto r = lake.post(whole);
  CHECK(r.status == 413);
  CHECK(r.header("content-type") == "application/problem+json");
  const auto small = zstd(whole);
  REQUIRE(small.size() < 2000);
  CHECK(lake.post(small, {"Content-Encoding: zstd"}).status == 413);  // the decoded size counts
  CHECK(data_files(tmp.path()).empty());
  CHECK(injected(lake, "max_batch_bytes") == 2);

  // the gateway's split: same batch_id and batch_seq, parts 1..10
  for (std::uint32_t k = 1; k <= 10; ++k) {
    auto p = h;
    p.part = k;
    p.parts = 10;
    std::vector<Reading> slice(many.begin() + (k - 1) * 10, many.begin() + k * 10);
    const auto part = cg::wire::encode_batch(p, slice);
    REQUIRE(part.size() <= 2000);
    CHECK(lake.post(part).status == 200);
  }
  CHECK(data_lines(tmp.path()).size() == 100);
  CHECK(injected(lake, "max_batch_bytes") == 2);
  auto g = seq_gaps(lake)[{"gw-1", "inc-1"}];
  CHECK(g.max_seq == 1);
  CHECK(g.missing.empty());
}
