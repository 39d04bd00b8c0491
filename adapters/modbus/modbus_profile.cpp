#include "modbus/modbus_profile.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include <toml++/toml.h>

namespace cg::modbus {

std::string_view function_name(Function f) { return f == Function::input ? "input" : "holding"; }

std::string_view kind_name(ValueKind k) {
  switch (k) {
    case ValueKind::int16: return "int16";
    case ValueKind::uint16: return "uint16";
    case ValueKind::int32: return "int32";
    case ValueKind::uint32: return "uint32";
    case ValueKind::float32: return "float32";
  }
  return "?";
}

std::string_view word_order_name(WordOrder o) {
  switch (o) {
    case WordOrder::abcd: return "abcd";
    case WordOrder::cdab: return "cdab";
    case WordOrder::badc: return "badc";
    case WordOrder::dcba: return "dcba";
  }
  return "?";
}

namespace {

Error profile_error(std::string_view source, const toml::node* at, const std::string& what) {
  std::string where(source);
  if (at && at->source().begin.line) {
    where += ":" + std::to_string(at->source().begin.line) + ":" + std::to_string(at->source().begin.column);
  }
  return Error::fatal("profile", "profile " + where + ": " + what);
}

std::optional<WordOrder> parse_order(std::string_view s) {
  for (auto o : {WordOrder::abcd, WordOrder::cdab, WordOrder::badc, WordOrder::dcba})
    if (word_order_name(o) == s) return o;
  return std::nullopt;
}

std::optional<ValueKind> parse_kind(std::string_view s) {
  for (auto k : {ValueKind::int16, ValueKind::uint16, ValueKind::int32, ValueKind::uint32, ValueKind::float32})
    if (kind_name(k) == s) return k;
  return std::nullopt;
}

// Reads an optional integer key within [lo, hi].
Result<std::optional<std::int64_t>> int_key(const toml::table& t, std::string_view key, std::int64_t lo,
                                            std::int64_t hi, std::string_view source, const std::string& ctx) {
  const toml::node* n = t.get(key);
  if (!n) return std::optional<std::int64_t>{};
  const auto* v = n->as_integer();
  if (!v) return fail(profile_error(source, n, ctx + "'" + std::string(key) + "' must be an integer"));
  if (v->get() < lo || v->get() > hi)
    return fail(profile_error(source, n,
                              ctx + "'" + std::string(key) + "' must be " + std::to_string(lo) + ".." + std::to_string(hi) +
                                  ", not " + std::to_string(v->get())));
  return std::optional<std::int64_t>{v->get()};
}

Result<std::optional<std::string>> string_key(const toml::table& t, std::string_view key, std::string_view source,
                                              const std::string& ctx) {
  const toml::node* n = t.get(key);
  if (!n) return std::optional<std::string>{};
  const auto* v = n->as_string();
  if (!v) return fail(profile_error(source, n, ctx + "'" + std::string(key) + "' must be a string"));
  return std::optional<std::string>{v->get()};
}

Result<void> only_keys(const toml::table& t, std::initializer_list<std::string_view> allowed, std::string_view source,
                       const std::string& ctx) {
  for (auto&& [k, v] : t) {
    if (std::find(allowed.begin(), allowed.end(), k.str()) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return fail(profile_error(source, &v, ctx + "unknown key '" + std::string(k.str()) + "' (known: " + list + ")"));
    }
  }
  return {};
}

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

Result<Register> parse_register(const toml::table& t, std::size_t index, WordOrder default_order,
                                std::string_view source) {
  std::string ctx = "registers[" + std::to_string(index) + "]: ";
  Register reg;
  auto metric = string_key(t, "metric", source, ctx);
  if (!metric) return fail(metric.error());
  if (!*metric || (*metric)->empty()) return fail(profile_error(source, &t, ctx + "'metric' is required"));
  reg.metric = **metric;
  ctx = "registers[" + std::to_string(index) + "] '" + reg.metric + "': ";
  if (auto r = only_keys(t, {"metric", "function", "address", "type", "word_order", "scale", "unit"}, source, ctx); !r)
    return fail(r.error());

  auto function = string_key(t, "function", source, ctx);
  if (!function) return fail(function.error());
  if (!*function) return fail(profile_error(source, &t, ctx + "'function' is required (input or holding)"));
  if (**function == "input") reg.function = Function::input;
  else if (**function == "holding") reg.function = Function::holding;
  else
    return fail(profile_error(source, t.get("function"),
                              ctx + "'function' must be \"input\" or \"holding\", not \"" + **function + "\""));

  auto type = string_key(t, "type", source, ctx);
  if (!type) return fail(type.error());
  if (!*type) return fail(profile_error(source, &t, ctx + "'type' is required"));
  auto kind = parse_kind(**type);
  if (!kind)
    return fail(profile_error(source, t.get("type"),
                              ctx + "'type' must be int16, uint16, int32, uint32 or float32, not \"" + **type + "\""));
  reg.kind = *kind;

  auto address = int_key(t, "address", 0, 65536 - width(reg.kind), source, ctx);
  if (!address) return fail(address.error());
  if (!*address) return fail(profile_error(source, &t, ctx + "'address' is required (0-based PDU address)"));
  reg.address = static_cast<std::uint16_t>(**address);

  reg.order = default_order;
  auto order = string_key(t, "word_order", source, ctx);
  if (!order) return fail(order.error());
  if (*order) {
    if (width(reg.kind) != 2)
      return fail(profile_error(source, t.get("word_order"), ctx + "'word_order' applies to 32-bit types only"));
    auto o = parse_order(**order);
    if (!o)
      return fail(profile_error(source, t.get("word_order"),
                                ctx + "'word_order' must be abcd, cdab, badc or dcba, not \"" + **order + "\""));
    reg.order = *o;
  }

  if (const toml::node* n = t.get("scale")) {
    std::optional<double> s;
    if (const auto* f = n->as_floating_point()) s = f->get();
    else if (const auto* i = n->as_integer()) s = static_cast<double>(i->get());
    if (!s) return fail(profile_error(source, n, ctx + "'scale' must be a number"));
    if (!std::isfinite(*s) || *s == 0.0)
      return fail(profile_error(source, n, ctx + "'scale' must be a finite number other than 0"));
    reg.scale = *s;
  }

  auto unit = string_key(t, "unit", source, ctx);
  if (!unit) return fail(unit.error());
  if (*unit) reg.unit = **unit;
  return reg;
}

}  // namespace

Result<Profile> parse_profile(std::string_view toml_text, std::string_view source, std::string_view name) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    // toml++ exceptions stop here (DESIGN §8): the caller gets a value.
    return fail(Error::fatal("profile", "profile " + std::string(source) + ":" +
                                            std::to_string(e.source().begin.line) + ":" +
                                            std::to_string(e.source().begin.column) + ": " +
                                            std::string(e.description())));
  }
  const std::string top;
  if (auto r = only_keys(root, {"name", "description", "word_order", "max_registers_per_read", "max_gap", "registers"},
                         source, top);
      !r)
    return fail(r.error());

  Profile p;
  auto pname = string_key(root, "name", source, top);
  if (!pname) return fail(pname.error());
  if (*pname && !name.empty() && **pname != name)
    return fail(profile_error(source, root.get("name"),
                              "'name' is \"" + **pname + "\" but the file is named \"" + std::string(name) + "\""));
  p.name = *pname ? **pname : std::string(name);
  if (!valid_name(p.name))
    return fail(profile_error(source, root.get("name"), "profile name must be [A-Za-z0-9_.-]+, not \"" + p.name + "\""));
  auto desc = string_key(root, "description", source, top);
  if (!desc) return fail(desc.error());
  if (*desc) p.description = **desc;

  WordOrder order = WordOrder::abcd;
  auto o = string_key(root, "word_order", source, top);
  if (!o) return fail(o.error());
  if (*o) {
    auto parsed = parse_order(**o);
    if (!parsed)
      return fail(profile_error(source, root.get("word_order"),
                                "'word_order' must be abcd, cdab, badc or dcba, not \"" + **o + "\""));
    order = *parsed;
  }
  auto maxr = int_key(root, "max_registers_per_read", 1, kMaxReadRegisters, source, top);
  if (!maxr) return fail(maxr.error());
  if (*maxr) p.max_registers_per_read = static_cast<int>(**maxr);
  auto gap = int_key(root, "max_gap", 0, kMaxReadRegisters - 1, source, top);
  if (!gap) return fail(gap.error());
  if (*gap) p.max_gap = static_cast<int>(**gap);

  const toml::node* regs = root.get("registers");
  const toml::array* arr = regs ? regs->as_array() : nullptr;
  if (!arr || arr->empty())
    return fail(profile_error(source, regs, "a profile needs at least one [[registers]] entry"));
  if (arr->size() > kMaxProfileRegisters)
    return fail(profile_error(source, regs, "more than " + std::to_string(kMaxProfileRegisters) + " registers"));
  std::set<std::string, std::less<>> metrics;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& n = *arr->get(i);
    const auto* t = n.as_table();
    if (!t) return fail(profile_error(source, &n, "registers[" + std::to_string(i) + "] must be a table"));
    auto reg = parse_register(*t, i, order, source);
    if (!reg) return fail(reg.error());
    if (!metrics.insert(reg->metric).second)
      return fail(profile_error(source, &n, "registers[" + std::to_string(i) + "]: metric '" + reg->metric +
                                                "' appears twice"));
    if (width(reg->kind) > p.max_registers_per_read)
      return fail(profile_error(source, &n, "registers[" + std::to_string(i) + "] '" + reg->metric +
                                                "' is wider than max_registers_per_read"));
    p.registers.push_back(std::move(*reg));
  }

  // Two entries sharing a register are almost always a typo in an address; refuse them.
  std::vector<std::size_t> idx(p.registers.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
    const auto& ra = p.registers[a];
    const auto& rb = p.registers[b];
    return std::pair(ra.function, ra.address) < std::pair(rb.function, rb.address);
  });
  for (std::size_t k = 1; k < idx.size(); ++k) {
    const auto& prev = p.registers[idx[k - 1]];
    const auto& cur = p.registers[idx[k]];
    if (prev.function == cur.function && cur.address < prev.end())
      return fail(Error::fatal("profile", "profile " + std::string(source) + ": registers '" + prev.metric + "' and '" +
                                              cur.metric + "' overlap (" + std::string(function_name(cur.function)) +
                                              " address " + std::to_string(cur.address) + ")"));
  }
  return p;
}

Result<Profile> load_profile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(Error::fatal("profile", "profile " + file.string() + ": cannot be read"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return fail(Error::fatal("profile", "profile " + file.string() + ": read error"));
  return parse_profile(ss.str(), file.string(), file.stem().string());
}


std::vector<ReadBlock> plan_reads(const Profile& p) {
  std::vector<ReadBlock> out;
  for (Function f : {Function::input, Function::holding}) {
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < p.registers.size(); ++i)
      if (p.registers[i].function == f) idx.push_back(i);
    std::sort(idx.begin(), idx.end(),
              [&](std::size_t a, std::size_t b) { return p.registers[a].address < p.registers[b].address; });
    ReadBlock cur;
    int cur_end = -1;  // one past the last register of `cur`; -1: no open block
    for (std::size_t i : idx) {
      const Register& r = p.registers[i];
      bool fits = cur_end >= 0 && r.address <= cur_end + p.max_gap && r.end() - cur.start <= p.max_registers_per_read;
      if (!fits) {
        if (cur_end >= 0) out.push_back(std::move(cur));
        cur = ReadBlock{f, r.address, 0, {}};
        cur_end = r.address;
      }
      cur.regs.push_back(i);
      cur_end = std::max(cur_end, r.end());
      cur.count = static_cast<std::uint16_t>(cur_end - cur.start);
    }
    if (cur_end >= 0) out.push_back(std::move(cur));
  }
  return out;
}

}  // namespace cg::modbus
