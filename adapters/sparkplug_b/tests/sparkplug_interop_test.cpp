// Acceptance: an independent Sparkplug B edge node (Eclipse Tahu's JavaScript client, npm
// `sparkplug-client` pinned by tests/interop/package-lock.json and installed under the build tree by
// the `sparkplug_b_interop_npm_ci` fixture) drives the real gateway through a real mosquitto:
// births and data by alias land in the store under the Sparkplug names, a forced seq gap makes the
// gateway send NCMD "Node Control/Rebirth", the node answers with new births, its NDEATH takes it
// offline, and the host's retained STATE birth and will are on the broker.
#include <catch2/catch.hpp>

#include <csignal>

#include "integration/harness.hpp"

using namespace cg::test;
using namespace std::chrono_literals;

namespace {

namespace fs = std::filesystem;

const fs::path kInterop = SPARKPLUG_INTEROP_DIR;

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::string readings_where(const fs::path& db, const std::string& device, const std::string& metric,
                           const std::string& value) {
  return sql_scalar(db,
                    "SELECT count(*) FROM readings r JOIN streams s ON s.stream_id = r.stream_id JOIN devices d ON "
                    "d.dev_id = s.dev_id WHERE d.name = '" + device + "' AND s.metric = '" + metric +
                        "' AND r.value = " + value);
}

std::string unit_of(const fs::path& db, const std::string& device, const std::string& metric) {
  return sql_scalar(db, "SELECT s.unit FROM streams s JOIN devices d ON d.dev_id = s.dev_id WHERE d.name = '" + device +
                            "' AND s.metric = '" + metric + "'");
}

// The one retained message on `topic` (mosquitto_sub: an independent client).
std::string retained(const TempDir& dir, const Mosquitto& broker, const std::string& topic, const std::string& name) {
  Process sub({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(broker.port()), "-t", topic, "-C", "1", "-W",
               "10"},
              dir / name);
  if (sub.wait(15000) != 0) return "mosquitto_sub failed: " + sub.log();
  auto s = sub.log();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string timestamp_of(const std::string& state) {
  auto p = state.find("\"timestamp\":");
  return p == std::string::npos ? "" : state.substr(p + 12, state.find('}', p) - p - 12);
}

}  // namespace

TEST_CASE("sparkplug_b interop: a Tahu JavaScript edge node and a rebirth after a forced seq gap",
          "[sparkplug_b][integration]") {
  REQUIRE(fs::exists(kInterop / "node_modules" / "sparkplug-client" / "package.json"));  // the npm ci fixture
  TempDir dir;
  Mosquitto broker{dir / "mosquitto"};
  Lake lake{dir.path()};
  lake.start();
  GatewaySettings gs;
  gs.lake_port = lake.port();
  gs.broker_url = broker.url();
  gs.extra =
      "[[adapters]]\nkind = \"sparkplug_b\"\nid = \"plant\"\nbroker = \"local\"\nhost_id = \"citygate-it\"\n"
      "rebirth_min_interval_ms = 1000\n";
  Gateway gw(dir.path(), gs);
  gw.start();
  auto db = gw.db();

  // the host's STATE birth is retained on the broker
  auto online = retained(dir, broker, "spBv1.0/STATE/citygate-it", "state-online.log");
  INFO("STATE: " << online);
  CHECK(online.rfind("{\"online\":true,\"timestamp\":", 0) == 0);
  CHECK(timestamp_of(online).size() == 13);

  Process edge({NODE_BIN, (kInterop / "edge_node.js").string(), broker.url(), "it", "edge1", "sensor1"},
               dir / "edge.log");
  bool answered = wait_until([&] { return has(edge.log(), "REBIRTH_ANSWERED") || !edge.running(); }, 30s);
  INFO("edge node:\n" << edge.log());
  INFO("gateway:\n" << gw.process().log());
  REQUIRE(answered);
  REQUIRE(has(edge.log(), "REBIRTH_REQUESTED"));
  CHECK(Gateway::count_of(edge.log(), "REBIRTH_REQUESTED") == 1);  // one gap, one request

  // everything the node sent is committed, under the Sparkplug names
  REQUIRE(wait_until(
      [&] {
        return readings_where(db, "it/edge1", "temperature", "24.5") == "1" &&
               readings_where(db, "it/edge1/sensor1", "humidity", "57.5") == "1";
      },
      20s));
  CHECK(readings_where(db, "it/edge1", "temperature", "21.5") == "2");  // both NBIRTHs carry it
  CHECK(readings_where(db, "it/edge1", "temperature", "22.5") == "1");  // NDATA by alias
  CHECK(readings_where(db, "it/edge1", "temperature", "23.5") == "1");  // the message after the gap is kept
  CHECK(readings_where(db, "it/edge1", "counter", "-7") == "2");        // Int32, negative
  CHECK(readings_where(db, "it/edge1", "bdSeq", "0") == "2");
  CHECK(readings_where(db, "it/edge1", "Node Control/Rebirth", "0") == "2");
  CHECK(readings_where(db, "it/edge1/sensor1", "humidity", "55.5") == "2");   // both DBIRTHs
  CHECK(readings_where(db, "it/edge1/sensor1", "humidity", "56.25") == "1");  // DDATA by alias
  CHECK(readings_where(db, "it/edge1/sensor1", "door", "0") == "2");
  CHECK(unit_of(db, "it/edge1", "temperature") == "Cel");
  CHECK(unit_of(db, "it/edge1/sensor1", "humidity") == "%");
  CHECK(sql_scalar(db, "SELECT count(*) FROM rejected_payloads") == "0");
  CHECK(has(gw.process().log(), "asked edge node 'it/edge1' for a rebirth (seq gap"));
  CHECK(has(gw.process().log(), "edge node 'it/edge1' stale -> online (NBIRTH)"));

  // the node stops cleanly: its NDEATH (bdSeq of the current birth) takes it offline
  CHECK(edge.stop(SIGTERM, 10000) == 0);
  CHECK(wait_until([&] { return has(gw.process().log(), "edge node 'it/edge1' online -> offline (NDEATH)"); }, 10s));

  // the gateway dies: the broker publishes the STATE will, with the birth's timestamp
  gw.kill9();
  std::string offline;
  CHECK(wait_until(
      [&] {
        offline = retained(dir, broker, "spBv1.0/STATE/citygate-it", "state-offline.log");
        return offline.rfind("{\"online\":false", 0) == 0;
      },
      10s));
  CHECK(timestamp_of(offline) == timestamp_of(online));
}

TEST_CASE("sparkplug_b host STATE: a clean stop publishes offline itself (a will only fires on a lost link)",
          "[sparkplug_b][integration]") {
  TempDir dir;
  Mosquitto broker{dir / "mosquitto"};
  Lake lake{dir.path()};
  lake.start();
  GatewaySettings gs;
  gs.lake_port = lake.port();
  gs.broker_url = broker.url();
  gs.extra = "[[adapters]]\nkind = \"sparkplug_b\"\nid = \"plant\"\nbroker = \"local\"\nhost_id = \"citygate-stop\"\n";
  Gateway gw(dir.path(), gs);
  gw.start();
  std::string online;
  CHECK(wait_until(
      [&] {
        online = retained(dir, broker, "spBv1.0/STATE/citygate-stop", "on.log");
        return online.rfind("{\"online\":true", 0) == 0;
      },
      10s));
  CHECK(gw.stop() == 0);  // SIGTERM: a clean MQTT disconnect
  std::string offline = retained(dir, broker, "spBv1.0/STATE/citygate-stop", "off.log");
  CHECK(offline.rfind("{\"online\":false", 0) == 0);
  CHECK(timestamp_of(offline) == timestamp_of(online));
}
