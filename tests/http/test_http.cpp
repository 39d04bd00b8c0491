// cg_http against real sockets: libcurl for well-formed requests, raw sockets for what curl will
// not send (malformed input, half-sent requests, keep-alive on one connection).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <simdjson.h>

#include "core/json_writer.hpp"
#include "http/server.hpp"
#include "support/http_client.hpp"
#include "support/wait.hpp"

using namespace std::chrono_literals;
using cg::http::Limits;
using cg::http::Request;
using cg::http::Responder;
using cg::http::Response;
using cg::http::Router;
using cg::http::Server;

namespace {

// A Server on 127.0.0.1:<ephemeral> with its io_context running on `threads` threads.
class TestServer {
 public:
  explicit TestServer(Router router, Limits limits = {}, int threads = 1)
      : guard_(boost::asio::make_work_guard(io_)) {
    server_ = std::make_unique<Server>(io_, std::move(router), limits, metrics, "test");
    auto r = server_->listen("127.0.0.1", 0);
    REQUIRE(r.has_value());
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~TestServer() {
    server_->stop();
    server_.reset();
    guard_.reset();
    for (auto& t : threads_) t.join();
  }
  std::uint16_t port() const { return server_->port(); }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port()) + path; }
  Server& server() { return *server_; }
  std::int64_t rejected(const std::string& reason) const {
    return metrics.value("http_rejected_requests_total", {{"listener", "test"}, {"reason", reason}});
  }
  std::int64_t responses(int code) const {
    return metrics.value("http_requests_total", {{"listener", "test"}, {"code", std::to_string(code)}});
  }

  cg::Metrics metrics;

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::unique_ptr<Server> server_;
  std::vector<std::thread> threads_;
};

struct RawResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return "";
  }
};

// A plain TCP client for what curl cannot send.
class RawConn {
 public:
  explicit RawConn(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~RawConn() { ::close(fd_); }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  void send(std::string_view s) {
    while (!s.empty()) {
      auto n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      REQUIRE(n > 0);
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Reads more bytes; false on EOF/error/timeout.
  bool fill(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char tmp[4096];
    auto n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  // One response (status line, headers, Content-Length body). nullopt if the connection ended.
  std::optional<RawResponse> read_response(std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto left = [&] {
      return std::max(0ms, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    };
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(left())) return std::nullopt;
    RawResponse r;
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    auto line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    REQUIRE(status_line.rfind("HTTP/1.", 0) == 0);
    r.status = std::stoi(status_line.substr(9, 3));
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      auto e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string line = head.substr(pos, e - pos);
      auto colon = line.find(':');
      std::string k = line.substr(0, colon);
      for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(v.begin());
      r.headers.emplace_back(k, v);
      pos = e + 2;
    }
    std::size_t len = r.header("content-length").empty() ? 0 : std::stoul(r.header("content-length"));
    while (buf_.size() < len)
      if (!fill(left())) return std::nullopt;
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    return r;
  }

  // True once the server closed the connection (EOF or reset), within timeout.
  bool wait_closed(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) {
        char tmp[4096];
        auto n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n <= 0) return true;
        buf_.append(tmp, static_cast<std::size_t>(n));
      }
    }
    return false;
  }

  const std::string& pending() const { return buf_; }

 private:
  int fd_ = -1;
  std::string buf_;
};

Router demo_router() {
  Router r;
  r.add("GET", "/healthz", [](Request&, Responder respond) { respond(Response::json(200, R"({"status":"ok"})")); });
  r.add("GET", "/api/v1/devices/{id}", [](Request& req, Responder respond) {
    std::string body = "{\"id\":";
    cg::json::append_string(body, req.params.at("id"));
    body += ",\"query\":";
    cg::json::append_string(body, req.query);
    body += ",\"path\":";
    cg::json::append_string(body, req.path);
    body += "}";
    respond(Response::json(200, std::move(body)));
  });
  r.add("GET", "/api/v1/devices/new", [](Request&, Responder respond) { respond(Response::text(200, "literal")); });
  r.add("POST", "/api/v1/devices/{id}/readings/{metric}", [](Request& req, Responder respond) {
    respond(Response::text(201, req.params.at("id") + "|" + req.params.at("metric") + "|" + req.body));
  });
  r.add("PUT", "/healthz", [](Request&, Responder respond) { respond(Response::text(200, "put")); });
  r.add("POST", "/echo", [](Request& req, Responder respond) {
    auto res = Response::text(200, req.body);
    res.headers.emplace_back("X-Body-Size", std::to_string(req.body.size()));
    res.headers.emplace_back("X-Remote", req.remote_addr);
    if (auto ct = req.header("content-type")) res.headers.emplace_back("X-Content-Type", std::string(*ct));
    respond(std::move(res));
  });
  r.add("GET", "/throws", [](Request&, Responder) { throw std::runtime_error("boom"); });
  r.add("GET", "/drops", [](Request&, Responder) { /* never answers: the server must send 500 */ });
  r.add("GET", "/twice", [](Request&, Responder respond) {
    respond(Response::text(200, "first"));
    respond(Response::text(200, "second"));
  });
  r.add("GET", "/nocontent", [](Request&, Responder respond) { respond(Response{204, "", "", {}}); });
  return r;
}

simdjson::dom::element parse_json(simdjson::dom::parser& p, const std::string& s) {
  auto doc = p.parse(s);
  REQUIRE(doc.error() == simdjson::SUCCESS);
  return doc.value();
}

}  // namespace

TEST_CASE("http: routes, params are percent-decoded, literals beat params", "[http]") {
  TestServer ts(demo_router());
  simdjson::dom::parser p;

  auto r = cg::test::http_get(ts.url("/healthz"));
  CHECK(r.status == 200);
  CHECK(r.body == R"({"status":"ok"})");
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.header("server") == "citygate");
  CHECK(r.header("content-length") == std::to_string(r.body.size()));

  r = cg::test::http_get(ts.url("/api/v1/devices/a%2Fb%20c%25?x=1&y=%20"));
  REQUIRE(r.status == 200);
  auto doc = parse_json(p, r.body);
  CHECK(std::string_view(doc["id"].get_string().value()) == "a/b c%");
  CHECK(std::string_view(doc["query"].get_string().value()) == "x=1&y=%20");
  CHECK(std::string_view(doc["path"].get_string().value()) == "/api/v1/devices/a%2Fb%20c%25");

  r = cg::test::http_get(ts.url("/api/v1/devices/new"));
  CHECK(r.status == 200);
  CHECK(r.body == "literal");
  CHECK(r.header("content-type") == "text/plain; charset=utf-8");

  r = cg::test::http_request("POST", ts.url("/api/v1/devices/d%C3%A9v/readings/t%2B1"), "payload");
  CHECK(r.status == 201);
  CHECK(r.body == "d\xC3\xA9v|t+1|payload");

  r = cg::test::http_request("POST", ts.url("/echo"), std::string("a\0b", 3), {"Content-Type: application/x-test"});
  CHECK(r.status == 200);
  CHECK(r.body == std::string("a\0b", 3));
  CHECK(r.header("x-body-size") == "3");
  CHECK(r.header("x-remote") == "127.0.0.1");
  CHECK(r.header("x-content-type") == "application/x-test");

  CHECK(ts.responses(200) >= 4);
  CHECK(ts.responses(201) == 1);
}

TEST_CASE("http: 404, 405 with Allow, 400 on bad escapes, problem+json shape", "[http]") {
  TestServer ts(demo_router());
  simdjson::dom::parser p;

  auto r = cg::test::http_get(ts.url("/nope"));
  CHECK(r.status == 404);
  CHECK(r.header("content-type") == "application/problem+json");
  auto doc = parse_json(p, r.body);
  CHECK(std::string_view(doc["type"].get_string().value()) == "about:blank");
  CHECK(std::string_view(doc["title"].get_string().value()) == "Not Found");
  CHECK(doc["status"].get_int64().value() == 404);
  CHECK(!std::string_view(doc["detail"].get_string().value()).empty());

  // an empty segment does not match {id}; a trailing slash is a different path
  CHECK(cg::test::http_get(ts.url("/api/v1/devices/")).status == 404);
  CHECK(cg::test::http_get(ts.url("/healthz/")).status == 404);

  r = cg::test::http_request("DELETE", ts.url("/healthz"));
  CHECK(r.status == 405);
  CHECK(r.header("allow") == "GET, HEAD, PUT");
  CHECK(r.header("content-type") == "application/problem+json");
  CHECK(parse_json(p, r.body)["status"].get_int64().value() == 405);

  r = cg::test::http_get(ts.url("/api/v1/devices/%zz"));
  CHECK(r.status == 400);
  CHECK(r.header("content-type") == "application/problem+json");
  CHECK(cg::test::http_get(ts.url("/api/v1/devices/ab%2")).status == 400);
}

TEST_CASE("http: HEAD runs the GET route without a body, 204 has no Content-Length", "[http]") {
  TestServer ts(demo_router());
  auto get = cg::test::http_get(ts.url("/healthz"));
  auto head = cg::test::http_request("HEAD", ts.url("/healthz"));
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(head.header("content-length") == std::to_string(get.body.size()));

  auto nc = cg::test::http_get(ts.url("/nocontent"));
  CHECK(nc.status == 204);
  CHECK(nc.header("content-length").empty());
}

TEST_CASE("http: handlers that throw, drop or double-call the responder", "[http]") {
  TestServer ts(demo_router());
  auto r = cg::test::http_get(ts.url("/throws"));
  CHECK(r.status == 500);
  CHECK(r.header("content-type") == "application/problem+json");
  CHECK(ts.metrics.value("http_handler_exceptions_total", {{"listener", "test"}}) == 1);

  CHECK(cg::test::http_get(ts.url("/drops")).status == 500);

  r = cg::test::http_get(ts.url("/twice"));
  CHECK(r.status == 200);
  CHECK(r.body == "first");
  CHECK(cg::test::http_get(ts.url("/healthz")).status == 200);
}

TEST_CASE("http: a handler may answer later from another thread", "[http]") {
  std::mutex mu;
  std::vector<Responder> parked;
  Router router;
  router.add("POST", "/ingest", [&](Request& req, Responder respond) {
    std::lock_guard lk(mu);
    // keep the body alive in the responder's closure, answer later
    parked.push_back([respond = std::move(respond), body = req.body](Response) mutable {
      respond(Response::json(202, "{\"echo\":\"" + body + "\"}"));
    });
  });
  TestServer ts(std::move(router), {}, 2);

  auto fut = std::async(std::launch::async, [&] { return cg::test::http_request("POST", ts.url("/ingest"), "abc"); });
  auto fut2 = std::async(std::launch::async, [&] { return cg::test::http_request("POST", ts.url("/ingest"), "def"); });
  REQUIRE(cg::test::wait_until([&] {
    std::lock_guard lk(mu);
    return parked.size() == 2;
  }));
  // answer from two fresh threads (neither is an io thread)
  std::vector<Responder> todo;
  {
    std::lock_guard lk(mu);
    todo.swap(parked);
  }
  std::thread t1([r = todo[0]]() mutable { r(Response{}); });
  std::thread t2([r = todo[1]]() mutable { r(Response{}); });
  t1.join();
  t2.join();
  auto a = fut.get();
  auto b = fut2.get();
  CHECK(a.status == 202);
  CHECK(b.status == 202);
  std::set<std::string> bodies{a.body, b.body};
  CHECK(bodies == std::set<std::string>{R"({"echo":"abc"})", R"({"echo":"def"})"});
}

TEST_CASE("http: stop() with a parked responder and open connections winds down", "[http]") {
  std::mutex mu;
  std::vector<Responder> parked;
  Router router;
  router.add("GET", "/park", [&](Request&, Responder respond) {
    std::lock_guard lk(mu);
    parked.push_back(std::move(respond));
  });
  router.add("GET", "/healthz", [](Request&, Responder respond) { respond(Response::json(200, "{}")); });
  auto ts = std::make_unique<TestServer>(std::move(router));
  const auto port = ts->port();

  RawConn idle(port);  // a keep-alive connection waiting for its next request
  idle.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(idle.read_response());
  RawConn waiting(port);
  waiting.send("GET /park HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(cg::test::wait_until([&] {
    std::lock_guard lk(mu);
    return parked.size() == 1;
  }));

  ts->server().stop();
  CHECK(idle.wait_closed(5000ms));
  CHECK(waiting.wait_closed(5000ms));
  // The responder outlives stop(): calling it is harmless.
  parked.front()(Response::json(200, "{}"));
  ts.reset();  // joins the io threads
  parked.clear();
  // nothing listens any more
  auto r = cg::test::http_request("GET", "http://127.0.0.1:" + std::to_string(port) + "/healthz", "", {}, 2000);
  CHECK(r.status == 0);
}

TEST_CASE("http: many clients on two io threads, answers from a worker, stop() while busy", "[http]") {
  // The worker answers half of the requests from its own thread. It is declared before the server
  // so that Responders it still holds are destroyed after the server and its io_context.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Responder> queue;
  bool quit = false;
  std::thread worker([&] {
    std::unique_lock lk(mu);
    while (true) {
      cv.wait(lk, [&] { return quit || !queue.empty(); });
      if (quit) break;
      auto r = std::move(queue.front());
      queue.pop_front();
      lk.unlock();
      r(Response::json(200, "{}"));
      lk.lock();
    }
  });
  std::atomic<int> handled{0};
  Router router;
  router.add("GET", "/x/{n}", [&](Request& req, Responder respond) {
    ++handled;
    if (req.params.at("n").back() % 2 == 0) {
      respond(Response::json(200, "{}"));
      return;
    }
    std::lock_guard lk(mu);
    queue.push_back(std::move(respond));
    cv.notify_one();
  });
  auto ts = std::make_unique<TestServer>(std::move(router), Limits{}, 2);

  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 6; ++c)
    clients.emplace_back([&, c] {
      for (int i = 0; i < 40; ++i) {
        auto r = cg::test::http_request("GET", ts->url("/x/" + std::to_string(c * 100 + i)), "", {}, 5000);
        (r.status == 200 ? ok : failed)++;
      }
    });
  REQUIRE(cg::test::wait_until([&] { return handled.load() >= 60; }));
  ts->server().stop();
  for (auto& t : clients) t.join();
  CHECK(ok.load() >= 60 - 12);  // requests still waiting for the worker at stop() may be cut
  CHECK(ok.load() + failed.load() == 240);
  ts.reset();
  {
    std::lock_guard lk(mu);
    quit = true;
  }
  cv.notify_one();
  worker.join();
}

TEST_CASE("http: oversized header → 431, oversized body → 413", "[http]") {
  Limits lim;
  lim.header_max = 2048;
  lim.body_max = 1024;
  TestServer ts(demo_router(), lim);

  auto r = cg::test::http_get(ts.url("/healthz"));
  CHECK(r.status == 200);
  r = cg::test::http_request("GET", ts.url("/healthz"), "", {"X-Big: " + std::string(4096, 'a')});
  CHECK(r.status == 431);
  CHECK(r.header("content-type") == "application/problem+json");
  CHECK(ts.rejected("header_too_large") == 1);

  r = cg::test::http_request("POST", ts.url("/echo"), std::string(1024, 'x'));
  CHECK(r.status == 200);
  r = cg::test::http_request("POST", ts.url("/echo"), std::string(1025, 'x'));
  CHECK(r.status == 413);
  CHECK(r.header("content-type") == "application/problem+json");

  // Content-Length is checked up front: the answer comes without sending the body.
  RawConn c(ts.port());
  c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n");
  auto raw = c.read_response();
  REQUIRE(raw);
  CHECK(raw->status == 413);
  CHECK(raw->header("connection") == "close");
  CHECK(c.wait_closed(5000ms));

  // chunked bodies are limited too
  RawConn ch(ts.port());
  ch.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  ch.send("400\r\n" + std::string(1024, 'y') + "\r\n10\r\n" + std::string(16, 'z') + "\r\n0\r\n\r\n");
  raw = ch.read_response();
  REQUIRE(raw);
  CHECK(raw->status == 413);

  CHECK(ts.rejected("body_too_large") == 3);
  CHECK(cg::test::http_get(ts.url("/healthz")).status == 200);
}

TEST_CASE("http: malformed requests get 400 problem+json, then close, the server keeps serving", "[http]") {
  TestServer ts(demo_router());
  const char* bad[] = {
      "GARBAGE\r\n\r\n",
      "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
      "GET /healthz HTTP/1.1\r\n\r\n",  // HTTP/1.1 requires Host
      "GET healthz HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  int n = 0;
  for (const char* req : bad) {
    INFO(req);
    RawConn c(ts.port());
    c.send(req);
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(r->header("content-type") == "application/problem+json");
    CHECK(r->header("server") == "citygate");
    CHECK(r->body.find("\"status\":400") != std::string::npos);
    CHECK(c.wait_closed(5000ms));
    ++n;
  }
  CHECK(ts.rejected("malformed") == n);
  CHECK(ts.responses(400) == n);
  CHECK(cg::test::http_get(ts.url("/healthz")).status == 200);
}

TEST_CASE("http: keep-alive serves several requests on one connection, absolute-form target", "[http]") {
  TestServer ts(demo_router());
  RawConn c(ts.port());
  c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  auto a = c.read_response();
  REQUIRE(a);
  CHECK(a->status == 200);
  CHECK(a->body == R"({"status":"ok"})");
  CHECK(a->header("connection").empty());

  c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  auto b = c.read_response();
  REQUIRE(b);
  CHECK(b->status == 200);
  CHECK(b->body == "hello");

  // two requests in one segment (pipelined): answered in order
  c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET http://x/api/v1/devices/z?q=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  auto d = c.read_response();
  auto e = c.read_response();
  REQUIRE(d);
  REQUIRE(e);
  CHECK(d->status == 200);
  CHECK(e->status == 200);
  CHECK(e->body == R"({"id":"z","query":"q=1","path":"/api/v1/devices/z"})");

  c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto f = c.read_response();
  REQUIRE(f);
  CHECK(f->header("connection") == "close");
  CHECK(c.wait_closed(5000ms));

  // HTTP/1.0 closes unless asked to keep alive
  RawConn old(ts.port());
  old.send("GET /healthz HTTP/1.0\r\n\r\n");
  REQUIRE(old.read_response());
  CHECK(old.wait_closed(5000ms));
}

TEST_CASE("http: Expect: 100-continue gets an interim answer before the body", "[http]") {
  TestServer ts(demo_router());
  RawConn c(ts.port());
  c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  auto interim = c.read_response();
  REQUIRE(interim);
  CHECK(interim->status == 100);
  c.send("abc");
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "abc");

  auto big = cg::test::http_request("POST", ts.url("/echo"), std::string(200000, 'q'), {"Expect: 100-continue"});
  CHECK(big.status == 200);
  CHECK(big.body.size() == 200000);
}

TEST_CASE("http: read timeout closes a half-sent request, idle keep-alive closes quietly", "[http]") {
  Limits lim;
  lim.read_timeout = 300ms;
  lim.idle_timeout = 300ms;
  TestServer ts(demo_router(), lim);

  RawConn half(ts.port());
  half.send("GET /healthz HTTP/1.1\r\nHost: x\r\n");  // never finishes the header
  CHECK(half.wait_closed(5000ms));
  CHECK(half.pending().empty());  // closed without an answer
  CHECK(cg::test::wait_until([&] { return ts.rejected("timeout") == 1; }, 5000ms));

  RawConn slow_body(ts.port());
  slow_body.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  CHECK(slow_body.wait_closed(5000ms));
  CHECK(slow_body.pending().empty());
  CHECK(cg::test::wait_until([&] { return ts.rejected("timeout") == 2; }, 5000ms));

  RawConn idle(ts.port());
  idle.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(idle.read_response());
  CHECK(idle.wait_closed(5000ms));
  CHECK(ts.rejected("timeout") == 2);  // an idle keep-alive connection is not a rejected request
}

TEST_CASE("http: beyond max_connections → 503 with Retry-After, then close", "[http]") {
  Limits lim;
  lim.max_connections = 1;
  TestServer ts(demo_router(), lim);
  RawConn hold(ts.port());
  REQUIRE(cg::test::wait_until(
      [&] { return ts.metrics.value("http_open_connections", {{"listener", "test"}}) == 1; }, 5000ms));
  auto r = cg::test::http_get(ts.url("/healthz"));
  CHECK(r.status == 503);
  CHECK(r.header("retry-after") == "1");
  CHECK(ts.rejected("too_many_connections") == 1);

  // the held connection still works, and once it is gone new ones are served again
  hold.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto ok = hold.read_response();
  REQUIRE(ok);
  CHECK(ok->status == 200);
  REQUIRE(cg::test::wait_until(
      [&] { return ts.metrics.value("http_open_connections", {{"listener", "test"}}) == 0; }, 5000ms));
  CHECK(cg::test::http_get(ts.url("/healthz")).status == 200);
}

TEST_CASE("http: listen errors are values", "[http]") {
  TestServer ts(demo_router());
  cg::Metrics m;
  boost::asio::io_context io;
  Server other(io, Router{}, {}, m, "other");
  auto r = other.listen("127.0.0.1", ts.port());
  REQUIRE(!r.has_value());
  CHECK(r.error().code == "listen");
  CHECK(r.error().disposition == cg::Disposition::fatal);

  Server bad(io, Router{}, {}, m, "bad");
  CHECK(!bad.listen("not-an-ip", 0).has_value());

  Server v6(io, Router{}, {}, m, "v6");
  // IPv6 loopback may be missing in a container; only check that a bracketed literal is understood
  auto r6 = v6.listen("[::1]", 0);
  if (r6) CHECK(v6.port() != 0);
  else CHECK(r6.error().message.find("not an IP address") == std::string::npos);
}

TEST_CASE("http: parse_host_port", "[http]") {
  using cg::http::parse_host_port;
  auto ok = [](std::string_view s, std::string host, std::uint16_t port) {
    INFO(s);
    auto r = parse_host_port(s);
    REQUIRE(r.has_value());
    CHECK(r->first == host);
    CHECK(r->second == port);
  };
  ok("127.0.0.1:8080", "127.0.0.1", 8080);
  ok("[::1]:8080", "::1", 8080);
  ok("0.0.0.0:0", "0.0.0.0", 0);
  ok("[::]:65535", "::", 65535);
  ok("10.1.2.3:1", "10.1.2.3", 1);
  for (std::string_view bad : {"", "127.0.0.1", "127.0.0.1:", ":8080", "localhost:8080", "::1:8080", "[::1]",
                               "[::1]8080", "[::1:80", "1.2.3:80", "256.0.0.1:80", "127.0.0.1:65536",
                               "127.0.0.1:-1", "127.0.0.1:80a", "127.0.0.1:123456", "[zz]:80", "[]:80",
                               " 127.0.0.1:80"}) {
    INFO(bad);
    auto r = parse_host_port(bad);
    CHECK(!r.has_value());
    if (!r) CHECK(!r.error().message.empty());
  }
}

TEST_CASE("http: percent_decode and parse_query", "[http]") {
  using cg::http::parse_query;
  using cg::http::percent_decode;
  CHECK(percent_decode("a%20b%2F%2f") == std::optional<std::string>("a b//"));
  CHECK(percent_decode("a+b") == std::optional<std::string>("a+b"));
  CHECK(percent_decode("a+b", true) == std::optional<std::string>("a b"));
  CHECK(percent_decode("%00") == std::optional<std::string>(std::string(1, '\0')));
  CHECK(!percent_decode("%"));
  CHECK(!percent_decode("%4"));
  CHECK(!percent_decode("%g0"));
  auto q = parse_query("a=1&b=x%20y&&c&d=&e=f+g");
  REQUIRE(q);
  std::vector<std::pair<std::string, std::string>> want{{"a", "1"}, {"b", "x y"}, {"c", ""}, {"d", ""}, {"e", "f g"}};
  CHECK(*q == want);
  CHECK(!parse_query("a=%zz"));
}
