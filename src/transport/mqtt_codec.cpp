#include "transport/mqtt_codec.hpp"

#include <algorithm>

namespace cg::transport::mqtt {

namespace {

void put_u16(std::string& o, std::uint16_t v) {
  o.push_back(static_cast<char>(v >> 8));
  o.push_back(static_cast<char>(v & 0xff));
}

void put_str(std::string& o, std::string_view s) {
  put_u16(o, static_cast<std::uint16_t>(std::min<std::size_t>(s.size(), 65535)));
  o.append(s.substr(0, 65535));
}

void put_bytes(std::string& o, std::span<const std::uint8_t> b) {
  auto n = std::min<std::size_t>(b.size(), 65535);
  put_u16(o, static_cast<std::uint16_t>(n));
  o.append(reinterpret_cast<const char*>(b.data()), n);
}

// fixed header (type, flags, remaining length) + body
std::string frame(Type t, std::uint8_t flags, const std::string& body) {
  std::string o;
  o.reserve(body.size() + 5);
  o.push_back(static_cast<char>((static_cast<std::uint8_t>(t) << 4) | (flags & 0x0f)));
  std::size_t n = body.size();
  do {
    std::uint8_t b = n % 128;
    n /= 128;
    if (n > 0) b |= 0x80;
    o.push_back(static_cast<char>(b));
  } while (n > 0);
  o += body;
  return o;
}

std::uint16_t get_u16(std::string_view b, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(b[at]) << 8) | static_cast<std::uint8_t>(b[at + 1]));
}

bool receivable(std::uint8_t type) {
  switch (static_cast<Type>(type)) {
    case Type::connack:
    case Type::publish:
    case Type::puback:
    case Type::pubrec:
    case Type::pubrel:
    case Type::pubcomp:
    case Type::suback:
    case Type::unsuback:
    case Type::pingresp: return true;
    default: return false;
  }
}

}  // namespace

std::string encode_connect(const ConnectOptions& o) {
  std::string b;
  put_str(b, "MQTT");
  b.push_back(4);  // protocol level: 3.1.1
  std::uint8_t flags = 0;
  if (o.clean_session) flags |= 0x02;
  if (o.will) {
    flags |= 0x04;
    flags |= static_cast<std::uint8_t>((std::clamp(o.will->qos, 0, 2) & 3) << 3);
    if (o.will->retain) flags |= 0x20;
  }
  const bool user = !o.username.empty();
  if (user) flags |= 0x80;
  if (user && !o.password.empty()) flags |= 0x40;
  b.push_back(static_cast<char>(flags));
  put_u16(b, o.keepalive_s);
  put_str(b, o.client_id);
  if (o.will) {
    put_str(b, o.will->topic);
    put_bytes(b, o.will->payload);
  }
  if (user) put_str(b, o.username);
  if (user && !o.password.empty()) put_str(b, o.password);
  return frame(Type::connect, 0, b);
}

std::string encode_subscribe(std::uint16_t id, std::span<const std::pair<std::string, int>> filters) {
  std::string b;
  put_u16(b, id);
  for (const auto& [f, q] : filters) {
    put_str(b, f);
    b.push_back(static_cast<char>(std::clamp(q, 0, 2)));
  }
  return frame(Type::subscribe, 0x02, b);
}

std::string encode_publish(std::string_view topic, std::span<const std::uint8_t> payload, int qos, bool retain,
                           bool dup, std::uint16_t id) {
  std::string b;
  b.reserve(topic.size() + payload.size() + 4);
  put_str(b, topic);
  qos = std::clamp(qos, 0, 2);
  if (qos > 0) put_u16(b, id);
  b.append(reinterpret_cast<const char*>(payload.data()), payload.size());
  std::uint8_t flags = static_cast<std::uint8_t>(qos << 1);
  if (retain) flags |= 0x01;
  if (dup && qos > 0) flags |= 0x08;
  return frame(Type::publish, flags, b);
}

std::string encode_ack(Type t, std::uint16_t id) {
  std::string b;
  put_u16(b, id);
  return frame(t, t == Type::pubrel ? 0x02 : 0, b);
}

std::string encode_pingreq() { return frame(Type::pingreq, 0, {}); }
std::string encode_disconnect() { return frame(Type::disconnect, 0, {}); }

void Framer::append(const std::uint8_t* data, std::size_t n) {
  if (skip_ > 0) {
    auto k = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, n));
    skip_ -= k;
    data += k;
    n -= k;
  }
  if (n == 0) return;
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(reinterpret_cast<const char*>(data), n);
}

void Framer::reset() {
  buf_.clear();
  pos_ = 0;
  skip_ = 0;
}

Framer::Next Framer::next(Packet& p, Oversize& o, std::string& why) {
  std::string_view in(buf_.data() + pos_, buf_.size() - pos_);
  if (in.size() < 2) return Next::need_more;
  const auto h = static_cast<std::uint8_t>(in[0]);
  const std::uint8_t type = h >> 4;
  if (!receivable(type)) {
    why = "packet type " + std::to_string(type) + " is not one a broker sends to a client";
    return Next::error;
  }
  std::uint64_t len = 0;
  std::size_t i = 1;
  for (int mult = 0;; mult += 7) {
    if (i >= in.size()) return Next::need_more;
    if (i > 4) {
      why = "remaining length longer than 4 bytes";
      return Next::error;
    }
    auto b = static_cast<std::uint8_t>(in[i++]);
    len |= static_cast<std::uint64_t>(b & 0x7f) << mult;
    if ((b & 0x80) == 0) break;
  }
  if (len > max_) {
    if (static_cast<Type>(type) != Type::publish) {
      why = "a " + std::to_string(len) + "-byte packet of type " + std::to_string(type) + " (limit " +
            std::to_string(max_) + ")";
      return Next::error;
    }
    const int qos = (h >> 1) & 3;
    if (qos == 3) {
      why = "PUBLISH with QoS 3";
      return Next::error;
    }
    std::string_view body = in.substr(i);
    if (body.size() < 2) return Next::need_more;
    const std::size_t tl = get_u16(body, 0);
    const std::size_t need = 2 + tl + (qos > 0 ? 2 : 0);
    if (need > len) {
      why = "PUBLISH topic longer than the packet";
      return Next::error;
    }
    if (body.size() < need) return Next::need_more;
    o.topic.assign(body.substr(2, tl));
    o.id = qos > 0 ? get_u16(body, 2 + tl) : 0;
    o.qos = qos;
    o.size = len;
    // drop what is buffered of it; the rest is skipped by append()
    const std::uint64_t have = std::min<std::uint64_t>(body.size(), len);
    pos_ += i + static_cast<std::size_t>(have);
    skip_ = len - have;
    return Next::oversize;
  }
  if (in.size() - i < len) return Next::need_more;
  p.type = static_cast<Type>(type);
  p.flags = h & 0x0f;
  p.body = in.substr(i, static_cast<std::size_t>(len));
  pos_ += i + static_cast<std::size_t>(len);
  return Next::packet;
}

std::optional<Publish> parse_publish(const Packet& p, std::string& why) {
  Publish r;
  r.qos = (p.flags >> 1) & 3;
  r.retain = (p.flags & 1) != 0;
  r.dup = (p.flags & 8) != 0;
  if (r.qos == 3) {
    why = "PUBLISH with QoS 3";
    return std::nullopt;
  }
  if (p.body.size() < 2) {
    why = "PUBLISH without a topic";
    return std::nullopt;
  }
  const std::size_t tl = get_u16(p.body, 0);
  const std::size_t hdr = 2 + tl + (r.qos > 0 ? 2 : 0);
  if (p.body.size() < hdr) {
    why = "PUBLISH shorter than its topic and packet id";
    return std::nullopt;
  }
  r.topic = p.body.substr(2, tl);
  if (r.qos > 0) {
    r.id = get_u16(p.body, 2 + tl);
    if (r.id == 0) {
      why = "PUBLISH with QoS > 0 and packet id 0";
      return std::nullopt;
    }
  }
  r.payload = {reinterpret_cast<const std::uint8_t*>(p.body.data()) + hdr, p.body.size() - hdr};
  return r;
}

std::optional<std::pair<int, bool>> parse_connack(const Packet& p, std::string& why) {
  if (p.type != Type::connack || p.body.size() != 2) {
    why = "malformed CONNACK";
    return std::nullopt;
  }
  return std::pair<int, bool>{static_cast<std::uint8_t>(p.body[1]), (p.body[0] & 1) != 0};
}

std::optional<std::pair<std::uint16_t, std::vector<std::uint8_t>>> parse_suback(const Packet& p, std::string& why) {
  if (p.type != Type::suback || p.body.size() < 3) {
    why = "malformed SUBACK";
    return std::nullopt;
  }
  std::vector<std::uint8_t> codes(p.body.begin() + 2, p.body.end());
  return std::pair{get_u16(p.body, 0), std::move(codes)};
}

std::optional<std::uint16_t> parse_id(const Packet& p, std::string& why) {
  if (p.body.size() != 2) {
    why = "malformed acknowledgement (" + std::to_string(p.body.size()) + "-byte body)";
    return std::nullopt;
  }
  return get_u16(p.body, 0);
}

std::string_view connack_reason(int code) {
  switch (code) {
    case 0: return "accepted";
    case 1: return "unacceptable protocol version";
    case 2: return "client identifier rejected";
    case 3: return "server unavailable";
    case 4: return "bad user name or password";
    case 5: return "not authorized";
    default: return "unknown return code";
  }
}

}  // namespace cg::transport::mqtt
