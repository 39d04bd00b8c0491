#include "core/broker_url.hpp"

#include <charconv>

namespace cg {

Result<BrokerUrl> parse_broker_url(std::string_view url) {
  auto bad = [](std::string why) { return fail(Error::fatal("broker_url", std::move(why))); };
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return bad("expected tcp://host:port, ssl://host:port or mqtts://host:port");
  std::string_view scheme = url.substr(0, sep);
  std::string_view rest = url.substr(sep + 3);
  BrokerUrl u;
  int port = 1883;
  if (scheme == "ssl" || scheme == "mqtts") {
    u.tls = true;
    port = 8883;
  } else if (scheme != "tcp" && scheme != "mqtt") {
    return bad("unsupported scheme '" + std::string(scheme) + "' (tcp, mqtt, ssl, mqtts)");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty()) return bad("no host");
  if (rest.find_first_of("/?#@ ") != std::string_view::npos) return bad("only host and port are allowed");
  std::string_view host, port_text;
  if (rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return bad("unterminated [IPv6 address]");
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("unexpected text after ]");
      port_text = after.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
    u.ipv6 = true;
  } else {
    auto colon = rest.find(':');
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = rest.substr(colon + 1);
      if (port_text.find(':') != std::string_view::npos) return bad("put an IPv6 address in brackets");
      if (port_text.empty()) return bad("empty port");
    }
  }
  if (host.empty()) return bad("no host");
  if (!port_text.empty()) {
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || port < 1 || port > 65535)
      return bad("port must be 1-65535");
  }
  u.host = std::string(host);
  u.port = static_cast<std::uint16_t>(port);
  return u;
}

}  // namespace cg
