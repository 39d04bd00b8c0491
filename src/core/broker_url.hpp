#pragma once
// An MQTT broker address as configured: tcp:// or mqtt:// (port 1883 by default), ssl:// or
// mqtts:// (TLS, 8883), then a host name, an IPv4 address or a bracketed IPv6 address, an
// optional port and an optional trailing '/'. Nothing else (no path, no credentials): the ingest
// client and the MQTT sink take the same URLs.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace cg {

struct BrokerUrl {
  std::string host;  // without brackets
  std::uint16_t port = 0;
  bool tls = false;
  bool ipv6 = false;  // the host was given in brackets
};

// Error::fatal("broker_url", why) — `why` does not repeat the URL.
Result<BrokerUrl> parse_broker_url(std::string_view url);

}  // namespace cg
