#include "runtime/http_ingest.hpp"

#include <algorithm>
#include <memory>

#include <spdlog/spdlog.h>

#include "core/json_writer.hpp"

namespace cg::runtime {

namespace {

// Media type without parameters, lower-cased ("Application/JSON; charset=utf-8" -> "application/json").
std::string media_type(std::string_view ct) {
  auto semi = ct.find(';');
  if (semi != std::string_view::npos) ct = ct.substr(0, semi);
  while (!ct.empty() && (ct.front() == ' ' || ct.front() == '\t')) ct.remove_prefix(1);
  while (!ct.empty() && (ct.back() == ' ' || ct.back() == '\t')) ct.remove_suffix(1);
  std::string out(ct);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Compares without an early exit and in time that depends only on the expected token's length,
// so the answer time does not tell how much of a guess matched.
bool same_secret(std::string_view given, std::string_view want) {
  if (want.empty()) return false;
  unsigned diff = given.size() != want.size() ? 1u : 0u;
  for (std::size_t i = 0; i < want.size(); ++i)
    diff |= static_cast<unsigned char>(want[i]) ^ static_cast<unsigned char>(i < given.size() ? given[i] : 0);
  return diff == 0;
}

// RFC 9457 problem details with the extension members a sender needs to fix its body: what was
// stored despite the errors, and the errors (the first 100).
http::Response bad_request(std::string_view detail, const std::vector<Error>& errors, std::size_t accepted) {
  auto r = http::Response::problem(400, "Bad Request", detail);
  std::string& b = r.body;
  b.pop_back();  // reopen the object
  b += R"(,"accepted":)" + std::to_string(accepted) + R"(,"errors":[)";
  for (std::size_t i = 0; i < errors.size() && i < 100; ++i) {
    if (i) b += ',';
    b += R"({"code":)";
    json::append_string(b, errors[i].code);
    b += R"(,"message":)";
    json::append_string(b, errors[i].message);
    b += '}';
  }
  b += R"(],"error_count":)" + std::to_string(errors.size()) + "}";
  return r;
}

http::Response accepted(std::size_t n) {
  return http::Response::json(200, R"({"accepted":)" + std::to_string(n) + "}");
}

http::Response retry_later(int status, std::string_view title, std::string_view detail, long seconds) {
  auto r = http::Response::problem(status, title, detail);
  r.headers.emplace_back("Retry-After", std::to_string(seconds));
  return r;
}

struct RouteState {
  IngestRouteSpec spec;
  std::string accept_post;  // for 415 answers
  const Clock& clock;
  Metrics& metrics;
  Counter& requests;
  Counter& rate_limited;
  Counter& throttled;
  Counter& unauthorized;
};

void handle(const std::shared_ptr<RouteState>& st, http::Request& req, http::Responder respond) {
  const auto& route = st->spec.route;
  if (!route.bearer_token.empty()) {
    auto auth = req.header("authorization");
    std::string_view given;
    if (auth && auth->size() > 7 && (auth->substr(0, 7) == "Bearer " || auth->substr(0, 7) == "bearer "))
      given = auth->substr(7);
    if (!same_secret(given, route.bearer_token)) {
      st->unauthorized.inc();
      auto r = http::Response::problem(401, "Unauthorized", "this route needs 'Authorization: Bearer <token>'");
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"citygate-ingest\"");
      return respond(std::move(r));
    }
  }
  if (auto enc = req.header("content-encoding"); enc && media_type(*enc) != "identity") {
    auto r = http::Response::problem(415, "Unsupported Media Type",
                                     "Content-Encoding '" + std::string(*enc) + "' is not accepted; send the body uncompressed");
    r.headers.emplace_back("Accept-Encoding", "identity");
    return respond(std::move(r));
  }
  if (!route.content_types.empty()) {
    auto ct = req.header("content-type");
    std::string mt = ct ? media_type(*ct) : std::string();
    if (std::find(route.content_types.begin(), route.content_types.end(), mt) == route.content_types.end()) {
      auto r = http::Response::problem(
          415, "Unsupported Media Type",
          (mt.empty() ? std::string("no Content-Type") : "Content-Type '" + mt + "' is not accepted") +
              "; this route takes " + st->accept_post);
      r.headers.emplace_back("Accept-Post", st->accept_post);
      return respond(std::move(r));
    }
  }
  if (req.body.size() > route.max_body)
    return respond(http::Response::problem(413, "Content Too Large",
                                           "body of " + std::to_string(req.body.size()) + " bytes exceeds this route's limit of " +
                                               std::to_string(route.max_body)));
  if (st->spec.limiter && !st->spec.limiter->try_take()) {
    st->rate_limited.inc();
    return respond(retry_later(429, "Too Many Requests", "this ingest route is over its rate limit",
                               st->spec.limiter->retry_after_s()));
  }
  st->requests.inc();

  DecodeInput in;
  in.topic = req.path;
  in.query = req.query;
  in.payload = {reinterpret_cast<const std::uint8_t*>(req.body.data()), req.body.size()};
  in.headers = req.headers;
  in.now = st->clock.now();
  DecodeOutput out = st->spec.decode(in);
  if (!out.errors.empty())
    record_decode_errors(st->spec.adapter_id, out.errors, *st->spec.sink, req.path, in.payload, st->metrics);
  if (out.readings.empty()) {
    if (!out.errors.empty())
      return respond(bad_request(out.errors.front().message, out.errors, 0));
    return respond(accepted(0));
  }
  std::size_t n = out.readings.size();
  auto errors = std::make_shared<std::vector<Error>>(std::move(out.errors));
  SubmitOptions opts;
  opts.durability = Durability::fsynced;
  st->spec.sink->submit(std::move(out.readings), opts,
                        [st, n, errors, respond = std::move(respond)](CommitStatus cs) mutable {
                          switch (cs) {
                            case CommitStatus::committed:
                            case CommitStatus::duplicate:
                              if (errors->empty()) return respond(accepted(n));
                              return respond(bad_request(std::to_string(errors->size()) +
                                                             " record(s) rejected; the other " + std::to_string(n) +
                                                             " reading(s) were stored",
                                                         *errors, n));
                            case CommitStatus::throttled:
                              st->throttled.inc();
                              return respond(retry_later(503, "Service Unavailable",
                                                         "the gateway's ingest queue is full; nothing was stored", 1));
                            case CommitStatus::failed:
                              st->throttled.inc();
                              return respond(retry_later(503, "Service Unavailable",
                                                         "the gateway cannot store right now; nothing was stored", 5));
                          }
                        });
}

}  // namespace

void record_decode_errors(const std::string& adapter_id, const std::vector<Error>& errors, ReadingSink& sink,
                          std::string_view source, std::span<const std::uint8_t> payload, Metrics& metrics) {
  for (const auto& e : errors)
    metrics.counter("adapter_decode_errors_total", {{"adapter", adapter_id}, {"reason", e.code}}).inc();
  std::string reason = errors.front().code + ": " + errors.front().message;
  if (errors.size() > 1) reason += " (+" + std::to_string(errors.size() - 1) + " more)";
  sink.reject_payload(adapter_id, std::string(source), payload, reason);
}

void add_ingest_route(http::Router& router, IngestRouteSpec spec, const Clock& clock, Metrics& metrics) {
  Labels l{{"adapter", spec.adapter_id}};
  std::string accept;
  for (const auto& c : spec.route.content_types) accept += (accept.empty() ? "" : ", ") + c;
  auto st = std::make_shared<RouteState>(RouteState{
      std::move(spec), accept, clock, metrics,
      metrics.counter("ingest_http_requests_total", l, "Ingest requests that reached the decoder"),
      metrics.counter("adapter_rate_limited_total", l, "Messages refused by the instance's rate limit"),
      metrics.counter("ingest_http_throttled_total", l, "Ingest requests answered 503: the store refused"),
      metrics.counter("ingest_http_unauthorized_total", l, "Ingest requests without the route's token")});
  std::string path = st->spec.route.path;
  router.add("POST", path, [st](http::Request& req, http::Responder respond) { handle(st, req, std::move(respond)); });
}

}  // namespace cg::runtime
