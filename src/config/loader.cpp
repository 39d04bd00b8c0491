// Loading: read → parse (toml++) → merge conf.d → ${ENV} → validate against the schema tables →
// cross-section checks → build GatewayConfig. Every stage after parsing collects errors and goes
// on, so one run reports everything that is wrong.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "adapter_api/adapter.hpp"
#include "config/checks.hpp"
#include "config/config.hpp"
#include "config/schema.hpp"
#include "config/toml_convert.hpp"

namespace cg::config {

std::string ConfigError::to_string() const {
  if (line <= 0) return fmt::format("{}: {}", file, message);
  return fmt::format("{}:{}:{}: {}", file, line, col, message);
}

namespace {

namespace fs = std::filesystem;
using schema::Section;

struct Pos {
  std::string file;
  int line = 0;
  int col = 0;
  std::string to_string() const { return line > 0 ? fmt::format("{}:{}:{}", file, line, col) : file; }
};

// Collects errors; knows which file a node without a recorded path belongs to.
class Diag {
 public:
  explicit Diag(std::string fallback_file) : fallback_(std::move(fallback_file)) {}

  Pos at(const toml::source_region& r) const {
    Pos p;
    p.file = r.path ? *r.path : fallback_;
    p.line = static_cast<int>(r.begin.line);
    p.col = static_cast<int>(r.begin.column);
    return p;
  }
  Pos at(const toml::node& n) const { return at(n.source()); }
  Pos file_only(std::string file = {}) const { return Pos{file.empty() ? fallback_ : std::move(file), 0, 0}; }

  void error(const Pos& p, std::string message) {
    errors_.push_back(ConfigError{p.file, p.line, p.col, std::move(message)});
  }
  std::size_t count() const { return errors_.size(); }

  // Errors in reading order: files in load order, then line and column.
  std::vector<ConfigError> take(const std::vector<std::string>& file_order) {
    auto rank = [&](const std::string& f) {
      auto it = std::find(file_order.begin(), file_order.end(), f);
      return static_cast<std::size_t>(it - file_order.begin());
    };
    std::stable_sort(errors_.begin(), errors_.end(), [&](const ConfigError& a, const ConfigError& b) {
      auto ra = rank(a.file), rb = rank(b.file);
      if (ra != rb) return ra < rb;
      if (a.line != b.line) return a.line < b.line;
      return a.col < b.col;
    });
    return std::move(errors_);
  }

 private:
  std::string fallback_;
  std::vector<ConfigError> errors_;
};

std::string join(const std::vector<std::string>& v, std::string_view sep = ", ") {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string suggestion(std::string_view word, const std::vector<std::string_view>& candidates,
                       std::string_view quote_open = "'", std::string_view quote_close = "'") {
  if (auto m = checks::did_you_mean(word, candidates)) return fmt::format(" (did you mean {}{}{}?)", quote_open, *m, quote_close);
  return {};
}

// ---- ${ENV} ----------------------------------------------------------------------------------

// Substitutes in every string value of the tree. Strings that fail are left as written and
// remembered, so later checks of their format do not pile more errors on the same value.
void substitute_env(toml::node& n, const checks::EnvLookup& env, Diag& diag, std::set<const toml::node*>& bad) {
  if (auto* t = n.as_table()) {
    for (auto&& [k, v] : *t) substitute_env(v, env, diag, bad);
  } else if (auto* a = n.as_array()) {
    for (auto& e : *a) substitute_env(e, env, diag, bad);
  } else if (auto* s = n.as_string()) {
    if (s->get().find('$') == std::string::npos) return;
    std::vector<std::string> errors;
    if (auto out = checks::expand_env(s->get(), env, errors)) {
      s->get() = std::move(*out);
    } else {
      for (auto& e : errors) diag.error(diag.at(n), std::move(e));
      bad.insert(&n);
    }
  }
}

// ---- conf.d merge ----------------------------------------------------------------------------

bool is_nonempty_array_of_tables(const toml::node& n) {
  const auto* a = n.as_array();
  return a && !a->empty() && a->is_array_of_tables();
}

// Tables merge key by key; arrays of tables append; anything else: `src` wins. Nodes are moved,
// which keeps their source positions (and so the file errors will name).
void merge_into(toml::table& dst, toml::table& src) {
  for (auto&& [k, v] : src) {
    toml::node* existing = dst.get(k.str());
    if (existing && existing->is_table() && v.is_table()) {
      merge_into(*existing->as_table(), *v.as_table());
      continue;
    }
    if (existing && is_nonempty_array_of_tables(*existing) && is_nonempty_array_of_tables(v)) {
      for (auto& e : *v.as_array()) existing->as_array()->push_back(std::move(e));
      continue;
    }
    if (existing) dst.erase(k.str());
    dst.insert(k, std::move(v));
  }
}

// ---- validation against the schema -----------------------------------------------------------

// One validated table: values with defaults applied, where each present key was written.
struct Checked {
  std::string label;  // "[store]", "[[adapters]] 'street-sensors'"
  Pos where;          // the table itself (header), or file only when absent
  std::map<std::string, ConfigValue, std::less<>> values;  // valid values + defaults
  std::map<std::string, Pos, std::less<>> pos;             // keys present in the file
  std::map<std::string, std::vector<Checked>, std::less<>> children;
  std::size_t errors = 0;                                   // found in this table and below
  const AdapterDescriptor* adapter = nullptr;               // [[adapters]]: the kind, if known

  const ConfigValue* get(std::string_view k) const {
    auto it = values.find(k);
    return it == values.end() ? nullptr : &it->second;
  }
  bool has(std::string_view k) const { return get(k) != nullptr; }
  std::string str(std::string_view k) const {
    const auto* v = get(k);
    const auto* s = v ? std::get_if<std::string>(v) : nullptr;
    return s ? *s : std::string{};
  }
  std::int64_t integer(std::string_view k) const {
    const auto* v = get(k);
    const auto* i = v ? std::get_if<std::int64_t>(v) : nullptr;
    return i ? *i : 0;
  }
  double number(std::string_view k) const {
    const auto* v = get(k);
    const auto* d = v ? std::get_if<double>(v) : nullptr;
    return d ? *d : 0.0;
  }
  bool boolean(std::string_view k) const {
    const auto* v = get(k);
    const auto* b = v ? std::get_if<bool>(v) : nullptr;
    return b && *b;
  }
  Pos pos_of(std::string_view k) const {
    auto it = pos.find(k);
    return it == pos.end() ? where : it->second;
  }
};

std::string value_text(const ConfigValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) return fmt::format("{}", *d);
  if (const auto* s = std::get_if<std::string>(&v)) return fmt::format("'{}'", *s);
  return "?";
}

std::vector<std::string> split_bar(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto bar = s.find('|');
    out.emplace_back(s.substr(0, bar));
    s = bar == std::string_view::npos ? std::string_view{} : s.substr(bar + 1);
  }
  return out;
}

std::vector<std::string> known_adapter_kinds() {
  std::vector<std::string> kinds;
  for (const auto& d : adapter_registry()) kinds.emplace_back(d.kind);
  return kinds;
}

constexpr std::string_view kHttpSchemes[] = {"http", "https"};
constexpr std::string_view kBrokerSchemes[] = {"tcp", "ssl", "mqtt", "mqtts"};

class Validator {
 public:
  Validator(Diag& diag, const std::set<const toml::node*>& bad) : diag_(diag), bad_(bad) {}

  // The whole document: unknown top-level keys, then every top-level section.
  std::map<std::string, std::vector<Checked>, std::less<>> root(const toml::table& doc) {
    std::vector<std::string_view> names;
    for (const auto& s : schema::sections())
      if (s.parent.empty()) names.push_back(s.name);
    for (auto&& [k, v] : doc) {
      if (std::find(names.begin(), names.end(), k.str()) != names.end()) continue;
      if (v.is_table() && !v.as_table()->is_inline())
        diag_.error(diag_.at(k.source()), fmt::format("unknown section [{}]{}", k.str(), suggestion(k.str(), names, "[", "]")));
      else if (is_nonempty_array_of_tables(v))
        diag_.error(diag_.at(k.source()), fmt::format("unknown section [[{}]]{}", k.str(), suggestion(k.str(), names, "[[", "]]")));
      else
        diag_.error(diag_.at(k.source()), fmt::format("unknown top-level key '{}'{}", k.str(), suggestion(k.str(), names)));
    }
    std::map<std::string, std::vector<Checked>, std::less<>> out;
    for (const auto& s : schema::sections()) {
      if (!s.parent.empty()) continue;
      out[std::string(s.name)] = section(doc.get(s.name), s);
    }
    return out;
  }

 private:
  static std::string table_label(const Section& s) { return fmt::format("[{}]", s.path); }
  static std::string element_label(const Section& s, const toml::table& t, std::size_t index) {
    if (const auto* id = t.get("id"); id && id->is_string())
      return fmt::format("[[{}]] '{}'", s.path, id->as_string()->get());
    return fmt::format("[[{}]] #{}", s.path, index + 1);
  }

  // A section's node (absent, a table, or an array of tables).
  std::vector<Checked> section(const toml::node* n, const Section& s) {
    std::vector<Checked> out;
    if (!n) {
      if (s.array || s.optional) return out;
      static const toml::table empty;
      out.push_back(table(empty, s, table_label(s), /*absent=*/true));
      return out;
    }
    if (s.array) {
      const auto* arr = n->as_array();
      if (!arr) {
        diag_.error(diag_.at(*n), fmt::format("'{}' must be an array of tables: write [[{}]] sections, not {}", s.name,
                                              s.path, detail::found(*n)));
        return out;
      }
      for (std::size_t i = 0; i < arr->size(); ++i) {
        const toml::node& e = *arr->get(i);
        if (const auto* t = e.as_table()) {
          out.push_back(table(*t, s, element_label(s, *t, i), false));
        } else {
          diag_.error(diag_.at(e), fmt::format("each [[{}]] entry must be a table, not {}", s.path, detail::found(e)));
        }
      }
      return out;
    }
    if (const auto* t = n->as_table()) {
      out.push_back(table(*t, s, table_label(s), false));
    } else {
      diag_.error(diag_.at(*n), fmt::format("'{}' must be a table ([{}]), not {}", s.name, s.path, detail::found(*n)));
    }
    return out;
  }

  // [[adapters]]: the common keys plus those of the instance's kind. Returns false when the kind
  // is unknown (the instance's other keys cannot be checked then).
  bool adapter_keys(const toml::table& t, const std::string& label, std::vector<ConfigKey>& keys,
                    const AdapterDescriptor*& desc) {
    const toml::node* kind = t.get("kind");
    if (!kind || !kind->is_string()) return false;  // reported as missing / wrong type by the generic pass
    if (bad_.count(kind)) return false;
    const std::string& name = kind->as_string()->get();
    desc = find_adapter(name);
    if (!desc) {
      auto kinds = known_adapter_kinds();
      std::vector<std::string_view> views(kinds.begin(), kinds.end());
      diag_.error(diag_.at(*kind), fmt::format("unknown adapter kind '{}' in {}{} (known kinds: {})", name, label,
                                               suggestion(name, views), join(kinds)));
      return false;
    }
    for (const auto& k : desc->keys) {
      if (std::none_of(keys.begin(), keys.end(), [&](const ConfigKey& c) { return c.name == k.name; })) keys.push_back(k);
    }
    return true;
  }

  Checked table(const toml::table& t, const Section& s, std::string label, bool absent) {
    const std::size_t errors_before = diag_.count();
    Checked c;
    c.label = std::move(label);
    c.where = absent ? diag_.file_only() : diag_.at(t);

    std::vector<ConfigKey> keys(s.keys.begin(), s.keys.end());
    bool open = false;  // unknown keys cannot be judged (adapter of unknown kind)
    if (s.path == "adapters") open = !adapter_keys(t, c.label, keys, c.adapter);

    std::vector<const Section*> children;
    for (const auto& cs : schema::sections())
      if (cs.parent == s.path) children.push_back(&cs);
    std::vector<std::string_view> known;
    for (const auto& k : keys) known.push_back(k.name);
    for (const auto* cs : children) known.push_back(cs->name);

    std::set<std::string, std::less<>> present;
    for (auto&& [k, v] : t) {
      std::string_view name = k.str();
      if (std::any_of(children.begin(), children.end(), [&](const Section* cs) { return cs->name == name; })) continue;
      auto key = std::find_if(keys.begin(), keys.end(), [&](const ConfigKey& ck) { return ck.name == name; });
      if (key == keys.end()) {
        if (!open)
          diag_.error(diag_.at(k.source()), fmt::format("unknown key '{}' in {}{}", name, c.label, suggestion(name, known)));
        continue;
      }
      present.emplace(name);
      detail::ConvertError err;
      auto value = detail::convert(v, key->type, err);
      if (!value) {
        diag_.error(diag_.at(err.at ? *err.at : v), fmt::format("'{}' in {} {}", name, c.label, err.message));
        continue;
      }
      Pos p = diag_.at(v);
      if (contains_bad(v)) continue;  // already reported by ${ENV}
      if (const auto* rule = schema::find_rule(s, name)) {
        if (!apply_rule(*rule, *key, *value, p, c.label)) continue;
      }
      c.values.emplace(std::string(name), std::move(*value));
      c.pos.emplace(std::string(name), std::move(p));
    }

    for (const auto& k : keys) {
      if (present.count(k.name)) continue;
      if (k.required) {
        diag_.error(c.where, fmt::format("missing required key '{}' in {}{}", k.name, c.label,
                                         s.path == "adapters" && k.name == "kind"
                                             ? fmt::format(" (known kinds: {})", join(known_adapter_kinds()))
                                             : std::string{}));
        continue;
      }
      std::string why;
      if (auto d = detail::parse_default(k, &why)) {
        c.values.emplace(std::string(k.name), std::move(*d));
      } else if (!why.empty()) {
        diag_.error(c.where, fmt::format("internal error: key table of {}: {}", c.label, why));
      }
    }

    for (const auto* cs : children) {
      auto v = section(t.get(cs->name), *cs);
      if (!v.empty()) c.children[std::string(cs->name)] = std::move(v);
    }
    c.errors = diag_.count() - errors_before;
    return c;
  }

  bool contains_bad(const toml::node& n) const {
    if (bad_.count(&n)) return true;
    if (const auto* a = n.as_array())
      return std::any_of(a->begin(), a->end(), [&](const toml::node& e) { return contains_bad(e); });
    if (const auto* t = n.as_table())
      return std::any_of(t->begin(), t->end(), [&](auto&& kv) { return contains_bad(kv.second); });
    return false;
  }

  // Range, enumeration and format of one value; false (and an error) when it violates them.
  bool apply_rule(const schema::Rule& r, const ConfigKey& k, const ConfigValue& v, const Pos& p,
                  const std::string& label) {
    std::size_t before = diag_.count();
    if (r.ranged) {
      double x = 0;
      if (const auto* i = std::get_if<std::int64_t>(&v)) x = static_cast<double>(*i);
      else if (const auto* d = std::get_if<double>(&v)) x = *d;
      if (x < r.min || x > r.max) {
        diag_.error(p, fmt::format("'{}' in {} must be in the range {}, got {}", k.name, label,
                                   schema::allowed_text(schema::Rule{.ranged = true, .min = r.min, .max = r.max}, k.type),
                                   value_text(v)));
      }
    }
    const auto* s = std::get_if<std::string>(&v);
    if (!r.one_of.empty() && s) {
      auto options = split_bar(r.one_of);
      if (std::find(options.begin(), options.end(), *s) == options.end()) {
        diag_.error(p, fmt::format("'{}' in {} must be one of {}; got '{}'", k.name, label, join(options), *s));
      }
    }
    if (s) {
      std::optional<std::string> why;
      switch (r.check) {
        case schema::Check::none: break;
        case schema::Check::id: why = checks::check_id(*s); break;
        case schema::Check::device_id: why = checks::check_device_id(*s); break;
        case schema::Check::listen: {
          std::string w;
          if (!parse_listen_address(*s, &w)) why = "is not a valid listen address: " + w;
          break;
        }
        case schema::Check::http_url:
          if (auto w = checks::check_url(*s, kHttpSchemes)) why = "is not a valid URL: " + *w;
          break;
        case schema::Check::broker_url:
          if (auto w = checks::check_url(*s, kBrokerSchemes)) why = "is not a valid broker URL: " + *w;
          break;
        case schema::Check::sink_kind: {
          auto avail = schema::available_sink_kinds();
          auto later = schema::unavailable_sink_kinds();
          std::vector<std::string> names(avail.begin(), avail.end());
          if (std::find(later.begin(), later.end(), *s) != later.end()) {
            diag_.error(p, fmt::format("sink kind '{}' is not available in this build (available: {})", *s, join(names)));
          } else if (std::find(avail.begin(), avail.end(), *s) == avail.end()) {
            diag_.error(p, fmt::format("unknown sink kind '{}' (available: {})", *s, join(names)));
          }
          break;
        }
      }
      if (why) diag_.error(p, fmt::format("'{}' in {} {}", k.name, label, *why));
    }
    return diag_.count() == before;
  }

  Diag& diag_;
  const std::set<const toml::node*>& bad_;
};

// ---- cross-section checks and the final structs ----------------------------------------------

// Remembers ids of one kind of thing and reports the second definition of an id.
class UniqueIds {
 public:
  UniqueIds(Diag& diag, std::string_view what) : diag_(diag), what_(what) {}
  bool add(const Checked& c) {
    if (!c.has("id")) return false;
    std::string id = c.str("id");
    Pos p = c.pos_of("id");
    auto [it, inserted] = seen_.emplace(id, p);
    if (!inserted) {
      diag_.error(p, fmt::format("duplicate {} id '{}' (first defined at {})", what_, id, it->second.to_string()));
      return false;
    }
    return true;
  }
  bool contains(const std::string& id) const { return seen_.count(id) != 0; }
  std::vector<std::string> ids() const {
    std::vector<std::string> out;
    for (const auto& [id, p] : seen_) out.push_back(id);
    return out;
  }

 private:
  Diag& diag_;
  std::string_view what_;
  std::map<std::string, Pos> seen_;
};

std::chrono::milliseconds ms(const Checked& c, std::string_view k) { return std::chrono::milliseconds{c.integer(k)}; }
std::size_t size(const Checked& c, std::string_view k) { return static_cast<std::size_t>(std::max<std::int64_t>(0, c.integer(k))); }

const std::vector<Checked>& list(const std::map<std::string, std::vector<Checked>, std::less<>>& m, std::string_view k) {
  static const std::vector<Checked> none;
  auto it = m.find(k);
  return it == m.end() ? none : it->second;
}

// Which [[uplink.sinks]] keys apply to which kind; a key written for another kind is an error
// (a typo'd kind must not silently ignore half the table).
void check_sink_kind_keys(const Checked& s, const SinkConfig& sc, Diag& diag) {
  static const std::map<std::string_view, std::set<std::string_view>> only = {
      {"http", {"url", "compression", "connect_timeout_ms", "total_timeout_ms", "bearer_token_file", "proxy", "ca_file",
                "cert_file", "key_file", "tls_verify"}},
      {"mqtt", {"url", "connect_timeout_ms", "ca_file", "cert_file", "key_file", "tls_verify", "topic", "client_id",
                "username", "password_file", "keepalive_s", "publish_timeout_ms"}},
      {"kafka", {"compression", "topic", "brokers", "delivery_timeout_ms", "queue_max_messages", "queue_max_kbytes",
                 "security_protocol", "sasl_mechanism", "sasl_username", "sasl_password_file", "properties", "ca_file",
                 "cert_file", "key_file"}},
  };
  static const std::set<std::string_view> common = {"kind", "id", "enabled", "max_in_flight", "bandwidth_bytes_per_s",
                                                    "backlog_rows_per_s"};
  auto it = only.find(sc.kind);
  if (it == only.end()) return;  // unknown kind: reported by its rule
  for (const auto& [k, p] : s.pos) {
    if (common.count(k) || it->second.count(k)) continue;
    diag.error(p, fmt::format("'{}' in {} does not apply to sink kind '{}'", k, s.label, sc.kind));
  }
  auto need = [&](std::string_view key, const std::string& v) {
    if (v.empty() && s.has(key)) diag.error(s.where, fmt::format("{}: sink kind '{}' needs '{}'", s.label, sc.kind, key));
  };
  if (sc.kind == "http") {
    need("url", sc.url);
    if (!sc.url.empty())
      if (auto w = checks::check_url(sc.url, kHttpSchemes))
        diag.error(s.pos_of("url"), fmt::format("'url' in {} is not a valid URL: {}", s.label, *w));
    if (!sc.compression.empty() && sc.compression != "none" && sc.compression != "gzip" && sc.compression != "zstd")
      diag.error(s.pos_of("compression"), fmt::format("'compression' in {} must be none, gzip or zstd for http", s.label));
  } else if (sc.kind == "mqtt") {
    need("url", sc.url);
    if (!sc.url.empty())
      if (auto w = checks::check_url(sc.url, kBrokerSchemes))
        diag.error(s.pos_of("url"), fmt::format("'url' in {} is not a valid broker URL: {}", s.label, *w));
  } else if (sc.kind == "kafka") {
    if (sc.brokers.empty() && s.has("brokers"))
      diag.error(s.where, fmt::format("{}: sink kind 'kafka' needs 'brokers'", s.label));
  }
  if (sc.cert_file.empty() != sc.key_file.empty())
    diag.error(s.where, fmt::format("{}: 'cert_file' and 'key_file' go together (mTLS needs both)", s.label));
}

GatewayConfig build(const std::map<std::string, std::vector<Checked>, std::less<>>& root, Diag& diag) {
  GatewayConfig cfg;
  static const Checked empty;
  auto one = [&](std::string_view name) -> const Checked& {
    const auto& v = list(root, name);
    return v.empty() ? empty : v.front();
  };

  const Checked& gw = one("gateway");
  cfg.gateway_id = gw.str("id");
  cfg.log_level = gw.str("log_level");
  cfg.unknown_devices = gw.str("unknown_devices");
  cfg.blocking_workers = size(gw, "blocking_workers");

  const Checked& st = one("store");
  cfg.store.path = st.str("path");
  cfg.store.sync_interval = ms(st, "sync_interval_ms");
  cfg.store.queue_max_rows = size(st, "queue_max_rows");
  cfg.store.rejected_max = size(st, "rejected_max");
  cfg.store.disk_budget_bytes = static_cast<std::uint64_t>(st.integer("disk_budget_mb")) << 20;
  cfg.store.reserve_bytes = static_cast<std::uint64_t>(st.integer("reserve_mb")) << 20;
  cfg.store.retention = std::chrono::hours{st.integer("retention_hours")};
  cfg.store.backlog_threshold_rows = size(st, "backlog_threshold_rows");
  cfg.store.alert_quota_pct = static_cast<int>(st.integer("alert_quota_pct"));
  cfg.store.report_quota_pct = static_cast<int>(st.integer("report_quota_pct"));
  cfg.store.summary_quota_pct = static_cast<int>(st.integer("summary_quota_pct"));

  const Checked& adm = one("admin");
  if (adm.str("listen").empty()) {
    cfg.admin.listen.reset();
  } else if (auto l = parse_listen_address(adm.str("listen"))) {
    cfg.admin.listen = *l;
  } else {
    std::string why;
    parse_listen_address(adm.str("listen"), &why);
    diag.error(adm.pos_of("listen"), fmt::format("'listen' in [admin] is not a valid listen address: {}", why));
  }
  cfg.admin.token_file = adm.str("token_file");

  const Checked& http = one("http");
  if (auto l = parse_listen_address(http.str("listen"))) cfg.http.public_listen = *l;
  cfg.http.body_max = size(http, "body_max_bytes");
  cfg.http.header_max = size(http, "header_max_bytes");
  cfg.http.read_timeout = ms(http, "read_timeout_ms");
  cfg.http.max_connections = size(http, "max_connections");
  if (auto l = parse_listen_address(http.str("ingest_listen"))) cfg.http.ingest_listen = *l;
  cfg.http.ingest_body_max = size(http, "ingest_body_max_bytes");

  const Checked& up = one("uplink");
  cfg.uplink.batch_max_rows = size(up, "batch_max_rows");
  cfg.uplink.batch_max_bytes = size(up, "batch_max_bytes");
  cfg.uplink.status_interval = std::chrono::seconds{up.integer("status_interval_s")};
  cfg.uplink.batch_max_age = ms(up, "batch_max_age_ms");
  cfg.uplink.backoff_initial = ms(up, "backoff_initial_ms");
  cfg.uplink.backoff_max = ms(up, "backoff_max_ms");
  if (up.has("backoff_initial_ms") && up.has("backoff_max_ms") && cfg.uplink.backoff_initial > cfg.uplink.backoff_max) {
    diag.error(up.pos_of("backoff_initial_ms"),
               fmt::format("'backoff_initial_ms' in [uplink] ({}) must not exceed 'backoff_max_ms' ({})",
                           cfg.uplink.backoff_initial.count(), cfg.uplink.backoff_max.count()));
  }

  UniqueIds sink_ids(diag, "sink");
  for (const auto& s : list(up.children, "sinks")) {
    sink_ids.add(s);
    SinkConfig sc;
    sc.kind = s.str("kind");
    sc.id = s.str("id");
    sc.enabled = s.boolean("enabled");
    sc.max_in_flight = size(s, "max_in_flight");
    sc.bandwidth_bytes_per_s = static_cast<std::uint64_t>(s.integer("bandwidth_bytes_per_s"));
    sc.backlog_rows_per_s = s.number("backlog_rows_per_s");
    sc.url = s.str("url");
    sc.compression = s.str("compression");
    sc.connect_timeout = ms(s, "connect_timeout_ms");
    sc.total_timeout = ms(s, "total_timeout_ms");
    sc.bearer_token_file = s.str("bearer_token_file");
    sc.proxy = s.str("proxy");
    sc.ca_file = s.str("ca_file");
    sc.cert_file = s.str("cert_file");
    sc.key_file = s.str("key_file");
    sc.tls_verify = s.boolean("tls_verify");
    sc.topic = s.str("topic");
    sc.client_id = s.str("client_id");
    sc.username = s.str("username");
    sc.password_file = s.str("password_file");
    sc.keepalive = std::chrono::seconds{s.integer("keepalive_s")};
    sc.publish_timeout = ms(s, "publish_timeout_ms");
    if (const auto* b = s.get("brokers"))
      if (const auto* l = std::get_if<std::vector<std::string>>(b)) sc.brokers = *l;
    sc.delivery_timeout = ms(s, "delivery_timeout_ms");
    sc.queue_max_messages = size(s, "queue_max_messages");
    sc.queue_max_kbytes = size(s, "queue_max_kbytes");
    sc.security_protocol = s.str("security_protocol");
    sc.sasl_mechanism = s.str("sasl_mechanism");
    sc.sasl_username = s.str("sasl_username");
    sc.sasl_password_file = s.str("sasl_password_file");
    if (const auto* m = s.get("properties"))
      if (const auto* mp = std::get_if<std::vector<std::pair<std::string, std::string>>>(m)) sc.properties = *mp;
    check_sink_kind_keys(s, sc, diag);
    if (s.has("connect_timeout_ms") && s.has("total_timeout_ms") && sc.connect_timeout > sc.total_timeout) {
      diag.error(s.pos_of("total_timeout_ms"),
                 fmt::format("'total_timeout_ms' in {} ({}) must not be less than 'connect_timeout_ms' ({})", s.label,
                             sc.total_timeout.count(), sc.connect_timeout.count()));
    }
    cfg.uplink.sinks.push_back(std::move(sc));
  }

  UniqueIds broker_ids(diag, "broker");
  for (const auto& b : list(root, "brokers")) {
    broker_ids.add(b);
    BrokerConfig bc;
    bc.id = b.str("id");
    bc.url = b.str("url");
    bc.client_id = b.str("client_id");
    if (bc.client_id.empty()) bc.client_id = "citygate-" + cfg.gateway_id;
    bc.username = b.str("username");
    bc.password_file = b.str("password_file");
    bc.keepalive = std::chrono::seconds{b.integer("keepalive_s")};
    bc.ca_file = b.str("ca_file");
    bc.cert_file = b.str("cert_file");
    bc.key_file = b.str("key_file");
    bc.tls_verify = b.boolean("tls_verify");
    if (bc.cert_file.empty() != bc.key_file.empty())
      diag.error(b.where, fmt::format("{}: 'cert_file' and 'key_file' go together (mTLS needs both)", b.label));
    cfg.brokers.push_back(std::move(bc));
  }

  UniqueIds adapter_ids(diag, "adapter");
  for (const auto& a : list(root, "adapters")) {
    adapter_ids.add(a);
    AdapterInstance ai;
    ai.kind = a.str("kind");
    ai.id = a.str("id");
    std::size_t before = diag.count();
    if (a.adapter) {
      // An adapter that declares a `broker` key subscribes through that configured broker.
      bool has_broker_key = std::any_of(a.adapter->keys.begin(), a.adapter->keys.end(), [](const ConfigKey& k) {
        return k.name == "broker" && k.type == KeyType::string;
      });
      if (has_broker_key && a.has("broker") && !a.str("broker").empty() && !broker_ids.contains(a.str("broker"))) {
        auto ids = broker_ids.ids();
        diag.error(a.pos_of("broker"),
                   fmt::format("'broker' in {} names broker '{}', which is not configured ({})", a.label, a.str("broker"),
                               ids.empty() ? std::string("no [[brokers]] are configured")
                                           : "configured: " + join(ids)));
      }
    }
    std::map<std::string, ConfigValue, std::less<>> settings;
    for (const auto& [k, v] : a.values)
      if (k != "kind" && k != "id" && k != "rate_limit_per_s" && k != "rate_burst" && k != "class") settings.emplace(k, v);
    ai.rate_limit_per_s = a.number("rate_limit_per_s");
    ai.record_class = a.str("class");
    ai.rate_burst = a.number("rate_burst");
    ai.settings = ConfigView(std::move(settings));
    // Let the adapter judge combinations of its keys now, so check-config reports them too.
    if (a.adapter && a.errors == 0 && diag.count() == before && a.adapter->make) {
      auto made = a.adapter->make(ai.id, ai.settings);
      if (!made) diag.error(a.where, fmt::format("{}: {}", a.label, made.error().message));
    }
    cfg.adapters.push_back(std::move(ai));
  }

  UniqueIds device_ids(diag, "device");
  for (const auto& d : list(root, "devices")) {
    device_ids.add(d);
    DeviceConfig dc;
    dc.id = d.str("id");
    dc.name = d.str("name");
    dc.adapter = d.str("adapter");
    dc.profile = d.str("profile");
    dc.zone = d.str("zone");
    if (const auto* tags = d.get("tags")) {
      if (const auto* m = std::get_if<std::vector<std::pair<std::string, std::string>>>(tags)) dc.tags = *m;
    }
    if (!dc.adapter.empty() && d.has("adapter") && !adapter_ids.contains(dc.adapter)) {
      auto ids = adapter_ids.ids();
      diag.error(d.pos_of("adapter"),
                 fmt::format("'adapter' in {} names adapter instance '{}', which is not configured ({})", d.label,
                             dc.adapter, ids.empty() ? std::string("no [[adapters]] are configured") : "configured: " + join(ids)));
    }
    const auto& loc = list(d.children, "location");
    if (!loc.empty() && loc.front().has("lat") && loc.front().has("lon")) {
      dc.lat = loc.front().number("lat");
      dc.lon = loc.front().number("lon");
    }
    cfg.devices.push_back(std::move(dc));
  }
  return cfg;
}

// ---- reading and parsing ----------------------------------------------------------------------

std::optional<std::string> read_text(const fs::path& file, Diag& diag) {
  std::error_code ec;
  if (fs::is_directory(file, ec)) {
    diag.error(diag.file_only(file.string()), "cannot read: is a directory");
    return std::nullopt;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    diag.error(diag.file_only(file.string()), fmt::format("cannot read: {}", std::strerror(errno)));
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    diag.error(diag.file_only(file.string()), "cannot read: I/O error");
    return std::nullopt;
  }
  return ss.str();
}

std::optional<toml::table> parse_doc(std::string_view text, const std::string& name, Diag& diag) {
  try {
    return toml::parse(text, std::string_view{name});
  } catch (const toml::parse_error& e) {
    Pos p = diag.at(e.source());
    p.file = name;
    diag.error(p, std::string(e.description()));
    return std::nullopt;
  }
}

LoadResult finish(toml::table& doc, Diag& diag, const std::vector<std::string>& files) {
  std::set<const toml::node*> bad;
  substitute_env(doc, checks::process_env(), diag, bad);
  Validator v(diag, bad);
  auto root = v.root(doc);
  GatewayConfig cfg = build(root, diag);
  LoadResult r;
  r.errors = diag.take(files);
  if (r.errors.empty()) r.config = std::move(cfg);
  return r;
}

}  // namespace

LoadResult load_config_string(std::string_view toml_text, std::string_view source_name) {
  std::string name(source_name);
  Diag diag(name);
  auto doc = parse_doc(toml_text, name, diag);
  if (!doc) return LoadResult{std::nullopt, diag.take({name})};
  return finish(*doc, diag, {name});
}

LoadResult load_config(const fs::path& file) {
  const std::string main_name = file.string();
  Diag diag(main_name);
  std::vector<std::string> files{main_name};

  std::optional<toml::table> doc;
  if (auto text = read_text(file, diag)) doc = parse_doc(*text, main_name, diag);

  // conf.d/*.toml beside the main file, in lexical order of file name. Dot-files (editor
  // leftovers) and other extensions (.dpkg-dist, ~ backups) are ignored.
  fs::path dir = file.parent_path() / "conf.d";
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    std::vector<fs::path> parts;
    fs::directory_iterator it(dir, ec);
    if (ec) diag.error(diag.file_only(dir.string()), fmt::format("cannot list directory: {}", ec.message()));
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
      const fs::path& p = it->path();
      std::string fname = p.filename().string();
      std::error_code fec;
      if (p.extension() == ".toml" && !fname.starts_with(".") && fs::is_regular_file(p, fec)) parts.push_back(p);
    }
    std::sort(parts.begin(), parts.end(),
              [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
    for (const auto& p : parts) {
      files.push_back(p.string());
      auto text = read_text(p, diag);
      if (!text) continue;
      auto part = parse_doc(*text, p.string(), diag);
      if (part && doc) merge_into(*doc, *part);
    }
  }
  // A syntax error leaves a file's content unknown; checking the rest would only mislead.
  if (!doc || diag.count() > 0) return LoadResult{std::nullopt, diag.take(files)};
  return finish(*doc, diag, files);
}

int check_config(const fs::path& file, std::ostream& out, std::ostream& err) {
  LoadResult r = load_config(file);
  if (!r.config) {
    for (const auto& e : r.errors) err << e.to_string() << '\n';
    if (r.errors.empty()) err << file.string() << ": invalid configuration\n";
    return kExitConfig;
  }
  out << fmt::format("ok: {} ({} adapters, {} devices, {} sinks)\n", file.string(), r.config->adapters.size(),
                     r.config->devices.size(), r.config->uplink.sinks.size());
  return 0;
}

}  // namespace cg::config
