// The polling adapters against real Modbus servers: libmodbus TCP servers on threads of this
// process (the simulator), a TCP server that accepts and never answers, and an RTU bus on a
// pseudo-terminal pair. The runtime side (strand, timers, worker pool) is the small threaded
// stand-in in test_runtime.hpp.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <modbus.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "adapter_api/adapter.hpp"
#include "modbus/modbus_codec.hpp"
#include "modbus/modbus_sim.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"
#include "test_runtime.hpp"

namespace cg {
const AdapterDescriptor& modbus_tcp_descriptor();
const AdapterDescriptor& modbus_rtu_descriptor();
}  // namespace cg

namespace {

namespace fs = std::filesystem;
using namespace cg;
using namespace std::chrono_literals;
using cg::test::TestContext;
using cg::test::TestPool;
using cg::test::wait_until;
using StrMap = std::vector<std::pair<std::string, std::string>>;
using Settings = std::map<std::string, ConfigValue, std::less<>>;

const fs::path kProfiles = fs::path(CITYGATE_SOURCE_DIR) / "firmware-config" / "profiles";

modbus::Profile profile(const std::string& name) {
  auto p = modbus::load_profile(kProfiles / (name + ".toml"));
  REQUIRE(p);
  return *p;
}

Settings common(StrMap units, std::int64_t interval_ms, std::int64_t timeout_ms) {
  Settings s;
  s["units"] = std::move(units);
  s["profile"] = std::string("eastron_sdm120");
  s["profiles_dir"] = kProfiles.string();
  s["poll_interval_ms"] = interval_ms;
  s["timeout_ms"] = timeout_ms;
  return s;
}

Settings tcp_settings(int port, StrMap units, std::int64_t interval_ms = 200, std::int64_t timeout_ms = 150) {
  Settings s = common(std::move(units), interval_ms, timeout_ms);
  s["host"] = std::string("127.0.0.1");
  s["port"] = std::int64_t{port};
  return s;
}

Settings rtu_settings(const std::string& device, StrMap units, std::int64_t interval_ms = 1000,
                      std::int64_t timeout_ms = 200) {
  Settings s = common(std::move(units), interval_ms, timeout_ms);
  s["device"] = device;
  s["baud"] = std::int64_t{9600};
  s["parity"] = std::string("N");
  s["data_bits"] = std::int64_t{8};
  s["stop_bits"] = std::int64_t{1};
  return s;
}

std::unique_ptr<Adapter> make(const AdapterDescriptor& d, const std::string& id, const Settings& s) {
  auto a = d.make(id, ConfigView(s));
  INFO((a ? std::string() : a.error().message));
  REQUIRE(a);
  return std::move(*a);
}

std::string make_error(const AdapterDescriptor& d, const Settings& s) {
  auto a = d.make("x", ConfigView(s));
  REQUIRE_FALSE(a);
  CHECK(a.error().disposition == Disposition::fatal);
  return a.error().message;
}

Labels dev(const std::string& adapter, const std::string& device) { return {{"adapter", adapter}, {"device", device}}; }
Labels why(const std::string& adapter, const std::string& device, const std::string& reason) {
  return {{"adapter", adapter}, {"device", device}, {"reason", reason}};
}

// The simulated meter: serve_tcp on a thread of this process.
class SimServer {
 public:
  explicit SimServer(modbus::Profile p, std::vector<int> units = {}, int port = 0) : profile_(std::move(p)) {
    thread_ = std::thread([this, units, port] {
      modbus::TcpSimOptions o;
      o.port = port;
      o.units = units;
      o.on_listening = [this](int bound) { port_ = bound; };
      auto r = modbus::serve_tcp(profile_, o, stop_);
      if (!r) failed_ = true;
    });
    REQUIRE(wait_until([&] { return port_.load() != 0 || failed_.load(); }));
    REQUIRE_FALSE(failed_.load());
  }
  ~SimServer() {
    stop_ = true;
    thread_.join();
  }
  int port() const { return port_; }

 private:
  modbus::Profile profile_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::atomic<int> port_{0};
  std::thread thread_;
};

// Accepts TCP connections and never says a word: a meter (or gateway) that hangs.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 64) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) > 0) {
          int c = ::accept(fd_, nullptr, nullptr);
          if (c >= 0) held_.push_back(c);
        }
      }
    });
  }
  ~SilentServer() {
    stop_ = true;
    thread_.join();
    for (int c : held_) ::close(c);
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> held_;
  std::thread thread_;
};

double number(const Reading& r) {
  REQUIRE(std::holds_alternative<double>(r.value));
  return std::get<double>(r.value);
}

const Reading* find_metric(const std::vector<Reading>& rs, const std::string& metric) {
  for (const auto& r : rs)
    if (r.metric == metric) return &r;
  return nullptr;
}

}  // namespace

TEST_CASE("modbus_tcp: descriptor declares the keys", "[modbus]") {
  const auto& d = modbus_tcp_descriptor();
  CHECK(d.kind == "modbus_tcp");
  std::vector<std::string> names;
  for (const auto& k : d.keys) names.emplace_back(k.name);
  CHECK(names == std::vector<std::string>{"host", "port", "units", "profile", "unit_profiles", "profiles_dir",
                                          "poll_interval_ms", "timeout_ms"});
  CHECK(d.keys[0].required);
  CHECK(d.keys[1].default_value == "502");
  CHECK(d.keys[2].type == KeyType::string_map);
  CHECK(d.keys[2].required);
  CHECK(d.keys[5].default_value == "\"/etc/citygate/profiles\"");
  CHECK(d.decoder);
  const auto& r = modbus_rtu_descriptor();
  names.clear();
  for (const auto& k : r.keys) names.emplace_back(k.name);
  CHECK(names == std::vector<std::string>{"device", "baud", "parity", "data_bits", "stop_bits", "units", "profile",
                                          "unit_profiles", "profiles_dir", "poll_interval_ms", "timeout_ms"});
  CHECK(r.keys[2].default_value == "\"N\"");
}

TEST_CASE("modbus_tcp: config is checked before the first poll", "[modbus]") {
  const auto& d = modbus_tcp_descriptor();
  auto base = [] { return tcp_settings(1502, {{"meter-01", "1"}}, 1000, 500); };
  CHECK(d.make("x", ConfigView(base())));

  auto s = base();
  s["timeout_ms"] = std::int64_t{1000};
  CHECK(make_error(d, s) == "timeout_ms (1000) must be below poll_interval_ms (1000)");
  s = base();
  s["poll_interval_ms"] = std::int64_t{50};
  CHECK(make_error(d, s) == "poll_interval_ms must be 100..86400000");
  s = base();
  s["units"] = StrMap{{"meter-01", "one"}};
  CHECK(make_error(d, s) == "units: device 'meter-01' has unit id \"one\"; it must be 0..255");
  s["units"] = StrMap{{"meter-01", "256"}};
  CHECK(make_error(d, s).find("must be 0..255") != std::string::npos);
  s["units"] = StrMap{{"meter-01", "3"}, {"meter-02", "3"}};
  CHECK(make_error(d, s) == "units: devices 'meter-01' and 'meter-02' both have unit id 3");
  s["units"] = StrMap{};
  CHECK(make_error(d, s).find("units must name at least one device") == 0);
  s = base();
  s["profile"] = std::string("no_such_meter");
  CHECK(make_error(d, s) == "profile " + (kProfiles / "no_such_meter.toml").string() + ": cannot be read");
  s["profile"] = std::string();
  CHECK(make_error(d, s) == "device 'meter-01' has no profile: set profile, or unit_profiles for it");
  s["unit_profiles"] = StrMap{{"meter-01", "eastron_sdm630"}};
  CHECK(d.make("x", ConfigView(s)));  // every device has one through unit_profiles
  s["unit_profiles"] = StrMap{{"meter-09", "eastron_sdm630"}};
  CHECK(make_error(d, s) == "unit_profiles names device 'meter-09', which is not in units");
  s = base();
  s["port"] = std::int64_t{0};
  CHECK(make_error(d, s) == "port must be 1..65535");
  s = base();
  s["host"] = std::string();
  CHECK(make_error(d, s).find("host must be") == 0);
}

TEST_CASE("modbus_tcp: a silent server never slows a good meter", "[modbus]") {
  SimServer good(profile("eastron_sdm120"));
  SilentServer silent;
  TestPool pool(2);
  Metrics metrics;
  TestContext ctx_good("good", pool, metrics), ctx_bad("bad", pool, metrics);
  // The silent meter holds a worker for 2.5 s per poll; the good one polls every 200 ms.
  auto bad = make(modbus_tcp_descriptor(), "bad", tcp_settings(silent.port(), {{"meter-99", "1"}}, 3000, 2500));
  auto ok = make(modbus_tcp_descriptor(), "good", tcp_settings(good.port(), {{"meter-01", "1"}}, 200, 150));
  ctx_bad.start(*bad);
  ctx_good.start(*ok);

  REQUIRE(wait_until([&] { return metrics.value("modbus_poll_errors_total", why("bad", "meter-99", "timeout")) >= 1; },
                     30s));
  auto batches = ctx_good.sink_.of("meter-01");
  // ~12 polls fit in the silent meter's 2.5 s timeout; allow for a loaded machine.
  CHECK(batches.size() >= 6);
  for (std::size_t i = 1; i < batches.size(); ++i) {
    auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(batches[i].at - batches[i - 1].at);
    INFO("gap " << gap.count() << " ms after poll " << i);
    CHECK(gap < 1500ms);  // never waits for the silent meter's 2500 ms
  }
  for (const auto& b : batches) {
    REQUIRE(b.readings.size() == 13);
    const Reading* v = find_metric(b.readings, "voltage");
    REQUIRE(v);
    CHECK(v->unit == "V");
    CHECK(number(*v) > 220.0);
    CHECK(number(*v) < 240.0);
    CHECK(v->quality == quality::kTimeFromGateway);
    const Reading* e = find_metric(b.readings, "import_active_energy");
    REQUIRE(e);
    CHECK(number(*e) > 1000.0);
  }
  CHECK(metrics.value("modbus_polls_total", dev("good", "meter-01")) >= 6);
  CHECK(metrics.value("modbus_device_up", dev("good", "meter-01")) == 1);
  CHECK(metrics.value("modbus_device_up", dev("bad", "meter-99")) == 0);
  CHECK(metrics.value("modbus_polls_total", dev("bad", "meter-99")) == 0);
  CHECK(ctx_bad.log_.lines("warn", "poll failed (timeout)").size() == 1);
  CHECK(ctx_good.log_.lines("warn").empty());
  CHECK(pool.keys_seen() == std::set<std::string>{"device:meter-99", "device:meter-01"});

  ctx_good.stop(*ok);
  ctx_bad.stop(*bad);
  pool.stop();
}

TEST_CASE("modbus_tcp: a silent unit behind a shared gateway fails alone", "[modbus]") {
  SimServer gateway(profile("eastron_sdm120"), {1});  // unit 2 never answers
  TestPool pool(2);
  Metrics metrics;
  TestContext ctx("gw", pool, metrics);
  auto a = make(modbus_tcp_descriptor(), "gw", tcp_settings(gateway.port(), {{"meter-01", "1"}, {"meter-02", "2"}}));
  ctx.start(*a);

  REQUIRE(wait_until([&] { return metrics.value("modbus_poll_errors_total", why("gw", "meter-02", "timeout")) >= 3; },
                     30s));
  CHECK(metrics.value("modbus_polls_total", dev("gw", "meter-01")) >= 3);
  CHECK(metrics.value("modbus_poll_errors_total", why("gw", "meter-01", "timeout")) == 0);
  CHECK(metrics.value("modbus_device_up", dev("gw", "meter-01")) == 1);
  CHECK(metrics.value("modbus_device_up", dev("gw", "meter-02")) == 0);
  // State changes are logged, repetitions are counted.
  CHECK(ctx.log_.lines("warn", "meter-02").size() == 1);
  CHECK(ctx.log_.lines("warn", "meter-01").empty());
  CHECK(ctx.log_.lines("info", "device meter-01 (unit 1 on 127.0.0.1:").size() == 1);
  CHECK(ctx.sink_.of("meter-02").empty());
  CHECK(ctx.sink_.gaps().empty());  // the silent unit's run of missed polls is still open

  ctx.stop(*a);
  // at stop the open run is reported, so a meter that died is never silently absent upstream
  auto gaps = ctx.sink_.gaps();
  REQUIRE(gaps.size() == 1);
  CHECK(gaps[0].kind == GapRecord::Kind::missed_poll);
  CHECK(gaps[0].device == "meter-02");
  CHECK(gaps[0].count == static_cast<std::uint64_t>(metrics.value("modbus_poll_errors_total", why("gw", "meter-02", "timeout")) +
                                                    metrics.value("modbus_polls_skipped_total", dev("gw", "meter-02"))));
  pool.stop();
}

TEST_CASE("modbus_tcp: a refused connection is counted and the meter recovers", "[modbus]") {
  const int port = cg::test::free_port();
  TestPool pool(2);
  Metrics metrics;
  TestContext ctx("m", pool, metrics);
  auto a = make(modbus_tcp_descriptor(), "m", tcp_settings(port, {{"meter-01", "1"}}, 100, 50));
  ctx.start(*a);
  REQUIRE(wait_until([&] { return metrics.value("modbus_poll_errors_total", why("m", "meter-01", "connect")) >= 3; }));
  auto warns = ctx.log_.lines("warn");
  REQUIRE(warns.size() == 1);
  CHECK(warns[0].find("poll failed (connect): cannot connect to 127.0.0.1:" + std::to_string(port)) !=
        std::string::npos);
  CHECK(metrics.value("modbus_device_up", dev("m", "meter-01")) == 0);

  SimServer meter(profile("eastron_sdm120"), {}, port);  // the meter comes (back) up
  REQUIRE(wait_until([&] { return metrics.value("modbus_polls_total", dev("m", "meter-01")) >= 2; }));
  CHECK(ctx.log_.lines("info", "answering again after").size() == 1);
  CHECK(metrics.value("modbus_device_up", dev("m", "meter-01")) == 1);
  CHECK(ctx.log_.lines("warn").size() == 1);
  // the polls without an answer are one gap record, sent when the meter answered again
  auto gaps = ctx.sink_.gaps();
  REQUIRE(gaps.size() == 1);
  CHECK(gaps[0].kind == GapRecord::Kind::missed_poll);
  CHECK(gaps[0].device == "meter-01");
  CHECK(gaps[0].count == static_cast<std::uint64_t>(metrics.value("modbus_poll_errors_total", why("m", "meter-01", "connect")) +
                                                    metrics.value("modbus_polls_skipped_total", dev("m", "meter-01"))));
  CHECK(gaps[0].from != TimeNs{});
  CHECK(gaps[0].from <= gaps[0].to);
  CHECK(gaps[0].reason.find("connect") != std::string::npos);

  ctx.stop(*a);
  pool.stop();
}

TEST_CASE("modbus_tcp: a meter that stays silent is reported as a gap every hour, not only when it answers",
          "[modbus]") {
  const int port = cg::test::free_port();  // nothing listens: every poll fails at once
  TestPool pool(2);
  Metrics metrics;
  TestContext ctx("m", pool, metrics);
  ManualClock wall;
  ctx.use_clock(wall);
  auto a = make(modbus_tcp_descriptor(), "m", tcp_settings(port, {{"meter-01", "1"}}, 100, 50));
  ctx.start(*a);
  auto failed = [&] { return metrics.value("modbus_poll_errors_total", why("m", "meter-01", "connect")); };
  REQUIRE(wait_until([&] { return failed() >= 2; }));
  CHECK(ctx.sink_.gaps().empty());  // within the hour: the run stays open
  wall.advance(std::chrono::minutes(61));
  REQUIRE(wait_until([&] { return !ctx.sink_.gaps().empty(); }));
  const auto at_report = failed();
  REQUIRE(wait_until([&] { return failed() >= at_report + 2; }));
  auto gaps = ctx.sink_.gaps();
  REQUIRE(gaps.size() == 1);  // the next record waits for the next hour
  CHECK(gaps[0].kind == GapRecord::Kind::missed_poll);
  CHECK(gaps[0].count >= 3);
  CHECK(gaps[0].to - gaps[0].from >= std::chrono::minutes(61));
  CHECK(metrics.value("modbus_device_up", dev("m", "meter-01")) == 0);  // still silent
  ctx.stop(*a);
  pool.stop();
}

TEST_CASE("modbus_tcp: polls whose readings the store refused are missed polls, reported as gaps", "[modbus]") {
  SimServer meter(profile("eastron_sdm120"));
  TestPool pool(2);
  Metrics metrics;
  TestContext ctx("m", pool, metrics);
  ctx.sink_.refuse_next = 3;
  auto a = make(modbus_tcp_descriptor(), "m", tcp_settings(meter.port(), {{"meter-01", "1"}}, 100, 50));
  ctx.start(*a);
  REQUIRE(wait_until([&] { return ctx.sink_.of("meter-01").size() >= 3; }));
  ctx.stop(*a);
  CHECK(metrics.value("modbus_readings_dropped_total", {{"adapter", "m"}, {"reason", "throttled"}}) == 3);
  std::uint64_t missed = 0;
  for (const auto& g : ctx.sink_.gaps()) {
    CHECK(g.kind == GapRecord::Kind::missed_poll);
    CHECK(g.device == "meter-01");
    CHECK(g.reason.find("store refused") != std::string::npos);
    missed += g.count;
  }
  CHECK(missed == 3);  // each refused poll is in exactly one gap record
  pool.stop();
}

TEST_CASE("modbus_tcp: a busy device skips ticks instead of piling up polls", "[modbus]") {
  SimServer meter(profile("eastron_sdm120"));
  TestPool pool(2);
  Metrics metrics;
  TestContext ctx("m", pool, metrics);
  auto a = make(modbus_tcp_descriptor(), "m", tcp_settings(meter.port(), {{"meter-01", "1"}}, 100, 50));
  pool.hold(true);  // the first poll cannot run: as if the device were still busy
  ctx.start(*a);
  REQUIRE(wait_until([&] { return metrics.value("modbus_polls_skipped_total", dev("m", "meter-01")) >= 3; }));
  CHECK(pool.submitted("device:meter-01") == 1);
  CHECK(metrics.value("modbus_polls_total", dev("m", "meter-01")) == 0);
  pool.hold(false);
  REQUIRE(wait_until([&] { return metrics.value("modbus_polls_total", dev("m", "meter-01")) >= 2; }));
  ctx.stop(*a);
  pool.stop();
}

TEST_CASE("modbus_rtu: two slave ids on one pty bus are polled in turn", "[modbus]") {
  // The bus: a pseudo-terminal pair. The adapter opens the slave side as its serial port; the
  // simulated meters answer on the master side (units 1 and 2; unit 3 stays silent).
  int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  REQUIRE(master >= 0);
  REQUIRE(::grantpt(master) == 0);
  REQUIRE(::unlockpt(master) == 0);
  const std::string port = ::ptsname(master);
  // Hold the slave side open in raw mode so the bus exists (and does not echo) before and
  // between the adapter's opens.
  int keep = ::open(port.c_str(), O_RDWR | O_NOCTTY);
  REQUIRE(keep >= 0);
  termios t{};
  REQUIRE(::tcgetattr(keep, &t) == 0);
  ::cfmakeraw(&t);
  REQUIRE(::tcsetattr(keep, TCSANOW, &t) == 0);

  const auto sdm120 = profile("eastron_sdm120");
  const auto sdm630 = profile("eastron_sdm630");
  std::atomic<bool> stop{false};
  std::thread bus([&] { (void)modbus::serve_rtu(master, {{1, &sdm120}, {2, &sdm630}}, stop); });

  TestPool pool(3);
  Metrics metrics;
  TestContext ctx("bus1", pool, metrics);
  auto s = rtu_settings(port, {{"m1", "1"}, {"m2", "2"}, {"m3", "3"}}, 1000, 200);
  s["unit_profiles"] = StrMap{{"m2", "eastron_sdm630"}};
  auto a = make(modbus_rtu_descriptor(), "bus1", s);
  ctx.start(*a);

  REQUIRE(wait_until(
      [&] {
        return metrics.value("modbus_polls_total", dev("bus1", "m1")) >= 2 &&
               metrics.value("modbus_polls_total", dev("bus1", "m2")) >= 2 &&
               metrics.value("modbus_poll_errors_total", why("bus1", "m3", "timeout")) >= 2;
      },
      30s));
  // One key for the whole bus: the pool runs its polls one at a time, in turn.
  CHECK(pool.keys_seen() == std::set<std::string>{"bus:" + port});
  auto m1 = ctx.sink_.of("m1");
  auto m2 = ctx.sink_.of("m2");
  REQUIRE(!m1.empty());
  REQUIRE(!m2.empty());
  CHECK(m1.front().readings.size() == 13);
  CHECK(m2.front().readings.size() == 88);
  const Reading* v1 = find_metric(m1.front().readings, "voltage");
  const Reading* v2 = find_metric(m2.front().readings, "phase_2_voltage");
  const Reading* ll = find_metric(m2.front().readings, "line_1_to_line_2_volts");
  REQUIRE(v1);
  REQUIRE(v2);
  REQUIRE(ll);
  CHECK(number(*v1) > 220.0);
  CHECK(number(*v2) > 220.0);
  CHECK(number(*ll) > 390.0);
  CHECK(ctx.sink_.of("m3").empty());
  CHECK(ctx.log_.lines("warn", "device m3").size() == 1);
  CHECK(ctx.log_.lines("warn", "device m1").empty());
  CHECK(metrics.value("modbus_device_up", dev("bus1", "m3")) == 0);

  ctx.stop(*a);
  pool.stop();
  stop = true;
  bus.join();
  ::close(keep);
  ::close(master);
}

TEST_CASE("modbus_rtu: a missing serial port is counted not fatal", "[modbus]") {
  TestPool pool(1);
  Metrics metrics;
  TestContext ctx("bus", pool, metrics);
  auto a = make(modbus_rtu_descriptor(), "bus", rtu_settings("/dev/citygate-no-such-tty", {{"m1", "1"}}, 100, 50));
  ctx.start(*a);
  REQUIRE(wait_until([&] { return metrics.value("modbus_poll_errors_total", why("bus", "m1", "connect")) >= 2; }));
  auto warns = ctx.log_.lines("warn");
  REQUIRE(warns.size() == 1);
  CHECK(warns[0].find("cannot open /dev/citygate-no-such-tty") != std::string::npos);
  ctx.stop(*a);
  pool.stop();
}

TEST_CASE("modbus_rtu: serial settings are checked", "[modbus]") {
  const auto& d = modbus_rtu_descriptor();
  auto base = [] { return rtu_settings("/dev/ttyUSB0", {{"m1", "1"}, {"m2", "2"}}, 1000, 400); };
  CHECK(d.make("x", ConfigView(base())));
  auto s = base();
  s["parity"] = std::string("X");
  CHECK(make_error(d, s) == "parity must be \"N\", \"E\" or \"O\"");
  s = base();
  s["baud"] = std::int64_t{1234};
  CHECK(make_error(d, s).find("baud must be one of") == 0);
  s = base();
  s["data_bits"] = std::int64_t{9};
  CHECK(make_error(d, s) == "data_bits must be 7 or 8");
  s = base();
  s["stop_bits"] = std::int64_t{3};
  CHECK(make_error(d, s) == "stop_bits must be 1 or 2");
  s = base();
  s["units"] = StrMap{{"m1", "0"}};  // broadcast is not a device
  CHECK(make_error(d, s).find("must be 1..247") != std::string::npos);
  s = base();
  s["timeout_ms"] = std::int64_t{500};  // 2 units x 500 ms = one whole interval
  CHECK(make_error(d, s).find("timeout_ms x units (1000 ms) must be below poll_interval_ms (1000)") == 0);
  s = base();
  s["device"] = std::string();
  CHECK(make_error(d, s).find("device must name the serial port") == 0);
}

TEST_CASE("modbus sim: a libmodbus client reads plausible Eastron values", "[modbus]") {
  auto p = profile("eastron_sdm630");
  SimServer sim(p);
  modbus_t* c = modbus_new_tcp("127.0.0.1", sim.port());
  REQUIRE(c);
  REQUIRE(modbus_connect(c) == 0);
  modbus_set_slave(c, 5);
  std::uint16_t regs[6];
  REQUIRE(modbus_read_input_registers(c, 0, 6, regs) == 6);
  for (int k = 0; k < 3; ++k) {
    auto v = modbus::decode_value(p.registers[static_cast<std::size_t>(k)], std::span<const std::uint16_t>(regs + 2 * k, 2));
    REQUIRE(v);
    CHECK(std::get<double>(*v) > 220.0);
    CHECK(std::get<double>(*v) < 240.0);
  }
  REQUIRE(modbus_read_input_registers(c, 70, 2, regs) == 2);
  auto freq = std::find_if(p.registers.begin(), p.registers.end(), [](const auto& r) { return r.metric == "frequency"; });
  REQUIRE(freq != p.registers.end());
  REQUIRE(freq->address == 70);
  auto f = modbus::decode_value(*freq, std::span<const std::uint16_t>(regs, 2));
  REQUIRE(f);
  CHECK(std::abs(std::get<double>(*f) - 50.0) < 0.1);
  // Outside the map: exception 2 (illegal data address).
  CHECK(modbus_read_input_registers(c, 1000, 2, regs) == -1);
  CHECK(errno == EMBXILADD);
  CHECK(modbus_read_registers(c, 0, 2, regs) == -1);
  modbus_close(c);
  modbus_free(c);
}
