#pragma once
// The admin endpoint (DESIGN §6, admin plane): what `citygate status` and `citygate dead-batches`
// talk to while the gateway runs. Loopback by default ([admin] listen), optionally behind a bearer
// token. The admin API issue extends it (metrics, registry, reload); routes live only on this
// listener, never on the public one.
//
//   GET  /admin/v1/status                      status JSON (below); ?format=text for people
//   GET  /admin/v1/dead-batches                {"dead_batches":[...]} newest first; ?format=text
//   GET  /admin/v1/dead-batches/{id}           one, with up to 100 of its readings; ?format=text
//   POST /admin/v1/dead-batches/{id}/replay    200 replayed | 404 unknown | 409 replayed already,
//                                              sink gone, or rows evicted
//
// No Beast here: routes are pure handlers over http::Router.
#include <functional>
#include <string>

#include "core/metrics.hpp"
#include "store/store.hpp"

namespace cg::http {
class Router;
}

namespace cg::runtime {

struct GatewayInfo {
  std::string gateway_id;
  std::string version;
  std::int64_t uptime_s = 0;
  bool running = false;  // false: read from the store file of a stopped gateway
  bool ready = false;
};

// The status document, shared by the endpoint and by `citygate status` on a stopped gateway:
// {"gateway":{...},"store":{...},"outbox":{"classes":{...},...},"sinks":{...},"counters":{...}}.
// `metrics` may be null (stopped gateway: no in-process counters).
std::string status_json(const GatewayInfo& gw, const store::StoreStatus& st, const Metrics* metrics);
std::string dead_batch_json(const store::DeadBatch& d);
// The same with its readings: {"id":...,"readings":[{"device":...,"metric":...,"value":...},...]}.
std::string dead_batch_json(const store::DeadBatch& d, const std::vector<Reading>& readings);
// The same, for people (`citygate status` without --json).
std::string status_text(const GatewayInfo& gw, const store::StoreStatus& st, const Metrics* metrics);
std::string dead_batches_text(const std::vector<store::DeadBatch>& list);
std::string dead_batch_text(const store::DeadBatch& d, const std::vector<Reading>& readings);

struct AdminDeps {
  store::Store& store;
  Metrics& metrics;
  std::function<GatewayInfo()> info;
  std::string token;  // empty: no Authorization required
};
void add_admin_routes(http::Router& router, AdminDeps deps);

}  // namespace cg::runtime
