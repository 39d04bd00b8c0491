#pragma once
// The gateway's configuration: TOML (`citygate.toml` + `conf.d/*.toml`) loaded, merged,
// `${ENV}`-substituted and validated into an immutable GatewayConfig (DESIGN §7, §8, §10.2-3).
//
// Contract
// - Loading never throws for bad input: every problem found is returned as a ConfigError that
//   names the file, line and column it came from, and the config is returned only when there is
//   none. All problems are collected in one pass (unknown keys, wrong types, missing keys, ranges,
//   references between sections), except TOML syntax errors: the parser stops at the first one,
//   so a file with a syntax error yields exactly that error.
// - Every section's keys are declared once, as data (cg::ConfigKey tables in schema.cpp); the same
//   tables drive validation, defaults and describe_config_markdown(). Adapter instances are
//   validated against their kind's key table (find_adapter(kind)->keys); an instance whose keys
//   are all valid is then built once with its descriptor's make() and discarded, so combinations
//   the adapter rejects are reported with the other errors (make() must not do I/O).
// - Values are final: defaults applied, `${ENV}` substituted, derived defaults filled in (an empty
//   broker client_id becomes "citygate-<gateway.id>"). Relative paths are kept as written; they
//   resolve against the process's working directory when used.
// - Credential files (password_file, bearer_token_file) are paths only: they are read by the
//   component that uses them, so a config can be checked on a machine without the secrets.
// - toml++ stays inside src/config: nothing here includes it.
// Thread-safety: loading reads the process environment (getenv); everything else is pure.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapter_api/config_view.hpp"

namespace cg::config {

// "HOST:PORT"; IPv6 hosts in brackets ("[::1]:8080"; host is stored without brackets). Port 0
// means "any free port" (tests).
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
  friend bool operator==(const ListenAddress&, const ListenAddress&) = default;
};

struct StoreConfig {
  std::string path = "/var/lib/citygate/citygate.db";
  std::chrono::milliseconds sync_interval{100};
  std::size_t queue_max_rows = 200000;
  std::size_t rejected_max = 10000;
  std::uint64_t disk_budget_bytes = 0;
  std::uint64_t reserve_bytes = 16ull << 20;
  std::chrono::hours retention{168};
  std::size_t backlog_threshold_rows = 50000;
  int alert_quota_pct = 20, report_quota_pct = 20, summary_quota_pct = 20;
};

struct AdminConfig {
  std::optional<ListenAddress> listen = ListenAddress{"127.0.0.1", 8090};  // nullopt: off
  std::string token_file;
};

struct HttpConfig {
  ListenAddress public_listen{"127.0.0.1", 8080};
  std::size_t body_max = 1 << 20;
  std::size_t header_max = 8192;
  std::chrono::milliseconds read_timeout{10000};
  std::size_t max_connections = 512;
  ListenAddress ingest_listen{"127.0.0.1", 8081};
  std::size_t ingest_body_max = 1 << 20;
};

struct BrokerConfig {
  std::string id;
  std::string url;
  std::string client_id;  // never empty after loading
  std::string username;
  std::string password_file;
  std::chrono::seconds keepalive{30};
  std::string ca_file, cert_file, key_file;
  bool tls_verify = true;
};

// One [[uplink.sinks]] entry; which keys apply depends on `kind` (docs/config.md).
struct SinkConfig {
  std::string kind;  // http | mqtt | kafka
  std::string id;
  bool enabled = true;
  std::size_t max_in_flight = 1;
  std::uint64_t bandwidth_bytes_per_s = 0;
  double backlog_rows_per_s = 0;
  std::string url;
  std::string compression = "zstd";
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{30000};
  std::string bearer_token_file;
  std::string proxy;
  std::string ca_file, cert_file, key_file;
  bool tls_verify = true;
  // mqtt
  std::string topic;
  std::string client_id;
  std::string username;
  std::string password_file;
  std::chrono::seconds keepalive{30};
  std::chrono::milliseconds publish_timeout{30000};
  // kafka
  std::vector<std::string> brokers;
  std::chrono::milliseconds delivery_timeout{30000};
  std::size_t queue_max_messages = 10000;
  std::size_t queue_max_kbytes = 16384;
  std::string security_protocol = "plaintext";
  std::string sasl_mechanism, sasl_username, sasl_password_file;
  std::vector<std::pair<std::string, std::string>> properties;
};

struct UplinkConfig {
  std::size_t batch_max_rows = 5000;
  std::size_t batch_max_bytes = 4u << 20;
  std::chrono::seconds status_interval{60};
  std::chrono::milliseconds batch_max_age{1000};
  std::chrono::milliseconds backoff_initial{1000};
  std::chrono::milliseconds backoff_max{60000};
  std::vector<SinkConfig> sinks;
};

// One [[adapters]] entry. `settings` holds the kind's own keys (not `kind`/`id`), validated
// against its key table, with defaults applied.
struct AdapterInstance {
  std::string kind;
  std::string id;
  ConfigView settings;      // the kind's own keys
  double rate_limit_per_s = 0;  // common keys
  double rate_burst = 0;
  std::string record_class = "telemetry";  // telemetry | alert | report
};

struct DeviceConfig {
  std::string id;
  std::string name;
  std::string adapter;  // empty, or the id of a configured adapter instance
  std::string profile;
  std::optional<double> lat, lon;  // both set or both empty
  std::string zone;
  std::vector<std::pair<std::string, std::string>> tags;  // sorted by key
};

struct GatewayConfig {
  std::string gateway_id;
  std::string log_level = "info";         // trace|debug|info|warn|error
  std::string unknown_devices = "accept";  // accept|reject
  std::size_t blocking_workers = 4;
  StoreConfig store;
  HttpConfig http;
  AdminConfig admin;
  UplinkConfig uplink;
  std::vector<BrokerConfig> brokers;
  std::vector<AdapterInstance> adapters;
  std::vector<DeviceConfig> devices;
};

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based; 0 when the error has no position (missing file, missing section)
  int col = 0;
  std::string message;
  // "file:line:col: message", or "file: message" when line is 0.
  std::string to_string() const;
};

// `config` is set iff `errors` is empty.
struct LoadResult {
  std::optional<GatewayConfig> config;
  std::vector<ConfigError> errors;
};

// Loads `file` and merges `conf.d/*.toml` from the same directory in lexical order of file name:
// tables merge key by key, later files win for other keys, arrays of tables ([[adapters]],
// [[devices]], [[brokers]], [[uplink.sinks]]) append. Errors name the file they came from.
LoadResult load_config(const std::filesystem::path& file);

// Loads one document from memory (no conf.d); `source_name` is used as the file in errors.
LoadResult load_config_string(std::string_view toml_text, std::string_view source_name);

// `citygate check-config`: prints "ok: FILE (N adapters, M devices, K sinks)" to `out` and returns
// 0, or prints every error (one per line, file:line:col: message) to `err` and returns 78
// (EX_CONFIG, so systemd does not restart-loop on a bad config).
inline constexpr int kExitConfig = 78;
int check_config(const std::filesystem::path& file, std::ostream& out, std::ostream& err);

// Markdown reference of every section's keys (name, type, default, allowed values, doc), generated
// from the key tables. docs/config.md contains it verbatim (a test keeps them in sync).
std::string describe_config_markdown();

// The same table layout for any key table (e.g. an adapter kind's keys in its README).
std::string describe_keys_markdown(std::span<const ConfigKey> keys);

// The settings a component gets when nothing is configured: every key's default (keys without
// one are absent). Used by `citygate decode` without --config.
ConfigView default_settings(std::span<const ConfigKey> keys);

// Parses "HOST:PORT" / "[V6]:PORT". Returns nullopt and sets `why` on error.
std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string* why = nullptr);

}  // namespace cg::config
