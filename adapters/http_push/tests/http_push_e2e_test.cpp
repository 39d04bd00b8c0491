// http_push through the real binary: the shared airRohr request vectors POSTed to the ingest
// listener, answered only after commit, bad bodies answered 400 with the codec's reason.
#include <catch2/catch.hpp>

#include "integration/harness.hpp"
#include "request_file.hpp"

using namespace cg::test;

namespace {

std::string vector_text(const std::string& rel) {
  return read_file(std::filesystem::path(CITYGATE_SHARED_DIR) / "vectors" / rel);
}

std::string sql(const std::filesystem::path& db, const std::string& device, const std::string& what,
                const std::string& where = "1") {
  return sql_scalar(db, "SELECT " + what + " FROM readings r JOIN streams s USING(stream_id) JOIN devices d "
                        "USING(dev_id) WHERE d.name = '" + device + "' AND " + where);
}

struct PushStack {
  TempDir dir;
  Lake lake{dir.path()};
  int ingest_port = free_port();
  std::unique_ptr<Gateway> gw;

  PushStack() {
    write_file(dir / "token", "push-token\n");
    lake.start();
    GatewaySettings gs;
    gs.lake_port = lake.port();
    gs.ingest_port = ingest_port;
    gs.extra = "[[adapters]]\nkind = \"http_push\"\nid = \"airrohr\"\nhttp_path = \"/ingest/sensor-community\"\n"
               "[[adapters]]\nkind = \"http_push\"\nid = \"gw-json\"\nhttp_path = \"/ingest/json\"\nformat = \"json\"\n"
               "http_token_file = \"" + (dir / "token").string() + "\"\ndevice_field = \"devEUI\"\ntime_field = \"time\"\n";
    gw = std::make_unique<Gateway>(dir.path(), gs);
    gw->start();
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(ingest_port) + path; }
};

// The vector's own headers (Authorization: Basic included: a route without a token ignores it),
// minus those curl sets itself.
std::vector<std::string> headers_of(const http_push_test::Request& r) {
  std::vector<std::string> h;
  for (const auto& [k, v] : r.headers)
    if (k != "host" && k != "content-length" && k != "connection") h.push_back(k + ": " + v);
  return h;
}

}  // namespace

TEST_CASE("http_push e2e: an airRohr custom API push is stored before the 200", "[http_push][integration]") {
  PushStack s;
  auto req = http_push_test::parse_request(vector_text("sensor_community/feinstaub_bridge_custom_api_post.http"));
  auto r = http_request("POST", s.url("/ingest/sensor-community"), req.body, headers_of(req));
  REQUIRE(r.status == 200);
  CHECK(r.body == R"({"accepted":8})");
  const auto db = s.gw->db();
  CHECK(sql(db, "esp8266-3394227", "count(*)") == "8");
  CHECK(sql(db, "esp8266-3394227", "r.value || ' ' || s.unit", "s.metric = 'SDS_P1'") == "4.3 ug/m3");
  CHECK(sql(db, "esp8266-3394227", "r.value", "s.metric = 'samples'") == "670215");
  // no timestamp in the body: the receive time, flagged (kTimeFromGateway = bit 0)
  CHECK(sql(db, "esp8266-3394227", "min(r.quality & 1)") == "1");

  // the same node's bare body (no X-Sensor) lands on the same device
  auto bare = vector_text("sensor_community/feinstaub_bridge_sample_post.json");
  CHECK(http_request("POST", s.url("/ingest/sensor-community"), bare, {"Content-Type: application/json"}).status == 200);
  CHECK(sql(db, "esp8266-3394227", "count(*)") == "16");

  auto other = http_push_test::parse_request(vector_text("sensor_community/airrohr_prometheus_exporter_custom_api_post.http"));
  auto r2 = http_request("POST", s.url("/ingest/sensor-community"), other.body, headers_of(other));
  REQUIRE(r2.status == 200);
  CHECK(r2.body == R"({"accepted":9})");
  CHECK(sql(db, "esp8266-12331981", "r.value || ' ' || s.unit", "s.metric = 'BME280_pressure'") == "100613.25 Pa");
}

TEST_CASE("http_push e2e: bad bodies get 400 with the reason and media types 415", "[http_push][integration]") {
  PushStack s;
  auto osm = vector_text("sensor_community/opensensemap_luftdaten_NRZ-2018-121C.json");
  auto r = http_request("POST", s.url("/ingest/sensor-community"), osm, {"Content-Type: application/json"});
  CHECK(r.status == 400);
  CHECK(r.body.find("http_push.no_device") != std::string::npos);
  CHECK(r.body.find(R"("accepted":0)") != std::string::npos);
  // rejected payloads are kept best-effort by the store's writer, after the answer
  CHECK(wait_until([&] { return sql_scalar(s.gw->db(), "SELECT count(*) FROM rejected_payloads WHERE adapter = 'airrohr'") == "1"; }));
  // with the header airRohr sends, the same body is fine
  auto ok = http_request("POST", s.url("/ingest/sensor-community"), osm,
                         {"Content-Type: application/json", "X-Sensor: esp8266-15000042"});
  CHECK(ok.status == 200);
  CHECK(ok.body == R"({"accepted":8})");
  auto text = http_request("POST", s.url("/ingest/sensor-community"), osm, {"Content-Type: text/plain"});
  CHECK(text.status == 415);
}

TEST_CASE("http_push e2e: a generic JSON route with a bearer token", "[http_push][integration]") {
  PushStack s;
  auto body = vector_text("generic_json/tb_milesight_gateway_http_em310udl.json");
  auto no_token = http_request("POST", s.url("/ingest/json"), body, {"Content-Type: application/json"});
  CHECK(no_token.status == 401);
  auto r = http_request("POST", s.url("/ingest/json"), body,
                        {"Content-Type: application/json", "Authorization: Bearer push-token"});
  REQUIRE(r.status == 200);
  CHECK(r.body == R"({"accepted":19})");
  CHECK(sql(s.gw->db(), "24e1641092176759", "r.value", "s.metric = 'rxInfo.0.rssi'") == "-57");
}
