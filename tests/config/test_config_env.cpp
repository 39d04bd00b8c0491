// ${ENV} substitution: the pure expander, and its errors at the string's position.
#include <cstdlib>
#include <map>

#include <catch2/catch.hpp>

#include "config/checks.hpp"
#include "config_test_util.hpp"

using cg::config::checks::expand_env;
using cg::test::config_errors;
using cg::test::joined;

namespace {
cg::config::checks::EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string expand_ok(std::string_view in, const cg::config::checks::EnvLookup& env) {
  std::vector<std::string> errors;
  auto out = expand_env(in, env, errors);
  INFO(joined(errors));
  REQUIRE(out);
  REQUIRE(errors.empty());
  return *out;
}
}  // namespace

TEST_CASE("expand_env: variables, defaults and escapes") {
  auto env = fake_env({{"HOST", "lake.example"}, {"EMPTY", ""}, {"_X1", "x"}});
  CHECK(expand_ok("plain text", env) == "plain text");
  CHECK(expand_ok("https://${HOST}/v1", env) == "https://lake.example/v1");
  CHECK(expand_ok("${HOST}${_X1}", env) == "lake.examplex");
  CHECK(expand_ok("${MISSING:-/etc/citygate}/tok", env) == "/etc/citygate/tok");
  CHECK(expand_ok("${HOST:-other}", env) == "lake.example");
  CHECK(expand_ok("${EMPTY:-fallback}", env) == "fallback");  // like the shell's :-
  CHECK(expand_ok("${EMPTY}", env).empty());
  CHECK(expand_ok("${MISSING:-}", env).empty());
  CHECK(expand_ok("price: $$5, $${HOST}", env) == "price: $5, ${HOST}");
  CHECK(expand_ok("a lone $ stays", env) == "a lone $ stays");
  CHECK(expand_ok("trailing $", env) == "trailing $");
}

TEST_CASE("expand_env: errors") {
  auto env = fake_env({});
  std::vector<std::string> errors;
  CHECK_FALSE(expand_env("${NOPE}", env, errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == "environment variable 'NOPE' is not set (write '${NOPE:-default}' to give a default)");

  errors.clear();
  CHECK_FALSE(expand_env("${A} and ${B}", env, errors));
  CHECK(errors.size() == 2);  // every unset variable is reported

  errors.clear();
  CHECK_FALSE(expand_env("x${OPEN", env, errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == "unterminated '${' in 'x${OPEN' (write '$$' for a literal '$')");

  errors.clear();
  CHECK_FALSE(expand_env("${1ABC}", env, errors));
  CHECK_FALSE(expand_env("${A-B}", env, errors));
  CHECK_FALSE(expand_env("${}", env, errors));
  REQUIRE(errors.size() == 3);
  CHECK(errors[0] == "invalid environment variable name '1ABC' in '${1ABC}'");
}

TEST_CASE("${ENV} in a config: substituted in every string, errors at the string") {
  ::setenv("CG_TEST_LAKE_HOST", "lake.test", 1);
  ::setenv("CG_TEST_GW", "gw-env", 1);
  ::unsetenv("CG_TEST_UNSET");
  auto c = cg::test::must_load(R"([gateway]
id = "${CG_TEST_GW}"
[[uplink.sinks]]
kind = "http"
id = "lake"
url = "https://${CG_TEST_LAKE_HOST}/v1/batches"
bearer_token_file = "${CG_TEST_UNSET:-/etc/citygate/credentials}/lake-token"
[[adapters]]
kind = "mqtt_json"
id = "m"
broker = "b"
topics = ["${CG_TEST_GW}/{device}"]
[[brokers]]
id = "b"
url = "tcp://${CG_TEST_LAKE_HOST}:1883"
[[devices]]
id = "d"
tags = { host = "${CG_TEST_LAKE_HOST}", cost = "$$5" }
)");
  CHECK(c.gateway_id == "gw-env");
  CHECK(c.uplink.sinks.at(0).url == "https://lake.test/v1/batches");
  CHECK(c.uplink.sinks.at(0).bearer_token_file == "/etc/citygate/credentials/lake-token");
  CHECK(c.adapters.at(0).settings.get_list("topics") == std::vector<std::string>{"gw-env/{device}"});
  CHECK(c.brokers.at(0).url == "tcp://lake.test:1883");
  CHECK(c.brokers.at(0).client_id == "citygate-gw-env");
  CHECK(c.devices.at(0).tags == std::vector<std::pair<std::string, std::string>>{{"cost", "$5"}, {"host", "lake.test"}});

  auto e = config_errors("[gateway]\nid = \"gw-1\"\n[[uplink.sinks]]\nkind = \"http\"\nid = \"l\"\n"
                         "url = \"https://${CG_TEST_UNSET}/x\"\n");
  INFO(joined(e));
  // Only the substitution error: the URL check does not pile on the unexpanded text.
  REQUIRE(e.size() == 1);
  CHECK(e[0] == "t.toml:6:7: environment variable 'CG_TEST_UNSET' is not set (write '${CG_TEST_UNSET:-default}' "
                "to give a default)");
  ::unsetenv("CG_TEST_LAKE_HOST");
  ::unsetenv("CG_TEST_GW");
}
