#include "runtime/admin_api.hpp"

#include <fmt/format.h>

#include "core/json_writer.hpp"
#include "core/time_format.hpp"
#include "http/server.hpp"

namespace cg::runtime {

namespace {

void kv(std::string& o, std::string_view k, std::int64_t v, bool comma = true) {
  if (comma) o += ',';
  json::append_string(o, k);
  o += ':';
  o += std::to_string(v);
}
void kvs(std::string& o, std::string_view k, std::string_view v, bool comma = true) {
  if (comma) o += ',';
  json::append_string(o, k);
  o += ':';
  json::append_string(o, v);
}

// Counters and gauges an operator looks at first, by name prefix.
bool interesting(const std::string& name) {
  for (const char* p : {"uplink_", "store_", "src_seq_", "rejected_payloads", "clock_steps", "mqtt_", "outbox_",
                        "ingest_"})
    if (name.rfind(p, 0) == 0) return true;
  return false;
}

std::string labels_text(const Labels& l) {
  std::string s;
  for (const auto& [k, v] : l) s += (s.empty() ? "{" : ",") + k + "=\"" + v + "\"";
  return s.empty() ? s : s + "}";
}

}  // namespace

std::string status_json(const GatewayInfo& gw, const store::StoreStatus& st, const Metrics* metrics) {
  std::string o = "{\"gateway\":{";
  kvs(o, "id", gw.gateway_id, false);
  kvs(o, "version", gw.version);
  o += fmt::format(",\"running\":{},\"ready\":{}", gw.running, gw.ready);
  kv(o, "uptime_s", gw.uptime_s);
  o += "},\"store\":{";
  kvs(o, "path", st.path, false);
  kvs(o, "incarnation_id", st.incarnation_id);
  kv(o, "db_bytes", st.db_bytes);
  kv(o, "file_bytes", st.file_bytes);
  kv(o, "disk_budget_bytes", st.disk_budget_bytes);
  kv(o, "disk_free_bytes", st.disk_free_bytes);
  o += fmt::format(",\"disk_full\":{},\"clock_suspect\":{}", st.disk_full, st.clock_suspect);
  kv(o, "readings", st.readings);
  kv(o, "evicted_rows", st.evicted_rows);
  kv(o, "rejected_payloads", st.rejected_payloads);
  o += ",\"last_ingest\":{";
  bool first = true;
  for (const auto& [a, t] : st.last_ingest) {
    kvs(o, a, format_rfc3339_ms(t), !first);
    first = false;
  }
  o += "}},\"outbox\":{";
  kv(o, "unsent_rows", st.outbox.unsent_rows, false);
  kv(o, "unsent_bytes", st.outbox.unsent_bytes);
  kv(o, "pending_batches", st.outbox.pending_batches);
  kv(o, "dead_batches", st.outbox.dead_batches);
  kv(o, "oldest_unsent_age_ms", st.outbox.oldest_unsent_age.count());
  if (st.outbox.oldest_unsent_received) kvs(o, "oldest_unsent_received", format_rfc3339_ms(*st.outbox.oldest_unsent_received));
  o += ",\"classes\":{";
  for (int c = 0; c < kRecordClassCount; ++c) {
    if (c) o += ',';
    json::append_string(o, record_class_name(static_cast<RecordClass>(c)));
    o += fmt::format(":{{\"rows\":{},\"bytes\":{}}}", st.outbox.by_class[c].rows, st.outbox.by_class[c].bytes);
  }
  o += "}}";
  if (metrics) {
    o += ",\"counters\":{";
    first = true;
    for (const auto& s : metrics->snapshot()) {
      if (!interesting(s.name)) continue;
      if (!first) o += ',';
      first = false;
      json::append_string(o, s.name + labels_text(s.labels));
      o += ':';
      o += std::to_string(s.value);
    }
    o += '}';
  }
  o += '}';
  return o;
}

std::string dead_batch_json(const store::DeadBatch& d, const std::vector<Reading>& readings) {
  std::string o = dead_batch_json(d);
  o.pop_back();
  o += ",\"readings\":[";
  bool first = true;
  for (const auto& r : readings) {
    if (!first) o += ',';
    first = false;
    o += "{";
    kvs(o, "device", r.device, false);
    kvs(o, "metric", r.metric);
    o += ",\"value\":";
    json::append_value(o, r.value);
    kvs(o, "unit", r.unit);
    kv(o, "seq", static_cast<std::int64_t>(r.seq));
    kvs(o, "observed", format_rfc3339_ms(r.observed));
    o += "}";
  }
  o += "]}";
  return o;
}

std::string dead_batch_json(const store::DeadBatch& d) {
  std::string o = "{";
  kv(o, "id", d.id, false);
  kv(o, "batch_seq", static_cast<std::int64_t>(d.batch_seq));
  kvs(o, "batch_id", d.batch_id);
  kvs(o, "sink", d.sink);
  kvs(o, "class", record_class_name(d.record_class));
  kv(o, "rows", d.rows);
  kv(o, "first_id", d.first_id);
  kv(o, "last_id", d.last_id);
  kv(o, "part", d.part);
  kv(o, "parts", d.parts);
  kv(o, "status", d.status);
  kvs(o, "reason", d.reason);
  kvs(o, "created", format_rfc3339_ms(d.created));
  kvs(o, "dead_at", format_rfc3339_ms(d.dead_at));
  if (d.replayed_at) kvs(o, "replayed_at", format_rfc3339_ms(*d.replayed_at));
  o += '}';
  return o;
}

namespace {
std::string human_bytes(std::int64_t b) {
  if (b < 0) return "?";
  if (b < 10 * 1024) return fmt::format("{} B", b);
  if (b < 10ll * 1024 * 1024) return fmt::format("{:.1f} KiB", b / 1024.0);
  if (b < 10ll * 1024 * 1024 * 1024) return fmt::format("{:.1f} MiB", b / (1024.0 * 1024));
  return fmt::format("{:.1f} GiB", b / (1024.0 * 1024 * 1024));
}
std::string human_age(std::int64_t s) {
  if (s < 120) return fmt::format("{} s", s);
  if (s < 7200) return fmt::format("{} min", s / 60);
  if (s < 2 * 86400) return fmt::format("{} h {} min", s / 3600, (s % 3600) / 60);
  return fmt::format("{} d {} h", s / 86400, (s % 86400) / 3600);
}
bool wants_text(const http::Request& req) { return req.query.find("format=text") != std::string::npos; }
}  // namespace

std::string status_text(const GatewayInfo& gw, const store::StoreStatus& st, const Metrics* metrics) {
  std::string o;
  o += fmt::format("gateway   {} (citygate {}): {}", gw.gateway_id.empty() ? "?" : gw.gateway_id,
                   gw.version.empty() ? "?" : gw.version,
                   gw.running ? (gw.ready ? "running, ready" : "running, not ready") : "NOT RUNNING (read from the store file)");
  if (gw.running) o += fmt::format(", up {}", human_age(gw.uptime_s));
  o += fmt::format("\nstore     {}: {} in use", st.path, human_bytes(st.db_bytes));
  if (st.disk_budget_bytes > 0) o += fmt::format(" of a {} budget", human_bytes(st.disk_budget_bytes));
  o += fmt::format(", {} free on its filesystem{}\n", human_bytes(st.disk_free_bytes), st.disk_full ? ", DISK FULL: ingest paused" : "");
  o += fmt::format("          {} readings kept, {} evicted unforwarded, {} rejected payloads; incarnation {}{}\n",
                   st.readings, st.evicted_rows, st.rejected_payloads, st.incarnation_id,
                   st.clock_suspect ? "; WALL CLOCK SUSPECT" : "");
  o += fmt::format("outbox    {} rows ({}) not yet delivered to every sink; oldest {} old; {} batch(es) formed; {} dead\n",
                   st.outbox.unsent_rows, human_bytes(st.outbox.unsent_bytes),
                   human_age(st.outbox.oldest_unsent_age.count() / 1000), st.outbox.pending_batches, st.outbox.dead_batches);
  for (RecordClass c : kSendOrder) {
    const auto& cs = st.outbox.by_class[static_cast<int>(c)];
    o += fmt::format("          {:<10} {:>12} rows {:>12}\n", record_class_name(c), cs.rows, human_bytes(cs.bytes));
  }
  if (!st.last_ingest.empty()) {
    o += "ingest    last commit per adapter:\n";
    for (const auto& [a, t] : st.last_ingest) o += fmt::format("          {:<24} {}\n", a, format_rfc3339_ms(t));
  }
  if (metrics) {
    o += "sinks\n";
    for (const auto& s : metrics->snapshot()) {
      if (s.name != "uplink_last_success_unix_seconds" || s.labels.empty()) continue;
      const auto& sink = s.labels.front().second;
      o += fmt::format("          {:<24} last success {}; settled {}, retries {}, dead {}\n", sink,
                       s.value > 0 ? format_rfc3339_ms(from_unix_ns(s.value * 1'000'000'000)) : std::string("never"),
                       metrics->value("uplink_batches_settled_total", s.labels),
                       metrics->value("uplink_retries_total", s.labels),
                       metrics->value("uplink_dead_batches_total", s.labels));
    }
  }
  return o;
}

std::string dead_batches_text(const std::vector<store::DeadBatch>& list) {
  if (list.empty()) return "no dead batches\n";
  std::string o = fmt::format("{:>6}  {:>9}  {:<36}  {:<12}  {:<9}  {:>6}  {:>5}  {:<24}  {}\n", "ID", "BATCH_SEQ",
                              "BATCH_ID", "SINK", "CLASS", "ROWS", "PART", "DEAD_AT", "STATUS / REASON");
  for (const auto& d : list)
    o += fmt::format("{:>6}  {:>9}  {:<36}  {:<12}  {:<9}  {:>6}  {:>5}  {:<24}  {} {}{}\n", d.id, d.batch_seq, d.batch_id,
                     d.sink, record_class_name(d.record_class), d.rows,
                     d.parts ? fmt::format("{}/{}", d.part, d.parts) : std::string("-"), format_rfc3339_ms(d.dead_at),
                     d.status, d.reason.substr(0, 80), d.replayed_at ? " (replayed)" : "");
  return o;
}

std::string dead_batch_text(const store::DeadBatch& d, const std::vector<Reading>& readings) {
  std::string o = fmt::format(
      "dead batch {}: batch_seq {} batch_id {}\nsink       {}\nclass      {}\nrows       {} (reading ids {}..{})\n"
      "part       {}\nanswer     {}\nreason     {}\nformed     {}\ndead at    {}\nreplayed   {}\n",
      d.id, d.batch_seq, d.batch_id, d.sink, record_class_name(d.record_class), d.rows, d.first_id, d.last_id,
      d.parts ? fmt::format("{}/{}", d.part, d.parts) : std::string("whole batch"), d.status, d.reason,
      format_rfc3339_ms(d.created), format_rfc3339_ms(d.dead_at),
      d.replayed_at ? format_rfc3339_ms(*d.replayed_at) : std::string("no"));
  if (!readings.empty()) {
    o += fmt::format("first {} readings:\n", readings.size());
    for (const auto& r : readings) {
      std::string v;
      json::append_value(v, r.value);
      o += fmt::format("  {} {} = {} {} (seq {}, observed {})\n", r.device, r.metric, v, r.unit, r.seq,
                       format_rfc3339_ms(r.observed));
    }
  }
  return o;
}

void add_admin_routes(http::Router& router, AdminDeps deps) {
  auto d = std::make_shared<AdminDeps>(std::move(deps));
  // Wraps a handler with the bearer-token check (constant time in the expected token's length).
  auto guarded = [d](auto fn) {
    return [d, fn](http::Request& req, http::Responder respond) {
      if (!d->token.empty()) {
        auto h = req.header("authorization").value_or("");
        const std::string want = "Bearer " + d->token;
        bool ok = h.size() == want.size();
        unsigned char diff = 0;
        for (std::size_t i = 0; i < want.size(); ++i) diff |= static_cast<unsigned char>(want[i] ^ (i < h.size() ? h[i] : 0));
        if (!ok || diff) {
          auto r = http::Response::problem(401, "Unauthorized", "admin requests need the admin bearer token");
          r.headers.emplace_back("WWW-Authenticate", "Bearer");
          return respond(std::move(r));
        }
      }
      fn(req, std::move(respond));
    };
  };
  router.add("GET", "/admin/v1/status", guarded([d](http::Request& req, http::Responder respond) {
               if (wants_text(req))
                 return respond(http::Response::text(200, status_text(d->info(), d->store.status(), &d->metrics)));
               respond(http::Response::json(200, status_json(d->info(), d->store.status(), &d->metrics)));
             }));
  router.add("GET", "/admin/v1/dead-batches", guarded([d](http::Request& req, http::Responder respond) {
               if (wants_text(req)) return respond(http::Response::text(200, dead_batches_text(d->store.dead_batches())));
               std::string o = "{\"dead_batches\":[";
               bool first = true;
               for (const auto& b : d->store.dead_batches()) {
                 if (!first) o += ',';
                 first = false;
                 o += dead_batch_json(b);
               }
               o += "]}";
               respond(http::Response::json(200, std::move(o)));
             }));
  auto parse_id = [](const http::Request& req) -> std::optional<std::int64_t> {
    auto it = req.params.find("id");
    if (it == req.params.end() || it->second.empty() || it->second.size() > 18) return std::nullopt;
    std::int64_t v = 0;
    for (char c : it->second) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    return v;
  };
  router.add("GET", "/admin/v1/dead-batches/{id}", guarded([d, parse_id](http::Request& req, http::Responder respond) {
               auto id = parse_id(req);
               auto b = id ? d->store.dead_batch(*id) : std::nullopt;
               if (!b) return respond(http::Response::problem(404, "Not Found", "no such dead batch"));
               if (wants_text(req))
                 return respond(http::Response::text(200, dead_batch_text(*b, d->store.dead_batch_readings(*b, 100))));
               respond(http::Response::json(200, dead_batch_json(*b, d->store.dead_batch_readings(*b, 100))));
             }));
  router.add("POST", "/admin/v1/dead-batches/{id}/replay",
             guarded([d, parse_id](http::Request& req, http::Responder respond) {
               auto id = parse_id(req);
               if (!id) return respond(http::Response::problem(404, "Not Found", "no such dead batch"));
               auto r = d->store.replay_dead_batch(*id);
               if (r) return respond(http::Response::json(200, fmt::format(R"({{"replayed":{}}})", *id)));
               const auto& e = r.error();
               int status = e.code == "not_found" ? 404 : e.disposition == Disposition::retry ? 503 : 409;
               respond(http::Response::problem(status, status == 404 ? "Not Found" : "Conflict", e.message));
             }));
}

}  // namespace cg::runtime
