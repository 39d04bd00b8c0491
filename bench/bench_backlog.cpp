// `make bench` part 3: store-and-forward after an outage (issue 4).
//   1. start time and memory of the gateway on a BENCH_BACKLOG_ROWS (default 10 million) row
//      backlog: from exec to /readyz 200, and VmHWM once it is serving and draining;
//   2. backlog drain rate: rows/s written by the lake receiver (`citygate lake`, another process)
//      while the gateway drains that backlog over HTTP (zstd, batches of 5000).
// The backlog is made with the store's own API (the way a days-long outage leaves it).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "store/store.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"

using namespace cg;
using namespace cg::test;
using namespace std::chrono_literals;

namespace {

long vm_hwm_kb(pid_t pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(st, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

long lake_written(int port) {
  auto r = http_get("http://127.0.0.1:" + std::to_string(port) + "/v1/stats");
  auto p = r.body.find("\"readings_written\":");
  return p == std::string::npos ? -1 : std::stol(r.body.substr(p + 19));
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const char* env = std::getenv("BENCH_BACKLOG_ROWS");
  const long rows = env ? std::atol(env) : 10'000'000;
  TempDir dir;
  fmt::print("citygate bench: backlog of {} readings (500 devices, 4 metrics) after an outage; {} cores\n\n", rows,
             std::thread::hardware_concurrency());

  // 1. The backlog, written as the gateway would have during the outage.
  auto t0 = std::chrono::steady_clock::now();
  {
    SystemClock clock;
    Metrics metrics;
    store::StoreOptions so;
    so.path = dir / "gw.db";
    so.reserve_bytes = 0;
    auto st = store::Store::open(so, clock, metrics);
    if (!st) {
      fmt::print(stderr, "store: {}\n", st.error().message);
      return 1;
    }
    const auto now = clock.now();
    const char* metrics_names[] = {"pm10", "pm2_5", "no2", "temperature"};
    long done = 0;
    while (done < rows) {
      std::vector<Reading> batch;
      const long n = std::min<long>(20000, rows - done);
      batch.reserve(static_cast<std::size_t>(n));
      for (long i = 0; i < n; ++i) {
        Reading r;
        const long k = done + i;
        r.device = "aq-" + std::to_string(k % 500);
        r.metric = metrics_names[k % 4];
        r.value = 10.0 + static_cast<double>(k % 1000) / 10.0;
        r.unit = "ug/m3";
        r.observed = r.received = now - std::chrono::seconds(rows - k) / 100;
        batch.push_back(std::move(r));
      }
      std::promise<CommitStatus> p;
      auto f = p.get_future();
      (*st)->submit(std::move(batch), {}, [&](CommitStatus s) { p.set_value(s); });
      if (f.get() != CommitStatus::committed) {
        fmt::print(stderr, "could not write the backlog\n");
        return 1;
      }
      done += n;
    }
    (*st)->flush();
  }
  const double make_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto db_mb = static_cast<double>(std::filesystem::file_size(dir / "gw.db")) / (1024.0 * 1024.0);
  fmt::print("  {:<52} {:>10.1f} s  ({:.0f} MB database)\n", "writing the backlog (store API)", make_s, db_mb);

  // 2. The gateway starts on it, the lake is up: time to ready, memory, drain rate.
  const int lake_port = free_port(), http_port = free_port(), admin_port = free_port();
  write_file(dir / "gw.toml", "[gateway]\nid = \"bench\"\n[store]\npath = \"" + (dir / "gw.db").string() +
                                  "\"\n[http]\nlisten = \"127.0.0.1:" + std::to_string(http_port) +
                                  "\"\n[admin]\nlisten = \"127.0.0.1:" + std::to_string(admin_port) +
                                  "\"\n[uplink]\nbatch_max_rows = 5000\n"
                                  "[[uplink.sinks]]\nkind = \"http\"\nid = \"lake\"\nurl = \"http://127.0.0.1:" +
                                  std::to_string(lake_port) + "/v1/batches\"\n");
  Process lake({CITYGATE_BIN, "lake", "--listen", "127.0.0.1:" + std::to_string(lake_port), "--dir",
                (dir / "lake").string()},
               dir / "lake.log");
  wait_port_open(lake_port);
  auto start = std::chrono::steady_clock::now();
  Process gw({CITYGATE_BIN, "run", "--config", (dir / "gw.toml").string()}, dir / "gw.log");
  if (!wait_until([&] { return http_get("http://127.0.0.1:" + std::to_string(http_port) + "/readyz").status == 200; },
                  300s)) {
    fmt::print(stderr, "gateway not ready: {}\n", gw.log());
    return 1;
  }
  const double ready_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const long hwm_ready = vm_hwm_kb(gw.pid());
  fmt::print("  {:<52} {:>10.2f} s\n", "start to /readyz on the backlog", ready_s);
  fmt::print("  {:<52} {:>10.1f} MB\n", "RSS (VmHWM) when ready", hwm_ready / 1024.0);

  // drain: measured from the first row written by the lake, for a steady figure
  if (!wait_until([&] { return lake_written(lake_port) > 0; }, 120s)) {
    fmt::print(stderr, "nothing reached the lake: {}\n", gw.log());
    return 1;
  }
  const auto d0 = std::chrono::steady_clock::now();
  const long w0 = lake_written(lake_port);
  const bool drained = wait_until([&] { return lake_written(lake_port) >= rows; }, 3600s);
  const double drain_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - d0).count();
  const long w1 = lake_written(lake_port);
  const long hwm = vm_hwm_kb(gw.pid());
  fmt::print("  {:<52} {:>10.0f} rows/s  ({} rows in {:.1f} s{})\n", "backlog drain rate into the lake receiver",
             static_cast<double>(w1 - w0) / drain_s, w1 - w0, drain_s, drained ? "" : ", NOT DRAINED within 1 h");
  fmt::print("  {:<52} {:>10.1f} MB\n", "gateway peak RSS (VmHWM) over the drain", hwm / 1024.0);
  fmt::print("  {:<52} {:>10.1f} days\n", "outage that backlog stands for at 100 readings/s", rows / 100.0 / 86400.0);
  gw.stop(15, 60000);
  lake.stop(15, 10000);
  return drained ? 0 : 1;
}
