#pragma once
// HTTP/1.1 server for every listener of the process (ingest, public, admin, the lake receiver).
// The only module that includes Boost.Beast (DESIGN §2); this header stays free of Beast and Asio
// so the rest of the tree compiles fast and never depends on them.
//
// Model: a Router maps (method, path pattern) to a Handler. A Server owns one listening socket and
// the sessions accepted on it; every session reads one request at a time (keep-alive, no
// pipelining), calls the handler on an io thread, and writes the Response the handler hands to its
// Responder — possibly later, from another thread (the ingest path answers after the store's group
// commit).
//
// Threads and lifetime:
//   * The io_context may run on any number of threads; each session runs on its own strand, so a
//     session's state is never touched concurrently. Handlers of different sessions do run
//     concurrently when the io_context has several threads.
//   * Router::add() is not thread-safe: build the Router completely, then give it to the Server.
//   * Server::stop() may be called from any thread. When it returns (called from outside a
//     handler of this Server), no handler of this Server is running and none will start: the
//     objects handlers capture may be destroyed right after. Sockets are closed asynchronously on
//     the io threads.
//   * A Responder keeps its session alive until it is called or destroyed. Calling it after
//     stop() is harmless (the response is dropped). Whatever holds Responders (e.g. the store's
//     commit queue) must release them before the io_context is destroyed.
//   * The Server must be destroyed before its io_context; the Metrics registry must outlive both.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/metrics.hpp"
#include "core/result.hpp"

namespace boost::asio {
class io_context;
}

namespace cg::http {

namespace detail {
class Listener;
}

struct Request {
  std::string method;  // "GET", "POST", ... as sent (case-sensitive, RFC 9110 §9.1)
  std::string target;  // raw request-target (origin-form; absolute-form is reduced to it)
  std::string path;    // target without query, NOT percent-decoded
  std::string query;   // after '?', raw (empty when absent)
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;
  std::string remote_addr;  // peer IP address, without port ("127.0.0.1", "::1")
  std::map<std::string, std::string> params;  // filled by Router from "{name}" segments, decoded

  // First header with this (lower-case) name.
  std::optional<std::string_view> header(std::string_view lower_name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";  // empty = no Content-Type header
  std::string body;
  // Extra headers. Content-Length, Transfer-Encoding and Connection are managed by the server
  // and ignored here; names/values containing CR or LF are dropped.
  std::vector<std::pair<std::string, std::string>> headers;
  // Close the connection without writing anything (status, headers and body are ignored): the
  // client sees the connection end with no response. For fault injection (the lake receiver's
  // "drop_after_commit"); not counted in http_requests_total.
  bool drop_connection = false;

  static Response json(int status, std::string body);
  static Response text(int status, std::string body);  // text/plain; charset=utf-8
  // RFC 9457 problem details: content type application/problem+json, body
  // {"type":"about:blank","title":...,"status":...,"detail":...}
  static Response problem(int status, std::string_view title, std::string_view detail);
};

// Call exactly once, from ANY thread; the response is posted back to the session's strand.
// Extra calls are ignored. If every copy is destroyed without a call, the client gets a 500.
using Responder = std::function<void(Response)>;
// Runs on an io thread and must not block. May call the Responder inline or keep it and call it
// later from elsewhere. An exception escaping a handler becomes a 500 (and is logged).
using Handler = std::function<void(Request&, Responder)>;

class Router {
 public:
  // pattern: "/api/v1/devices/{id}" — a {name} matches exactly one non-empty path segment, which
  // is percent-decoded into params (a decoded '/' is fine inside a param; invalid %-escapes →
  // 400). Literal segments are compared with the raw (undecoded) path. When several patterns
  // match, the one with a literal segment where the others have a parameter (leftmost difference)
  // wins; between equal patterns, the first added.
  void add(std::string method, std::string pattern, Handler h);

  // No path match → 404 problem; path matches but not the method → 405 with an Allow header.
  // HEAD on a GET route runs the GET handler (the server sends no body for HEAD).
  void dispatch(Request& req, Responder respond) const;

 private:
  struct Segment {
    std::string text;  // literal text, or the parameter name
    bool param = false;
  };
  struct Route {
    std::string method;
    std::vector<Segment> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
};

struct Limits {
  std::size_t header_max = 8 * 1024;               // request line + headers; exceeded → 431
  std::size_t body_max = 1024 * 1024;              // exceeded → 413 (Content-Length checked up front)
  std::chrono::milliseconds read_timeout{10000};   // whole request must arrive within this → close
  std::chrono::milliseconds idle_timeout{30000};   // keep-alive idle → close
  std::size_t max_connections = 512;               // beyond → accept, answer 503 + close
  std::chrono::milliseconds write_timeout{10000};  // a response must be taken within this → close
};

class Server {
 public:
  // `name` labels the metrics: http_requests_total{listener=name,code=NNN},
  // http_rejected_requests_total{listener=name,reason=malformed|header_too_large|
  // body_too_large|timeout|too_many_connections}, http_open_connections{listener=name},
  // http_accept_errors_total{listener=name}.
  Server(boost::asio::io_context& io, Router router, Limits limits, Metrics& metrics, std::string name);
  ~Server();  // calls stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting. host is an IP literal ("127.0.0.1", "::1", "[::1]", "0.0.0.0");
  // port 0 = ephemeral. Returns an error (Disposition::fatal, code "listen") if the address is
  // invalid, the bind fails, or the server already listens / was stopped.
  Result<void> listen(const std::string& host, std::uint16_t port);
  std::uint16_t port() const;  // bound port (0 before listen)
  void stop();                 // close acceptor and every session; safe to call from any thread

 private:
  // Shared with the sessions so that late completions on the io threads never touch freed memory.
  std::shared_ptr<detail::Listener> impl_;
};

// "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0" → host (IPv6 without brackets) + port. The host must
// be an IPv4 dotted quad or a bracketed IPv6 literal; anything else is rejected with a reason.
Result<std::pair<std::string, std::uint16_t>> parse_host_port(std::string_view s);

// Percent-decoding (RFC 3986 §2.1). nullopt on an invalid escape. plus_as_space decodes '+' as ' '
// (application/x-www-form-urlencoded query strings).
std::optional<std::string> percent_decode(std::string_view s, bool plus_as_space = false);

// Splits "a=1&b=x%20y&c" into decoded pairs ({"c",""} for a bare key); '+' is a space.
// nullopt on an invalid escape.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query);

// Parses one whole HTTP/1.1 request held in `raw` with the same parser, limits and checks a
// session applies (fuzzing, offline tools). On failure `*status` (when given) is what a session
// would answer: 400, 413 or 431.
Result<Request> parse_request(std::string_view raw, const Limits& lim, int* status = nullptr);

}  // namespace cg::http
