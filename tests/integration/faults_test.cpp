// Faults with real parts: kill -9 during ingest and during upload; bad input on MQTT and HTTP.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <random>
#include <thread>

#include "integration/harness.hpp"
#include "support/mqtt_pub.hpp"

using namespace cg::test;
using namespace std::chrono_literals;

namespace {

std::string raw_http(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
    if (out.find("\r\n\r\n") != std::string::npos) break;
  }
  ::close(fd);
  return out;
}

int port_of(const std::string& url) { return std::stoi(url.substr(url.rfind(':') + 1)); }

}  // namespace

TEST_CASE("kill -9 during ingest and during upload - every acknowledged message reaches the lake and the store stays intact",
          "[integration][crash]") {
  GatewaySettings gs;
  gs.batch_max_rows = 200;
  MqttStack st(gs);
  // plain references: clang 14 cannot capture structured bindings in lambdas
  auto& broker = st.broker;
  auto& lake = st.lake;
  auto& gw = *st.gw;

  constexpr int kTotal = 4000, kDevices = 4;
  std::atomic<int> published{0};
  std::thread pub([&] {
    MqttPublisher p(broker.url(), "crash-pub");
    for (int i = 0; i < kTotal; ++i) {
      std::string dev = "c-d" + std::to_string(i % kDevices);
      REQUIRE(p.publish("city/x/" + dev + "/telemetry", "{\"n\":" + std::to_string(i) + "}"));
      ++published;
    }
  });
  std::mt19937 rng(12345);
  // phase 1: kills while messages arrive (ingest)
  for (int k = 0; k < 3; ++k) {
    int target = (k + 1) * kTotal / 5 + static_cast<int>(rng() % 200);
    wait_until([&] { return published >= target; }, 30s);
    gw.kill9();
    REQUIRE(sql_scalar(gw.db(), "PRAGMA integrity_check") == "ok");
    gw.start();
  }
  pub.join();
  // phase 2: kills while the backlog is uploaded: build a backlog with the lake down first
  lake.stop();
  REQUIRE(wait_until([&] { return sql_scalar(gw.db(), "SELECT count(*) FROM readings") == std::to_string(kTotal); }, 30s));
  lake.start();
  for (int k = 0; k < 2; ++k) {
    auto before = summarize(read_lake(lake.data())).lines;
    wait_until([&] { return summarize(read_lake(lake.data())).lines > before; }, 20s);  // an upload is under way
    gw.kill9();
    REQUIRE(sql_scalar(gw.db(), "PRAGMA integrity_check") == "ok");
    gw.start();
  }
  std::vector<LakeLine> lines;
  LakeSummary s;
  bool all = wait_lake_unique(lake, kTotal, 60s, &lines, &s);
  INFO(gw.process().log());
  REQUIRE(all);
  CHECK(s.unique == kTotal);
  CHECK(s.dup_only_as_repeated_batches);
  // at most one in-flight batch per kill can be repeated (5 kills)
  CHECK(s.duplicate_batches.size() <= 5);
  std::set<std::pair<std::string, std::string>> got;
  for (const auto& l : lines) got.insert({l.device, l.value_json});
  for (int i = 0; i < kTotal; ++i) CHECK(got.count({"c-d" + std::to_string(i % kDevices), std::to_string(i)}) == 1);
  for (const auto& [dev, seqs] : s.seqs) CHECK(*seqs.rbegin() == seqs.size());
  // MQTT redeliveries were not stored twice: exactly one reading per message in the store
  CHECK(sql_scalar(gw.db(), "SELECT count(*) FROM readings") == std::to_string(kTotal));
  CHECK(gw.stop() == 0);
  CHECK(sql_scalar(gw.db(), "PRAGMA integrity_check") == "ok");
}

TEST_CASE("bad input on MQTT and HTTP is counted and answered, and the gateway keeps serving", "[integration][bad]") {
  MqttStack st;
  // plain references: clang 14 cannot capture structured bindings in lambdas
  auto& broker = st.broker;
  auto& lake = st.lake;
  auto& gw = *st.gw;

  MqttPublisher p(broker.url(), "bad-pub");
  const std::vector<std::string> bad = {
      "{\"v\":",                       // malformed JSON
      "[1,2,3]",                        // wrong type: not an object
      "\"just a string\"",             // wrong type
      "{}",                             // nothing to store
      std::string(5000, 'x'),           // oversized (max_payload_bytes = 4096)
      std::string("\xff\xfe\x00\x01", 4),  // binary garbage
  };
  for (const auto& b : bad) REQUIRE(p.publish("city/z/bad-dev/telemetry", b));
  REQUIRE(p.publish("city/z/good-dev/telemetry", "{\"v\":1}"));
  REQUIRE(wait_lake_unique(lake, 1, 30s));
  REQUIRE(wait_until([&] { return sql_scalar(gw.db(), "SELECT count(*) FROM rejected_payloads") == "6"; }, 10s));
  CHECK(sql_scalar(gw.db(), "SELECT count(*) FROM readings") == "1");
  CHECK(sql_scalar(gw.db(), "SELECT reason FROM rejected_payloads ORDER BY id LIMIT 1").rfind("json:", 0) == 0);
  CHECK(sql_scalar(gw.db(), "SELECT count(*) FROM rejected_payloads WHERE reason LIKE 'too_large:%'") == "1");

  int port = port_of(gw.url(""));
  CHECK(raw_http(port, "GARBAGE\r\n\r\n").rfind("HTTP/1.1 400", 0) == 0);
  CHECK(raw_http(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n")
            .rfind("HTTP/1.1 431", 0) == 0);
  CHECK(raw_http(port, "POST /api/v1/devices HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
            .rfind("HTTP/1.1 413", 0) == 0);
  CHECK(http_request("POST", gw.url("/api/v1/devices"), "{}").status == 405);
  CHECK(http_get(gw.url("/nope")).status == 404);
  // still serving, still ingesting
  CHECK(http_get(gw.url("/healthz")).status == 200);
  REQUIRE(p.publish("city/z/good-dev/telemetry", "{\"v\":2}"));
  CHECK(wait_lake_unique(lake, 2, 30s));
  CHECK(gw.stop() == 0);
}

TEST_CASE("simulated fleet - the demo's path works within seconds", "[integration][demo]") {
  TempDir dir;
  Lake lake(dir.path());
  lake.start();
  GatewaySettings gs;
  gs.lake_port = lake.port();
  gs.extra = "[[adapters]]\nkind = \"simulated\"\nid = \"sim\"\ndevices = 8\ninterval_ms = 200\n";
  Gateway gw(dir.path(), gs);
  auto t0 = std::chrono::steady_clock::now();
  gw.start();
  REQUIRE(wait_until([&] { return http_get(gw.url("/healthz")).status == 200; }, 15s));
  HttpResult devs;
  REQUIRE(wait_until(
      [&] {
        devs = http_get(gw.url("/api/v1/devices"));
        return devs.body.find("sim-noise-008") != std::string::npos;
      },
      15s));
  CHECK(devs.body.find("\"pm2_5\":{\"value\":") != std::string::npos);
  CHECK(devs.body.find("\"unit\":\"ug/m3\"") != std::string::npos);
  REQUIRE(wait_lake_unique(lake, 1, 15s));
  CHECK(std::chrono::steady_clock::now() - t0 < 15s);
  CHECK(gw.stop() == 0);
}
