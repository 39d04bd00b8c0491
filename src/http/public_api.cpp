#include "http/public_api.hpp"

#include "core/json_writer.hpp"
#include "core/time_format.hpp"

namespace cg::http {

std::string device_json(const DeviceSummary& d) {
  std::string o = "{\"id\":";
  json::append_string(o, d.id);
  o += ",\"adapter\":";
  json::append_string(o, d.adapter);
  o += ",\"last_seen\":";
  json::append_string(o, format_rfc3339_ms(d.last_seen));
  o += ",\"latest\":{";
  bool first = true;
  for (const auto& v : d.latest) {
    if (!first) o += ',';
    first = false;
    json::append_string(o, v.metric);
    o += ":{\"value\":";
    json::append_value(o, v.value);
    o += ",\"unit\":";
    json::append_string(o, v.unit);
    o += ",\"observed_at\":";
    json::append_string(o, format_rfc3339_ms(v.observed));
    o += '}';
  }
  o += "}}";
  return o;
}

void add_public_routes(Router& router, PublicApiDeps deps) {
  router.add("GET", "/healthz", [](Request&, Responder respond) {
    respond(Response::json(200, R"({"status":"ok"})"));
  });
  router.add("GET", "/readyz", [ready = deps.ready](Request&, Responder respond) {
    if (ready && ready()) respond(Response::json(200, R"({"status":"ready"})"));
    else respond(Response::problem(503, "Not ready", "the gateway is starting or stopping"));
  });
  DeviceQueries* q = &deps.devices;
  router.add("GET", "/api/v1/devices", [q](Request&, Responder respond) {
    std::string body = "{\"devices\":[";
    bool first = true;
    for (const auto& d : q->list_devices()) {
      if (!first) body += ',';
      first = false;
      body += device_json(d);
    }
    body += "]}";
    auto r = Response::json(200, std::move(body));
    r.headers.emplace_back("Cache-Control", "no-cache");
    respond(std::move(r));
  });
  router.add("GET", "/api/v1/devices/{id}/latest", [q](Request& req, Responder respond) {
    auto id = req.params["id"];
    auto d = q->get_device(id);
    if (!d) {
      respond(Response::problem(404, "Unknown device", "no device with id '" + id + "'"));
      return;
    }
    respond(Response::json(200, device_json(*d)));
  });
}

}  // namespace cg::http
