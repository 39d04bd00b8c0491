#include "config/schema.hpp"

#include <algorithm>
#include <array>
#include <set>

#include <fmt/format.h>

#include "config/config.hpp"
#include "config/toml_convert.hpp"

namespace cg::config::schema {

namespace {

using KT = KeyType;

// ---- [gateway] --------------------------------------------------------------------------------
constexpr ConfigKey kGatewayKeys[] = {
    {"id", KT::string, "", true,
     "Unique name of this gateway: sent with every upstream batch, default MQTT client id suffix."},
    {"log_level", KT::string, R"("info")", false, "Least severe log level written."},
    {"unknown_devices", KT::string, R"("accept")", false,
     "Readings from devices not listed in [[devices]] (or listed for another adapter): `accept` (flagged "
     "unregistered) or `reject`. Counted either way."},
    {"blocking_workers", KT::integer, "4", false,
     "Threads for protocol libraries that only block (Modbus). A silent device holds one for at most its timeout."},
};
constexpr Rule kGatewayRules[] = {
    {.key = "id", .check = Check::id},
    {.key = "log_level", .one_of = "trace|debug|info|warn|error"},
    {.key = "unknown_devices", .one_of = "accept|reject"},
    {.key = "blocking_workers", .ranged = true, .min = 1, .max = 64},
};

// ---- [store] ----------------------------------------------------------------------------------
constexpr ConfigKey kStoreKeys[] = {
    {"path", KT::string, R"("/var/lib/citygate/citygate.db")", false,
     "SQLite database file (created if missing). A relative path resolves against the working directory."},
    {"sync_interval_ms", KT::integer, "100", false,
     "Longest time a committed reading that nobody waits on (TCP/UDP line protocol, polls, MQTT QoS 0) waits for fsync: their power-cut loss window. HTTP and MQTT QoS 1 are acknowledged only after their own fsync."},
    {"queue_max_rows", KT::integer, "200000", false,
     "Capacity of the ingest queue in readings; when it is full adapters are throttled."},
    {"rejected_max", KT::integer, "10000", false,
     "Undecodable payloads kept in rejected_payloads for inspection (oldest dropped first)."},
    {"disk_budget_mb", KT::integer, "0", false,
     "Largest size of the database. Lossless below it; above 90% of it forwarded readings go first, then the "
     "oldest unforwarded telemetry is summarised into per-minute aggregates and evicted (gap records), then "
     "summary records, reports, alerts; status records never. 0: no budget (the filesystem is the limit)."},
    {"reserve_mb", KT::integer, "16", false,
     "Space held in a file beside the database and released when the disk fills, so deletes and checkpoints "
     "still work. Ingest pauses (HTTP 503, no PUBACK) until space returns."},
    {"retention_hours", KT::integer, "168", false,
     "How long readings that every sink has acknowledged stay for local queries (persisted monotonic clock)."},
    {"alert_quota_pct", KT::integer, "20", false,
     "Share of the disk budget alerts may fill before they are evicted ahead of telemetry (an alert storm)."},
    {"report_quota_pct", KT::integer, "20", false, "The same for citizen reports."},
    {"summary_quota_pct", KT::integer, "20", false, "The same for gap and aggregate records."},
    {"backlog_threshold_rows", KT::integer, "50000", false,
     "Unsent telemetry beyond this after an outage becomes the backlog class: drained at each sink's "
     "backlog_rows_per_s, after live data."},
};
constexpr Rule kStoreRules[] = {
    {.key = "disk_budget_mb", .ranged = true, .min = 0, .max = 16'000'000},
    {.key = "reserve_mb", .ranged = true, .min = 0, .max = 65536},
    {.key = "retention_hours", .ranged = true, .min = 0, .max = 87600},
    {.key = "backlog_threshold_rows", .ranged = true, .min = 1, .max = 1'000'000'000},
    {.key = "alert_quota_pct", .ranged = true, .min = 1, .max = 100},
    {.key = "report_quota_pct", .ranged = true, .min = 1, .max = 100},
    {.key = "summary_quota_pct", .ranged = true, .min = 1, .max = 100},
    {.key = "sync_interval_ms", .ranged = true, .min = 1, .max = 10000},
    {.key = "queue_max_rows", .ranged = true, .min = 1, .max = 10'000'000},
    {.key = "rejected_max", .ranged = true, .min = 0, .max = 10'000'000},
};

// ---- [http] -----------------------------------------------------------------------------------
constexpr ConfigKey kHttpKeys[] = {
    {"listen", KT::string, R"("127.0.0.1:8080")", false,
     "Public (citizen) API listener, HOST:PORT. Loopback by default: exposing it street-side is an "
     "explicit decision. Port 0 picks a free port."},
    {"body_max_bytes", KT::integer, "1048576", false, "Largest accepted request body."},
    {"header_max_bytes", KT::integer, "8192", false, "Largest accepted request header block."},
    {"read_timeout_ms", KT::integer, "10000", false,
     "A request must arrive completely within this time, or the connection is closed."},
    {"max_connections", KT::integer, "512", false, "Concurrent connections; more are refused."},
    {"ingest_listen", KT::string, R"("127.0.0.1:8081")", false,
     "Device-facing ingest listener (HTTP push and webhooks of the adapters that have an HTTP path), "
     "HOST:PORT. Bound only when some adapter registers a route. Loopback by default: set the device-LAN "
     "address to take pushes from devices. Port 0 picks a free port."},
    {"ingest_body_max_bytes", KT::integer, "1048576", false,
     "Largest ingest request body the listener reads (each route may set a lower limit)."},
};
constexpr Rule kHttpRules[] = {
    {.key = "listen", .check = Check::listen},
    {.key = "body_max_bytes", .ranged = true, .min = 1, .max = 64 * 1024 * 1024},
    {.key = "header_max_bytes", .ranged = true, .min = 1024, .max = 1024 * 1024},
    {.key = "read_timeout_ms", .ranged = true, .min = 100, .max = 600'000},
    {.key = "max_connections", .ranged = true, .min = 1, .max = 65535},
    {.key = "ingest_listen", .check = Check::listen},
    {.key = "ingest_body_max_bytes", .ranged = true, .min = 1, .max = 64 * 1024 * 1024},
};

// ---- [uplink] ---------------------------------------------------------------------------------
constexpr ConfigKey kUplinkKeys[] = {
    {"batch_max_rows", KT::integer, "5000", false, "A batch is closed when it holds this many readings..."},
    {"batch_max_age_ms", KT::integer, "1000", false, "...or when its oldest reading has waited this long."},
    {"backoff_initial_ms", KT::integer, "1000", false,
     "First retry delay after a failed delivery; doubles per failure (full jitter)."},
    {"backoff_max_ms", KT::integer, "60000", false,
     "Cap of the retry delay. Retries never stop; must be >= backoff_initial_ms."},
    {"batch_max_bytes", KT::integer, "4194304", false,
     "...or when its readings reach about this many bytes (estimated before encoding)."},
    {"status_interval_s", KT::integer, "60", false,
     "A status record (version, uptime, backlog, disk, last ingest per adapter) is sent this often, in its "
     "own never-evicted class: the lake can tell a dead gateway from quiet sensors. 0: never."},
};
constexpr Rule kUplinkRules[] = {
    {.key = "batch_max_bytes", .ranged = true, .min = 1024, .max = 256 * 1024 * 1024},
    {.key = "status_interval_s", .ranged = true, .min = 0, .max = 86400},
    {.key = "batch_max_rows", .ranged = true, .min = 1, .max = 100'000},
    {.key = "batch_max_age_ms", .ranged = true, .min = 1, .max = 3'600'000},
    {.key = "backoff_initial_ms", .ranged = true, .min = 1, .max = 3'600'000},
    {.key = "backoff_max_ms", .ranged = true, .min = 1, .max = 86'400'000},
};

// ---- [[uplink.sinks]] -------------------------------------------------------------------------
constexpr ConfigKey kSinkKeys[] = {
    {"kind", KT::string, "", true, "Sink type: `http` (POST to a lake), `mqtt` (MQTT v5 broker), `kafka`."},
    {"id", KT::string, "", true, "Unique name of this sink (logs, metrics, per-sink settlement)."},
    {"enabled", KT::boolean, "true", false,
     "A disabled sink receives nothing and does not hold back outbox cleanup."},
    {"max_in_flight", KT::integer, "1", false,
     "Batches sent at once (each on its own connection). 1 keeps strict batch_seq order per class."},
    {"bandwidth_bytes_per_s", KT::integer, "0", false, "Cap of the encoded bytes sent per second; 0: unlimited."},
    {"backlog_rows_per_s", KT::number, "0", false,
     "How fast the backlog left by an outage drains, in readings per second; live data goes first either way. "
     "0: as fast as the sink takes it."},
    {"url", KT::string, R"("")", false,
     "http: where batches are POSTed (`http(s)://`). mqtt: the broker (`tcp://`, `ssl://`, `mqtts://`)."},
    {"compression", KT::string, R"("zstd")", false,
     "http: Content-Encoding of the body (`none`, `gzip`, `zstd`). kafka: compression.type (also `lz4`, `snappy`)."},
    {"connect_timeout_ms", KT::integer, "5000", false, "http, mqtt: time allowed to connect (TCP + TLS)."},
    {"total_timeout_ms", KT::integer, "30000", false,
     "http: time allowed for a whole request; must be >= connect_timeout_ms."},
    {"bearer_token_file", KT::string, R"("")", false,
     "http: file whose content is sent as `Authorization: Bearer ...`; empty: no token. Read when the sink starts."},
    {"proxy", KT::string, R"("")", false, "http: proxy URL (libcurl syntax); empty: none (proxy environment variables are ignored)."},
    {"ca_file", KT::string, R"("")", false, "http, mqtt: CA bundle to verify the server; empty: the system's."},
    {"cert_file", KT::string, R"("")", false, "http, mqtt: client certificate (PEM) for mTLS; goes with key_file."},
    {"key_file", KT::string, R"("")", false, "http, mqtt: client private key (PEM) for mTLS."},
    {"tls_verify", KT::boolean, "true", false,
     "http, mqtt: verify the server certificate and host name. Turning it off is for lab use only."},
    {"topic", KT::string, R"("")", false,
     "mqtt: topic to publish to (default `citygate/{gateway}/batches`); kafka: topic (default `citygate.batches`). "
     "`{gateway}` and `{class}` are replaced."},
    {"client_id", KT::string, R"("")", false, "mqtt: client id; empty: `citygate-sink-<gateway>-<id>`."},
    {"username", KT::string, R"("")", false, "mqtt: user name."},
    {"password_file", KT::string, R"("")", false, "mqtt: file holding the password."},
    {"keepalive_s", KT::integer, "30", false, "mqtt: keep-alive interval."},
    {"publish_timeout_ms", KT::integer, "30000", false, "mqtt: time to wait for the PUBACK of a batch."},
    {"brokers", KT::string_list, "[]", false, "kafka: bootstrap servers, `[\"host:port\", ...]`."},
    {"delivery_timeout_ms", KT::integer, "30000", false,
     "kafka: message.timeout.ms; a batch not acknowledged in time stays in the outbox and is sent again."},
    {"queue_max_messages", KT::integer, "10000", false, "kafka: bound of the producer queue (messages)."},
    {"queue_max_kbytes", KT::integer, "16384", false, "kafka: bound of the producer queue (KiB)."},
    {"security_protocol", KT::string, R"("plaintext")", false, "kafka: `plaintext`, `ssl`, `sasl_plaintext`, `sasl_ssl`."},
    {"sasl_mechanism", KT::string, R"("")", false, "kafka: e.g. `PLAIN`, `SCRAM-SHA-512`."},
    {"sasl_username", KT::string, R"("")", false, "kafka: SASL user."},
    {"sasl_password_file", KT::string, R"("")", false, "kafka: file holding the SASL password."},
    {"properties", KT::string_map, "{}", false,
     "kafka: further librdkafka properties, passed as they are (e.g. `{ \"linger.ms\" = \"50\" }`)."},
};
constexpr Rule kSinkRules[] = {
    {.key = "kind", .check = Check::sink_kind},
    {.key = "id", .check = Check::id},
    {.key = "compression", .one_of = "none|gzip|zstd|lz4|snappy"},
    {.key = "max_in_flight", .ranged = true, .min = 1, .max = 16},
    {.key = "bandwidth_bytes_per_s", .ranged = true, .min = 0, .max = 1e12},
    {.key = "backlog_rows_per_s", .ranged = true, .min = 0, .max = 1e9},
    {.key = "connect_timeout_ms", .ranged = true, .min = 1, .max = 600'000},
    {.key = "total_timeout_ms", .ranged = true, .min = 1, .max = 3'600'000},
    {.key = "keepalive_s", .ranged = true, .min = 1, .max = 3600},
    {.key = "publish_timeout_ms", .ranged = true, .min = 1, .max = 3'600'000},
    {.key = "delivery_timeout_ms", .ranged = true, .min = 1, .max = 3'600'000},
    {.key = "queue_max_messages", .ranged = true, .min = 1, .max = 10'000'000},
    {.key = "queue_max_kbytes", .ranged = true, .min = 1, .max = 2'097'151},
    {.key = "security_protocol", .one_of = "plaintext|ssl|sasl_plaintext|sasl_ssl"},
};

// ---- [admin] ----------------------------------------------------------------------------------
constexpr ConfigKey kAdminKeys[] = {
    {"listen", KT::string, R"("127.0.0.1:8090")", false,
     "Admin listener (`citygate status`, `citygate dead-batches`), HOST:PORT. Loopback by default; empty: off."},
    {"token_file", KT::string, R"("")", false,
     "File holding the bearer token admin requests must carry; empty: none (keep the listener on loopback)."},
};

// ---- [[brokers]] ------------------------------------------------------------------------------
constexpr ConfigKey kBrokerKeys[] = {
    {"id", KT::string, "", true, "Name adapters use to refer to this broker (their `broker` key)."},
    {"url", KT::string, "", true, "Broker address."},
    {"client_id", KT::string, R"("")", false,
     "MQTT client id, unique on the broker; empty: `citygate-<gateway.id>`."},
    {"username", KT::string, R"("")", false, "MQTT user name; empty: connect anonymously."},
    {"password_file", KT::string, R"("")", false,
     "File holding the MQTT password (e.g. a systemd credential); empty: no password."},
    {"keepalive_s", KT::integer, "30", false, "MQTT keep-alive interval."},
    {"ca_file", KT::string, R"("")", false,
     "TLS (ssl://, mqtts://): PEM file of the CA(s) to trust; empty: the system trust store."},
    {"cert_file", KT::string, R"("")", false, "TLS client certificate (PEM) for brokers that want mTLS."},
    {"key_file", KT::string, R"("")", false, "Private key (PEM) of cert_file, e.g. a systemd credential."},
    {"tls_verify", KT::boolean, "true", false,
     "Verify the broker's certificate chain and host name. Turn off only for a lab broker."},
};
constexpr Rule kBrokerRules[] = {
    {.key = "id", .check = Check::id},
    {.key = "url", .check = Check::broker_url},
    {.key = "keepalive_s", .ranged = true, .min = 1, .max = 65535},
};

// ---- [[adapters]] -----------------------------------------------------------------------------
constexpr ConfigKey kAdapterKeys[] = {
    {"kind", KT::string, "", true,
     "Adapter type; the instance's other keys are that kind's own (adapters/<kind>/README.md)."},
    {"id", KT::string, "", true, "Unique name of this instance (logs, metrics, devices' `adapter` key)."},
    {"rate_limit_per_s", KT::number, "0", false,
     "Messages (MQTT messages, HTTP requests, datagrams, TCP line batches) this instance takes per second; "
     "0: unlimited. Over it: HTTP 429 + Retry-After, MQTT messages refused into rejected_payloads, UDP dropped, "
     "TCP reading paused; counted in adapter_rate_limited_total."},
    {"rate_burst", KT::number, "0", false, "Messages allowed at once above the rate; 0: one second's worth."},
    {"class", KT::string, R"("telemetry")", false,
     "Outbox class of this instance's readings: `telemetry`, or `alert` / `report` (sent before telemetry, "
     "evicted after it)."},
};
constexpr Rule kAdapterRules[] = {
    {.key = "id", .check = Check::id},
    {.key = "rate_limit_per_s", .ranged = true, .min = 0, .max = 1e9},
    {.key = "rate_burst", .ranged = true, .min = 0, .max = 1e9},
    {.key = "class", .one_of = "telemetry|alert|report"},
};

// ---- [[devices]] ------------------------------------------------------------------------------
constexpr ConfigKey kDeviceKeys[] = {
    {"id", KT::string, "", true, "Device key, as adapters report it."},
    {"name", KT::string, R"("")", false, "Human-readable name (status page, SensorThings Thing name)."},
    {"adapter", KT::string, R"("")", false,
     "Id of the adapter instance that serves this device; empty: any."},
    {"profile", KT::string, R"("")", false, "Device profile applied by enrichment (units, calibration)."},
    {"zone", KT::string, R"("")", false, "Area the device belongs to (aggregates per zone)."},
    {"tags", KT::string_map, "{}", false, "Free-form labels copied onto every reading, e.g. { street = \"Main\" }."},
};
constexpr Rule kDeviceRules[] = {
    {.key = "id", .check = Check::device_id},
};

constexpr ConfigKey kLocationKeys[] = {
    {"lat", KT::number, "", true, "Latitude, WGS 84 degrees."},
    {"lon", KT::number, "", true, "Longitude, WGS 84 degrees."},
};
constexpr Rule kLocationRules[] = {
    {.key = "lat", .ranged = true, .min = -90, .max = 90},
    {.key = "lon", .ranged = true, .min = -180, .max = 180},
};

constexpr Section kSections[] = {
    {"gateway", "", "gateway", false, false, "Identity and logging of this gateway. Required.", kGatewayKeys,
     kGatewayRules},
    {"store", "", "store", false, false, "The SQLite store: the single source of truth.", kStoreKeys,
     kStoreRules},
    {"http", "", "http", false, false, "The public (citizen-facing) HTTP listener and its limits.", kHttpKeys,
     kHttpRules},
    {"uplink", "", "uplink", false, false, "Store-and-forward to the upstream data lake.", kUplinkKeys,
     kUplinkRules},
    {"admin", "", "admin", false, false, "The local admin endpoint: status, dead batches, replay.", kAdminKeys,
     {}},
    {"uplink.sinks", "uplink", "sinks", true, false,
     "Upstream destinations; each settles every batch on its own. None configured: readings stay local.",
     kSinkKeys, kSinkRules},
    {"brokers", "", "brokers", true, false, "MQTT brokers that adapters subscribe through.", kBrokerKeys,
     kBrokerRules},
    {"adapters", "", "adapters", true, false,
     "Adapter instances: `kind`, `id`, then the keys of that kind, validated against the kind's key table.",
     kAdapterKeys, kAdapterRules},
    {"devices", "", "devices", true, false,
     "The device registry. A device's optional `location` is described in the next table.", kDeviceKeys,
     kDeviceRules},
    {"devices.location", "devices", "location", false, true,
     "Where a device is, as an inline table: `location = { lat = 52.1, lon = 4.3 }`. Optional.", kLocationKeys,
     kLocationRules},
};

constexpr std::string_view kAvailableSinks[] = {"http", "mqtt", "kafka"};
constexpr std::span<const std::string_view> kUnavailableSinks{};

std::string md_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else out.push_back(c);
  }
  return out;
}

std::string fmt_bound(double v, KeyType t) {
  if (t == KeyType::integer) return fmt::format("{}", static_cast<std::int64_t>(v));
  return fmt::format("{}", v);
}

void append_key_table(std::string& out, std::span<const ConfigKey> keys, const Section* s) {
  out += "| Key | Type | Default | Allowed | Description |\n";
  out += "|---|---|---|---|---|\n";
  for (const auto& k : keys) {
    std::string def = k.required ? "*required*" : k.default_value.empty() ? "*none*" : fmt::format("`{}`", k.default_value);
    std::string allowed;
    if (s) {
      if (const Rule* r = find_rule(*s, k.name)) allowed = allowed_text(*r, k.type);
    }
    out += fmt::format("| `{}` | {} | {} | {} | {} |\n", k.name, key_type_name(k.type), md_escape(def),
                       md_escape(allowed), md_escape(k.doc));
  }
}

}  // namespace

std::span<const Section> sections() { return kSections; }

const Section* find_section(std::string_view path) {
  for (const auto& s : kSections)
    if (s.path == path) return &s;
  return nullptr;
}

const Rule* find_rule(const Section& s, std::string_view key) {
  for (const auto& r : s.rules)
    if (r.key == key) return &r;
  return nullptr;
}

std::span<const std::string_view> available_sink_kinds() { return kAvailableSinks; }
std::span<const std::string_view> unavailable_sink_kinds() { return kUnavailableSinks; }

std::string allowed_text(const Rule& r, KeyType t) {
  std::vector<std::string> parts;
  if (r.ranged) parts.push_back(fmt::format("{} .. {}", fmt_bound(r.min, t), fmt_bound(r.max, t)));
  if (!r.one_of.empty()) {
    std::string alts;
    std::string_view rest = r.one_of;
    while (!rest.empty()) {
      auto bar = rest.find('|');
      alts += (alts.empty() ? "" : ", ") + fmt::format("`{}`", rest.substr(0, bar));
      rest = bar == std::string_view::npos ? std::string_view{} : rest.substr(bar + 1);
    }
    parts.push_back(alts);
  }
  switch (r.check) {
    case Check::none: break;
    case Check::id: parts.emplace_back("1-64 of `A-Z a-z 0-9 . _ -`"); break;
    case Check::device_id: parts.emplace_back("1-128 of `A-Z a-z 0-9 . _ : -`"); break;
    case Check::listen: parts.emplace_back("`HOST:PORT`, `[IPv6]:PORT`"); break;
    case Check::http_url: parts.emplace_back("`http://` or `https://` URL"); break;
    case Check::broker_url: parts.emplace_back("`tcp`, `ssl`, `mqtt`, `mqtts` URL"); break;
    case Check::sink_kind: {
      std::string alts;
      for (auto k : kAvailableSinks) alts += (alts.empty() ? "" : ", ") + fmt::format("`{}`", k);
      parts.push_back(alts);
      break;
    }
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

std::vector<std::string> check_key_table(std::span<const ConfigKey> keys) {
  std::vector<std::string> problems;
  std::set<std::string_view> seen;
  for (const auto& k : keys) {
    if (!seen.insert(k.name).second) problems.push_back(fmt::format("key '{}' is declared twice", k.name));
    if (k.name.empty()) problems.emplace_back("a key has an empty name");
    if (k.required && !k.default_value.empty())
      problems.push_back(fmt::format("key '{}' is required but has a default", k.name));
    if (k.doc.empty()) problems.push_back(fmt::format("key '{}' has no doc", k.name));
    std::string why;
    auto v = detail::parse_default(k, &why);
    if (!why.empty()) problems.push_back(why);
  }
  return problems;
}

}  // namespace cg::config::schema

namespace cg::config {

std::string describe_keys_markdown(std::span<const ConfigKey> keys) {
  std::string out;
  schema::append_key_table(out, keys, nullptr);
  return out;
}

std::string describe_config_markdown() {
  std::string out;
  for (const auto& s : schema::sections()) {
    std::string heading = s.array ? fmt::format("`[[{}]]`", s.path) : fmt::format("`[{}]`", s.path);
    if (const auto* parent = schema::find_section(s.parent); parent && parent->array)
      heading = fmt::format("`{}` in `[[{}]]`", s.name, parent->path);
    out += fmt::format("### {}\n\n{}\n\n", heading, s.doc);
    schema::append_key_table(out, s.keys, &s);
    if (s.path == "uplink.sinks") {
      std::string later;
      for (auto k : schema::unavailable_sink_kinds()) later += (later.empty() ? "" : ", ") + fmt::format("`{}`", k);
      out += fmt::format("\nSink kinds {} are designed but not available in this build.\n", later);
    }
    out += "\n";
  }
  return out;
}

}  // namespace cg::config
