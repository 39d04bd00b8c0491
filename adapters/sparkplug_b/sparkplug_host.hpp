#pragma once
// The Sparkplug B host application's view of the edge nodes it hears from: a pure state machine
// (no I/O, no clock of its own, no threads). Feed it every message in arrival order; it answers
// with readings, an error (the payload is rejected), a rebirth request to send, and the state
// transitions it made. Not thread-safe: the adapter guards one session with a mutex (all MQTT
// deliveries of a broker come from one thread anyway, so the lock is uncontended).
//
// Rules (Sparkplug 3.0 ch. 5-6):
//  * Node = (group, edge node); its devices hang below it. Births (NBIRTH, DBIRTH) declare every
//    metric with name, alias and datatype: the alias table is per device (the node's own metrics
//    are one table), aliases must be unique across the whole node. A birth assigning one alias
//    twice (in itself, or one the node or a sibling device already uses) is rejected:
//    sparkplug.duplicate_alias. A birth metric without a name: sparkplug.no_name.
//  * NBIRTH starts a session: the node's alias table, its bdSeq, seq tracking from the NBIRTH's
//    seq; every device of the node needs a new DBIRTH (until then it is `stale`).
//  * seq: one counter per node over NBIRTH, DBIRTH, NDATA, DDATA, DDEATH, 0..255 then 0. A value
//    other than last+1 (mod 256) is a gap: the readings are still kept (the names are known), the
//    node and its devices become `stale` and a rebirth is requested. A repeat of the last message
//    (same seq, same bytes: an MQTT redelivery) is not a gap. A message without seq is not checked.
//  * Data (NDATA/DDATA/DBIRTH) before its birth, after a death, or with an alias the birth did not
//    declare: rejected (sparkplug.no_birth, sparkplug.unknown_alias), `stale`, rebirth requested.
//    Every other rejected payload on a node's data topics (malformed protobuf, bad array, ...) also
//    marks it stale and asks for a rebirth: the host's picture of the node has a hole.
//  * While a node is stale, every message from it may ask for a rebirth again (a lost NCMD must not
//    leave it stale forever); requests per node are at least rebirth_min_interval apart.
//  * NDEATH: the node and all its devices go `offline` and their births are forgotten, unless the
//    NDEATH's bdSeq differs from the current NBIRTH's (a late will of an older session): ignored.
//    bdSeq may be Int64 or UInt64 in either message (the specification's examples use both).
//  * DDEATH: the device goes `offline`, its birth forgotten. Deaths produce no readings.
//  * NCMD, DCMD and STATE are other applications' business: ignored (no readings, no error).
//
// Readings: device = "group/node" or "group/node/device"; metric = the metric's name as sent (by
// alias: the birth's name) + the codec's leaf suffix (arrays "[i]", data sets "/col[row]",
// templates "/member"); unit = the metric's engUnit property, else the one its birth declared;
// observed = the metric's timestamp, else the payload's, else the receive time (flagged
// kTimeFromGateway); src_seq = the payload's seq. Null and transient metrics give no reading.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/reading.hpp"
#include "core/result.hpp"
#include "sparkplug_b/sparkplug_codec.hpp"

namespace cg::sparkplug {

enum class Status : int { unknown = 0, online = 1, stale = 2, offline = 3 };
inline constexpr int kStatusCount = 4;
std::string_view status_name(Status s);

struct HostOptions {
  CodecOptions codec;
  std::chrono::milliseconds rebirth_min_interval{5000};
};

struct RebirthRequest {
  std::string group;
  std::string node;
  std::string reason;
};

// A change of a node's or device's status (for logs and gauges: transitions, not repetitions).
struct Transition {
  std::string key;  // device key: "group/node" or "group/node/device"
  bool is_device = false;
  Status from = Status::unknown;
  Status to = Status::unknown;
  std::string reason;
};

struct Outcome {
  std::vector<Reading> readings;
  std::optional<Error> error;             // the payload is rejected: nothing of it is stored
  std::optional<RebirthRequest> rebirth;  // send "Node Control/Rebirth" now (already rate-limited)
  bool rebirth_suppressed = false;        // one was due, but the last request is too recent
  bool seq_gap = false;
  bool ndeath_ignored = false;            // an NDEATH with another session's bdSeq
  bool ignored = false;                   // NCMD/DCMD/STATE
  std::vector<Transition> transitions;
};

class HostSession {
 public:
  explicit HostSession(HostOptions opts = {}) : opts_(opts) {}

  // One MQTT message. `received` stamps the readings; `now` (monotonic) paces rebirth requests.
  Outcome process(std::string_view topic, std::span<const std::uint8_t> payload, TimeNs received,
                  std::chrono::steady_clock::time_point now);

  Status node_status(std::string_view group, std::string_view node) const;
  // Whether the node (device) has a valid birth in this session.
  bool born(const Topic& t) const;
  Status device_status(std::string_view group, std::string_view node, std::string_view device) const;

  struct Counts {
    std::int64_t nodes[kStatusCount] = {};    // indexed by Status
    std::int64_t devices[kStatusCount] = {};
  };
  Counts counts() const;

 private:
  struct MetricDef {
    std::string name;
    std::uint32_t datatype = dt::kUnknown;
    std::optional<std::string> unit;
  };
  // One alias table and the declared datatypes/units by name (data may send names, no aliases).
  struct Table {
    std::unordered_map<std::uint64_t, MetricDef> by_alias;
    std::unordered_map<std::string, MetricDef> by_name;
  };
  struct Device {
    Status status = Status::unknown;
    bool born = false;
    Table table;
  };
  struct Node {
    std::string group, node;
    Status status = Status::unknown;
    bool born = false;
    std::optional<std::uint64_t> bdseq;
    std::optional<std::uint64_t> last_seq;
    std::uint64_t last_hash = 0;
    Table table;
    std::map<std::string, Device, std::less<>> devices;
    std::optional<std::chrono::steady_clock::time_point> last_rebirth;
  };

  using SteadyTime = std::chrono::steady_clock::time_point;
  // What a problem puts in doubt: the message's own node or device, or the whole node (a seq gap,
  // a rejected NBIRTH: every device's data went through the same hole).
  enum class Scope { message, whole_node };

  Node& node_of(const Topic& t);
  void set_node(Node& n, Status s, const std::string& reason, Outcome& out);
  void set_device(const Node& n, const std::string& id, Device& d, Status s, const std::string& reason,
                  Outcome& out);
  // Forgets every device birth of the node; online/stale devices become `s`.
  void forget_devices(Node& n, Status s, const std::string& reason, Outcome& out);
  // quiet: a repeat ask for an already stale node (not counted as suppressed when too soon)
  void ask_rebirth(Node& n, const std::string& reason, SteadyTime now, bool quiet, Outcome& out);
  // Marks what `scope` covers stale and asks for a rebirth.
  void trouble(Node& n, const Topic& t, const std::string& reason, Scope scope, SteadyTime now, Outcome& out);
  void check_seq(Node& n, const Topic& t, const Payload& p, std::uint64_t hash, SteadyTime now, Outcome& out);
  Result<Table> birth_table(const Payload& p, const Node& n, const Topic& t) const;
  Result<std::vector<Reading>> readings(const Topic& t, const Payload& p, const Table& table, TimeNs received) const;

  void on_nbirth(Node& n, const Topic& t, const Payload& p, std::uint64_t hash, TimeNs received, SteadyTime now,
                 Outcome& out);
  void on_ndeath(Node& n, const Payload& p, Outcome& out);
  void on_dbirth(Node& n, const Topic& t, const Payload& p, std::uint64_t hash, TimeNs received, SteadyTime now,
                 Outcome& out);
  void on_data(Node& n, const Topic& t, const Payload& p, std::uint64_t hash, TimeNs received, SteadyTime now,
               Outcome& out);
  void on_ddeath(Node& n, const Topic& t, const Payload& p, std::uint64_t hash, SteadyTime now, Outcome& out);

  HostOptions opts_;
  std::unordered_map<std::string, Node> nodes_;  // by "group/node"
};

}  // namespace cg::sparkplug
