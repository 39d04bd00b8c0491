// The CLI as an operator uses it: exit codes and messages.
#include <catch2/catch.hpp>

#include "integration/harness.hpp"

using namespace cg::test;

namespace {
int run_cli(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<std::string> argv{CITYGATE_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  Process p(argv, log);
  return p.wait(20000);
}
}  // namespace

TEST_CASE("citygate --version and usage errors", "[cli]") {
  TempDir dir;
  CHECK(run_cli({"--version"}, dir / "v.log") == 0);
  CHECK(read_file(dir / "v.log").rfind("citygate ", 0) == 0);
  CHECK(run_cli({"no-such-command"}, dir / "u.log") == 64);
  CHECK(run_cli({"run", "--no-such-flag"}, dir / "u2.log") == 64);
  CHECK(run_cli({"lake", "--listen", "nonsense", "--dir", (dir / "l").string()}, dir / "u3.log") == 64);
}

TEST_CASE("check-config accepts the shipped configs", "[cli]") {
  TempDir dir;
  for (const char* f : {"firmware-config/citygate.toml", "firmware-config/demo.toml"}) {
    INFO(f << ": " << read_file(dir / "c.log"));
    CHECK(run_cli({"check-config", "--config", std::string(CITYGATE_SOURCE_DIR) + "/" + f}, dir / "c.log") == 0);
  }
}

TEST_CASE("check-config on a broken file exits 78 naming file, line and column of every error", "[cli]") {
  TempDir dir;
  auto cfg = dir / "broken.toml";
  write_file(cfg,
             "[gateway]\n"
             "id = \"gw\"\n"
             "colour = \"blue\"\n"          // line 3: unknown key
             "[store]\n"
             "sync_interval_ms = \"fast\"\n"  // line 5: wrong type
             "[[adapters]]\n"
             "kind = \"no_such_adapter\"\n"   // line 7: unknown kind
             "id = \"a\"\n");
  CHECK(run_cli({"check-config", "--config", cfg.string()}, dir / "out.log") == 78);
  auto out = read_file(dir / "out.log");
  INFO(out);
  CHECK(out.find(cfg.string() + ":3:") != std::string::npos);
  CHECK(out.find(cfg.string() + ":5:") != std::string::npos);
  CHECK(out.find(cfg.string() + ":7:") != std::string::npos);

  auto syntax = dir / "syntax.toml";
  write_file(syntax, "[gateway]\nid = \"gw\"\nthis is not toml\n");
  CHECK(run_cli({"check-config", "--config", syntax.string()}, dir / "out2.log") == 78);
  CHECK(read_file(dir / "out2.log").find(syntax.string() + ":3:") != std::string::npos);
}

TEST_CASE("run with a broken config exits 78 before touching anything", "[cli]") {
  TempDir dir;
  auto cfg = dir / "broken.toml";
  write_file(cfg, "[gateway]\nid = \"gw\"\n[store]\npath = \"" + (dir / "x.db").string() + "\"\nbogus = 1\n");
  CHECK(run_cli({"run", "--config", cfg.string()}, dir / "out.log") == 78);
  CHECK_FALSE(std::filesystem::exists(dir / "x.db"));
}
