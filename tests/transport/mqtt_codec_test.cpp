// MQTT 3.1.1 packets: the bytes the standard prescribes, and a framer that survives any split
// and any garbage.
#include <catch2/catch.hpp>

#include "transport/mqtt_codec.hpp"

using namespace cg::transport::mqtt;

namespace {

std::string bytes(std::initializer_list<int> v) {
  std::string s;
  for (int b : v) s.push_back(static_cast<char>(b));
  return s;
}

std::span<const std::uint8_t> span_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Feeds `stream` to a framer `chunk` bytes at a time; returns the packets (type, flags, body).
struct Cut {
  std::vector<std::tuple<Type, int, std::string>> packets;
  std::vector<Oversize> oversize;
  std::string error;
};
Cut cut(const std::string& stream, std::size_t chunk, std::size_t max_packet = 1 << 20) {
  Framer f(max_packet);
  Cut c;
  for (std::size_t at = 0; at < stream.size() && c.error.empty(); at += chunk) {
    auto piece = stream.substr(at, chunk);
    f.append(reinterpret_cast<const std::uint8_t*>(piece.data()), piece.size());
    while (true) {
      Packet p;
      Oversize o;
      auto n = f.next(p, o, c.error);
      if (n == Framer::Next::need_more || n == Framer::Next::error) break;
      if (n == Framer::Next::packet) c.packets.emplace_back(p.type, p.flags, std::string(p.body));
      if (n == Framer::Next::oversize) c.oversize.push_back(o);
    }
  }
  return c;
}

}  // namespace

TEST_CASE("CONNECT carries protocol level 4, the flags, keepalive, client id, will and credentials",
          "[transport][mqtt]") {
  ConnectOptions o;
  o.client_id = "gw";
  o.keepalive_s = 30;
  o.clean_session = false;
  // no will, no credentials: OASIS 3.1.1 §3.1 layout
  CHECK(encode_connect(o) == bytes({0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x00, 0, 30, 0, 2, 'g', 'w'}));
  o.clean_session = true;
  o.username = "u";
  o.password = "p";
  o.will = Will{"t", {'x'}, 1, true};
  // flags: user 0x80, password 0x40, will retain 0x20, will QoS 1 0x08, will 0x04, clean 0x02
  CHECK(encode_connect(o) == bytes({0x10, 26, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xEE, 0, 30, 0, 2, 'g', 'w', 0, 1, 't', 0,
                                    1, 'x', 0, 1, 'u', 0, 1, 'p'}));
  // a password without a user name is not sent (3.1.1 §3.1.2.9)
  o.username.clear();
  o.will.reset();
  CHECK((static_cast<std::uint8_t>(encode_connect(o)[9]) & 0xC0) == 0);
}

TEST_CASE("SUBSCRIBE, acknowledgements and PUBLISH encode as the standard says", "[transport][mqtt]") {
  std::vector<std::pair<std::string, int>> fs{{"a/#", 1}, {"b", 0}};
  CHECK(encode_subscribe(10, fs) == bytes({0x82, 12, 0, 10, 0, 3, 'a', '/', '#', 1, 0, 1, 'b', 0}));
  CHECK(encode_ack(Type::puback, 0x1234) == bytes({0x40, 2, 0x12, 0x34}));
  CHECK(encode_ack(Type::pubrec, 7) == bytes({0x50, 2, 0, 7}));
  CHECK(encode_ack(Type::pubrel, 7) == bytes({0x62, 2, 0, 7}));  // PUBREL's reserved flags are 0010
  CHECK(encode_ack(Type::pubcomp, 7) == bytes({0x70, 2, 0, 7}));
  CHECK(encode_pingreq() == bytes({0xC0, 0}));
  CHECK(encode_disconnect() == bytes({0xE0, 0}));
  std::string pl = "hi";
  CHECK(encode_publish("t", span_of(pl), 1, true, true, 5) == bytes({0x3B, 7, 0, 1, 't', 0, 5, 'h', 'i'}));
  CHECK(encode_publish("t", span_of(pl), 0, false, true, 5) == bytes({0x30, 5, 0, 1, 't', 'h', 'i'}));  // no DUP, no id at QoS 0
}

TEST_CASE("remaining length uses up to four bytes, and a PUBLISH survives every split", "[transport][mqtt]") {
  for (std::size_t size : {0u, 1u, 120u, 127u - 5u, 200u, 16383u, 16384u, 70000u, 2100000u}) {
    std::string payload(size, 'p');
    for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);
    auto pkt = encode_publish("city/air/x", span_of(payload), 1, false, false, 42);
    std::string stream = pkt + encode_ack(Type::puback, 9);
    for (std::size_t chunk : {1u, 3u, 1000u, 65536u}) {
      if (chunk == 1 && size > 70000) continue;  // byte by byte: slow, and proven by the smaller sizes
      auto c = cut(stream, chunk, 4u << 20);
      INFO("size " << size << " chunk " << chunk);
      REQUIRE(c.error.empty());
      REQUIRE(c.packets.size() == 2);
      auto& [type, flags, body] = c.packets[0];
      REQUIRE(type == Type::publish);
      Packet p{type, static_cast<std::uint8_t>(flags), body};
      std::string why;
      auto pub = parse_publish(p, why);
      REQUIRE(pub);
      CHECK(pub->topic == "city/air/x");
      CHECK(pub->id == 42);
      CHECK(pub->qos == 1);
      CHECK(std::string(reinterpret_cast<const char*>(pub->payload.data()), pub->payload.size()) == payload);
      CHECK(std::get<0>(c.packets[1]) == Type::puback);
    }
  }
}

TEST_CASE("a PUBLISH over the limit is reported with its topic and id, skipped, and the stream goes on",
          "[transport][mqtt]") {
  std::string big(5000, 'z');
  std::string stream = encode_publish("cam/1/event", span_of(big), 1, false, false, 77) +
                       encode_publish("small", span_of(std::string("ok")), 1, false, false, 78);
  for (std::size_t chunk : {1u, 7u, 4096u, 100000u}) {
    auto c = cut(stream, chunk, 1024);
    INFO("chunk " << chunk);
    REQUIRE(c.error.empty());
    REQUIRE(c.oversize.size() == 1);
    CHECK(c.oversize[0].topic == "cam/1/event");
    CHECK(c.oversize[0].id == 77);
    CHECK(c.oversize[0].qos == 1);
    CHECK(c.oversize[0].size == 2 + 11 + 2 + 5000);
    REQUIRE(c.packets.size() == 1);
    Packet p{std::get<0>(c.packets[0]), static_cast<std::uint8_t>(std::get<1>(c.packets[0])), std::get<2>(c.packets[0])};
    std::string why;
    auto pub = parse_publish(p, why);
    REQUIRE(pub);
    CHECK(pub->topic == "small");
    CHECK(pub->id == 78);
  }
}

TEST_CASE("bytes that are not MQTT from a broker are errors, never crashes", "[transport][mqtt]") {
  // a five-byte remaining length
  CHECK(!cut(bytes({0x30, 0xff, 0xff, 0xff, 0xff, 0x01}), 1).error.empty());
  // types a broker never sends to a client: CONNECT, SUBSCRIBE, PINGREQ, reserved 0 and 15
  for (int t : {0x10, 0x82, 0xC0, 0x00, 0xF0}) CHECK(!cut(bytes({t, 0}), 1).error.empty());
  // an oversized packet that is not a PUBLISH cannot be skipped safely
  CHECK(!cut(bytes({0x90, 0x80, 0x08}) + std::string(1024, 0), 64, 100).error.empty());
  std::string why;
  // PUBLISH QoS 3; QoS 1 with packet id 0; topic longer than the body
  CHECK(!parse_publish(Packet{Type::publish, 0x06, bytes({0, 1, 't', 0, 1})}, why));
  CHECK(!parse_publish(Packet{Type::publish, 0x02, bytes({0, 1, 't', 0, 0})}, why));
  CHECK(!parse_publish(Packet{Type::publish, 0x00, bytes({0, 9, 't'})}, why));
  CHECK(!parse_publish(Packet{Type::publish, 0x00, bytes({0})}, why));
  CHECK(!parse_connack(Packet{Type::connack, 0, bytes({0})}, why));
  CHECK(!parse_suback(Packet{Type::suback, 0, bytes({0, 1})}, why));
  CHECK(!parse_id(Packet{Type::puback, 0, bytes({0, 1, 2})}, why));
  // well-formed answers parse
  auto ca = parse_connack(Packet{Type::connack, 0, bytes({1, 5})}, why);
  REQUIRE(ca);
  CHECK(ca->first == 5);
  CHECK(ca->second);
  CHECK(connack_reason(5) == "not authorized");
  auto sa = parse_suback(Packet{Type::suback, 0, bytes({0, 3, 1, 0x80})}, why);
  REQUIRE(sa);
  CHECK(sa->first == 3);
  CHECK(sa->second == std::vector<std::uint8_t>{1, 0x80});
}
