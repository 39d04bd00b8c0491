// libFuzzer target for the HTTP ingest request path: raw request bytes through the server's
// parser and checks (parse_request), the router, and the ingest route contract (auth, media
// type, limits, decode, answer) with the http_push and senml codecs behind it. The sink commits
// instantly; every request must get exactly one well-formed answer.
#include <cstddef>
#include <cstdint>
#include <string>

#include "adapter_api/adapter.hpp"
#include "config/config.hpp"
#include "core/clock.hpp"
#include "http/server.hpp"
#include "runtime/http_ingest.hpp"

namespace {

class InstantSink final : public cg::ReadingSink {
 public:
  void submit(std::vector<cg::Reading> r, cg::SubmitOptions, cg::CommitCallback done) override {
    done(r.size() % 7 == 3 ? cg::CommitStatus::throttled : cg::CommitStatus::committed);
  }
  void reject_payload(const std::string&, const std::string&, std::span<const std::uint8_t>, const std::string&) override {}
  void report_gap(cg::GapRecord) override {}
};

struct Env {
  cg::Metrics metrics;
  cg::ManualClock clock;
  InstantSink sink;
  cg::runtime::RateLimiter unlimited{0, 0};
  cg::http::Router router;
  std::vector<std::unique_ptr<cg::DecodeSession>> sessions;

  void route(std::string kind, std::string path, std::vector<std::string> types, std::string token) {
    const auto* d = cg::find_adapter(kind);
    if (!d || !d->decoder) return;
    auto s = d->decoder(cg::config::default_settings(d->keys));
    if (!s) return;
    auto* session = s->get();
    sessions.push_back(std::move(*s));
    cg::HttpIngestRoute r{std::move(path), std::move(types), std::move(token), 4096};
    cg::runtime::add_ingest_route(router,
                                  {kind, std::move(r), [session](const cg::DecodeInput& in) { return session->decode(in); },
                                   &sink, &unlimited},
                                  clock, metrics);
  }

  Env() {
    route("http_push", "/ingest/push", {}, "");
    route("senml", "/ingest/senml", {"application/senml+json", "application/senml+cbor"}, "tok");
    route("influx_line", "/write", {}, "");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Env env;
  cg::http::Limits lim;
  lim.body_max = 8192;
  lim.header_max = 4096;
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto req = cg::http::parse_request(raw, lim);
  if (!req) return 0;
  int answers = 0;
  int status = 0;
  env.router.dispatch(*req, [&](cg::http::Response r) {
    ++answers;
    status = r.status;
  });
  if (answers != 1 || status < 200 || status > 599) __builtin_trap();
  return 0;
}
