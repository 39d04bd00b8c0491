#include "modbus/modbus_sim.hpp"

#include <arpa/inet.h>
#include <modbus.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>

#include "modbus/modbus_codec.hpp"

namespace cg::modbus {

double simulated_value(const Register& reg, double seconds, int unit) {
  const double wave = std::sin(seconds / 30.0 + unit);  // a slow swing, different per meter
  const std::string& u = reg.unit;
  const double hours = seconds / 3600.0;
  if (u == "V") {
    bool line_to_line = reg.metric.find("line_") != std::string::npos && reg.metric.find("thd") == std::string::npos;
    return std::round(((line_to_line ? 400.0 : 230.0) + 2.0 * wave) * 10) / 10;
  }
  if (u == "A") return std::round((5.0 + 2.0 * wave + 0.1 * unit) * 100) / 100;
  if (u == "W") return std::round(1150.0 + 400.0 * wave + 10.0 * unit);
  if (u == "VA") return std::round(1200.0 + 400.0 * wave);
  if (u == "var") return std::round(150.0 + 30.0 * wave);
  if (u == "Hz") return std::round((50.0 + 0.02 * wave) * 100) / 100;
  if (u == "1") return std::round((0.95 + 0.03 * wave) * 1000) / 1000;
  if (u == "deg") return std::round((18.0 + 5.0 * wave) * 10) / 10;
  if (u == "kWh") return std::round((1234.5 + 100.0 * unit + 1.2 * hours) * 1000) / 1000;
  if (u == "kvarh" || u == "kVAh") return std::round((321.0 + 10.0 * unit + 0.2 * hours) * 1000) / 1000;
  if (u == "Ah") return std::round((5400.0 + 5.0 * hours) * 100) / 100;
  if (u == "%") return std::round((2.5 + 0.5 * wave) * 100) / 100;
  return 1.0;
}

namespace {

struct MappingDeleter {
  void operator()(modbus_mapping_t* m) const { modbus_mapping_free(m); }
};
struct ContextDeleter {
  void operator()(modbus_t* c) const { modbus_free(c); }
};
using Mapping = std::unique_ptr<modbus_mapping_t, MappingDeleter>;
using Context = std::unique_ptr<modbus_t, ContextDeleter>;

// A libmodbus mapping spanning the profile's input and holding addresses.
Mapping make_mapping(const Profile& p) {
  int in_lo = 65536, in_hi = 0, ho_lo = 65536, ho_hi = 0;
  for (const auto& r : p.registers) {
    int& lo = r.function == Function::input ? in_lo : ho_lo;
    int& hi = r.function == Function::input ? in_hi : ho_hi;
    lo = std::min(lo, static_cast<int>(r.address));
    hi = std::max(hi, r.end());
  }
  auto span = [](int lo, int hi) { return lo < hi ? hi - lo : 0; };
  return Mapping(modbus_mapping_new_start_address(0, 0, 0, 0, ho_lo < ho_hi ? ho_lo : 0, span(ho_lo, ho_hi),
                                                  in_lo < in_hi ? in_lo : 0, span(in_lo, in_hi)));
}

void refresh(const Profile& p, modbus_mapping_t* m, double seconds, int unit) {
  for (const auto& r : p.registers) {
    auto words = encode_value(r, simulated_value(r, seconds, unit));
    uint16_t* tab = r.function == Function::input ? m->tab_input_registers : m->tab_registers;
    int start = r.function == Function::input ? m->start_input_registers : m->start_registers;
    for (std::size_t k = 0; k < words.size(); ++k) tab[r.address - start + static_cast<int>(k)] = words[k];
  }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Result<void> serve_tcp(const Profile& profile, const TcpSimOptions& o, const std::atomic<bool>& stop) {
  Context ctx(modbus_new_tcp_pi(o.host.c_str(), std::to_string(o.port).c_str()));
  if (!ctx) return fail(Error::fatal("listen", std::string("modbus_new_tcp_pi: ") + modbus_strerror(errno)));
  Mapping map = make_mapping(profile);
  if (!map) return fail(Error::fatal("listen", "cannot allocate the register mapping"));
  // A stalled client must not hold the loop: finish a started request within 1 s.
  modbus_set_indication_timeout(ctx.get(), 1, 0);
  int server = modbus_tcp_pi_listen(ctx.get(), 32);
  if (server == -1)
    return fail(Error::fatal("listen", "cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " +
                                           modbus_strerror(errno)));
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  int port = o.port;
  if (getsockname(server, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  }
  if (o.on_listening) o.on_listening(port);

  const auto t0 = std::chrono::steady_clock::now();
  const int header = modbus_get_header_length(ctx.get());
  std::vector<int> clients;
  std::vector<std::uint8_t> query(MODBUS_TCP_MAX_ADU_LENGTH);
  while (!stop.load()) {
    std::vector<pollfd> fds;
    fds.push_back({server, POLLIN, 0});
    for (int c : clients) fds.push_back({c, POLLIN, 0});
    int n = ::poll(fds.data(), fds.size(), 100);
    if (n <= 0) continue;
    if (fds[0].revents & POLLIN) {
      int c = ::accept(server, nullptr, nullptr);
      if (c >= 0) clients.push_back(c);
    }
    for (std::size_t k = 1; k < fds.size(); ++k) {
      if (!fds[k].revents) continue;
      int c = fds[k].fd;
      modbus_set_socket(ctx.get(), c);
      int rc = modbus_receive(ctx.get(), query.data());
      if (rc > 0) {
        int unit = query[header - 1];
        if (!o.units.empty() && std::find(o.units.begin(), o.units.end(), unit) == o.units.end()) continue;
        refresh(profile, map.get(), seconds_since(t0), unit);
        modbus_reply(ctx.get(), query.data(), rc, map.get());
      } else if (rc == -1) {
        ::close(c);
        clients.erase(std::find(clients.begin(), clients.end(), c));
      }
    }
  }
  for (int c : clients) ::close(c);
  ::close(server);
  return {};
}

Result<void> serve_rtu(int fd, const std::map<int, const Profile*>& units, const std::atomic<bool>& stop) {
  // libmodbus's RTU receive ignores every unit id but its own, so we frame requests ourselves and
  // let modbus_reply build each answer (it answers as the unit id in the request).
  Context ctx(modbus_new_rtu("/dev/null", 9600, 'N', 8, 1));  // never connected: writes go to fd
  if (!ctx) return fail(Error::fatal("listen", std::string("modbus_new_rtu: ") + modbus_strerror(errno)));
  modbus_set_socket(ctx.get(), fd);
  std::map<int, std::pair<const Profile*, Mapping>> banks;
  for (const auto& [unit, p] : units) banks.emplace(unit, std::pair(p, make_mapping(*p)));

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::uint8_t> buf;
  std::uint8_t chunk[256];
  while (!stop.load()) {
    pollfd pfd{fd, POLLIN, 0};
    int n = ::poll(&pfd, 1, 100);
    if (n <= 0) continue;
    if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) {
      // A pty master reports HUP while no one holds the slave side open: wait for a client.
      if (!(pfd.revents & POLLIN)) {
        pollfd none{-1, 0, 0};
        ::poll(&none, 1, 20);
        continue;
      }
    }
    ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got <= 0) continue;
    buf.insert(buf.end(), chunk, chunk + got);
    // Frame: a read request is address, function, start (2), quantity (2), CRC (2).
    while (buf.size() >= 8) {
      std::span<const std::uint8_t> f(buf.data(), 8);
      bool ok = crc16(f.first(6)) == (f[6] | (f[7] << 8));
      if (!ok) {
        buf.erase(buf.begin());  // resynchronise
        continue;
      }
      int unit = f[0];
      auto it = banks.find(unit);
      if (it != banks.end()) {
        refresh(*it->second.first, it->second.second.get(), seconds_since(t0), unit);
        modbus_set_slave(ctx.get(), unit);
        modbus_reply(ctx.get(), buf.data(), 8, it->second.second.get());
      }
      buf.erase(buf.begin(), buf.begin() + 8);
    }
  }
  return {};
}

}  // namespace cg::modbus
