#pragma once
// One libmodbus context: a Modbus TCP connection or a serial (RTU) port. The only adapter code
// that includes <modbus.h> (besides the simulator).
//
// Threads: a Link blocks (connect, request, wait for the answer) and is NOT thread-safe. It is
// used only from jobs the runtime's worker pool runs under one key (AdapterContext::run_blocking),
// so one job at a time touches it; it may be created and destroyed on any thread.
//
// Timeouts: `timeout` bounds the TCP connect and each request: libmodbus's response timeout is
// set to it and the byte timeout is disabled, so the whole answer must arrive within it.
//
// Recovery (on the failing call, so the next poll starts clean):
//   timeout, protocol error  TCP: the connection is closed (a late answer must not be taken for
//                            the next request's); RTU: pending input is flushed, the port stays open
//   I/O error                closed; the next read reopens/reconnects
//   Modbus exception         nothing: the device answered, the link is fine
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "modbus/modbus_profile.hpp"

struct _modbus;

namespace cg::modbus {

struct TcpTarget {
  std::string host;  // name or address (IPv4/IPv6; resolved at each connect)
  int port = 502;
};

struct SerialTarget {
  std::string device;  // e.g. /dev/ttyUSB0
  int baud = 9600;
  char parity = 'N';   // N, E or O
  int data_bits = 8;
  int stop_bits = 1;
};

// Why a read failed. `reason` is a short, bounded label (a counter label):
//   connect    TCP connect or serial open failed
//   timeout    no (complete) answer within the timeout
//   exception  the device answered with a Modbus exception (message names it)
//   protocol   a malformed answer: bad CRC, wrong unit, wrong length
//   io         the connection or port failed while in use
struct LinkError {
  std::string reason;
  std::string message;
};

class Link {
 public:
  static std::unique_ptr<Link> tcp(TcpTarget target, std::chrono::milliseconds timeout);
  static std::unique_ptr<Link> serial(SerialTarget target, std::chrono::milliseconds timeout);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  using BlockFn = std::function<void(std::size_t block, std::span<const std::uint16_t> words)>;

  // Reads `blocks` from `unit` in order, opening/connecting first when needed. Calls `on_block`
  // as each read completes; stops at the first failure and returns it.
  std::optional<LinkError> read(int unit, std::span<const ReadBlock> blocks, const BlockFn& on_block);

  bool is_open() const { return open_; }
  void close();

 private:
  Link(bool is_tcp, TcpTarget tcp, SerialTarget serial, std::chrono::milliseconds timeout);
  std::optional<LinkError> open();
  void recover(const std::string& reason);

  bool is_tcp_;
  TcpTarget tcp_;
  SerialTarget serial_;
  std::chrono::milliseconds timeout_;
  _modbus* ctx_ = nullptr;
  bool open_ = false;
};

}  // namespace cg::modbus
