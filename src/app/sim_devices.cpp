// The two simulated device kinds that need an adapter's own wire code: Sparkplug B payloads
// (protobuf, the sparkplug_b adapter's schema) and a Modbus TCP meter (the modbus adapter's
// simulated server with an Eastron profile).
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "app/sim_payloads.hpp"
#include "app/simulate_cmd.hpp"
#include "modbus/modbus_sim.hpp"
#include "sparkplug_b.pb.h"

namespace cg::sim {

namespace {

void set_value(cg::sparkplug::pb::Payload::Metric& m, const Value& v) {
  using DT = cg::sparkplug::pb::DataType;
  if (auto d = std::get_if<double>(&v)) {
    m.set_datatype(DT::Double);
    m.set_double_value(*d);
  } else if (auto i = std::get_if<std::int64_t>(&v)) {
    m.set_datatype(DT::Int64);
    m.set_long_value(static_cast<std::uint64_t>(*i));  // two's complement, as the spec stores Int64
  } else if (auto u = std::get_if<std::uint64_t>(&v)) {
    m.set_datatype(DT::UInt64);
    m.set_long_value(*u);
  } else if (auto b = std::get_if<bool>(&v)) {
    m.set_datatype(DT::Boolean);
    m.set_boolean_value(*b);
  } else if (auto s = std::get_if<std::string>(&v)) {
    m.set_datatype(DT::String);
    m.set_string_value(*s);
  }
}

Message publish(std::string topic, const cg::sparkplug::pb::Payload& p) {
  Message m;
  m.topic = std::move(topic);
  m.content_type = "application/octet-stream";
  p.SerializeToString(&m.body);
  return m;
}

}  // namespace

// Each simulated device is an edge node of group "city" publishing its metrics as node metrics:
// NBIRTH (bdSeq, Node Control/Rebirth, every metric with its alias and engineering unit) once,
// then NDATA by alias, seq 0..255 wrapping.
std::vector<Message> encode_sparkplug(std::size_t, std::string_view device, const std::vector<Reading>& sample, TimeNs t,
                                      DeviceState& st) {
  const std::string node(device);
  const auto ms = static_cast<std::uint64_t>(to_unix_ns(t) / 1'000'000);
  std::vector<Message> out;
  if (!st.born) {
    cg::sparkplug::pb::Payload birth;
    birth.set_timestamp(ms);
    st.seq = 0;
    birth.set_seq(st.seq++);
    auto* bd = birth.add_metrics();
    bd->set_name("bdSeq");
    bd->set_datatype(cg::sparkplug::pb::DataType::UInt64);
    bd->set_long_value(st.bd_seq);
    auto* rb = birth.add_metrics();
    rb->set_name("Node Control/Rebirth");
    rb->set_datatype(cg::sparkplug::pb::DataType::Boolean);
    rb->set_boolean_value(false);
    std::uint64_t alias = 1;
    for (const auto& r : sample) {
      auto* m = birth.add_metrics();
      m->set_name(r.metric);
      m->set_alias(alias++);
      m->set_timestamp(ms);
      set_value(*m, r.value);
      if (!r.unit.empty()) {
        auto* props = m->mutable_properties();
        props->add_keys("engUnit");
        auto* pv = props->add_values();
        pv->set_type(cg::sparkplug::pb::DataType::String);
        pv->set_string_value(r.unit);
      }
    }
    out.push_back(publish("spBv1.0/city/NBIRTH/" + node, birth));
    st.born = true;
    return out;  // the birth carries this sample's values
  }
  cg::sparkplug::pb::Payload data;
  data.set_timestamp(ms);
  data.set_seq(st.seq++);  // uint8: wraps 255 -> 0 as the spec wants
  std::uint64_t alias = 1;
  for (const auto& r : sample) {
    auto* m = data.add_metrics();
    m->set_alias(alias++);
    m->set_timestamp(ms);
    set_value(*m, r.value);
  }
  out.push_back(publish("spBv1.0/city/NDATA/" + node, data));
  return out;
}

}  // namespace cg::sim

namespace cg::app {

// Serves one Modbus TCP meter (all unit ids) with an Eastron register map on --target HOST:PORT.
int run_modbus_simulator(const SimulateArgs& a, const std::atomic<bool>& stop) {
  std::string host = "127.0.0.1";
  std::string port = a.target;
  if (auto c = a.target.rfind(':'); c != std::string::npos) {
    host = a.target.substr(0, c);
    port = a.target.substr(c + 1);
  }
  std::filesystem::path dir = a.profiles_dir;
  if (dir.empty()) dir = std::filesystem::exists("/etc/citygate/profiles") ? "/etc/citygate/profiles" : "firmware-config/profiles";
  auto path = modbus::profile_path(dir, a.profile);
  if (!path) {
    std::cerr << "citygate simulate: " << path.error().message << "\n";
    return 64;
  }
  auto profile = modbus::load_profile(*path);
  if (!profile) {
    std::cerr << "citygate simulate: " << profile.error().message << "\n";
    return 66;
  }
  modbus::TcpSimOptions o;
  o.host = host.empty() ? "127.0.0.1" : host;
  o.port = std::atoi(port.c_str());
  o.on_listening = [&](int p) {
    std::cerr << "citygate simulate: Modbus TCP meter (" << profile->name << ", " << profile->registers.size()
              << " registers) on " << o.host << ":" << p << "\n";
  };
  auto r = modbus::serve_tcp(*profile, o, stop);
  if (!r) {
    std::cerr << "citygate simulate: " << r.error().message << "\n";
    return 69;
  }
  return 0;
}

}  // namespace cg::app
