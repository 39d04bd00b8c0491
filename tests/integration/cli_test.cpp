// The CLI as an operator uses it: exit codes and messages.
#include <sys/wait.h>

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
  CHECK(run_cli({"check-config", "--config", std::string(CITYGATE_SOURCE_DIR) + "/firmware-config/citygate.toml"},
                dir / "c.log") == 0);
  INFO(read_file(dir / "c.log"));
  // the demo's relative paths (store, Modbus profiles) are meant from the repository root, as
  // make demo runs it
  Process p({"/bin/sh", "-c",
             std::string("cd '") + CITYGATE_SOURCE_DIR + "' && exec '" + CITYGATE_BIN +
                 "' check-config --config firmware-config/demo.toml"},
            dir / "d.log");
  CHECK(p.wait(30000) == 0);
  INFO(read_file(dir / "d.log"));
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

namespace {
// Runs citygate with stdout and stderr kept apart (decode's contract: stdout is only JSON lines).
int run_split(const std::string& args, const std::filesystem::path& out, const std::filesystem::path& err) {
  int st = std::system((std::string(CITYGATE_BIN) + " " + args + " > " + out.string() + " 2> " + err.string()).c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
}  // namespace

TEST_CASE("decode prints one JSON line per reading and exits 0/65/64/66", "[cli][decode]") {
  TempDir dir;
  write_file(dir / "ok.json", R"({"temp":21.5,"count":3,"ts":"2024-05-01T12:00:00.123456Z"})");
  write_file(dir / "bad.json", "{\"temp\":");
  auto out = dir / "out", err = dir / "err";
  CHECK(run_split("decode --kind mqtt_json --topic city/a/aq-9/telemetry " + (dir / "ok.json").string(), out, err) == 0);
  auto text = read_file(out);
  CHECK(text ==
        "{\"device\":\"city/a/aq-9/telemetry\",\"metric\":\"temp\",\"value\":21.5,\"unit\":\"\",\"observed_at\":\"2024-05-01T12:00:00.123Z\"}\n"
        "{\"device\":\"city/a/aq-9/telemetry\",\"metric\":\"count\",\"value\":3,\"unit\":\"\",\"observed_at\":\"2024-05-01T12:00:00.123Z\"}\n");
  CHECK(read_file(err).empty());

  // several files are one session in order; the valid ones are still printed when one is bad
  CHECK(run_split("decode --kind mqtt_json --now 2025-01-02T03:04:05Z " + (dir / "bad.json").string() + " " +
                      (dir / "ok.json").string(),
                  out, err) == 65);
  CHECK(read_file(out).find("\"metric\":\"temp\"") != std::string::npos);
  CHECK(read_file(err).find("json") != std::string::npos);

  CHECK(run_split("decode --kind mqtt_json " + (dir / "missing.json").string(), out, err) == 66);
  CHECK(run_split("decode --kind no_such_kind " + (dir / "ok.json").string(), out, err) == 64);
  CHECK(run_split("decode --kind mqtt_json --now yesterday " + (dir / "ok.json").string(), out, err) == 64);
  CHECK(run_split("decode " + (dir / "ok.json").string(), out, err) == 64);  // --kind is required

  // a file holding a whole HTTP request: headers are read, the body decoded
  write_file(dir / "req.http", "POST /ingest HTTP/1.1\r\nHost: gw\r\nContent-Length: 9\r\n\r\n{\"v\":1.5}");
  CHECK(run_split("decode --kind mqtt_json --now 2025-01-02T03:04:05Z " + (dir / "req.http").string(), out, err) == 0);
  CHECK(read_file(out).find("\"metric\":\"v\",\"value\":1.5,\"unit\":\"\",\"observed_at\":\"2025-01-02T03:04:05.000Z\"") !=
        std::string::npos);
}

TEST_CASE("describe-adapters lists every adapter's keys from the validating tables", "[cli]") {
  TempDir dir;
  CHECK(run_split("describe-adapters --format json", dir / "out", dir / "err") == 0);
  auto j = read_file(dir / "out");
  CHECK(j.rfind("[{\"kind\":\"simulated\"", 0) == 0);
  CHECK(j.find("{\"name\":\"broker\",\"type\":\"string\",\"default\":null,\"required\":true,") != std::string::npos);
  CHECK(j.find("{\"name\":\"qos\",\"type\":\"integer\",\"default\":1,\"required\":false,") != std::string::npos);
  CHECK(run_split("describe-adapters --format md", dir / "out", dir / "err") == 0);
  CHECK(read_file(dir / "out").find("## `mqtt_json`") != std::string::npos);
  CHECK(run_split("describe-adapters --format xml", dir / "out", dir / "err") == 64);
}
