#include "app/decode_cmd.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "adapter_api/adapter.hpp"
#include "config/config.hpp"
#include "core/clock.hpp"
#include "core/json_writer.hpp"
#include "core/time_format.hpp"

namespace cg::app {

namespace {

constexpr int kOk = 0, kUsage = 64, kDataErr = 65, kNoInput = 66;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

bool read_input(const std::string& path, std::string& out) {
  if (path == "-") {
    out.assign(std::istreambuf_iterator<char>(std::cin), {});
    return true;
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out.assign(std::istreambuf_iterator<char>(f), {});
  return !f.bad();
}

// "POST /path HTTP/1.1\r\n": a whole HTTP request was saved to the file.
bool looks_like_http_request(const std::string& s) {
  auto eol = s.find('\n');
  if (eol == std::string::npos) return false;
  std::string line = s.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  auto sp1 = line.find(' ');
  auto sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) return false;
  for (std::size_t i = 0; i < sp1; ++i)
    if (!std::isupper(static_cast<unsigned char>(line[i]))) return false;
  return line.compare(sp2 + 1, 7, "HTTP/1.") == 0;
}

// Splits a saved HTTP request into headers and body (Content-Length bounds the body when given).
void split_http_request(const std::string& s, DecodeInput& in, std::string& body, std::string& target) {
  std::size_t pos = 0;
  auto next_line = [&](std::string& line) {
    auto eol = s.find('\n', pos);
    if (eol == std::string::npos) {
      line = s.substr(pos);
      pos = s.size();
      return;
    }
    line = s.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    pos = eol + 1;
  };
  std::string line;
  next_line(line);
  auto sp1 = line.find(' ');
  target = line.substr(sp1 + 1, line.rfind(' ') - sp1 - 1);
  while (pos < s.size()) {
    next_line(line);
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    in.headers.emplace_back(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
  }
  body = s.substr(pos);
  for (const auto& [k, v] : in.headers)
    if (k == "content-length") {
      try {
        auto n = std::stoull(v);
        if (n < body.size()) body.resize(n);
      } catch (...) {
      }
    }
}

void print_reading(const Reading& r) {
  std::string o = "{\"device\":";
  json::append_string(o, r.device);
  o += ",\"metric\":";
  json::append_string(o, r.metric);
  o += ",\"value\":";
  json::append_value(o, r.value);
  o += ",\"unit\":";
  json::append_string(o, r.unit);
  o += ",\"observed_at\":";
  json::append_string(o, format_rfc3339_ms(r.observed));
  if (r.src_seq) o += ",\"src_seq\":" + std::to_string(*r.src_seq);
  if (!r.tags.empty()) {
    o += ",\"tags\":";
    auto tags = r.tags;
    std::sort(tags.begin(), tags.end());
    json::append_tags(o, tags);
  }
  o += "}\n";
  std::cout << o;
}

}  // namespace

int run_decode(const DecodeArgs& a) {
  const auto* desc = find_adapter(a.kind);
  if (!desc) {
    std::cerr << "citygate decode: unknown kind '" << a.kind << "'; known:";
    for (const auto& d : adapter_registry()) std::cerr << " " << d.kind;
    std::cerr << "\n";
    return kUsage;
  }
  if (!desc->decoder) {
    std::cerr << "citygate decode: adapter '" << a.kind << "' has no payload to decode\n";
    return kUsage;
  }
  if (!a.precision.empty() && a.precision != "ns" && a.precision != "us" && a.precision != "ms" && a.precision != "s") {
    std::cerr << "citygate decode: --precision must be ns, us, ms or s\n";
    return kUsage;
  }
  TimeNs now = SystemClock{}.now();
  if (!a.now.empty()) {
    auto t = parse_rfc3339(a.now);
    if (!t) {
      std::cerr << "citygate decode: --now is not an RFC 3339 time: " << a.now << "\n";
      return kUsage;
    }
    now = *t;
  }
  std::vector<std::pair<std::string, std::string>> extra_headers;
  for (const auto& h : a.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      std::cerr << "citygate decode: --header must be 'Name: value': " << h << "\n";
      return kUsage;
    }
    extra_headers.emplace_back(lower(trim(h.substr(0, colon))), trim(h.substr(colon + 1)));
  }

  ConfigView settings = config::default_settings(desc->keys);
  if (!a.config.empty()) {
    auto loaded = config::load_config(a.config);
    if (!loaded.config) {
      for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
      return kUsage;
    }
    bool found = false;
    for (const auto& inst : loaded.config->adapters)
      if (inst.kind == a.kind) {
        settings = inst.settings;
        found = true;
        break;
      }
    if (!found) {
      std::cerr << "citygate decode: " << a.config << " has no [[adapters]] of kind '" << a.kind << "'\n";
      return kUsage;
    }
  }
  auto session = desc->decoder(settings);
  if (!session) {
    std::cerr << "citygate decode: " << session.error().message << "\n";
    return kUsage;
  }

  int rc = kOk;
  for (const auto& file : a.files) {
    std::string data;
    if (!read_input(file, data)) {
      std::cerr << "citygate decode: cannot read " << file << "\n";
      return kNoInput;
    }
    DecodeInput in;
    in.topic = a.topic;
    in.now = now;
    in.precision = a.precision;
    in.profile = a.profile;
    std::string body, target;
    if (looks_like_http_request(data)) {
      split_http_request(data, in, body, target);
    } else {
      body = std::move(data);
    }
    for (const auto& h : extra_headers) in.headers.push_back(h);
    in.payload = {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()};
    auto out = (*session)->decode(in);
    for (const auto& r : out.readings) print_reading(r);
    for (const auto& e : out.errors) {
      std::cerr << file << ": " << e.code << ": " << e.message << "\n";
      rc = kDataErr;
    }
  }
  std::cout.flush();
  return rc;
}

namespace {
void append_config_value(std::string& o, const ConfigValue& v) {
  struct V {
    std::string& o;
    void operator()(const std::string& s) { json::append_string(o, s); }
    void operator()(std::int64_t i) { o += std::to_string(i); }
    void operator()(double d) { json::append_double(o, d); }
    void operator()(bool b) { o += b ? "true" : "false"; }
    void operator()(const std::vector<std::string>& l) {
      o += '[';
      for (std::size_t i = 0; i < l.size(); ++i) {
        if (i) o += ',';
        json::append_string(o, l[i]);
      }
      o += ']';
    }
    void operator()(const std::vector<std::pair<std::string, std::string>>& m) { json::append_tags(o, m); }
  };
  std::visit(V{o}, v);
}
}  // namespace

int run_describe_adapters(const std::string& format, const std::string& kind) {
  if (!kind.empty() && !find_adapter(kind)) {
    std::cerr << "citygate describe-adapters: unknown kind '" << kind << "'\n";
    return kUsage;
  }
  auto wanted = [&](const AdapterDescriptor& d) { return kind.empty() || d.kind == kind; };
  if (format == "md" && !kind.empty()) {
    std::cout << config::describe_keys_markdown(find_adapter(kind)->keys);
    return kOk;
  }
  if (format == "md") {
    for (const auto& d : adapter_registry()) {
      std::cout << "## `" << d.kind << "`\n\n" << d.summary << "\n\n" << config::describe_keys_markdown(d.keys) << "\n";
    }
    return kOk;
  }
  if (format != "json") {
    std::cerr << "citygate describe-adapters: --format must be md or json\n";
    return kUsage;
  }
  std::string o = "[";
  bool first = true;
  for (const auto& d : adapter_registry()) {
    if (!wanted(d)) continue;
    if (!first) o += ',';
    first = false;
    o += "{\"kind\":";
    json::append_string(o, d.kind);
    o += ",\"summary\":";
    json::append_string(o, d.summary);
    o += ",\"keys\":[";
    auto defaults = config::default_settings(d.keys);
    for (std::size_t i = 0; i < d.keys.size(); ++i) {
      const auto& k = d.keys[i];
      if (i) o += ',';
      o += "{\"name\":";
      json::append_string(o, k.name);
      o += ",\"type\":";
      json::append_string(o, key_type_name(k.type));
      o += ",\"default\":";
      auto it = defaults.values().find(k.name);
      if (it == defaults.values().end()) o += "null";
      else append_config_value(o, it->second);
      o += ",\"required\":";
      o += k.required ? "true" : "false";
      o += ",\"doc\":";
      json::append_string(o, k.doc);
      o += '}';
    }
    o += "]}";
  }
  o += "]\n";
  std::cout << o;
  return kOk;
}

}  // namespace cg::app
