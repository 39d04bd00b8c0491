// The reference is generated from the key tables; docs/config.md must contain it verbatim.
#include <algorithm>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "adapter_api/adapter.hpp"
#include "config/config.hpp"
#include "config/schema.hpp"
#include "config_test_util.hpp"
#include "support/process.hpp"

using namespace cg::config;

TEST_CASE("docs/config.md contains describe_config_markdown() verbatim") {
  std::string doc = cg::test::read_file(std::filesystem::path(CITYGATE_SOURCE_DIR) / "docs/config.md");
  std::string generated = describe_config_markdown();
  REQUIRE_FALSE(generated.empty());
  // On failure: paste the output of describe_config_markdown() into docs/config.md.
  CHECK(doc.find(generated) != std::string::npos);
}

TEST_CASE("the reference lists every section and key") {
  std::string md = describe_config_markdown();
  for (const auto& s : schema::sections()) {
    const auto* parent = schema::find_section(s.parent);
    std::string heading = parent && parent->array ? fmt::format("### `{}` in `[[{}]]`", s.name, parent->path)
                          : s.array        ? fmt::format("### `[[{}]]`", s.path)
                                           : fmt::format("### `[{}]`", s.path);
    CHECK(md.find(heading) != std::string::npos);
    for (const auto& k : s.keys) CHECK(md.find("| `" + std::string(k.name) + "` |") != std::string::npos);
  }
  CHECK(md.find("| `sync_interval_ms` | integer | `100` | 1 .. 10000 |") != std::string::npos);
  CHECK(md.find("`trace`, `debug`, `info`, `warn`, `error`") != std::string::npos);
}

TEST_CASE("key tables are well formed: unique names, docs, defaults of the declared type") {
  for (const auto& s : schema::sections()) {
    INFO("section " << s.path);
    auto problems = schema::check_key_table(s.keys);
    CHECK(cg::test::joined(problems).empty());
    for (const auto& r : s.rules) {
      INFO("rule for " << r.key);
      CHECK(std::any_of(s.keys.begin(), s.keys.end(), [&](const cg::ConfigKey& k) { return k.name == r.key; }));
    }
  }
  for (const auto& a : cg::adapter_registry()) {
    INFO("adapter kind " << a.kind);
    auto problems = schema::check_key_table(a.keys);
    CHECK(cg::test::joined(problems).empty());
    for (const auto& k : a.keys) CHECK((k.name != "kind" && k.name != "id"));
  }
}

TEST_CASE("describe_keys_markdown renders any key table") {
  static constexpr cg::ConfigKey keys[] = {
      {"alpha", cg::KeyType::integer, "3", false, "An | odd doc"},
      {"beta", cg::KeyType::string_list, "", true, "Needed."},
  };
  CHECK(describe_keys_markdown(keys) ==
        "| Key | Type | Default | Allowed | Description |\n"
        "|---|---|---|---|---|\n"
        "| `alpha` | integer | `3` |  | An \\| odd doc |\n"
        "| `beta` | array of strings | *required* |  | Needed. |\n");
}
