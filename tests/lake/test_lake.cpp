// The reference lake receiver in-process, on port 0 in a temp dir, driven over real HTTP.
#include <sys/resource.h>

#include <cmath>
#include <limits>
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
#include "support/http_client.hpp"
#include "support/process.hpp"
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
  CHECK(r.body == R"({"status":"accepted","batch_id":")" + h.batch_id + R"(","part":0,"readings":7})");

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

  CHECK(cg::test::read_file(tmp.path() / "_state" / "accepted.log") == h.batch_id + " 0\n");
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
  CHECK(stats.body == R"({"batches_accepted":3,"duplicates":3,"rejected":0,"readings_written":9})");
  CHECK(cg::test::http_get(lake.url("/healthz")).status == 200);
}

TEST_CASE("lake: gzip and zstd bodies are accepted; bad encodings are refused", "[lake]") {
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
  CHECK(stats.body == R"({"batches_accepted":4,"duplicates":0,"rejected":5,"readings_written":28})");
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
  CHECK(cg::test::read_file(tmp.path() / "_state" / "accepted.log") ==
        a.batch_id + " 0\n" + b.batch_id + " 1\n");
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

TEST_CASE("lake: start() errors; run_lake returns 70 when it cannot start", "[lake]") {
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
