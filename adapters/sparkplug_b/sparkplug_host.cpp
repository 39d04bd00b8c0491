#include "sparkplug_b/sparkplug_host.hpp"

#include "core/hash.hpp"

namespace cg::sparkplug {

namespace {

Error reject(std::string code, std::string message) { return Error::reject("sparkplug." + code, std::move(message)); }

std::optional<std::uint64_t> integer(const WireValue& v) {
  if (const auto* u = std::get_if<std::uint32_t>(&v)) return *u;
  if (const auto* u = std::get_if<std::uint64_t>(&v)) return *u;
  return std::nullopt;
}

// The largest ms timestamp whose ns value fits in int64 (year 2262).
constexpr std::uint64_t kMaxTimestampMs = static_cast<std::uint64_t>(INT64_MAX) / 1'000'000;

}  // namespace

std::string_view status_name(Status s) {
  switch (s) {
    case Status::unknown: return "unknown";
    case Status::online: return "online";
    case Status::stale: return "stale";
    case Status::offline: return "offline";
  }
  return "?";
}

HostSession::Node& HostSession::node_of(const Topic& t) {
  auto [it, inserted] = nodes_.try_emplace(t.group + "/" + t.node);
  if (inserted) {
    it->second.group = t.group;
    it->second.node = t.node;
  }
  return it->second;
}

void HostSession::set_node(Node& n, Status s, const std::string& reason, Outcome& out) {
  if (n.status == s) return;
  out.transitions.push_back({n.group + "/" + n.node, false, n.status, s, reason});
  n.status = s;
}

void HostSession::set_device(const Node& n, const std::string& id, Device& d, Status s, const std::string& reason,
                             Outcome& out) {
  if (d.status == s) return;
  out.transitions.push_back({n.group + "/" + n.node + "/" + id, true, d.status, s, reason});
  d.status = s;
}

void HostSession::forget_devices(Node& n, Status s, const std::string& reason, Outcome& out) {
  for (auto& [id, d] : n.devices) {
    d.born = false;
    d.table = {};
    if (d.status == Status::online || d.status == Status::stale) set_device(n, id, d, s, reason, out);
  }
}

void HostSession::ask_rebirth(Node& n, const std::string& reason, SteadyTime now, bool quiet, Outcome& out) {
  if (out.rebirth) return;
  if (n.last_rebirth && now - *n.last_rebirth < opts_.rebirth_min_interval) {
    if (!quiet) out.rebirth_suppressed = true;
    return;
  }
  n.last_rebirth = now;
  out.rebirth = RebirthRequest{n.group, n.node, reason};
}

void HostSession::trouble(Node& n, const Topic& t, const std::string& reason, Scope scope, SteadyTime now,
                          Outcome& out) {
  if (scope == Scope::whole_node) {
    set_node(n, Status::stale, reason, out);
    for (auto& [id, d] : n.devices)
      if (d.status == Status::online) set_device(n, id, d, Status::stale, reason, out);
  } else if (t.device_level()) {
    set_device(n, t.device, n.devices[t.device], Status::stale, reason, out);
    if (!n.born) set_node(n, Status::stale, reason, out);  // heard from, but no valid birth
  } else {
    set_node(n, Status::stale, reason, out);
  }
  ask_rebirth(n, reason, now, false, out);
}

void HostSession::check_seq(Node& n, const Topic& t, const Payload& p, std::uint64_t hash, SteadyTime now,
                            Outcome& out) {
  if (!p.seq) return;  // nothing to check (the specification requires it; we do not invent one)
  if (n.last_seq) {
    if (*p.seq == *n.last_seq && hash == n.last_hash) return;  // a redelivery of the last message
    std::uint64_t expected = (*n.last_seq + 1) % 256;
    if (*p.seq != expected) {
      out.seq_gap = true;
      trouble(n, t, "seq gap: expected " + std::to_string(expected) + ", got " + std::to_string(*p.seq),
              Scope::whole_node, now, out);
    }
  }
  n.last_seq = p.seq;
  n.last_hash = hash;
}

Result<HostSession::Table> HostSession::birth_table(const Payload& p, const Node& n, const Topic& t) const {
  // Aliases are unique across the edge node: a DBIRTH may not reuse the node's or a sibling's.
  std::unordered_map<std::uint64_t, std::string> elsewhere;
  if (t.device_level()) {
    for (const auto& [alias, def] : n.table.by_alias) elsewhere.emplace(alias, def.name);
    for (const auto& [id, d] : n.devices)
      if (id != t.device && d.born)
        for (const auto& [alias, def] : d.table.by_alias) elsewhere.emplace(alias, id + ": " + def.name);
  }
  Table tab;
  for (const auto& m : p.metrics) {
    if (!m.name)
      return fail(reject("no_name", "a birth metric without a name" +
                                        (m.alias ? " (alias " + std::to_string(*m.alias) + ")" : std::string())));
    MetricDef def{*m.name, m.datatype ? m.datatype : inferred_datatype(m.value), m.unit};
    if (m.alias) {
      if (auto it = tab.by_alias.find(*m.alias); it != tab.by_alias.end())
        return fail(reject("duplicate_alias", "alias " + std::to_string(*m.alias) + " names both '" + it->second.name +
                                                  "' and '" + *m.name + "'"));
      if (auto it = elsewhere.find(*m.alias); it != elsewhere.end())
        return fail(reject("duplicate_alias", "alias " + std::to_string(*m.alias) + " of '" + *m.name +
                                                  "' is already used in this edge node by '" + it->second + "'"));
      tab.by_alias.emplace(*m.alias, def);
    }
    tab.by_name.insert_or_assign(*m.name, std::move(def));
  }
  return tab;
}

Result<std::vector<Reading>> HostSession::readings(const Topic& t, const Payload& p, const Table& table,
                                                   TimeNs received) const {
  std::vector<Reading> out;
  std::vector<Leaf> leaves;
  const std::string key = t.device_key();
  for (const auto& m : p.metrics) {
    const MetricDef* def = nullptr;
    const std::string* name = nullptr;
    if (m.name) {
      name = &*m.name;
      if (auto it = table.by_name.find(*m.name); it != table.by_name.end()) def = &it->second;
    } else if (m.alias) {
      auto it = table.by_alias.find(*m.alias);
      if (it == table.by_alias.end())
        return fail(reject("unknown_alias", "alias " + std::to_string(*m.alias) + " is not in the birth of " + key));
      def = &it->second;
      name = &def->name;
    } else {
      return fail(reject("no_name", "a metric with neither name nor alias"));
    }
    if (m.is_transient) continue;  // "should not be stored in a historian"
    std::uint32_t type = m.datatype ? m.datatype : (def ? def->datatype : dt::kUnknown);
    std::size_t first = leaves.size();
    if (auto r = expand(m, type, leaves, opts_.codec); !r) {
      auto e = r.error();
      e.message = "metric '" + *name + "': " + e.message;
      return fail(std::move(e));
    }
    for (std::size_t i = first; i < leaves.size(); ++i) {
      auto& leaf = leaves[i];
      Reading r;
      r.device = key;
      r.metric = *name + leaf.suffix;
      r.value = std::move(leaf.value);
      if (leaf.unit) r.unit = *leaf.unit;
      else if (m.unit) r.unit = *m.unit;
      else if (def && def->unit) r.unit = *def->unit;
      auto ts = leaf.timestamp_ms ? leaf.timestamp_ms : (m.timestamp_ms ? m.timestamp_ms : p.timestamp_ms);
      if (ts) {
        if (*ts > kMaxTimestampMs)
          return fail(reject("timestamp", "metric '" + *name + "': timestamp " + std::to_string(*ts) +
                                              " ms is beyond the year 2262"));
        r.observed = from_unix_ns(static_cast<std::int64_t>(*ts) * 1'000'000);
      } else {
        r.observed = received;
        r.quality |= quality::kTimeFromGateway;
      }
      r.received = received;
      r.src_seq = p.seq;
      out.push_back(std::move(r));
    }
  }
  return out;
}

void HostSession::on_nbirth(Node& n, const Topic& t, const Payload& p, std::uint64_t hash, TimeNs received,
                            SteadyTime now, Outcome& out) {
  // A new session starts whatever the birth's fate: the old births are obsolete.
  n.born = false;
  n.table = {};
  n.bdseq.reset();
  n.last_seq = p.seq;
  n.last_hash = hash;
  forget_devices(n, Status::stale, "new NBIRTH: waiting for its DBIRTH", out);
  auto table = birth_table(p, n, t);
  auto rs = table ? readings(t, p, *table, received) : Result<std::vector<Reading>>(fail(table.error()));
  if (!rs) {
    out.error = rs.error();
    trouble(n, t, "NBIRTH rejected: " + rs.error().code, Scope::whole_node, now, out);
    return;
  }
  for (const auto& m : p.metrics)
    if (m.name && *m.name == kBdSeqMetric) n.bdseq = integer(m.value);
  n.table = std::move(*table);
  n.born = true;
  set_node(n, Status::online, "NBIRTH", out);
  out.readings = std::move(*rs);
}

void HostSession::on_ndeath(Node& n, const Payload& p, Outcome& out) {
  std::optional<std::uint64_t> bdseq;
  for (const auto& m : p.metrics) {
    const std::string* name = m.name ? &*m.name : nullptr;
    if (!name && m.alias)
      if (auto it = n.table.by_alias.find(*m.alias); it != n.table.by_alias.end()) name = &it->second.name;
    if (name && *name == kBdSeqMetric) bdseq = integer(m.value);
  }
  if (n.born && n.bdseq && bdseq && *bdseq != *n.bdseq) {
    out.ndeath_ignored = true;  // the will of an older session, delivered late
    return;
  }
  n.born = false;
  n.table = {};
  n.bdseq.reset();
  n.last_seq.reset();
  forget_devices(n, Status::offline, "NDEATH", out);
  set_node(n, Status::offline, "NDEATH", out);
}

void HostSession::on_dbirth(Node& n, const Topic& t, const Payload& p, std::uint64_t hash, TimeNs received,
                            SteadyTime now, Outcome& out) {
  if (!n.born) {
    out.error = reject("no_birth", "DBIRTH of " + t.device_key() + " without a valid NBIRTH of its edge node");
    trouble(n, t, "DBIRTH before NBIRTH", Scope::message, now, out);
    return;
  }
  check_seq(n, t, p, hash, now, out);
  Device& d = n.devices[t.device];
  d.born = false;
  d.table = {};
  auto table = birth_table(p, n, t);
  auto rs = table ? readings(t, p, *table, received) : Result<std::vector<Reading>>(fail(table.error()));
  if (!rs) {
    out.error = rs.error();
    trouble(n, t, "DBIRTH rejected: " + rs.error().code, Scope::message, now, out);
    return;
  }
  d.table = std::move(*table);
  d.born = true;
  // A device born during a gap's aftermath is as doubtful as its node until the NBIRTH.
  set_device(n, t.device, d, n.status == Status::stale ? Status::stale : Status::online, "DBIRTH", out);
  out.readings = std::move(*rs);
}

void HostSession::on_data(Node& n, const Topic& t, const Payload& p, std::uint64_t hash, TimeNs received,
                          SteadyTime now, Outcome& out) {
  const Device* d = nullptr;
  if (t.device_level()) {
    auto it = n.devices.find(t.device);
    if (it != n.devices.end() && it->second.born) d = &it->second;
  }
  if (!n.born || (t.device_level() && !d)) {
    if (n.born) check_seq(n, t, p, hash, now, out);
    std::string what = !n.born ? "NBIRTH of " + n.group + "/" + n.node : "DBIRTH of " + t.device_key();
    out.error = reject("no_birth", std::string(message_type_name(t.type)) + " without a valid " + what);
    trouble(n, t, "data before birth", Scope::message, now, out);
    return;
  }
  check_seq(n, t, p, hash, now, out);
  auto rs = readings(t, p, d ? d->table : n.table, received);
  if (!rs) {
    out.error = rs.error();
    trouble(n, t, std::string(message_type_name(t.type)) + " rejected: " + rs.error().code, Scope::message, now, out);
    return;
  }
  out.readings = std::move(*rs);
}

void HostSession::on_ddeath(Node& n, const Topic& t, const Payload& p, std::uint64_t hash, SteadyTime now,
                            Outcome& out) {
  if (n.born) check_seq(n, t, p, hash, now, out);
  Device& d = n.devices[t.device];
  d.born = false;
  d.table = {};
  set_device(n, t.device, d, Status::offline, "DDEATH", out);
}

Outcome HostSession::process(std::string_view topic, std::span<const std::uint8_t> payload, TimeNs received,
                             SteadyTime now) {
  Outcome out;
  auto t = parse_topic(topic);
  if (!t) {
    out.error = t.error();
    return out;
  }
  if (t->type == MessageType::ncmd || t->type == MessageType::dcmd || t->type == MessageType::state) {
    out.ignored = true;
    return out;
  }
  Node& n = node_of(*t);
  auto p = parse_payload(payload, opts_.codec);
  if (!p) {
    out.error = p.error();
    // A death we cannot read changes nothing; any other unreadable message is a hole in the data.
    if (t->type != MessageType::ndeath)
      trouble(n, *t, "unreadable " + std::string(message_type_name(t->type)) + ": " + p.error().code,
              t->type == MessageType::nbirth ? Scope::whole_node : Scope::message, now, out);
    return out;
  }
  auto hash = fnv1a(payload);
  switch (t->type) {
    case MessageType::nbirth: on_nbirth(n, *t, *p, hash, received, now, out); break;
    case MessageType::ndeath: on_ndeath(n, *p, out); break;
    case MessageType::dbirth: on_dbirth(n, *t, *p, hash, received, now, out); break;
    case MessageType::ndata:
    case MessageType::ddata: on_data(n, *t, *p, hash, received, now, out); break;
    case MessageType::ddeath: on_ddeath(n, *t, *p, hash, now, out); break;
    default: break;
  }
  // A stale node keeps being asked (a lost NCMD or one sent while the node was offline must not
  // leave it stale for good); the rate limit paces it.
  if (n.status == Status::stale && t->type != MessageType::ndeath) ask_rebirth(n, "still stale", now, true, out);
  return out;
}

Status HostSession::node_status(std::string_view group, std::string_view node) const {
  auto it = nodes_.find(std::string(group) + "/" + std::string(node));
  return it == nodes_.end() ? Status::unknown : it->second.status;
}

Status HostSession::device_status(std::string_view group, std::string_view node, std::string_view device) const {
  auto it = nodes_.find(std::string(group) + "/" + std::string(node));
  if (it == nodes_.end()) return Status::unknown;
  auto d = it->second.devices.find(device);
  return d == it->second.devices.end() ? Status::unknown : d->second.status;
}

bool HostSession::born(const Topic& t) const {
  auto it = nodes_.find(t.group + "/" + t.node);
  if (it == nodes_.end() || !it->second.born) return false;
  if (!t.device_level()) return true;
  auto d = it->second.devices.find(t.device);
  return d != it->second.devices.end() && d->second.born;
}

HostSession::Counts HostSession::counts() const {
  Counts c;
  for (const auto& [key, n] : nodes_) {
    ++c.nodes[static_cast<int>(n.status)];
    for (const auto& [id, d] : n.devices) ++c.devices[static_cast<int>(d.status)];
  }
  return c;
}

}  // namespace cg::sparkplug
