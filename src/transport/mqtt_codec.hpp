#pragma once
// MQTT 3.1.1 (OASIS standard) packets as bytes: what the gateway's own MQTT client sends and
// receives. Pure: no sockets, no threads, no allocation beyond the returned strings; fuzzed.
//
// Why our own client: the delivery contract (DESIGN §4) needs the PUBACK to leave only after the
// readings of a message are committed. Both MQTT client libraries Debian packages acknowledge a
// QoS 1 PUBLISH as soon as it is read from the socket, before the application sees it (Paho C:
// MQTTProtocol_handlePublishes; libmosquitto: handle__publish, upstream issues #118 and #2884),
// so a crash loses every message they hold. Only the packets a subscribing gateway needs are here.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cg::transport::mqtt {

enum class Type : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
};

struct Will {
  std::string topic;
  std::vector<std::uint8_t> payload;
  int qos = 0;
  bool retain = false;
};

struct ConnectOptions {
  std::string client_id;
  std::string username;  // empty: none
  std::string password;  // empty: none (only sent with a user name, as 3.1.1 requires)
  std::uint16_t keepalive_s = 30;
  bool clean_session = false;
  std::optional<Will> will;
};

std::string encode_connect(const ConnectOptions& o);
std::string encode_subscribe(std::uint16_t id, std::span<const std::pair<std::string, int>> filters);
std::string encode_publish(std::string_view topic, std::span<const std::uint8_t> payload, int qos, bool retain,
                           bool dup, std::uint16_t id);
// PUBACK, PUBREC, PUBREL (flags 0010 as the standard requires) or PUBCOMP.
std::string encode_ack(Type t, std::uint16_t id);
std::string encode_pingreq();
std::string encode_disconnect();

// One packet cut from the stream; `body` (variable header + payload) points into the framer's
// buffer and is valid until the next call to Framer::next or Framer::append.
struct Packet {
  Type type{};
  std::uint8_t flags = 0;
  std::string_view body;
};

// A PUBLISH too large to keep (remaining length > max_packet): its header fields are read and the
// rest of it is skipped as it arrives, so it can be acknowledged and recorded as rejected.
struct Oversize {
  std::string topic;
  std::uint16_t id = 0;
  int qos = 0;
  std::uint64_t size = 0;
};

// Cuts a byte stream into packets.
class Framer {
 public:
  explicit Framer(std::size_t max_packet) : max_(max_packet) {}
  void append(const std::uint8_t* data, std::size_t n);
  enum class Next { need_more, packet, oversize, error };
  // error: the stream is not MQTT (bad remaining length, reserved packet type, oversized
  // non-PUBLISH); `why` says what, and the connection must be closed.
  Next next(Packet& p, Oversize& o, std::string& why);
  void reset();
  std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::size_t max_;
  std::string buf_;
  std::size_t pos_ = 0;
  std::uint64_t skip_ = 0;  // bytes of an oversized PUBLISH still to discard
};

struct Publish {
  std::string_view topic;
  std::uint16_t id = 0;  // 0 for QoS 0
  int qos = 0;
  bool retain = false;
  bool dup = false;
  std::span<const std::uint8_t> payload;
};

// nullopt with `why` set when the packet is malformed (protocol violation: close the connection).
std::optional<Publish> parse_publish(const Packet& p, std::string& why);
// CONNACK: the return code (0 accepted; 1..5 refused) and session present.
std::optional<std::pair<int, bool>> parse_connack(const Packet& p, std::string& why);
// SUBACK: packet id and one return code per filter (0x80: refused).
std::optional<std::pair<std::uint16_t, std::vector<std::uint8_t>>> parse_suback(const Packet& p, std::string& why);
// PUBACK/PUBREC/PUBREL/PUBCOMP/UNSUBACK: the packet id.
std::optional<std::uint16_t> parse_id(const Packet& p, std::string& why);

// Text for a CONNACK return code.
std::string_view connack_reason(int code);

}  // namespace cg::transport::mqtt
