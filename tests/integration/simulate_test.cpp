// `citygate simulate` against the real gateway: each format arrives through its real transport
// (mosquitto, the ingest listener, UDP) and decodes into the devices the simulator named.
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace cg::test;

namespace {

int simulate(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<std::string> argv{CITYGATE_BIN, "simulate"};
  argv.insert(argv.end(), args.begin(), args.end());
  Process p(argv, log);
  return p.wait(60000);
}

std::string devices_of(const std::filesystem::path& db, const std::string& adapter) {
  return sql_scalar(db, "SELECT group_concat(name, ' ') FROM (SELECT name FROM devices WHERE adapter = '" + adapter +
                            "' ORDER BY name)");
}

}  // namespace

TEST_CASE("simulate: every format reaches the gateway through its transport", "[simulate]") {
  TempDir dir;
  Mosquitto broker(dir / "mosquitto");
  Lake lake(dir.path());
  lake.start();
  int ingest = free_port(), udp = free_port();
  GatewaySettings gs;
  gs.lake_port = lake.port();
  gs.ingest_port = ingest;
  gs.broker_url = broker.url();  // also runs mqtt_json "street" on city/+/{device}/telemetry
  gs.extra = "[[adapters]]\nkind = \"lorawan_ttn\"\nid = \"ttn\"\nbroker = \"local\"\n"
             "[[adapters]]\nkind = \"lorawan_chirpstack\"\nid = \"cs\"\nhttp_path = \"/ingest/cs\"\n"
             "[[adapters]]\nkind = \"senml\"\nid = \"senml\"\nhttp_path = \"/ingest/senml\"\n"
             "[[adapters]]\nkind = \"http_push\"\nid = \"airrohr\"\nhttp_path = \"/ingest/airrohr\"\n"
             "[[adapters]]\nkind = \"influx_line\"\nid = \"lp\"\nudp_listen = \"127.0.0.1:" + std::to_string(udp) + "\"\n";
  Gateway gw(dir.path(), gs);
  gw.start();
  const std::string http = "http://127.0.0.1:" + std::to_string(ingest);

  // 3 devices, 12 messages each way: every message is acknowledged (MQTT PUBACK / HTTP 2xx)
  const std::vector<std::string> common = {"--devices", "3", "--rate", "200", "--duration", "0.06"};
  auto run = [&](std::vector<std::string> a, const std::string& name) {
    a.insert(a.end(), common.begin(), common.end());
    int rc = simulate(a, dir / ("sim-" + name + ".log"));
    INFO(read_file(dir / ("sim-" + name + ".log")));
    CHECK(rc == 0);
  };
  run({"--kind", "mqtt_json", "--target", broker.url()}, "mqtt");
  run({"--kind", "lorawan_ttn", "--target", broker.url()}, "ttn");
  run({"--kind", "lorawan_chirpstack", "--target", http + "/ingest/cs"}, "cs");
  run({"--kind", "senml", "--target", http + "/ingest/senml"}, "senml");
  run({"--kind", "http_push", "--target", http + "/ingest/airrohr"}, "airrohr");
  run({"--kind", "influx_line", "--target", "udp://127.0.0.1:" + std::to_string(udp)}, "lp");

  const auto db = gw.db();
  CHECK(wait_until([&] { return devices_of(db, "street") == "mqtt-aq-001 mqtt-meter-003 mqtt-traffic-002"; }));
  CHECK(wait_until([&] { return devices_of(db, "ttn") == "70b3d57ed0050000 70b3d57ed0050001 70b3d57ed0050002"; }));
  CHECK(wait_until([&] { return devices_of(db, "cs") == "24e1641092170000 24e1641092170001 24e1641092170002"; }));
  CHECK(wait_until([&] {
    return devices_of(db, "senml") == "urn:dev:sim:senml-aq-001 urn:dev:sim:senml-meter-003 urn:dev:sim:senml-traffic-002";
  }));
  CHECK(wait_until([&] { return devices_of(db, "airrohr") == "esp8266-3300000 esp8266-3307919 esp8266-3315838"; }));
  CHECK(wait_until([&] { return devices_of(db, "lp") == "lp-aq-001 lp-meter-003 lp-traffic-002"; }));
  // nothing was refused on the way in
  CHECK(sql_scalar(db, "SELECT count(*) FROM rejected_payloads") == "0");
  // units and values made it through the encodings: the air-quality device's PM2.5 over SenML
  CHECK(sql_scalar(db, "SELECT s.unit FROM streams s JOIN devices d USING(dev_id) WHERE d.name = "
                       "'urn:dev:sim:senml-aq-001' AND s.metric = 'pm2_5'") == "ug/m3");
}

TEST_CASE("simulate: usage errors and an unreachable target have their exit codes", "[simulate]") {
  TempDir dir;
  CHECK(simulate({"--kind", "nonsense", "--target", "tcp://127.0.0.1:1"}, dir / "a.log") == 64);
  CHECK(simulate({"--kind", "http_push", "--target", "tcp://127.0.0.1:1"}, dir / "b.log") == 64);
  CHECK(simulate({"--kind", "mqtt_json", "--target", "tcp://127.0.0.1:" + std::to_string(free_port()), "--duration", "1"},
                 dir / "c.log") == 69);
}
