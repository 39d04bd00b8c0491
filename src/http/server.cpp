// The Beast part of the HTTP layer: the listener (acceptor) and one Session per connection.
//
// Lifetime: a Listener is shared by the Server and by every Session it accepted, so completions
// that arrive after the Server is gone still find valid memory. A Session is kept alive by its own
// pending operation (read, write, timer) or by an outstanding Responder. stop() closes the
// acceptor and posts a close to every live session; what they were doing completes with
// operation_aborted and they go away.
//
// Concurrency: each Session runs on its own strand; the Listener's accept loop on another. State
// shared between them (session registry, stop flag, connection count) is guarded by a mutex or
// atomic. Handler calls hold a shared lock that stop() takes exclusively, which is how stop() can
// promise that no handler runs after it returns.
#include <array>
#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "http/server.hpp"

namespace cg::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

// After an error response we half-close and keep reading (discarding) for a moment before closing:
// closing with unread input makes the kernel send RST, which can destroy the response before the
// client reads it.
constexpr std::chrono::milliseconds kLinger{1000};
constexpr std::size_t kLingerMaxBytes = 1024 * 1024;
constexpr std::size_t kIdleReadChunk = 4096;
// Accept failures (EMFILE, ENFILE, ENOBUFS) repeat at once; wait before trying again.
constexpr std::chrono::milliseconds kAcceptRetry{100};

// The listener whose handler the current thread is running (stop() must not wait for itself).
thread_local const void* t_dispatching = nullptr;

enum class Reject : std::size_t { malformed, header_too_large, body_too_large, timeout, too_many_connections, count };
constexpr std::array<const char*, static_cast<std::size_t>(Reject::count)> kRejectNames = {
    "malformed", "header_too_large", "body_too_large", "timeout", "too_many_connections"};

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// The checked, framework-free view of a parsed message; an error text when the request is
// malformed (answered 400). Shared by sessions and parse_request(), so both judge alike.
std::optional<std::string> to_request(bhttp::request<bhttp::string_body>& msg, Request& req) {
  if (msg.version() >= 11 && msg.find(bhttp::field::host) == msg.end())
    return std::string("HTTP/1.1 request without a Host header");
  req.method = std::string(sv(msg.method_string()));
  req.target = std::string(sv(msg.target()));
  std::string_view origin = req.target;
  if (origin.empty() || origin.front() != '/') {
    // absolute-form (RFC 9112 §3.2.2): keep the path and query only
    auto scheme_end = origin.find("://");
    auto lower = to_lower(origin.substr(0, scheme_end == std::string_view::npos ? 0 : scheme_end));
    if (scheme_end == std::string_view::npos || (lower != "http" && lower != "https"))
      return std::string("request-target must be an absolute path");
    auto rest = origin.substr(scheme_end + 3);
    auto slash = rest.find_first_of("/?");
    origin = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  }
  auto q = origin.find('?');
  req.path = std::string(origin.substr(0, q));
  if (req.path.empty()) req.path = "/";
  if (q != std::string_view::npos) req.query = std::string(origin.substr(q + 1));
  req.headers.reserve(static_cast<std::size_t>(std::distance(msg.begin(), msg.end())));
  for (const auto& f : msg) req.headers.emplace_back(to_lower(sv(f.name_string())), std::string(sv(f.value())));
  req.body = std::move(msg.body());
  return std::nullopt;
}

bool is_beast_http_error(const beast::error_code& ec) {
  return &ec.category() == &bhttp::make_error_code(bhttp::error::bad_method).category();
}

bool has_crlf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

}  // namespace

namespace detail {

class Session;

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& io, Router router, Limits limits, Metrics& metrics, std::string name)
      : io_(io),
        router_(std::move(router)),
        limits_(limits),
        metrics_(metrics),
        name_(std::move(name)),
        strand_(net::make_strand(io)),
        acceptor_(strand_),
        accept_retry_(strand_),
        open_connections_(metrics.gauge("http_open_connections", {{"listener", name_}},
                                        "Open HTTP connections")),
        accept_errors_(metrics.counter("http_accept_errors_total", {{"listener", name_}},
                                       "Failed accept() calls")) {
    for (std::size_t i = 0; i < kRejectNames.size(); ++i)
      rejected_[i] = &metrics.counter("http_rejected_requests_total", {{"listener", name_}, {"reason", kRejectNames[i]}},
                                      "Requests or connections refused by the HTTP layer");
  }

  Result<void> listen(const std::string& host_in, std::uint16_t port);
  void stop();
  std::uint16_t port() const { return bound_port_.load(); }

  // --- used by sessions ---
  const Limits& limits() const { return limits_; }
  const std::string& name() const { return name_; }
  bool stopped() const { return stopped_.load(); }
  void count_reject(Reject r) { rejected_[static_cast<std::size_t>(r)]->inc(); }
  void count_status(int status);
  void connection_opened() { open_connections_.set(static_cast<std::int64_t>(++active_)); }
  void connection_closed() { open_connections_.set(static_cast<std::int64_t>(--active_)); }
  void unregister(Session* s) {
    std::lock_guard lk(reg_mu_);
    sessions_.erase(s);
  }
  // While a session waits for its handler's answer nothing else keeps it alive: the listener
  // holds it (Responders only hold weak references, so that a Responder kept past shutdown never
  // pins a socket of a dead io_context). False once stopped.
  bool hold(std::shared_ptr<Session> s) {
    std::lock_guard lk(reg_mu_);
    if (stopped_.load()) return false;
    auto* key = s.get();
    held_[key] = std::move(s);
    return true;
  }
  // Returns the reference so that the caller drops it outside reg_mu_.
  std::shared_ptr<Session> release(Session* s) {
    std::lock_guard lk(reg_mu_);
    auto it = held_.find(s);
    if (it == held_.end()) return nullptr;
    auto ref = std::move(it->second);
    held_.erase(it);
    return ref;
  }
  // Runs the router under the dispatch lock. Returns false (nothing called) once stopped.
  bool dispatch(Request& req, const Responder& respond);
  void note_handler_exception(std::string_view what);

 private:
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);

  net::io_context& io_;
  const Router router_;
  const Limits limits_;
  Metrics& metrics_;
  const std::string name_;
  net::strand<net::io_context::executor_type> strand_;  // accept loop
  tcp::acceptor acceptor_;
  net::steady_timer accept_retry_;
  bool accept_failing_ = false;  // on strand_: log the transition, not every failure

  std::atomic<std::uint16_t> bound_port_{0};
  std::atomic<bool> stopped_{false};
  std::atomic<std::size_t> active_{0};
  std::atomic<bool> exception_logged_{false};

  std::shared_mutex dispatch_mu_;  // shared: a handler is running; exclusive: stop()
  std::mutex reg_mu_;              // sessions_, listening_, stop flag transitions, acceptor setup
  bool listening_ = false;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
  std::unordered_map<Session*, std::shared_ptr<Session>> held_;  // awaiting a handler's answer

  Gauge& open_connections_;
  Counter& accept_errors_;
  std::array<Counter*, static_cast<std::size_t>(Reject::count)> rejected_{};
  std::array<std::atomic<Counter*>, 600> by_status_{};
};

// One accepted connection. All members are touched only on the session's strand, except ex_ and
// listener_ (immutable) which post_response()/post_close() use from any thread.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<Listener> listener, tcp::socket&& socket, bool overloaded)
      : listener_(std::move(listener)), stream_(std::move(socket)), ex_(stream_.get_executor()), overloaded_(overloaded) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
    stream_.socket().set_option(tcp::no_delay(true), ec);
    if (!overloaded_) listener_->connection_opened();
  }
  ~Session() {
    if (!overloaded_) listener_->connection_closed();
    listener_->unregister(this);
  }

  void start() {
    net::dispatch(ex_, [self = shared_from_this()] { self->begin(); });
  }
  // Any thread.
  void post_response(Response r) {
    net::post(ex_, [self = shared_from_this(), r = std::move(r)]() mutable { self->write_response(std::move(r), false); });
  }
  void post_close() {
    net::post(ex_, [self = shared_from_this()] { self->close(); });
  }
  bool listener_stopped() const { return listener_->stopped(); }

 private:
  void begin() {
    if (overloaded_) {
      auto r = Response::problem(503, "Service Unavailable", "too many open connections; retry later");
      r.headers.emplace_back("Retry-After", "1");
      write_response(std::move(r), true);
      return;
    }
    read_request();
  }

  void read_request() {
    if (closed_) return;
    if (listener_->stopped()) {
      close();
      return;
    }
    const auto& lim = listener_->limits();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(lim.header_max, UINT32_MAX)));
    parser_->body_limit(static_cast<std::uint64_t>(lim.body_max));
    if (!first_request_ && buffer_.size() == 0) {
      // Keep-alive: the idle timeout applies until the first byte of the next request arrives;
      // from then on the read timeout covers the whole request.
      stream_.expires_after(lim.idle_timeout);
      stream_.async_read_some(buffer_.prepare(kIdleReadChunk),
                              [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                if (self->closed_) return;
                                self->buffer_.commit(n);
                                if (ec) {
                                  self->close();  // idle timeout or the client went away: normal end
                                  return;
                                }
                                self->read_header();
                              });
      return;
    }
    read_header();
  }

  void read_header() {
    first_request_ = false;
    read_deadline_ = std::chrono::steady_clock::now() + listener_->limits().read_timeout;
    stream_.expires_after(listener_->limits().read_timeout);  // a deadline for header + body
    bhttp::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (self->closed_) return;
      if (ec) return self->on_read_error(ec);
      self->on_header();
    });
  }

  void on_header() {
    const auto& msg = parser_->get();
    auto expect = msg[bhttp::field::expect];
    if (!parser_->is_done() && beast::iequals(expect, "100-continue")) {
      // The client waits (curl: 1 s) for this before sending a large body.
      continue_.emplace(bhttp::status::continue_, msg.version());
      bhttp::async_write(stream_, *continue_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (self->closed_) return;
        if (ec) return self->close();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return on_request();
    bhttp::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (self->closed_) return;
      if (ec) return self->on_read_error(ec);
      self->on_request();
    });
  }

  void on_read_error(beast::error_code ec) {
    // A read that ends as an incomplete message after the deadline is the read timeout too,
    // whichever code the closed socket produced (defensive: Beast normally says timeout).
    const bool past_deadline = std::chrono::steady_clock::now() >= read_deadline_ &&
                               (ec == bhttp::error::partial_message || ec == bhttp::error::end_of_stream ||
                                ec == boost::asio::error::eof);
    if (ec == beast::error::timeout || past_deadline) {
      listener_->count_reject(Reject::timeout);
      spdlog::debug("http[{}] {}: request not complete within the read timeout", listener_->name(), remote_);
      return close();
    }
    if (ec == bhttp::error::header_limit) {
      listener_->count_reject(Reject::header_too_large);
      return reject(431, "Request Header Fields Too Large",
                    fmt::format("request line and headers exceed {} bytes", listener_->limits().header_max));
    }
    if (ec == bhttp::error::body_limit) {
      listener_->count_reject(Reject::body_too_large);
      return reject(413, "Content Too Large",
                    fmt::format("request body exceeds {} bytes", listener_->limits().body_max));
    }
    if (is_beast_http_error(ec) && ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      listener_->count_reject(Reject::malformed);
      spdlog::debug("http[{}] {}: malformed request: {}", listener_->name(), remote_, ec.message());
      return reject(400, "Bad Request", "malformed HTTP request: " + ec.message());
    }
    // end_of_stream, partial_message, eof, reset, aborted: the peer went away or we are stopping.
    close();
  }

  // An error answer to a request we could not (fully) read: never keep the connection.
  void reject(int status, std::string_view title, std::string detail) {
    version_ = 11;
    head_ = false;
    keep_alive_ = false;
    write_response(Response::problem(status, title, detail), true);
  }

  void on_request() {
    auto msg = parser_->release();
    version_ = msg.version();
    keep_alive_ = msg.keep_alive();
    head_ = msg.method() == bhttp::verb::head;

    Request req;
    if (auto why = to_request(msg, req)) {
      listener_->count_reject(Reject::malformed);
      return reject(400, "Bad Request", *why);
    }
    req.remote_addr = remote_;

    spdlog::debug("http[{}] {} {} {}", listener_->name(), remote_, req.method, req.target);

    // The responder may be called inline or later from any thread; it always posts back here.
    struct Pending {
      std::weak_ptr<Session> session;
      std::atomic<bool> done{false};
      explicit Pending(std::weak_ptr<Session> s) : session(std::move(s)) {}
      ~Pending() {
        // Dropped without an answer (a handler bug): do not leave the client hanging. Skip once
        // stopped: the io_context may be tearing down.
        if (done.load()) return;
        if (auto s = session.lock(); s && !s->listener_stopped())
          s->post_response(Response::problem(500, "Internal Server Error", "the handler produced no response"));
      }
    };
    auto self = shared_from_this();
    if (!listener_->hold(self)) return close();
    auto pending = std::make_shared<Pending>(self);
    Responder respond = [pending](Response r) {
      if (pending->done.exchange(true)) {
        spdlog::debug("http: responder called more than once; extra response ignored");
        return;
      }
      if (auto s = pending->session.lock()) s->post_response(std::move(r));
      // else: the connection is gone (stopped or closed); nothing to answer
    };
    if (!listener_->dispatch(req, respond)) {
      pending->done = true;
      close();
    }
  }

  void write_response(Response r, bool force_close) {
    // Keeps this session alive through the write; `held` is dropped at the end of this call.
    auto held = listener_->release(this);
    if (closed_) return;
    if (r.drop_connection) {
      spdlog::debug("http[{}] {}: handler dropped the connection without a response", listener_->name(), remote_);
      return close();
    }
    if (r.status < 200 || r.status > 599) {
      spdlog::debug("http[{}]: handler answered with status {}; sending 500", listener_->name(), r.status);
      r = Response::problem(500, "Internal Server Error", "invalid status code from handler");
    }
    listener_->count_status(r.status);
    res_ = {};
    res_.version(version_);
    res_.result(static_cast<unsigned>(r.status));
    res_.set(bhttp::field::server, "citygate");
    if (!r.content_type.empty()) res_.set(bhttp::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) {
      auto lk = to_lower(k);
      if (k.empty() || has_crlf(k) || has_crlf(v) || lk == "content-length" || lk == "transfer-encoding" ||
          lk == "connection")
        continue;
      res_.insert(k, v);
    }
    // RFC 9110 §8.6: no Content-Length (and no content) on 204 and 304.
    if (r.status != 204 && r.status != 304) {
      res_.content_length(r.body.size());
      if (!head_) res_.body() = std::move(r.body);
    }
    const bool keep = keep_alive_ && !force_close && !listener_->stopped();
    res_.keep_alive(keep);
    stream_.expires_after(listener_->limits().write_timeout);
    bhttp::async_write(stream_, res_, [self = shared_from_this(), keep](beast::error_code ec, std::size_t) {
      if (self->closed_) return;
      self->res_ = {};
      if (ec) return self->close();
      if (!keep) return self->linger_close();
      self->read_request();
    });
  }

  void linger_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    stream_.expires_after(kLinger);
    buffer_.clear();
    drain();
  }

  void drain() {
    stream_.async_read_some(buffer_.prepare(kIdleReadChunk), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      if (self->closed_) return;
      self->lingered_ += n;
      if (ec || self->lingered_ > kLingerMaxBytes) return self->close();
      self->drain();
    });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();  // cancels the timer and pending operations
    auto held = listener_->release(this);  // no answer will be written any more
  }

  std::shared_ptr<Listener> listener_;
  beast::tcp_stream stream_;
  const net::any_io_executor ex_;  // the session's strand
  const bool overloaded_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::empty_body>> continue_;
  bhttp::response<bhttp::string_body> res_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool head_ = false;
  bool first_request_ = true;
  bool closed_ = false;
  std::chrono::steady_clock::time_point read_deadline_ = std::chrono::steady_clock::time_point::max();
  std::size_t lingered_ = 0;
};

void Listener::count_status(int status) {
  auto& slot = by_status_[static_cast<std::size_t>(status)];
  Counter* c = slot.load(std::memory_order_acquire);
  if (!c) {
    // First response with this code: register once (the registry returns the same counter if two
    // threads race here).
    c = &metrics_.counter("http_requests_total", {{"listener", name_}, {"code", std::to_string(status)}},
                          "HTTP responses written, by status code");
    slot.store(c, std::memory_order_release);
  }
  c->inc();
}

bool Listener::dispatch(Request& req, const Responder& respond) {
  std::shared_lock lk(dispatch_mu_);
  if (stopped_.load()) return false;
  const void* outer = t_dispatching;
  t_dispatching = this;
  try {
    router_.dispatch(req, respond);
  } catch (const std::exception& e) {
    note_handler_exception(e.what());
    respond(Response::problem(500, "Internal Server Error", "the handler failed"));
  } catch (...) {
    note_handler_exception("unknown exception");
    respond(Response::problem(500, "Internal Server Error", "the handler failed"));
  }
  t_dispatching = outer;
  return true;
}

void Listener::note_handler_exception(std::string_view what) {
  metrics_.counter("http_handler_exceptions_total", {{"listener", name_}}).inc();
  if (!exception_logged_.exchange(true))
    spdlog::error("http[{}]: a handler threw: {} (further occurrences only counted)", name_, what);
  else
    spdlog::debug("http[{}]: a handler threw: {}", name_, what);
}

Result<void> Listener::listen(const std::string& host_in, std::uint16_t port) {
  std::string host = host_in;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  beast::error_code ec;
  auto addr = net::ip::make_address(host, ec);
  if (ec) return fail(Error::fatal("listen", fmt::format("{}: '{}' is not an IP address", name_, host_in)));
  tcp::endpoint ep{addr, port};
  auto failed = [&](std::string_view what) {
    beast::error_code ignored;
    acceptor_.close(ignored);
    return fail(Error::fatal("listen", fmt::format("{}: {} {}:{}: {}", name_, what,
                                                   addr.is_v6() ? "[" + host + "]" : host, port, ec.message())));
  };
  {
    // Under reg_mu_: a concurrent stop() closes the acceptor under the same lock.
    std::lock_guard lk(reg_mu_);
    if (stopped_.load()) return fail(Error::fatal("listen", name_ + ": server was stopped"));
    if (listening_) return fail(Error::fatal("listen", name_ + ": already listening"));
    acceptor_.open(ep.protocol(), ec);
    if (ec) return failed("open");
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (ec) return failed("setsockopt");
    acceptor_.bind(ep, ec);
    if (ec) return failed("bind");
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return failed("listen");
    auto local = acceptor_.local_endpoint(ec);
    if (ec) return failed("getsockname");
    bound_port_ = local.port();
    listening_ = true;
  }
  spdlog::info("http listener '{}' on {}:{}", name_, addr.is_v6() ? "[" + host + "]" : host, bound_port_.load());
  net::post(strand_, [self = shared_from_this()] { self->do_accept(); });
  return {};
}

void Listener::do_accept() {
  if (stopped_.load()) return;
  acceptor_.async_accept(net::make_strand(io_), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    self->on_accept(ec, std::move(socket));
  });
}

void Listener::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || stopped_.load() || !acceptor_.is_open()) return;
  if (ec) {
    accept_errors_.inc();
    if (!accept_failing_) {
      accept_failing_ = true;
      spdlog::warn("http[{}]: accept failed: {} (retrying)", name_, ec.message());
    }
    accept_retry_.expires_after(kAcceptRetry);
    accept_retry_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e) self->do_accept();
    });
    return;
  }
  if (accept_failing_) {
    accept_failing_ = false;
    spdlog::info("http[{}]: accepting connections again", name_);
  }
  const bool overloaded = active_.load() >= limits_.max_connections;
  if (overloaded) count_reject(Reject::too_many_connections);
  auto session = std::make_shared<Session>(shared_from_this(), std::move(socket), overloaded);
  bool registered = false;
  {
    std::lock_guard lk(reg_mu_);
    if (!stopped_.load()) {
      sessions_.emplace(session.get(), session);
      registered = true;
    }
  }
  if (registered) session->start();
  do_accept();
}

void Listener::stop() {
  // Wait for running handlers unless we are one of them (a handler stopping its own server).
  std::unique_lock<std::shared_mutex> dl(dispatch_mu_, std::defer_lock);
  if (t_dispatching != this) dl.lock();
  std::vector<std::shared_ptr<Session>> live;
  std::unordered_map<Session*, std::shared_ptr<Session>> held;
  {
    std::lock_guard lk(reg_mu_);
    if (stopped_.exchange(true)) return;
    live.reserve(sessions_.size());
    for (auto& [p, w] : sessions_)
      if (auto s = w.lock()) live.push_back(std::move(s));
    held.swap(held_);  // `live` keeps them until their close has run
  }
  if (dl.owns_lock()) dl.unlock();
  net::post(strand_, [self = shared_from_this()] {
    std::lock_guard lk(self->reg_mu_);
    beast::error_code ec;
    self->acceptor_.close(ec);
    self->accept_retry_.cancel();
  });
  for (auto& s : live) s->post_close();
  // `live` and `held` are released here, outside reg_mu_ (a Session destructor takes it).
}

}  // namespace detail

Server::Server(net::io_context& io, Router router, Limits limits, Metrics& metrics, std::string name)
    : impl_(std::make_shared<detail::Listener>(io, std::move(router), limits, metrics, std::move(name))) {}

Server::~Server() {
  if (impl_) impl_->stop();
}

Result<void> Server::listen(const std::string& host, std::uint16_t port) { return impl_->listen(host, port); }

std::uint16_t Server::port() const { return impl_->port(); }

void Server::stop() { impl_->stop(); }

Result<Request> parse_request(std::string_view raw, const Limits& lim, int* status) {
  auto failed = [status](int st, std::string detail) {
    if (status) *status = st;
    return fail(Error::reject("http", std::move(detail)));
  };
  bhttp::request_parser<bhttp::string_body> parser;
  parser.eager(true);
  parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(lim.header_max, UINT32_MAX)));
  parser.body_limit(static_cast<std::uint64_t>(lim.body_max));
  beast::error_code ec;
  std::size_t used = 0;
  while (!ec && !parser.is_done() && used < raw.size()) {
    used += parser.put(net::buffer(raw.data() + used, raw.size() - used), ec);
    if (ec == bhttp::error::need_more) break;
  }
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec == bhttp::error::header_limit) return failed(431, "request line and headers exceed the limit");
  if (ec == bhttp::error::body_limit) return failed(413, "request body exceeds the limit");
  if (ec || !parser.is_done()) return failed(400, "malformed HTTP request: " + (ec ? ec.message() : std::string("incomplete")));
  auto msg = parser.release();
  Request req;
  if (auto why = to_request(msg, req)) return failed(400, *why);
  return req;
}

}  // namespace cg::http
