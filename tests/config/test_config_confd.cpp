// conf.d/*.toml merging: lexical order, tables merge, arrays of tables append, scalars override.
#include <catch2/catch.hpp>

#include "config_test_util.hpp"
#include "support/process.hpp"

using namespace cg::config;
using cg::test::TempDir;
using cg::test::write_file;

namespace {
std::vector<std::string> error_lines(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.to_string());
  return out;
}

constexpr const char* kMain = R"([gateway]
id = "gw-1"
log_level = "info"
[store]
path = "main.db"
[[adapters]]
kind = "simulated"
id = "sim-main"
[[devices]]
id = "d-main"
)";
}  // namespace

TEST_CASE("conf.d: tables merge key by key, later files win, arrays of tables append") {
  TempDir dir;
  write_file(dir / "citygate.toml", kMain);
  std::filesystem::create_directories(dir / "conf.d");
  // 20-* comes after 10-* regardless of creation order.
  write_file(dir / "conf.d/20-late.toml", "[gateway]\nlog_level = \"warn\"\n[[devices]]\nid = \"d-late\"\n");
  write_file(dir / "conf.d/10-early.toml", R"([gateway]
log_level = "debug"
[store]
sync_interval_ms = 50
[[adapters]]
kind = "simulated"
id = "sim-extra"
seed = 7
[[uplink.sinks]]
kind = "http"
id = "lake"
url = "http://lake/v1"
[[devices]]
id = "d-early"
)");
  write_file(dir / "conf.d/README", "not toml at all [[[");
  write_file(dir / "conf.d/30-old.toml.dpkg-old", "also ignored = = =");
  write_file(dir / "conf.d/.#40-editor.toml", "ignored = = =");

  auto r = load_config(dir / "citygate.toml");
  INFO(cg::test::joined(error_lines(r)));
  REQUIRE(r.config);
  const auto& c = *r.config;
  CHECK(c.gateway_id == "gw-1");
  CHECK(c.log_level == "warn");                      // scalar: the last file wins
  CHECK(c.store.path == "main.db");                  // untouched key of a merged table stays
  CHECK(c.store.sync_interval.count() == 50);        // new key of a merged table added
  REQUIRE(c.adapters.size() == 2);                   // arrays of tables append, in file order
  CHECK(c.adapters[0].id == "sim-main");
  CHECK(c.adapters[1].id == "sim-extra");
  CHECK(c.adapters[1].settings.get_int("seed") == 7);
  REQUIRE(c.devices.size() == 3);
  CHECK(c.devices[0].id == "d-main");
  CHECK(c.devices[1].id == "d-early");
  CHECK(c.devices[2].id == "d-late");
  REQUIRE(c.uplink.sinks.size() == 1);  // a section only a fragment has
}

TEST_CASE("conf.d: errors name the fragment they came from, with line and column") {
  TempDir dir;
  write_file(dir / "citygate.toml", kMain);
  std::filesystem::create_directories(dir / "conf.d");
  write_file(dir / "conf.d/50-devices.toml", "[[devices]]\nid = \"d-main\"\n\n[[devices]]\nid = \"d-2\"\nzome = \"x\"\n");
  auto r = load_config(dir / "citygate.toml");
  CHECK_FALSE(r.config);
  auto e = error_lines(r);
  INFO(cg::test::joined(e));
  const std::string frag = (dir / "conf.d/50-devices.toml").string();
  const std::string main = (dir / "citygate.toml").string();
  REQUIRE(e.size() == 2);
  CHECK(e[0] == frag + ":2:6: duplicate device id 'd-main' (first defined at " + main + ":10:6)");
  CHECK(e[1] == frag + ":6:1: unknown key 'zome' in [[devices]] 'd-2' (did you mean 'zone'?)");
}

TEST_CASE("conf.d: a scalar overriding a table is judged in the fragment") {
  TempDir dir;
  write_file(dir / "citygate.toml", kMain);
  std::filesystem::create_directories(dir / "conf.d");
  write_file(dir / "conf.d/a.toml", "store = \"elsewhere\"\n");
  auto r = load_config(dir / "citygate.toml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].to_string() == (dir / "conf.d/a.toml").string() + ":1:9: 'store' must be a table ([store]), not a string");
}

TEST_CASE("conf.d: a syntax error in a fragment is reported with its file, line and column") {
  TempDir dir;
  write_file(dir / "citygate.toml", kMain);
  std::filesystem::create_directories(dir / "conf.d");
  write_file(dir / "conf.d/10-ok.toml", "[gateway]\nlog_level = \"debug\"\n");
  write_file(dir / "conf.d/20-broken.toml", "[gateway]\n\nlog_level = \"debug\n");
  auto r = load_config(dir / "citygate.toml");
  CHECK_FALSE(r.config);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].file == (dir / "conf.d/20-broken.toml").string());
  CHECK(r.errors[0].line == 3);
  CHECK(r.errors[0].col > 0);
}

TEST_CASE("load_config_string does not look at conf.d") {
  auto r = load_config_string(kMain, "x.toml");
  REQUIRE(r.config);
  CHECK(r.config->adapters.size() == 1);
}
