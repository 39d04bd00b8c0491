#pragma once
// `citygate status` and `citygate dead-batches`: ask the running gateway's admin endpoint
// ([admin] listen in the config); when nothing answers there, read the store file read-only.
#include <cstdint>
#include <string>

namespace cg::app {

struct AdminArgs {
  std::string config = "/etc/citygate/citygate.toml";
  bool json = false;
  std::string action;  // dead-batches: list | show | replay
  std::int64_t id = 0;
};

// Exit codes: 0 answered by the running gateway; 3 gateway not running (status read from the
// store file; replay refused); 64 usage; 69 neither the gateway nor the store could be read;
// 78 bad config; 1 the gateway refused (unknown id, replayed already).
int run_status(const AdminArgs& a);
int run_dead_batches(const AdminArgs& a);

}  // namespace cg::app
