// Request/Response helpers, the Router and small text utilities. No Beast here: this file is the
// pure part of the HTTP layer.
#include <arpa/inet.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "core/json_writer.hpp"
#include "http/server.hpp"

namespace cg::http {

std::optional<std::string_view> Request::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return std::string_view(v);
  return std::nullopt;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::text(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

Response Response::problem(int status, std::string_view title, std::string_view detail) {
  Response r;
  r.status = status;
  r.content_type = "application/problem+json";
  std::string& b = r.body;
  b = R"({"type":"about:blank","title":)";
  json::append_string(b, title);
  b += R"(,"status":)";
  b += std::to_string(status);
  b += R"(,"detail":)";
  json::append_string(b, detail);
  b += '}';
  return r;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "/a/b/c" → {"a","b","c"}; "/" → {""}; "/a/" → {"a",""}. The leading '/' is required.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;  // fewer than two characters follow
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    auto key = percent_decode(part.substr(0, eq), true);
    auto val = percent_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1), true);
    if (!key || !val) return std::nullopt;
    out.emplace_back(std::move(*key), std::move(*val));
  }
  return out;
}

void Router::add(std::string method, std::string pattern, Handler h) {
  Route r;
  r.method = std::move(method);
  r.handler = std::move(h);
  for (auto seg : split_path(pattern)) {
    Segment s;
    if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
      s.param = true;
      s.text = std::string(seg.substr(1, seg.size() - 2));
    } else {
      s.text = std::string(seg);
    }
    r.segments.push_back(std::move(s));
  }
  routes_.push_back(std::move(r));
}

void Router::dispatch(Request& req, Responder respond) const {
  const auto segs = split_path(req.path);

  auto matches = [&](const Route& r) {
    if (r.segments.size() != segs.size()) return false;
    for (std::size_t i = 0; i < segs.size(); ++i) {
      const auto& p = r.segments[i];
      if (p.param ? segs[i].empty() : p.text != segs[i]) return false;
    }
    return true;
  };
  // true if a is more specific than b (both match the same path): leftmost literal-vs-param wins.
  auto more_specific = [](const Route& a, const Route& b) {
    for (std::size_t i = 0; i < a.segments.size(); ++i) {
      if (a.segments[i].param != b.segments[i].param) return !a.segments[i].param;
    }
    return false;
  };

  std::set<std::string> allowed;
  const Route* best = nullptr;
  const Route* best_get = nullptr;  // fallback for HEAD
  for (const auto& r : routes_) {
    if (!matches(r)) continue;
    allowed.insert(r.method);
    if (r.method == req.method) {
      if (!best || more_specific(r, *best)) best = &r;
    } else if (req.method == "HEAD" && r.method == "GET") {
      if (!best_get || more_specific(r, *best_get)) best_get = &r;
    }
  }
  if (!best) best = best_get;

  if (allowed.empty()) {
    respond(Response::problem(404, "Not Found", "no resource at " + req.path));
    return;
  }
  if (!best) {
    if (allowed.count("GET")) allowed.insert("HEAD");
    std::string allow;
    for (const auto& m : allowed) {
      if (!allow.empty()) allow += ", ";
      allow += m;
    }
    auto res = Response::problem(405, "Method Not Allowed",
                                 fmt::format("{} is not allowed on {}; allowed: {}", req.method, req.path, allow));
    res.headers.emplace_back("Allow", allow);
    respond(std::move(res));
    return;
  }

  req.params.clear();
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const auto& p = best->segments[i];
    if (!p.param) continue;
    auto decoded = percent_decode(segs[i]);
    if (!decoded) {
      respond(Response::problem(400, "Bad Request", "invalid percent-encoding in path segment"));
      return;
    }
    req.params[p.text] = std::move(*decoded);
  }
  best->handler(req, std::move(respond));
}

Result<std::pair<std::string, std::uint16_t>> parse_host_port(std::string_view s) {
  auto bad = [&](std::string_view why) {
    return fail(Error::reject("host_port", fmt::format("invalid listen address '{}': {}", s, why)));
  };
  if (s.empty()) return bad("empty");
  std::string host;
  std::string_view port_text;
  if (s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos) return bad("missing ']' after IPv6 address");
    host = std::string(s.substr(1, close - 1));
    if (close + 1 >= s.size() || s[close + 1] != ':') return bad("expected ':PORT' after ']'");
    port_text = s.substr(close + 2);
    in6_addr a6{};
    if (host.empty() || ::inet_pton(AF_INET6, host.c_str(), &a6) != 1)
      return bad("not an IPv6 address inside [ ]");
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return bad("expected HOST:PORT");
    host = std::string(s.substr(0, colon));
    port_text = s.substr(colon + 1);
    if (host.find(':') != std::string::npos) return bad("IPv6 addresses must be written in brackets, e.g. [::1]:8080");
    in_addr a4{};
    if (host.empty() || ::inet_pton(AF_INET, host.c_str(), &a4) != 1)
      return bad("host must be an IPv4 address (e.g. 127.0.0.1, 0.0.0.0) or a bracketed IPv6 address");
  }
  if (port_text.empty()) return bad("missing port");
  if (port_text.size() > 5) return bad("port out of range");
  std::uint32_t port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') return bad("port is not a number");
    port = port * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (port > 65535) return bad("port out of range (0-65535)");
  return std::pair<std::string, std::uint16_t>{std::move(host), static_cast<std::uint16_t>(port)};
}

}  // namespace cg::http
