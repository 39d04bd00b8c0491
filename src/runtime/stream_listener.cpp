#include "runtime/stream_listener.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <mutex>
#include <set>

#include <spdlog/spdlog.h>

#include "runtime/http_ingest.hpp"

namespace cg::runtime {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;

namespace {
constexpr std::size_t kMaxTcpConnections = 256;
constexpr std::size_t kReadChunk = 64 * 1024;
}  // namespace

struct StreamListener::Impl : std::enable_shared_from_this<StreamListener::Impl> {
  asio::io_context& io;
  StreamListen cfg;
  std::string adapter_id;
  IngestDecodeFn decode;
  ReadingSink& sink;
  RateLimiter& limiter;
  const Clock& clock;
  Metrics& metrics;
  std::string proto_name;
  Counter& received;
  Counter& dropped_throttled;
  Counter& dropped_rate;
  Counter& refused_connections;
  Counter& rate_limited;
  std::atomic<bool> stopped{false};
  std::atomic<bool> refusing{false};  // for a log line on change, not per datagram

  std::unique_ptr<udp::socket> usock;
  std::array<char, 65536> ubuf{};
  udp::endpoint usender;

  std::unique_ptr<tcp::acceptor> acceptor;
  struct Session;
  std::mutex smu;
  std::set<std::shared_ptr<Session>> sessions;

  Impl(asio::io_context& io_, StreamListen c, std::string id, IngestDecodeFn d, ReadingSink& s, RateLimiter& l,
       const Clock& cl, Metrics& m)
      : io(io_),
        cfg(std::move(c)),
        adapter_id(std::move(id)),
        decode(std::move(d)),
        sink(s),
        limiter(l),
        clock(cl),
        metrics(m),
        proto_name(cfg.protocol == StreamListen::Protocol::udp ? "udp" : "tcp"),
        received(m.counter("ingest_stream_inputs_total", {{"adapter", adapter_id}, {"protocol", proto_name}},
                           "Datagrams / line batches received")),
        dropped_throttled(m.counter("ingest_stream_dropped_total", {{"adapter", adapter_id}, {"reason", "store_refused"}},
                                    "UDP datagrams dropped (no resend possible)")),
        dropped_rate(m.counter("ingest_stream_dropped_total", {{"adapter", adapter_id}, {"reason", "rate_limited"}},
                               "UDP datagrams dropped (no resend possible)")),
        refused_connections(m.counter("ingest_tcp_refused_connections_total", {{"adapter", adapter_id}},
                                      "TCP connections refused over the connection cap")),
        rate_limited(m.counter("adapter_rate_limited_total", {{"adapter", adapter_id}},
                               "Messages refused by the instance's rate limit")) {}

  // ---- UDP ----
  void udp_receive() {
    auto self = shared_from_this();
    usock->async_receive_from(asio::buffer(ubuf), usender, [self](const boost::system::error_code& ec, std::size_t n) {
      if (ec == asio::error::operation_aborted || self->stopped) return;
      if (!ec) self->udp_datagram(n);
      self->udp_receive();
    });
  }

  void udp_datagram(std::size_t n) {
    received.inc();
    if (!limiter.try_take()) {
      dropped_rate.inc();
      rate_limited.inc();
      return;
    }
    DecodeInput in;
    in.payload = {reinterpret_cast<const std::uint8_t*>(ubuf.data()), n};
    in.now = clock.now();
    DecodeOutput out = decode(in);
    if (!out.errors.empty())
      record_decode_errors(adapter_id, out.errors, sink, "udp:" + usender.address().to_string(), in.payload, metrics);
    if (out.readings.empty()) return;
    auto self = shared_from_this();
    sink.submit(std::move(out.readings), {}, [self](CommitStatus st) {
      bool bad = st == CommitStatus::throttled || st == CommitStatus::failed;
      if (bad) self->dropped_throttled.inc();
      if (self->refusing.exchange(bad) != bad) {
        if (bad) spdlog::warn("adapter '{}': store refusing UDP input; datagrams are being dropped", self->adapter_id);
        else spdlog::info("adapter '{}': store accepting UDP input again", self->adapter_id);
      }
    });
  }

  // ---- TCP ----
  struct Session : std::enable_shared_from_this<Session> {
    std::shared_ptr<Impl> owner;
    tcp::socket sock;
    asio::steady_timer timer;
    std::string buf;       // bytes read and not yet decoded
    std::string pending;   // the complete lines being committed (kept until they are)
    bool skipping = false; // inside an over-long line: drop bytes up to the next newline
    bool eof = false;
    std::string peer;

    Session(std::shared_ptr<Impl> o, tcp::socket s)
        : owner(std::move(o)), sock(std::move(s)), timer(sock.get_executor()) {
      boost::system::error_code ec;
      auto ep = sock.remote_endpoint(ec);
      peer = ec ? "tcp:?" : "tcp:" + ep.address().to_string();
    }

    void read() {
      if (owner->stopped) return close();
      auto self = shared_from_this();
      std::size_t old = buf.size();
      buf.resize(old + kReadChunk);
      sock.async_read_some(asio::buffer(buf.data() + old, kReadChunk),
                           [self, old](const boost::system::error_code& ec, std::size_t n) {
                             self->buf.resize(old + n);
                             if (ec) self->eof = true;
                             self->cut();
                           });
    }

    // Takes the next batch of whole lines (at most max_line bytes in all) into `pending` and
    // offers it; reads more when no whole line is buffered.
    void cut() {
      auto& o = *owner;
      const std::size_t max = o.cfg.max_line;
      while (true) {
        if (skipping) {
          auto nl = buf.find('\n');
          if (nl == std::string::npos) {
            buf.clear();
            return eof ? close() : read();
          }
          buf.erase(0, nl + 1);
          skipping = false;
        }
        std::size_t end = 0;
        for (auto nl = buf.find('\n'); nl != std::string::npos && nl + 1 <= max; nl = buf.find('\n', end)) end = nl + 1;
        if (end > 0) {
          pending.assign(buf, 0, end);
          buf.erase(0, end);
          return offer(true);
        }
        auto nl = buf.find('\n');
        if (nl != std::string::npos || buf.size() > max) {
          too_long();
          if (nl != std::string::npos) buf.erase(0, nl + 1);
          else {
            buf.clear();
            skipping = true;
          }
          continue;
        }
        if (!eof) return read();
        if (buf.empty()) return close();
        pending = std::move(buf);  // the final line, without its newline
        buf.clear();
        return offer(true);
      }
    }

    void too_long() {
      auto& o = *owner;
      Error e = Error::reject("line_too_long", "a line is longer than " + std::to_string(o.cfg.max_line) +
                                                   " bytes; skipped up to its end");
      record_decode_errors(o.adapter_id, {e}, o.sink, peer,
                           {reinterpret_cast<const std::uint8_t*>(buf.data()), std::min<std::size_t>(buf.size(), 4096)},
                           o.metrics);
    }

    // Decodes `pending` and commits it; first=false on a retry after throttling (errors were
    // already recorded then).
    void offer(bool first) {
      auto& o = *owner;
      if (first) o.received.inc();
      if (first && !o.limiter.try_take()) {
        o.rate_limited.inc();
        return retry_after(std::chrono::milliseconds(1000 * o.limiter.retry_after_s()));
      }
      DecodeInput in;
      in.payload = {reinterpret_cast<const std::uint8_t*>(pending.data()), pending.size()};
      in.now = o.clock.now();
      DecodeOutput out = o.decode(in);
      if (first && !out.errors.empty()) record_decode_errors(o.adapter_id, out.errors, o.sink, peer, in.payload, o.metrics);
      if (out.readings.empty()) return next();
      auto self = shared_from_this();
      o.sink.submit(std::move(out.readings), {}, [self](CommitStatus st) {
        asio::post(self->sock.get_executor(), [self, st] {
          if (st == CommitStatus::throttled || st == CommitStatus::failed)
            return self->retry_after(std::chrono::milliseconds(200));
          self->next();
        });
      });
    }

    // Offers `pending` again after `d` (rate limit or store refusal): the connection is not read
    // meanwhile, so TCP flow control slows the sender.
    void retry_after(std::chrono::milliseconds d) {
      auto self = shared_from_this();
      timer.expires_after(d);
      timer.async_wait([self](const boost::system::error_code& ec) {
        if (ec || self->owner->stopped) return self->close();
        self->offer(false);
      });
    }

    void next() {
      pending.clear();
      cut();
    }

    void close() {
      boost::system::error_code ec;
      sock.close(ec);
      timer.cancel();
      auto& o = *owner;
      std::lock_guard lk(o.smu);
      o.sessions.erase(shared_from_this());
    }
  };

  void tcp_accept() {
    auto self = shared_from_this();
    acceptor->async_accept(asio::make_strand(io), [self](const boost::system::error_code& ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted || self->stopped) return;
      if (!ec) {
        std::shared_ptr<Session> sess;
        {
          std::lock_guard lk(self->smu);
          if (self->sessions.size() >= kMaxTcpConnections) {
            self->refused_connections.inc();
            boost::system::error_code ig;
            s.close(ig);
          } else {
            sess = std::make_shared<Session>(self, std::move(s));
            self->sessions.insert(sess);
          }
        }
        if (sess) asio::post(sess->sock.get_executor(), [sess] { sess->read(); });
      }
      self->tcp_accept();
    });
  }

  void stop() {
    if (stopped.exchange(true)) return;
    auto self = shared_from_this();
    asio::post(io, [self] {
      boost::system::error_code ec;
      if (self->usock) self->usock->close(ec);
      if (self->acceptor) self->acceptor->close(ec);
    });
    std::lock_guard lk(smu);
    for (auto& s : sessions)
      asio::post(s->sock.get_executor(), [s] {
        boost::system::error_code ec;
        s->sock.close(ec);
        s->timer.cancel();
      });
  }
};

Result<std::unique_ptr<StreamListener>> StreamListener::open(asio::io_context& io, const StreamListen& listen,
                                                             std::string adapter_id, IngestDecodeFn decode,
                                                             ReadingSink& sink, RateLimiter& limiter, const Clock& clock,
                                                             Metrics& metrics) {
  auto impl = std::make_shared<Impl>(io, listen, std::move(adapter_id), std::move(decode), sink, limiter, clock, metrics);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(listen.host, ec);
  if (ec) return fail(Error::fatal("listen", "'" + listen.host + "' is not an IP address"));
  const char* what = listen.protocol == StreamListen::Protocol::udp ? "udp" : "tcp";
  auto bind_error = [&](const boost::system::error_code& e) {
    return Error::fatal("listen", std::string(what) + " " + listen.host + ":" + std::to_string(listen.port) + ": " +
                                      e.message());
  };
  if (listen.protocol == StreamListen::Protocol::udp) {
    impl->usock = std::make_unique<udp::socket>(io);
    udp::endpoint ep(addr, listen.port);
    impl->usock->open(ep.protocol(), ec);
    if (!ec) impl->usock->set_option(asio::socket_base::receive_buffer_size(4 << 20), ec);  // best effort
    ec.clear();
    impl->usock->bind(ep, ec);
    if (ec) return fail(bind_error(ec));
    impl->udp_receive();
  } else {
    impl->acceptor = std::make_unique<tcp::acceptor>(io);
    tcp::endpoint ep(addr, listen.port);
    impl->acceptor->open(ep.protocol(), ec);
    if (!ec) impl->acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) impl->acceptor->bind(ep, ec);
    if (!ec) impl->acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail(bind_error(ec));
    impl->tcp_accept();
  }
  return std::unique_ptr<StreamListener>(new StreamListener(std::move(impl)));
}

StreamListener::StreamListener(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
StreamListener::~StreamListener() { stop(); }
void StreamListener::stop() { impl_->stop(); }

std::uint16_t StreamListener::port() const {
  boost::system::error_code ec;
  if (impl_->usock) return impl_->usock->local_endpoint(ec).port();
  if (impl_->acceptor) return impl_->acceptor->local_endpoint(ec).port();
  return 0;
}

}  // namespace cg::runtime
