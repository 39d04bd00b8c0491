// Valid configurations: the shipped files, defaults, and how values reach GatewayConfig.
#include <cstdlib>
#include <sstream>

#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "config_test_util.hpp"
#include "support/process.hpp"

using namespace cg;
using namespace cg::config;
using cg::test::must_load;

namespace {
const std::filesystem::path kSource = CITYGATE_SOURCE_DIR;
}

TEST_CASE("shipped citygate.toml loads and passes check_config") {
  ::unsetenv("CREDENTIALS_DIRECTORY");
  auto file = kSource / "firmware-config/citygate.toml";
  auto r = load_config(file);
  INFO(cg::test::joined([&] {
    std::vector<std::string> v;
    for (auto& e : r.errors) v.push_back(e.to_string());
    return v;
  }()));
  REQUIRE(r.config);
  const auto& c = *r.config;
  CHECK(c.gateway_id == "gw-001");
  CHECK(c.store.path == "/var/lib/citygate/citygate.db");
  CHECK(c.http.public_listen == ListenAddress{"127.0.0.1", 8080});
  REQUIRE(c.uplink.sinks.size() == 1);
  CHECK(c.uplink.sinks[0].kind == "http");
  CHECK(c.uplink.sinks[0].url.starts_with("https://"));
  CHECK(c.uplink.sinks[0].bearer_token_file == "/etc/citygate/credentials/lake-token");
  REQUIRE(c.brokers.size() == 1);
  CHECK(c.brokers[0].url == "tcp://127.0.0.1:1883");
  CHECK(c.brokers[0].client_id == "citygate-gw-001");
  REQUIRE(c.adapters.size() == 1);
  CHECK(c.adapters[0].kind == "mqtt_json");
  CHECK(c.adapters[0].settings.get_string("broker") == "local");
  CHECK(c.adapters[0].settings.get_list("topics") == std::vector<std::string>{"city/+/{device}/telemetry"});
  CHECK(c.adapters[0].settings.get_int("qos") == 1);
  REQUIRE(c.devices.size() == 1);
  CHECK(c.devices[0].adapter == "street-sensors");
  CHECK(c.devices[0].lat.has_value());

  std::ostringstream out, err;
  CHECK(check_config(file, out, err) == 0);
  CHECK(out.str() == "ok: " + file.string() + " (1 adapters, 1 devices, 1 sinks)\n");
  CHECK(err.str().empty());
}

TEST_CASE("shipped citygate.toml takes the token directory from systemd's CREDENTIALS_DIRECTORY") {
  ::setenv("CREDENTIALS_DIRECTORY", "/run/credentials/citygate.service", 1);
  auto r = load_config(kSource / "firmware-config/citygate.toml");
  ::unsetenv("CREDENTIALS_DIRECTORY");
  REQUIRE(r.config);
  CHECK(r.config->uplink.sinks[0].bearer_token_file == "/run/credentials/citygate.service/lake-token");
}

TEST_CASE("shipped demo.toml loads and passes check_config") {
  // The demo runs from the repository root (its relative paths say so; make demo does that).
  struct Chdir {
    std::filesystem::path old = std::filesystem::current_path();
    explicit Chdir(const std::filesystem::path& to) { std::filesystem::current_path(to); }
    ~Chdir() { std::filesystem::current_path(old); }
  } in_root(kSource);
  auto file = kSource / "firmware-config/demo.toml";
  auto r = load_config(file);
  for (const auto& e : r.errors) INFO(e.to_string());
  REQUIRE(r.errors.empty());
  REQUIRE(r.config);
  const auto& c = *r.config;
  CHECK(c.gateway_id == "demo-gw");
  CHECK(c.store.path == "build/demo/citygate.db");
  CHECK(c.http.public_listen == ListenAddress{"127.0.0.1", 8080});
  CHECK(c.http.ingest_listen == ListenAddress{"127.0.0.1", 8081});
  REQUIRE(c.uplink.sinks.size() == 1);
  CHECK(c.uplink.sinks[0].url == "http://127.0.0.1:8099/v1/batches");
  CHECK(c.uplink.sinks[0].compression == "zstd");
  CHECK(c.uplink.batch_max_age == std::chrono::milliseconds(1000));
  REQUIRE(c.brokers.size() == 1);
  CHECK(c.brokers[0].url == "tcp://127.0.0.1:18830");
  // every transport of the demo: in-process, MQTT (3 kinds), HTTP push (2), UDP, Modbus TCP
  std::vector<std::string> kinds;
  for (const auto& a : c.adapters) kinds.push_back(a.kind);
  CHECK(kinds == std::vector<std::string>{"simulated", "mqtt_json", "lorawan_ttn", "sparkplug_b", "senml", "http_push",
                                          "influx_line", "modbus_tcp"});

  std::ostringstream out, err;
  CHECK(check_config(file, out, err) == 0);
  CHECK(out.str() == "ok: " + file.string() + " (8 adapters, 1 devices, 1 sinks)\n");
}

TEST_CASE("a minimal config gets every default, equal to the structs' own defaults") {
  // The key tables are the source of truth for defaults; the struct initialisers in config.hpp
  // must say the same, or code that default-constructs a config would disagree with a file.
  auto c = must_load("[gateway]\nid = \"gw-1\"\n");
  CHECK(c.gateway_id == "gw-1");
  GatewayConfig d;
  CHECK(c.log_level == d.log_level);
  CHECK(c.unknown_devices == d.unknown_devices);
  CHECK(c.store.path == d.store.path);
  CHECK(c.store.sync_interval == d.store.sync_interval);
  CHECK(c.store.queue_max_rows == d.store.queue_max_rows);
  CHECK(c.store.rejected_max == d.store.rejected_max);
  CHECK(c.http.public_listen == d.http.public_listen);
  CHECK(c.http.body_max == d.http.body_max);
  CHECK(c.http.header_max == d.http.header_max);
  CHECK(c.http.read_timeout == d.http.read_timeout);
  CHECK(c.http.max_connections == d.http.max_connections);
  CHECK(c.uplink.batch_max_rows == d.uplink.batch_max_rows);
  CHECK(c.uplink.batch_max_age == d.uplink.batch_max_age);
  CHECK(c.uplink.backoff_initial == d.uplink.backoff_initial);
  CHECK(c.uplink.backoff_max == d.uplink.backoff_max);
  CHECK(c.uplink.sinks.empty());  // a gateway may run without upstream
  CHECK(c.brokers.empty());
  CHECK(c.adapters.empty());
  CHECK(c.devices.empty());
}

TEST_CASE("sink, broker and device defaults match their structs") {
  auto c = must_load(R"(
[gateway]
id = "gw-1"
[[uplink.sinks]]
kind = "http"
id = "lake"
url = "http://lake/v1"
[[brokers]]
id = "b"
url = "mqtt://broker:1883"
[[devices]]
id = "d-1"
)");
  REQUIRE(c.uplink.sinks.size() == 1);
  SinkConfig ds;
  const auto& s = c.uplink.sinks[0];
  CHECK(s.enabled == ds.enabled);
  CHECK(s.compression == ds.compression);
  CHECK(s.connect_timeout == ds.connect_timeout);
  CHECK(s.total_timeout == ds.total_timeout);
  CHECK(s.bearer_token_file.empty());
  REQUIRE(c.brokers.size() == 1);
  BrokerConfig db;
  CHECK(c.brokers[0].keepalive == db.keepalive);
  CHECK(c.brokers[0].client_id == "citygate-gw-1");
  CHECK(c.brokers[0].username.empty());
  REQUIRE(c.devices.size() == 1);
  CHECK_FALSE(c.devices[0].lat.has_value());
  CHECK_FALSE(c.devices[0].lon.has_value());
  CHECK(c.devices[0].tags.empty());
}

TEST_CASE("values of every section reach GatewayConfig") {
  auto c = must_load(R"(
[gateway]
id = "gw.north_7"
log_level = "debug"
unknown_devices = "reject"
[store]
path = "data/x.db"
sync_interval_ms = 250
queue_max_rows = 1000
rejected_max = 0
[http]
listen = "[::1]:0"
body_max_bytes = 4096
header_max_bytes = 2048
read_timeout_ms = 500
max_connections = 8
[uplink]
batch_max_rows = 10
batch_max_age_ms = 20
backoff_initial_ms = 30
backoff_max_ms = 40
[[uplink.sinks]]
kind = "http"
id = "a"
enabled = false
url = "https://[2001:db8::1]:8443/v1/batches"
compression = "gzip"
connect_timeout_ms = 100
total_timeout_ms = 200
bearer_token_file = "/run/tok"
[[brokers]]
id = "b1"
url = "ssl://broker.example:8883"
client_id = "me"
username = "u"
password_file = "/run/pw"
keepalive_s = 60
[[adapters]]
kind = "mqtt_json"
id = "m"
broker = "b1"
topics = ["a/{device}", "b/+/{device}"]
qos = 0
[[adapters]]
kind = "simulated"
id = "sim"
[[devices]]
id = "70:B3:D5:7E:D0:01"
name = "Noise"
adapter = "m"
profile = "noise-v1"
location = { lat = -33.9, lon = 151 }
zone = "north"
tags = { z = "last", a = "first" }
)");
  CHECK(c.gateway_id == "gw.north_7");
  CHECK(c.log_level == "debug");
  CHECK(c.unknown_devices == "reject");
  CHECK(c.store.path == "data/x.db");
  CHECK(c.store.sync_interval == std::chrono::milliseconds(250));
  CHECK(c.store.queue_max_rows == 1000);
  CHECK(c.store.rejected_max == 0);
  CHECK(c.http.public_listen == ListenAddress{"::1", 0});
  CHECK(c.http.body_max == 4096);
  CHECK(c.http.header_max == 2048);
  CHECK(c.http.read_timeout == std::chrono::milliseconds(500));
  CHECK(c.http.max_connections == 8);
  CHECK(c.uplink.batch_max_rows == 10);
  CHECK(c.uplink.batch_max_age == std::chrono::milliseconds(20));
  CHECK(c.uplink.backoff_initial == std::chrono::milliseconds(30));
  CHECK(c.uplink.backoff_max == std::chrono::milliseconds(40));
  const auto& s = c.uplink.sinks.at(0);
  CHECK_FALSE(s.enabled);
  CHECK(s.compression == "gzip");
  CHECK(s.connect_timeout == std::chrono::milliseconds(100));
  CHECK(s.total_timeout == std::chrono::milliseconds(200));
  CHECK(s.bearer_token_file == "/run/tok");
  const auto& b = c.brokers.at(0);
  CHECK(b.client_id == "me");
  CHECK(b.username == "u");
  CHECK(b.password_file == "/run/pw");
  CHECK(b.keepalive == std::chrono::seconds(60));
  REQUIRE(c.adapters.size() == 2);
  CHECK(c.adapters[0].id == "m");
  CHECK(c.adapters[0].settings.get_int("qos") == 0);
  CHECK_FALSE(c.adapters[0].settings.has("kind"));  // settings hold only the kind's own keys
  CHECK_FALSE(c.adapters[0].settings.has("id"));
  CHECK(c.adapters[1].settings.get_int("devices") == 12);  // the adapter's declared default
  const auto& d = c.devices.at(0);
  CHECK(d.id == "70:B3:D5:7E:D0:01");
  CHECK(d.name == "Noise");
  CHECK(d.profile == "noise-v1");
  CHECK(d.lat == Approx(-33.9));
  CHECK(d.lon == Approx(151.0));
  CHECK(d.zone == "north");
  CHECK(d.tags == std::vector<std::pair<std::string, std::string>>{{"a", "first"}, {"z", "last"}});
}

TEST_CASE("load_config reports a missing or unreadable file without a position") {
  cg::test::TempDir dir;
  auto r = load_config(dir / "nope.toml");
  REQUIRE(r.errors.size() == 1);
  CHECK_FALSE(r.config);
  CHECK(r.errors[0].to_string() == (dir / "nope.toml").string() + ": cannot read: No such file or directory");

  auto d = load_config(dir.path());
  REQUIRE(d.errors.size() == 1);
  CHECK(d.errors[0].message == "cannot read: is a directory");
}

TEST_CASE("check_config prints errors to err and returns 78") {
  cg::test::TempDir dir;
  auto file = dir / "bad.toml";
  cg::test::write_file(file, "[gateway]\nid = \"gw 1\"\n[store]\nsync_interval_ms = 0\n");
  std::ostringstream out, err;
  CHECK(check_config(file, out, err) == 78);
  CHECK(out.str().empty());
  CHECK(err.str() == file.string() +
                         ":2:6: 'id' in [gateway] may contain only letters, digits and '.', '_', '-'; got 'gw 1'\n" +
                         file.string() + ":4:20: 'sync_interval_ms' in [store] must be in the range 1 .. 10000, got 0\n");
}

TEST_CASE("ConfigError::to_string") {
  CHECK(ConfigError{"a.toml", 3, 7, "boom"}.to_string() == "a.toml:3:7: boom");
  CHECK(ConfigError{"a.toml", 0, 0, "boom"}.to_string() == "a.toml: boom");
}
