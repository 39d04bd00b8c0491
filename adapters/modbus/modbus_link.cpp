#include "modbus/modbus_link.hpp"

#include <modbus.h>

#include <cerrno>
#include <vector>

namespace cg::modbus {

namespace {

std::string reason_of(int err) {
  if (err == ETIMEDOUT) return "timeout";
  if (err > MODBUS_ENOBASE && err <= EMBXGTAR) return "exception";
  if (err == EMBBADCRC || err == EMBBADDATA || err == EMBBADEXC || err == EMBUNKEXC || err == EMBMDATA ||
      err == EMBBADSLAVE)
    return "protocol";
  return "io";
}

}  // namespace

Link::Link(bool is_tcp, TcpTarget tcp, SerialTarget serial, std::chrono::milliseconds timeout)
    : is_tcp_(is_tcp), tcp_(std::move(tcp)), serial_(std::move(serial)), timeout_(timeout) {}

std::unique_ptr<Link> Link::tcp(TcpTarget target, std::chrono::milliseconds timeout) {
  return std::unique_ptr<Link>(new Link(true, std::move(target), {}, timeout));
}

std::unique_ptr<Link> Link::serial(SerialTarget target, std::chrono::milliseconds timeout) {
  return std::unique_ptr<Link>(new Link(false, {}, std::move(target), timeout));
}

Link::~Link() {
  close();
  if (ctx_) modbus_free(ctx_);
}

void Link::close() {
  if (ctx_ && open_) modbus_close(ctx_);
  open_ = false;
}

std::optional<LinkError> Link::open() {
  if (!ctx_) {
    ctx_ = is_tcp_ ? modbus_new_tcp_pi(tcp_.host.c_str(), std::to_string(tcp_.port).c_str())
                   : modbus_new_rtu(serial_.device.c_str(), serial_.baud, serial_.parity, serial_.data_bits,
                                    serial_.stop_bits);
    if (!ctx_) return LinkError{"connect", std::string("cannot create a Modbus context: ") + modbus_strerror(errno)};
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout_).count();
    modbus_set_response_timeout(ctx_, static_cast<std::uint32_t>(us / 1000000), static_cast<std::uint32_t>(us % 1000000));
    // No byte timeout: the response timeout then bounds the whole answer, not just its first byte.
    modbus_set_byte_timeout(ctx_, 0, 0);
    modbus_set_error_recovery(ctx_, MODBUS_ERROR_RECOVERY_NONE);  // we recover ourselves, without sleeping
  }
  if (modbus_connect(ctx_) == -1) {
    int err = errno;
    std::string where = is_tcp_ ? tcp_.host + ":" + std::to_string(tcp_.port) : serial_.device;
    return LinkError{"connect", (is_tcp_ ? "cannot connect to " : "cannot open ") + where + ": " + modbus_strerror(err)};
  }
  open_ = true;
  return std::nullopt;
}

void Link::recover(const std::string& reason) {
  if (reason == "exception") return;
  if (is_tcp_ || reason == "io") {
    close();
  } else if (open_) {
    modbus_flush(ctx_);  // drop the rest of a late or garbled answer before the next request
  }
}

std::optional<LinkError> Link::read(int unit, std::span<const ReadBlock> blocks, const BlockFn& on_block) {
  if (!open_) {
    if (auto e = open()) return e;
  }
  if (modbus_set_slave(ctx_, unit) == -1)
    return LinkError{"connect", "unit id " + std::to_string(unit) + " refused: " + modbus_strerror(errno)};
  std::vector<std::uint16_t> words;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const ReadBlock& b = blocks[i];
    words.assign(b.count, 0);
    int rc = b.function == Function::input ? modbus_read_input_registers(ctx_, b.start, b.count, words.data())
                                           : modbus_read_registers(ctx_, b.start, b.count, words.data());
    if (rc != b.count) {
      int err = errno;
      std::string reason = rc == -1 ? reason_of(err) : "protocol";
      std::string what = std::string(function_name(b.function)) + " registers " + std::to_string(b.start) + ".." +
                         std::to_string(b.start + b.count - 1) + " of unit " + std::to_string(unit) + ": ";
      std::string detail = rc == -1 ? modbus_strerror(err) : "answer holds " + std::to_string(rc) + " registers";
      recover(reason);
      return LinkError{reason, what + detail};
    }
    on_block(i, words);
  }
  return std::nullopt;
}

}  // namespace cg::modbus
