// Every kind of error names file:line:col, and all of them are reported in one run.
#include <catch2/catch.hpp>

#include "config_test_util.hpp"

using cg::test::config_errors;
using cg::test::joined;

namespace {
// One error expected: returns it.
std::string only_error(std::string_view text) {
  auto e = config_errors(text);
  INFO(joined(e));
  REQUIRE(e.size() == 1);
  return e[0];
}
}  // namespace

TEST_CASE("syntax error: exactly one error with line and column") {
  auto e = config_errors("[gateway]\nid = \"gw-1\"\n[store]\npath = = \"x\"\nbogus key\n");
  REQUIRE(e.size() == 1);
  CHECK(e[0].starts_with("t.toml:4:8: "));
}

TEST_CASE("syntax error: duplicate key") {
  auto e = config_errors("[gateway]\nid = \"a\"\nid = \"b\"\n");
  REQUIRE(e.size() == 1);
  CHECK(e[0].starts_with("t.toml:3:"));
  CHECK(e[0].find("id") != std::string::npos);
}

TEST_CASE("unknown keys, with a suggestion when close") {
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[store]\npth = \"x\"\n") ==
        "t.toml:4:1: unknown key 'pth' in [store] (did you mean 'path'?)");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[store]\n  colour = \"x\"\n") ==
        "t.toml:4:3: unknown key 'colour' in [store]");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\nsync_interval = 5\n") ==
        "t.toml:3:1: unknown key 'sync_interval' in [gateway]");
}

TEST_CASE("unknown top-level tables and keys") {
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[stor]\npath = \"x\"\n") ==
        "t.toml:3:2: unknown section [stor] (did you mean [store]?)");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[[sinks]]\nkind = \"http\"\n") ==
        "t.toml:3:3: unknown section [[sinks]]");
  CHECK(only_error("verbose = true\n[gateway]\nid = \"gw-1\"\n") == "t.toml:1:1: unknown top-level key 'verbose'");
}

TEST_CASE("wrong types name the value's position") {
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[store]\nsync_interval_ms = \"100\"\n") ==
        "t.toml:4:20: 'sync_interval_ms' in [store] must be an integer, not a string");
  CHECK(only_error("[gateway]\nid = 7\n") == "t.toml:2:6: 'id' in [gateway] must be a string, not an integer");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[[uplink.sinks]]\nkind = \"http\"\nid = \"l\"\nurl = \"http://l\"\n"
                   "enabled = \"yes\"\n") ==
        "t.toml:7:11: 'enabled' in [[uplink.sinks]] 'l' must be a boolean (true or false), not a string");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[store]\nsync_interval_ms = 1.5\n") ==
        "t.toml:4:20: 'sync_interval_ms' in [store] must be an integer, not a floating-point number");
}

TEST_CASE("sections of the wrong shape") {
  CHECK(only_error("store = 5\n[gateway]\nid = \"gw-1\"\n") == "t.toml:1:9: 'store' must be a table ([store]), not an integer");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[adapters]\nkind = \"simulated\"\n") ==
        "t.toml:3:1: 'adapters' must be an array of tables: write [[adapters]] sections, not a [table] section");
}

TEST_CASE("missing required keys point at their table, or the file when the table is absent") {
  CHECK(only_error("[gateway]\nlog_level = \"info\"\n") == "t.toml:1:1: missing required key 'id' in [gateway]");
  CHECK(only_error("[store]\npath = \"x\"\n") == "t.toml: missing required key 'id' in [gateway]");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n\n[[brokers]]\nid = \"b\"\n") ==
        "t.toml:4:1: missing required key 'url' in [[brokers]] 'b'");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[[brokers]]\nurl = \"tcp://h\"\n") ==
        "t.toml:3:1: missing required key 'id' in [[brokers]] #1");
}

TEST_CASE("ranges and enumerations") {
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[store]\nsync_interval_ms = 10001\n") ==
        "t.toml:4:20: 'sync_interval_ms' in [store] must be in the range 1 .. 10000, got 10001");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[uplink]\nbatch_max_rows = 0\n") ==
        "t.toml:4:18: 'batch_max_rows' in [uplink] must be in the range 1 .. 100000, got 0");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\nlog_level = \"verbose\"\n") ==
        "t.toml:3:13: 'log_level' in [gateway] must be one of trace, debug, info, warn, error; got 'verbose'");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\nunknown_devices = \"drop\"\n") ==
        "t.toml:3:19: 'unknown_devices' in [gateway] must be one of accept, reject; got 'drop'");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[[uplink.sinks]]\nkind = \"http\"\nid = \"l\"\nurl = \"http://l\"\n"
                   "compression = \"brotli\"\n") ==
        "t.toml:7:15: 'compression' in [[uplink.sinks]] 'l' must be one of none, gzip, zstd, lz4, snappy; got 'brotli'");
  // lz4 and snappy are Kafka's: an HTTP sink says so
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[[uplink.sinks]]\nkind = \"http\"\nid = \"l\"\nurl = \"http://l\"\n"
                   "compression = \"lz4\"\n") ==
        "t.toml:7:15: 'compression' in [[uplink.sinks]] 'l' must be none, gzip or zstd for http");
}

TEST_CASE("ids, listen addresses and URLs") {
  CHECK(only_error("[gateway]\nid = \"\"\n") == "t.toml:2:6: 'id' in [gateway] must be 1 to 64 characters long, got 0");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[http]\nlisten = \"8080\"\n") ==
        "t.toml:4:10: 'listen' in [http] is not a valid listen address: '8080' is not HOST:PORT (missing ':PORT')");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[http]\nlisten = \"::1:80\"\n") ==
        "t.toml:4:10: 'listen' in [http] is not a valid listen address: '::1:80': an IPv6 address must be in "
        "brackets, e.g. [::1]:8080");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[http]\nlisten = \"0.0.0.0:65536\"\n") ==
        "t.toml:4:10: 'listen' in [http] is not a valid listen address: '0.0.0.0:65536': port must be a number "
        "from 0 to 65535");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[[uplink.sinks]]\nkind = \"http\"\nid = \"l\"\nurl = \"ftp://l/x\"\n") ==
        "t.toml:6:7: 'url' in [[uplink.sinks]] 'l' is not a valid URL: URL scheme 'ftp' is not allowed here "
        "(allowed: http, https)");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[[brokers]]\nid = \"b\"\nurl = \"https://broker\"\n") ==
        "t.toml:5:7: 'url' in [[brokers]] 'b' is not a valid broker URL: URL scheme 'https' is not allowed here "
        "(allowed: tcp, ssl, mqtt, mqtts)");
}

TEST_CASE("sink kinds: http, mqtt and kafka, each with its own keys") {
  const char* base = "[gateway]\nid = \"gw-1\"\n[[uplink.sinks]]\nid = \"k\"\n";
  CHECK(only_error(std::string(base) + "kind = \"s3\"\n") ==
        "t.toml:5:8: unknown sink kind 's3' (available: http, mqtt, kafka)");
  // a key of another kind is an error, not silently ignored
  CHECK(only_error(std::string(base) + "kind = \"kafka\"\nbrokers = [\"k1:9092\"]\nurl = \"http://l\"\n") ==
        "t.toml:7:7: 'url' in [[uplink.sinks]] 'k' does not apply to sink kind 'kafka'");
  CHECK(only_error(std::string(base) + "kind = \"kafka\"\n") == "t.toml:3:1: [[uplink.sinks]] 'k': sink kind 'kafka' needs 'brokers'");
  CHECK(only_error(std::string(base) + "kind = \"mqtt\"\nurl = \"http://l\"\n") ==
        "t.toml:6:7: 'url' in [[uplink.sinks]] 'k' is not a valid broker URL: URL scheme 'http' is not allowed here "
        "(allowed: tcp, ssl, mqtt, mqtts)");
  CHECK(only_error(std::string(base) + "kind = \"http\"\nurl = \"http://l/v1/batches\"\ntopic = \"x\"\n") ==
        "t.toml:7:9: 'topic' in [[uplink.sinks]] 'k' does not apply to sink kind 'http'");
  CHECK(only_error(std::string(base) + "kind = \"mqtt\"\nurl = \"tcp://b:1883\"\ncert_file = \"c.pem\"\n") ==
        "t.toml:3:1: [[uplink.sinks]] 'k': 'cert_file' and 'key_file' go together (mTLS needs both)");
}

TEST_CASE("adapter instances are validated against their kind's key table") {
  const char* head = "[gateway]\nid = \"gw-1\"\n[[brokers]]\nid = \"local\"\nurl = \"tcp://127.0.0.1:1883\"\n";
  SECTION("unknown kind lists the known kinds") {
    auto e = only_error(std::string(head) + "[[adapters]]\nkind = \"mqtt_jsn\"\nid = \"a\"\nwhatever = 1\n");
    CHECK(e.starts_with("t.toml:7:8: unknown adapter kind 'mqtt_jsn' in [[adapters]] 'a' (did you mean 'mqtt_json'?) "
                        "(known kinds: "));
    CHECK(e.find("simulated") != std::string::npos);
  }
  SECTION("missing kind") {
    auto e = only_error(std::string(head) + "[[adapters]]\nid = \"a\"\n");
    CHECK(e.starts_with("t.toml:6:1: missing required key 'kind' in [[adapters]] 'a' (known kinds: "));
  }
  SECTION("unknown key of the kind") {
    CHECK(only_error(std::string(head) +
                     "[[adapters]]\nkind = \"mqtt_json\"\nid = \"a\"\nbroker = \"local\"\ntopics = [\"t/{device}\"]\n"
                     "qox = 1\n") == "t.toml:11:1: unknown key 'qox' in [[adapters]] 'a' (did you mean 'qos'?)");
  }
  SECTION("wrong type of the kind's key, inside an array") {
    CHECK(only_error(std::string(head) +
                     "[[adapters]]\nkind = \"mqtt_json\"\nid = \"a\"\nbroker = \"local\"\ntopics = [\"t/{device}\", 5]\n") ==
          "t.toml:10:25: 'topics' in [[adapters]] 'a' must be an array of strings; element 2 is an integer");
  }
  SECTION("missing required key of the kind") {
    CHECK(only_error(std::string(head) + "[[adapters]]\nkind = \"mqtt_json\"\nid = \"a\"\ntopics = [\"t/{device}\"]\n") ==
          "t.toml:6:1: missing required key 'broker' in [[adapters]] 'a'");
  }
  SECTION("broker must name a configured broker") {
    CHECK(only_error(std::string(head) +
                     "[[adapters]]\nkind = \"mqtt_json\"\nid = \"a\"\nbroker = \"remote\"\ntopics = [\"t/{device}\"]\n") ==
          "t.toml:9:10: 'broker' in [[adapters]] 'a' names broker 'remote', which is not configured (configured: local)");
    CHECK(only_error("[gateway]\nid = \"gw-1\"\n[[adapters]]\nkind = \"mqtt_json\"\nid = \"a\"\nbroker = \"x\"\n"
                     "topics = [\"t/{device}\"]\n") ==
          "t.toml:6:10: 'broker' in [[adapters]] 'a' names broker 'x', which is not configured (no [[brokers]] are "
          "configured)");
  }
  SECTION("the adapter's own cross-key checks are reported at the instance") {
    auto e = only_error("[gateway]\nid = \"gw-1\"\n[[adapters]]\nkind = \"simulated\"\nid = \"sim\"\ndevices = 0\n");
    CHECK(e.starts_with("t.toml:3:1: [[adapters]] 'sim': "));
  }
}

TEST_CASE("devices: adapter reference, location and tags") {
  const char* head = "[gateway]\nid = \"gw-1\"\n[[adapters]]\nkind = \"simulated\"\nid = \"sim\"\n";
  CHECK(only_error(std::string(head) + "[[devices]]\nid = \"d\"\nadapter = \"simm\"\n") ==
        "t.toml:8:11: 'adapter' in [[devices]] 'd' names adapter instance 'simm', which is not configured "
        "(configured: sim)");
  CHECK(only_error(std::string(head) + "[[devices]]\nid = \"d\"\nlocation = { lat = 91, lon = 0 }\n") ==
        "t.toml:8:20: 'lat' in [devices.location] must be in the range -90 .. 90, got 91");
  CHECK(only_error(std::string(head) + "[[devices]]\nid = \"d\"\nlocation = { lat = 1, lon = -180.5 }\n") ==
        "t.toml:8:29: 'lon' in [devices.location] must be in the range -180 .. 180, got -180.5");
  auto e = config_errors(std::string(head) + "[[devices]]\nid = \"d\"\nlocation = { lat = 1, lng = 2 }\n");
  CHECK(e == std::vector<std::string>{"t.toml:8:12: missing required key 'lon' in [devices.location]",
                                      "t.toml:8:23: unknown key 'lng' in [devices.location]"});
  CHECK(only_error(std::string(head) + "[[devices]]\nid = \"d\"\ntags = { a = \"x\", b = 2 }\n") ==
        "t.toml:8:23: 'tags' in [[devices]] 'd' must be an inline table of strings; 'b' is an integer");
  CHECK(only_error(std::string(head) + "[[devices]]\nid = \"d\"\n[devices.tags]\na = \"x\"\n") ==
        "t.toml:8:1: 'tags' in [[devices]] 'd' must be an inline table of strings, e.g. { key = \"value\" }, not a "
        "[table] section");
  CHECK(only_error(std::string(head) + "[[devices]]\nid = \"d/1\"\n") ==
        "t.toml:7:6: 'id' in [[devices]] 'd/1' may contain only letters, digits and '.', '_', ':', '-'; got 'd/1'");
}

TEST_CASE("ids must be unique within adapters, sinks, brokers and devices") {
  auto e = config_errors(R"([gateway]
id = "gw-1"
[[uplink.sinks]]
kind = "http"
id = "lake"
url = "http://a"
[[uplink.sinks]]
kind = "http"
id = "lake"
url = "http://b"
[[brokers]]
id = "b"
url = "tcp://a"
[[brokers]]
id = "b"
url = "tcp://b"
[[adapters]]
kind = "simulated"
id = "sim"
[[adapters]]
kind = "simulated"
id = "sim"
[[devices]]
id = "d"
[[devices]]
id = "d"
)");
  INFO(joined(e));
  REQUIRE(e.size() == 4);
  CHECK(e[0] == "t.toml:9:6: duplicate sink id 'lake' (first defined at t.toml:5:6)");
  CHECK(e[1] == "t.toml:15:6: duplicate broker id 'b' (first defined at t.toml:12:6)");
  CHECK(e[2] == "t.toml:22:6: duplicate adapter id 'sim' (first defined at t.toml:19:6)");
  CHECK(e[3] == "t.toml:26:6: duplicate device id 'd' (first defined at t.toml:24:6)");
}

TEST_CASE("cross-key checks within a section") {
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[uplink]\nbackoff_initial_ms = 5000\nbackoff_max_ms = 1000\n") ==
        "t.toml:4:22: 'backoff_initial_ms' in [uplink] (5000) must not exceed 'backoff_max_ms' (1000)");
  CHECK(only_error("[gateway]\nid = \"gw-1\"\n[[uplink.sinks]]\nkind = \"http\"\nid = \"l\"\nurl = \"http://l\"\n"
                   "connect_timeout_ms = 100\ntotal_timeout_ms = 50\n") ==
        "t.toml:8:20: 'total_timeout_ms' in [[uplink.sinks]] 'l' (50) must not be less than 'connect_timeout_ms' (100)");
}

TEST_CASE("several errors in one file are all listed, in file order") {
  auto e = config_errors(R"([gateway]
id = "gw 1"
log_level = "loud"
[store]
sync_interval_ms = 0
pth = "x"
[http]
listen = "nowhere"
[[uplink.sinks]]
kind = "pigeon"
id = "k"
url = "http://k"
[[devices]]
id = "d"
adapter = "none"
location = { lat = 100, lon = 0 }
[frobnicate]
)");
  INFO(joined(e));
  REQUIRE(e.size() == 9);
  CHECK(e[0].starts_with("t.toml:2:6: 'id' in [gateway]"));
  CHECK(e[1].starts_with("t.toml:3:13: 'log_level' in [gateway]"));
  CHECK(e[2].starts_with("t.toml:5:20: 'sync_interval_ms' in [store]"));
  CHECK(e[3].starts_with("t.toml:6:1: unknown key 'pth' in [store]"));
  CHECK(e[4].starts_with("t.toml:8:10: 'listen' in [http]"));
  CHECK(e[5].starts_with("t.toml:10:8: unknown sink kind 'pigeon'"));
  CHECK(e[6].starts_with("t.toml:15:11: 'adapter' in [[devices]] 'd'"));
  CHECK(e[7].starts_with("t.toml:16:20: 'lat' in [devices.location]"));
  CHECK(e[8] == "t.toml:17:2: unknown section [frobnicate]");
}
