// The ingest transports end to end, through the real binary: HTTP push routes on the ingest
// listener (auth, media types, limits, rate limit, partial rejects, 2xx only after commit) and
// the UDP/TCP line protocol listeners.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace cg::test;

namespace {

std::string count_readings(const std::filesystem::path& db, const std::string& device) {
  return sql_scalar(db, "SELECT count(*) FROM readings r JOIN streams s USING(stream_id) JOIN devices d USING(dev_id) "
                        "WHERE d.name = '" + device + "'");
}

struct IngestStack {
  TempDir dir;
  Lake lake{dir.path()};
  int ingest_port = free_port();
  int udp_port = free_port();
  int tcp_port = free_port();
  std::unique_ptr<Gateway> gw;

  IngestStack() {
    write_file(dir / "token", "s3cret-token\n");
    lake.start();
    GatewaySettings gs;
    gs.lake_port = lake.port();
    gs.ingest_port = ingest_port;
    gs.extra = "[[adapters]]\nkind = \"senml\"\nid = \"senml-http\"\nhttp_path = \"/ingest/senml\"\n"
               "http_token_file = \"" + (dir / "token").string() + "\"\nmax_payload_bytes = 1024\n"
               "[[adapters]]\nkind = \"influx_line\"\nid = \"lp\"\nhttp_path = \"/write\"\n"
               "udp_listen = \"127.0.0.1:" + std::to_string(udp_port) + "\"\n"
               "tcp_listen = \"127.0.0.1:" + std::to_string(tcp_port) + "\"\nmax_payload_bytes = 4096\n"
               "[[adapters]]\nkind = \"lorawan_ttn\"\nid = \"ttn\"\nhttp_path = \"/ingest/ttn\"\n"
               "rate_limit_per_s = 0.01\nrate_burst = 2\n";
    gw = std::make_unique<Gateway>(dir.path(), gs);
    gw->start();
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(ingest_port) + path; }
};

const std::string kPack = R"([{"bn":"urn:dev:ow:10e2073a01080063:","n":"temp","u":"Cel","v":23.1},{"n":"hum","u":"%RH","v":40}])";
const std::vector<std::string> kSenmlJson = {"Content-Type: application/senml+json", "Authorization: Bearer s3cret-token"};

}  // namespace

TEST_CASE("ingest HTTP: 200 only once the readings are stored", "[ingest]") {
  IngestStack s;
  auto r = http_request("POST", s.url("/ingest/senml"), kPack, kSenmlJson);
  REQUIRE(r.status == 200);
  CHECK(r.body == R"({"accepted":2})");
  // committed and fsync'd before the answer: visible to a fresh reader at once, no waiting
  CHECK(count_readings(s.gw->db(), "urn:dev:ow:10e2073a01080063") == "2");
}

TEST_CASE("ingest HTTP: token media type and size are checked before decoding", "[ingest]") {
  IngestStack s;
  auto no_token = http_request("POST", s.url("/ingest/senml"), kPack, {"Content-Type: application/senml+json"});
  CHECK(no_token.status == 401);
  CHECK(no_token.header("www-authenticate").find("Bearer") == 0);
  auto wrong_token = http_request("POST", s.url("/ingest/senml"), kPack,
                                  {"Content-Type: application/senml+json", "Authorization: Bearer s3cret-tokem"});
  CHECK(wrong_token.status == 401);
  auto text = http_request("POST", s.url("/ingest/senml"), kPack, {"Content-Type: text/plain", kSenmlJson[1]});
  CHECK(text.status == 415);
  CHECK(text.header("accept-post").find("application/senml+json") != std::string::npos);
  CHECK(text.header("content-type") == "application/problem+json");
  auto gz = http_request("POST", s.url("/ingest/senml"), kPack, {kSenmlJson[0], kSenmlJson[1], "Content-Encoding: gzip"});
  CHECK(gz.status == 415);
  auto big = http_request("POST", s.url("/ingest/senml"), std::string(2000, ' ') + kPack, kSenmlJson);
  CHECK(big.status == 413);
  auto get = http_request("GET", s.url("/ingest/senml"));
  CHECK(get.status == 405);
  CHECK(count_readings(s.gw->db(), "urn:dev:ow:10e2073a01080063") == "0");
}

TEST_CASE("ingest HTTP: a bad body is a 400 with the reason and is kept", "[ingest]") {
  IngestStack s;
  auto bad = http_request("POST", s.url("/ingest/senml"), R"([{"bn":"x","v":1,"bver":11}])", kSenmlJson);
  CHECK(bad.status == 400);
  CHECK(bad.header("content-type") == "application/problem+json");
  CHECK(bad.body.find(R"("accepted":0)") != std::string::npos);
  auto junk = http_request("POST", s.url("/ingest/senml"), "{not json", kSenmlJson);
  CHECK(junk.status == 400);
  // rejected payloads are kept best-effort by the store's writer, after the answer
  CHECK(wait_until([&] { return sql_scalar(s.gw->db(), "SELECT count(*) FROM rejected_payloads WHERE adapter = 'senml-http'") == "2"; }));
  // and the route keeps working
  CHECK(http_request("POST", s.url("/ingest/senml"), kPack, kSenmlJson).status == 200);
}

TEST_CASE("ingest HTTP: line protocol keeps the good lines of a partly bad body", "[ingest]") {
  IngestStack s;
  auto r = http_request("POST", s.url("/write?precision=s"),
                        "air,device=lp-1 pm25=4.5 1700000000\nair,device=lp-1 pm25=oops 1700000001\n"
                        "air,device=lp-1 pm25=5.5 1700000002\n",
                        {"Content-Type: text/plain; charset=utf-8"});
  CHECK(r.status == 400);
  CHECK(r.body.find(R"("accepted":2)") != std::string::npos);
  CHECK(r.body.find("line 2") != std::string::npos);
  CHECK(count_readings(s.gw->db(), "lp-1") == "2");
  // ?precision=s was honoured: 1700000002 s, not ns
  CHECK(sql_scalar(s.gw->db(), "SELECT max(observed_ns) FROM readings") == "1700000002000000000");
}

TEST_CASE("ingest HTTP: the instance rate limit answers 429 with Retry-After", "[ingest]") {
  IngestStack s;
  const std::string up =
      R"({"end_device_ids":{"device_id":"bin-7","dev_eui":"70B3D57ED005A1B2"},"received_at":"2026-11-26T10:00:00Z",)"
      R"("uplink_message":{"f_cnt":12,"decoded_payload":{"fill_level":61}}})";
  std::vector<std::string> h = {"Content-Type: application/json"};
  CHECK(http_request("POST", s.url("/ingest/ttn"), up, h).status == 200);
  CHECK(http_request("POST", s.url("/ingest/ttn"), up, h).status == 200);
  auto third = http_request("POST", s.url("/ingest/ttn"), up, h);
  CHECK(third.status == 429);
  CHECK(std::stoi(third.header("retry-after")) >= 1);
  CHECK(count_readings(s.gw->db(), "70b3d57ed005a1b2") != "0");
}

TEST_CASE("ingest UDP and TCP: line protocol listeners commit what they receive", "[ingest]") {
  IngestStack s;
  // UDP: one datagram, two lines
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(u >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(s.udp_port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string dg = "noise,device=udp-1 dba=55.5\nnoise,device=udp-1 dba=56.5\n";
  // UDP may drop on a busy box: resend until stored (the store keeps every copy it gets)
  bool got = wait_until([&] {
    sendto(u, dg.data(), dg.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    return std::stoi(count_readings(s.gw->db(), "udp-1")) >= 2;
  });
  close(u);
  CHECK(got);

  // TCP: 2000 lines written in odd-sized pieces that cut lines apart, one over-long line, and a
  // final line without its newline
  std::string body;
  for (int i = 0; i < 2000; ++i) {
    body += "traffic,device=tcp-1 count=" + std::to_string(i) + "i " + std::to_string(1700000000000000000LL + i) + "\n";
    if (i == 1000) body += "traffic,device=tcp-1 note=\"" + std::string(5000, 'x') + "\"\n";
  }
  body += "traffic,device=tcp-1 count=2000i 1700000000000002000";
  int t = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(t >= 0);
  a.sin_port = htons(static_cast<std::uint16_t>(s.tcp_port));
  REQUIRE(connect(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  for (std::size_t off = 0; off < body.size();) {
    std::size_t n = std::min<std::size_t>(777, body.size() - off);
    auto w = write(t, body.data() + off, n);
    REQUIRE(w > 0);
    off += static_cast<std::size_t>(w);
  }
  close(t);
  CHECK(wait_until([&] { return count_readings(s.gw->db(), "tcp-1") == "2001"; }));
  CHECK(wait_until([&] {
    return sql_scalar(s.gw->db(), "SELECT count(*) FROM rejected_payloads WHERE adapter = 'lp' AND reason LIKE 'line_too_long%'") == "1";
  }));
}

TEST_CASE("ingest: a registered device's readings carry its zone profile and tags to the lake", "[ingest]") {
  TempDir dir;
  Lake lake(dir.path());
  lake.start();
  int ingest_port = free_port();
  GatewaySettings gs;
  gs.lake_port = lake.port();
  gs.ingest_port = ingest_port;
  gs.extra = "[[adapters]]\nkind = \"influx_line\"\nid = \"lp\"\nhttp_path = \"/write\"\n"
             "[[devices]]\nid = \"kerb-7\"\nadapter = \"lp\"\nprofile = \"parking_v2\"\nzone = \"harbour\"\n"
             "tags = { street = \"Quay\", owner = \"parking\" }\n"
             "[[devices]]\nid = \"other-adapter\"\nadapter = \"someone-else\"\n";
  // `adapter` must name a configured instance: give the second device one that exists but differs
  gs.extra += "[[adapters]]\nkind = \"senml\"\nid = \"someone-else\"\nhttp_path = \"/senml\"\n";
  Gateway gw(dir.path(), gs);
  gw.start();
  auto r = http_request("POST", "http://127.0.0.1:" + std::to_string(ingest_port) + "/write",
                        "parking,device=kerb-7,owner=device-says occupied=true 1790000000000000000\n"
                        "parking,device=other-adapter occupied=false 1790000000000000000\n"
                        "parking,device=stray occupied=true 1790000000000000000\n");
  REQUIRE(r.status == 200);
  // the lake's NDJSON shows what the gateway bound: read the raw lines
  auto line_of = [&](const std::string& device) {
    for (const auto& l : read_lake(lake.data()))
      if (l.device == device) return read_file(l.file);
    return std::string();
  };
  auto row = [](const std::string& file, const std::string& device) {
    auto p = file.find("\"device\":\"" + device + "\"");
    auto e = file.find('\n', p);
    // a line still being written has no newline yet
    return p == std::string::npos || e == std::string::npos ? std::string() : file.substr(p, e - p);
  };
  std::string kerb, other, stray;
  REQUIRE(wait_until([&] {
    kerb = line_of("kerb-7");
    other = line_of("other-adapter");
    stray = line_of("stray");
    return !row(kerb, "kerb-7").empty() && !row(other, "other-adapter").empty() && !row(stray, "stray").empty();
  }));
  std::string k = row(kerb, "kerb-7");
  INFO(k);
  // registry tags join the reading; the device's own tag of the same key wins
  CHECK(k.find(R"("tags":{"device":"kerb-7","owner":"device-says","profile":"parking_v2","street":"Quay",)"
               R"("zone":"harbour"})") != std::string::npos);
  CHECK(k.find(R"("quality":0)") != std::string::npos);
  // listed for another adapter, and not listed: both accepted as unregistered (flag 4), counted
  CHECK(row(other, "other-adapter").find(R"("quality":4)") != std::string::npos);
  CHECK(row(stray, "stray").find(R"("quality":4)") != std::string::npos);
}
