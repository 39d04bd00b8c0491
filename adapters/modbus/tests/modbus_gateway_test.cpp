// The acceptance test through the real binary: `citygate run` with two modbus_tcp instances, one
// polling a simulated meter (libmodbus, on a thread of this process), the other a server that
// accepts connections and never answers; the good meter's readings must keep arriving in the
// store at its poll interval while the other times out on the runtime's worker pool.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <sstream>
#include <thread>

#include "integration/harness.hpp"
#include "modbus/modbus_profile.hpp"
#include "modbus/modbus_sim.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace cg::test;

const fs::path kProfiles = fs::path(CITYGATE_SOURCE_DIR) / "firmware-config" / "profiles";

std::string adapter_toml(const std::string& id, int port, const std::string& device, int interval_ms, int timeout_ms) {
  return "[[adapters]]\nkind = \"modbus_tcp\"\nid = \"" + id + "\"\nhost = \"127.0.0.1\"\nport = " +
         std::to_string(port) + "\nunits = { \"" + device + "\" = \"1\" }\nprofile = \"eastron_sdm120\"\n" +
         "profiles_dir = \"" + kProfiles.string() + "\"\npoll_interval_ms = " + std::to_string(interval_ms) +
         "\ntimeout_ms = " + std::to_string(timeout_ms) + "\n";
}

std::vector<std::int64_t> received_ns(const fs::path& db, const std::string& device, const std::string& metric) {
  std::string csv = sql_scalar(db,
                               "SELECT group_concat(received_ns) FROM (SELECT r.received_ns FROM readings r "
                               "JOIN streams s ON s.stream_id = r.stream_id JOIN devices d ON d.dev_id = s.dev_id "
                               "WHERE d.name = '" + device + "' AND s.metric = '" + metric + "' ORDER BY r.id)");
  std::vector<std::int64_t> out;
  std::stringstream ss(csv);
  std::string x;
  while (std::getline(ss, x, ','))
    if (!x.empty() && x.find_first_not_of("0123456789") == std::string::npos) out.push_back(std::stoll(x));
  return out;
}

}  // namespace

TEST_CASE("modbus_tcp: citygate run polls a meter while another never answers", "[modbus][integration]") {
  auto profile = cg::modbus::load_profile(kProfiles / "eastron_sdm120.toml");
  REQUIRE(profile);
  std::atomic<bool> stop{false};
  std::atomic<int> meter_port{0};
  std::thread meter([&] {
    cg::modbus::TcpSimOptions o;
    o.port = 0;
    o.on_listening = [&](int p) { meter_port = p; };
    (void)cg::modbus::serve_tcp(*profile, o, stop);
  });
  // Accepts and never answers.
  int hung = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(hung, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(hung, 64) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(hung, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  std::vector<int> held;
  std::thread acceptor([&] {
    while (!stop) {
      pollfd p{hung, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) {
        int c = ::accept(hung, nullptr, nullptr);
        if (c >= 0) held.push_back(c);
      }
    }
  });
  REQUIRE(wait_until([&] { return meter_port.load() != 0; }));

  {
    TempDir dir;
    GatewaySettings gs;
    gs.lake_port = free_port();  // no lake: the uplink backs off, the store keeps the readings
    gs.extra = adapter_toml("good", meter_port, "meter-01", 200, 150) +
               adapter_toml("hung", ntohs(a.sin_port), "meter-99", 3000, 2500);
    Gateway gw(dir.path(), gs);
    gw.start();
    REQUIRE(wait_until([&] { return gw.process().log().find("poll failed (timeout)") != std::string::npos; }, 30s));
    auto times = received_ns(gw.db(), "meter-01", "voltage");
    INFO(gw.process().log());
    CHECK(times.size() >= 6);  // ~12 polls fit in the hung meter's 2.5 s timeout
    for (std::size_t i = 1; i < times.size(); ++i) {
      INFO("gap after poll " << i << ": " << (times[i] - times[i - 1]) / 1'000'000 << " ms");
      CHECK(times[i] - times[i - 1] < 1'500'000'000);
    }
    CHECK(sql_scalar(gw.db(), "SELECT count(*) FROM devices WHERE name = 'meter-99'") == "0");
    CHECK(Gateway::count_of(gw.process().log(), "poll failed") == 1);
    CHECK(gw.process().log().find("adapter 'good'") != std::string::npos);
    CHECK(gw.stop() == 0);
    // the hung meter's missed polls were kept as one gap record (summary class) at stop
    CHECK(sql_scalar(gw.db(), "SELECT count(*) FROM records WHERE class = 4 AND instr(body, 'meter-99') > 0") == "1");
  }
  stop = true;
  meter.join();
  acceptor.join();
  for (int c : held) ::close(c);
  ::close(hung);
}
