// citygate: the composition root and CLI. The only place that knows every module.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "app/admin_cmd.hpp"
#include "app/decode_cmd.hpp"
#include "app/simulate_cmd.hpp"
#include "config/config.hpp"
#include "core/clock.hpp"
#include "http/server.hpp"
#include "lake/lake.hpp"
#include "runtime/gateway.hpp"

#ifndef CITYGATE_VERSION
#define CITYGATE_VERSION "0.0.0"
#endif

namespace {

constexpr int kExitUsage = 64;   // EX_USAGE
constexpr int kExitConfig = 78;  // EX_CONFIG: systemd does not restart-loop on it (RestartPreventExitStatus)

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("citygate");
  // Under systemd (journald captures stderr) the journal adds its own timestamps.
  if (std::getenv("JOURNAL_STREAM")) logger->set_pattern("<%l> %v");
  else logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

int cmd_run(const std::string& config_path) {
  auto loaded = cg::config::load_config(config_path);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
    return kExitConfig;
  }
  setup_logging(loaded.config->log_level);
  // Block the stop/reload signals in every thread (threads inherit the mask); the main thread
  // waits for them with sigwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  static cg::SystemClock clock;
  auto gw = cg::runtime::Gateway::create(*loaded.config, clock, CITYGATE_VERSION);
  if (!gw) {
    spdlog::error("citygate: {}", gw.error().message);
    return gw.error().disposition == cg::Disposition::fatal ? kExitConfig : 70;
  }
  return (*gw)->run_until_signal();
}

int cmd_lake(const std::string& listen, const std::string& dir, std::size_t max_body, bool faults) {
  setup_logging("info");
  signal(SIGPIPE, SIG_IGN);
  auto hp = cg::http::parse_host_port(listen);
  if (!hp) {
    std::cerr << "citygate lake: --listen: " << hp.error().message << "\n";
    return kExitUsage;
  }
  cg::lake::LakeOptions o;
  o.host = hp->first;
  o.port = hp->second;
  o.dir = dir;
  if (max_body > 0) {
    o.max_body = max_body;
    o.max_decompressed = std::max(o.max_decompressed, max_body);  // an identity body of that size passes too
  }
  o.faults_enabled = faults;
  return cg::lake::run_lake(o);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"citygate — edge gateway for smart-city sensors"};
  app.set_version_flag("--version", std::string("citygate ") + CITYGATE_VERSION);
  app.require_subcommand(1);

  std::string run_config = "/etc/citygate/citygate.toml";
  auto* run = app.add_subcommand("run", "Run the gateway");
  run->add_option("--config,-c", run_config, "Configuration file")->capture_default_str();

  std::string check_config;
  auto* check = app.add_subcommand("check-config", "Validate a configuration file (exit 0, or 78 listing every error)");
  check->add_option("--config,-c", check_config, "Configuration file")->required();

  std::string lake_listen, lake_dir;
  auto* lake = app.add_subcommand("lake", "Run the reference lake receiver");
  lake->add_option("--listen", lake_listen, "HOST:PORT to listen on")->required();
  lake->add_option("--dir", lake_dir, "Directory for the NDJSON files")->required();
  std::size_t lake_max_body = 0;
  bool lake_faults = false;
  lake->add_option("--max-body", lake_max_body, "Largest request body in bytes, 413 beyond (default 64 MiB)")
      ->check(CLI::PositiveNumber);
  lake->add_flag("--faults", lake_faults, "Enable fault injection (POST /v1/faults); for tests only");

  cg::app::DecodeArgs dec;
  auto* decode = app.add_subcommand("decode", "Decode payload files with an adapter's codec (no gateway needed)");
  decode->add_option("--kind", dec.kind, "Adapter kind (see describe-adapters)")->required();
  decode->add_option("--topic", dec.topic, "MQTT topic the payload came on");
  decode->add_option("--profile", dec.profile, "Device profile name");
  decode->add_option("--config", dec.config, "Take the settings of the first [[adapters]] of this kind from FILE");
  decode->add_option("--header", dec.headers, "HTTP header 'Name: value' (repeatable)");
  decode->add_option("--now", dec.now, "Receive time (RFC 3339) for relative and missing times");
  decode->add_option("--precision", dec.precision, "Line protocol timestamp precision: ns|us|ms|s");
  decode->add_option("files", dec.files, "Payload files in order; - for stdin")->required();

  std::string describe_format = "md";
  auto* describe = app.add_subcommand("describe-adapters", "Every adapter's configuration keys");
  describe->add_option("--format", describe_format, "md or json")->check(CLI::IsMember({"md", "json"}));
  std::string describe_kind;
  describe->add_option("--kind", describe_kind,
                       "Only this kind; with --format md just its key table (the README section)");
  auto* describe_cfg =
      app.add_subcommand("describe-config", "The configuration reference (docs/config.md's tables), as Markdown");

  cg::app::SimulateArgs sim;
  auto* simulate = app.add_subcommand("simulate", "Simulate a fleet of city devices talking to a gateway");
  simulate->add_option("--kind", sim.kind,
                       "mqtt_json, senml, sparkplug_b, lorawan_ttn, lorawan_chirpstack, influx_line, http_push, modbus_tcp")
      ->required();
  simulate->add_option("--target", sim.target,
                       "Broker URL (tcp://host:1883), HTTP URL, udp:// or tcp://HOST:PORT (influx_line), "
                       "HOST:PORT to serve on (modbus_tcp)")
      ->required();
  simulate->add_option("--devices", sim.devices, "Number of devices")->check(CLI::Range(1, 100000));
  simulate->add_option("--rate", sim.rate, "Messages per second over the fleet (default: 1 per device per second)");
  simulate->add_option("--duration", sim.duration, "Seconds to run (default: until SIGINT/SIGTERM)");
  simulate->add_option("--seed", sim.seed, "Random seed (same seed, same fleet)");
  simulate->add_option("--profile", sim.profile, "modbus_tcp: register map to serve");
  simulate->add_option("--profiles-dir", sim.profiles_dir, "modbus_tcp: where profiles live");

  cg::app::AdminArgs st_args;
  auto* status = app.add_subcommand("status", "Outbox, disk, sinks and ingest of the gateway (exit 3: not running, "
                                              "read from its store file)");
  status->add_option("--config,-c", st_args.config, "Configuration file")->capture_default_str();
  status->add_flag("--json", st_args.json, "Machine-readable output");
  cg::app::AdminArgs db_args;
  auto* dead = app.add_subcommand("dead-batches", "Batches a sink refused for good: list, show ID, replay ID");
  dead->add_option("action", db_args.action, "list | show | replay")->required()->check(CLI::IsMember({"list", "show", "replay"}));
  dead->add_option("id", db_args.id, "Dead batch id (show, replay)");
  dead->add_option("--config,-c", db_args.config, "Configuration file")->capture_default_str();
  dead->add_flag("--json", db_args.json, "Machine-readable output");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  if (*run) return cmd_run(run_config);
  if (*check) return cg::config::check_config(check_config, std::cout, std::cerr);
  if (*lake) return cmd_lake(lake_listen, lake_dir, lake_max_body, lake_faults);
  if (*decode) return cg::app::run_decode(dec);
  if (*describe) return cg::app::run_describe_adapters(describe_format, describe_kind);
  if (*simulate) return cg::app::run_simulate(sim);
  if (*status) return cg::app::run_status(st_args);
  if (*dead) {
    if (db_args.action != "list" && db_args.id <= 0) {
      std::cerr << "citygate dead-batches " << db_args.action << ": needs the dead batch ID (see 'dead-batches list')\n";
      return kExitUsage;
    }
    return cg::app::run_dead_batches(db_args);
  }
  if (*describe_cfg) {
    std::cout << cg::config::describe_config_markdown();
    return 0;
  }
  return kExitUsage;
}
