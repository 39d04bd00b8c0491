#pragma once
// Routes of the public (citizen-facing) listener: pure handlers over query interfaces.
//   GET /healthz                      200 while the process serves
//   GET /readyz                       200 once the store is open and listeners are bound, else 503
//   GET /api/v1/devices               {"devices":[{id, adapter, last_seen, latest:{metric:{value,unit,observed_at}}}]}
//   GET /api/v1/devices/{id}/latest   the same object for one device; unknown id → 404 problem+json
#include <functional>

#include "core/queries.hpp"
#include "http/server.hpp"

namespace cg::http {

struct PublicApiDeps {
  DeviceQueries& devices;
  std::function<bool()> ready;
};

void add_public_routes(Router& router, PublicApiDeps deps);

// JSON of one device summary (shared with other renderers).
std::string device_json(const DeviceSummary& d);

}  // namespace cg::http
