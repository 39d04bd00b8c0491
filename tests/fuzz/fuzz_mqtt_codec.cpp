// libFuzzer: bytes a broker (or anything listening where a broker should be) sends to the
// gateway's MQTT client. The first byte picks the chunk size, so splits are explored too.
#include <cstddef>
#include <cstdint>
#include <string>

#include "transport/mqtt_codec.hpp"

using namespace cg::transport::mqtt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  ++data;
  --size;
  Framer f(4096);
  for (std::size_t at = 0; at < size; at += chunk) {
    f.append(data + at, std::min(chunk, size - at));
    while (true) {
      Packet p;
      Oversize o;
      std::string why;
      auto n = f.next(p, o, why);
      if (n == Framer::Next::need_more) break;
      if (n == Framer::Next::error) return 0;  // the client closes the connection here
      if (n != Framer::Next::packet) continue;
      switch (p.type) {
        case Type::publish: (void)parse_publish(p, why); break;
        case Type::connack: (void)parse_connack(p, why); break;
        case Type::suback: (void)parse_suback(p, why); break;
        default: (void)parse_id(p, why); break;
      }
    }
  }
  return 0;
}
