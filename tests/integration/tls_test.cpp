// MQTT ingest over TLS with a client certificate (mTLS), against a real mosquitto TLS listener with
// certificates made by openssl for the test; and a broker whose certificate does not name the host
// is refused (verification of chain and host name is on by default).
#include <catch2/catch.hpp>

#include "harness.hpp"
#include "support/mqtt_pub.hpp"

using namespace cg::test;
using namespace std::chrono_literals;

namespace {

void openssl(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  Process p(argv, log);
  if (p.wait(30000) != 0) throw std::runtime_error("openssl failed: " + p.log());
}

// A CA, a server certificate for `server_name` (as IP or DNS SAN) and a client certificate.
void make_pki(const std::filesystem::path& d, const std::string& san) {
  auto f = [&](const char* n) { return (d / n).string(); };
  auto log = d / "openssl.log";
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
           "/CN=citygate test CA", "-keyout", f("ca.key"), "-out", f("ca.pem")},
          log);
  openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=broker", "-keyout",
           f("server.key"), "-out", f("server.csr")},
          log);
  write_file(d / "server.ext", "subjectAltName=" + san + "\n");
  openssl({"x509", "-req", "-in", f("server.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial",
           "-days", "2", "-extfile", f("server.ext"), "-out", f("server.pem")},
          log);
  openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=citygate-it",
           "-keyout", f("client.key"), "-out", f("client.csr")},
          log);
  openssl({"x509", "-req", "-in", f("client.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial",
           "-days", "2", "-out", f("client.pem")},
          log);
}

std::string tls_listener(const std::filesystem::path& d, int port) {
  return "listener " + std::to_string(port) + " 127.0.0.1\ncafile " + (d / "ca.pem").string() + "\ncertfile " +
         (d / "server.pem").string() + "\nkeyfile " + (d / "server.key").string() +
         "\nrequire_certificate true\nuse_identity_as_username true\n";
}

std::string tls_keys(const std::filesystem::path& d) {
  return "ca_file = \"" + (d / "ca.pem").string() + "\"\ncert_file = \"" + (d / "client.pem").string() +
         "\"\nkey_file = \"" + (d / "client.key").string() + "\"\n";
}

}  // namespace

TEST_CASE("MQTT over TLS with a client certificate: messages are ingested", "[tls]") {
  TempDir dir;
  make_pki(dir.path(), "IP:127.0.0.1");
  int tls_port = free_port();
  Mosquitto broker(dir / "mosquitto", 0, tls_listener(dir.path(), tls_port));
  REQUIRE(wait_port_open(tls_port));
  Lake lake(dir.path());
  lake.start();
  GatewaySettings gs;
  gs.lake_port = lake.port();
  gs.broker_url = "ssl://127.0.0.1:" + std::to_string(tls_port);
  gs.broker_extra = tls_keys(dir.path());
  Gateway gw(dir.path(), gs);
  gw.start();  // waits for the subscription: the TLS handshake (both ways) succeeded
  // publish on the broker's plain listener: the gateway receives it over its TLS session
  MqttPublisher pub(broker.url(), "tls-pub");
  REQUIRE(pub.publish("city/air/aq-tls/telemetry", R"({"pm2_5": 7.5})"));
  CHECK(wait_until([&] {
    return sql_scalar(gw.db(), "SELECT count(*) FROM devices WHERE name = 'aq-tls'") == "1";
  }));
}

TEST_CASE("MQTT over TLS: a broker certificate for another host is refused", "[tls]") {
  TempDir dir;
  make_pki(dir.path(), "DNS:broker.elsewhere.example");
  int tls_port = free_port();
  Mosquitto broker(dir / "mosquitto", 0, tls_listener(dir.path(), tls_port));
  REQUIRE(wait_port_open(tls_port));
  GatewaySettings gs;
  gs.lake_port = free_port();
  gs.http_port = free_port();
  gs.broker_url = "ssl://127.0.0.1:" + std::to_string(tls_port);
  gs.broker_extra = tls_keys(dir.path());
  write_file(dir / "gw.toml", gateway_toml(dir.path(), gs));
  Process gw({CITYGATE_BIN, "run", "--config", (dir / "gw.toml").string()}, dir / "gateway.log");
  // the gateway refuses the certificate and says so, once, then keeps retrying quietly
  bool refused = wait_until([&] { return gw.log().find("connect to ssl://") != std::string::npos; }, 20s);
  INFO(broker.process().log());
  INFO(gw.log());
  CHECK(refused);
  CHECK(gw.running());
  CHECK(gw.log().find("' connected (") == std::string::npos);
}
