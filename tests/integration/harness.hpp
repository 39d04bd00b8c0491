#pragma once
// Integration harness: the real citygate binary, the real lake receiver (`citygate lake`) and a
// real mosquitto, each a process on loopback, in a temp dir.
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/http_client.hpp"
#include "support/lake_files.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"

namespace cg::test {
// The stacks of every thread of a live process (gdb, when installed): what a hung start waits on.
inline std::string thread_stacks(pid_t pid) {
  std::string cmd = "command -v gdb >/dev/null && timeout 60 gdb -p " + std::to_string(pid) +
                    " -batch -ex 'thread apply all bt' 2>&1 | grep -E '^(Thread|#)' | head -200";
  std::string out;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
    ::pclose(f);
  }
  return out.empty() ? std::string("(gdb not available)") : out;
}
}  // namespace cg::test

namespace cg::test {

struct GatewaySettings {
  int http_port = 0;
  int lake_port = 0;
  int ingest_port = 0;     // 0: no ingest_listen line (the default address)
  int admin_port = 0;      // 0: a free port is picked (the default 8089 would clash between tests)
  std::string broker_url;  // empty: no broker/mqtt adapter
  std::string broker_extra;  // appended to the [[brokers]] table (TLS keys)
  std::string extra;       // appended TOML
  std::string sink_extra;  // appended to the [[uplink.sinks]] table
  int batch_max_rows = 500;
  int batch_max_age_ms = 200;
  int backoff_initial_ms = 50;
  int backoff_max_ms = 500;
};

inline std::string gateway_toml(const std::filesystem::path& dir, const GatewaySettings& s) {
  std::string t;
  t += "[gateway]\nid = \"it-gw\"\nlog_level = \"info\"\n";
  t += "[store]\npath = \"" + (dir / "gw.db").string() + "\"\n";
  t += "[http]\nlisten = \"127.0.0.1:" + std::to_string(s.http_port) + "\"\n";
  if (s.ingest_port) t += "ingest_listen = \"127.0.0.1:" + std::to_string(s.ingest_port) + "\"\n";
  t += "[admin]\nlisten = \"127.0.0.1:" + std::to_string(s.admin_port) + "\"\n";
  t += "[uplink]\nbatch_max_rows = " + std::to_string(s.batch_max_rows) +
       "\nbatch_max_age_ms = " + std::to_string(s.batch_max_age_ms) +
       "\nbackoff_initial_ms = " + std::to_string(s.backoff_initial_ms) +
       "\nbackoff_max_ms = " + std::to_string(s.backoff_max_ms) + "\n";
  t += "[[uplink.sinks]]\nkind = \"http\"\nid = \"lake\"\nurl = \"http://127.0.0.1:" + std::to_string(s.lake_port) +
       "/v1/batches\"\ncompression = \"zstd\"\nconnect_timeout_ms = 1000\ntotal_timeout_ms = 3000\n" + s.sink_extra;
  if (!s.broker_url.empty()) {
    t += "[[brokers]]\nid = \"local\"\nurl = \"" + s.broker_url + "\"\nclient_id = \"citygate-it\"\n" + s.broker_extra;
    t += "[[adapters]]\nkind = \"mqtt_json\"\nid = \"street\"\nbroker = \"local\"\ntopics = [\"city/+/{device}/telemetry\"]\n"
         "max_payload_bytes = 4096\n";
  }
  t += s.extra;
  return t;
}

class Gateway {
 public:
  Gateway(const std::filesystem::path& dir, const GatewaySettings& s) : dir_(dir), settings_(s) {
    if (!settings_.http_port) settings_.http_port = free_port();
    if (!settings_.admin_port) settings_.admin_port = free_port();
    write_file(dir_ / "gw.toml", gateway_toml(dir_, settings_));
  }
  // `env`: extra environment of the gateway process (e.g. LD_PRELOAD of libfaketime).
  void start(std::vector<std::string> env = {}) {
    proc_ = std::make_unique<Process>(std::vector<std::string>{CITYGATE_BIN, "run", "--config", (dir_ / "gw.toml").string()},
                                      dir_ / "gateway.log", std::move(env));
    if (!wait_until([&] { return http_get(url("/readyz")).status == 200 || !proc_->running(); }))
      throw std::runtime_error("gateway not ready: " + proc_->log() + "\nwhere its threads are:\n" +
                               thread_stacks(proc_->pid()));
    if (!proc_->running()) throw std::runtime_error("gateway exited: " + proc_->log());
    // with a broker: messages published before the subscription exists are not ours to lose
    if (!settings_.broker_url.empty() &&
        !wait_until([&] { return count_of(proc_->log(), "subscribed to") > subscribed_seen_; }))
      throw std::runtime_error("gateway did not subscribe: " + proc_->log());
    subscribed_seen_ = count_of(proc_->log(), "subscribed to");
  }
  static std::size_t count_of(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
  }
  // SIGKILL and wait until the process is gone: a process still dying (an ASan build unmapping,
  // or blocked in I/O) keeps its SQLite locks, and a new gateway started beside it would wait on
  // them without a word.
  void kill9() {
    const auto t0 = std::chrono::steady_clock::now();
    if (proc_->stop(9, 120000) == -1) throw std::runtime_error("gateway still alive 120 s after SIGKILL");
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    if (ms > 5000) std::printf("harness: the killed gateway took %lld ms to exit\n", static_cast<long long>(ms));
  }
  int stop() { return proc_->stop(15, 20000); }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(settings_.http_port) + path; }
  std::filesystem::path db() const { return dir_ / "gw.db"; }
  std::filesystem::path config() const { return dir_ / "gw.toml"; }
  int admin_port() const { return settings_.admin_port; }
  Process& process() { return *proc_; }

 private:
  std::filesystem::path dir_;
  GatewaySettings settings_;
  std::unique_ptr<Process> proc_;
  std::size_t subscribed_seen_ = 0;
};

class Lake {
 public:
  // `extra_args`: e.g. {"--faults"} to enable POST /v1/faults, {"--max-body", "N"}.
  explicit Lake(const std::filesystem::path& dir, int port = 0, std::vector<std::string> extra_args = {})
      : dir_(dir), port_(port ? port : free_port()), extra_(std::move(extra_args)) {}
  void start() {
    std::vector<std::string> argv{CITYGATE_BIN, "lake", "--listen", "127.0.0.1:" + std::to_string(port_), "--dir",
                                  (dir_ / "lake").string()};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    proc_ = std::make_unique<Process>(argv, dir_ / "lake.log");
    if (!wait_port_open(port_)) throw std::runtime_error("lake did not start: " + proc_->log());
  }
  void stop() { proc_->stop(15, 10000); }
  Process& process() { return *proc_; }
  int port() const { return port_; }
  std::filesystem::path data() const { return dir_ / "lake"; }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

 private:
  std::filesystem::path dir_;
  int port_;
  std::vector<std::string> extra_;
  std::unique_ptr<Process> proc_;
};

// mosquitto + lake receiver + a gateway reading the mqtt_json adapter from that broker, started.
struct MqttStack {
  TempDir dir;
  Mosquitto broker{dir / "mosquitto"};
  Lake lake{dir.path()};
  std::unique_ptr<Gateway> gw;
  explicit MqttStack(GatewaySettings gs = {}) {
    lake.start();
    gs.lake_port = lake.port();
    gs.broker_url = broker.url();
    gw = std::make_unique<Gateway>(dir.path(), gs);
    gw->start();
  }
};

// Waits until the lake holds at least `n` distinct readings; leaves what it read in lines/summary.
inline bool wait_lake_unique(const Lake& lake, std::size_t n, std::chrono::milliseconds timeout,
                             std::vector<LakeLine>* lines = nullptr, LakeSummary* summary = nullptr) {
  std::vector<LakeLine> l;
  LakeSummary s;
  bool ok = wait_until(
      [&] {
        l = read_lake(lake.data());
        s = summarize(l);
        return s.unique >= n;
      },
      timeout);
  if (lines) *lines = std::move(l);
  if (summary) *summary = std::move(s);
  return ok;
}

// One-off read-only SQLite query returning the first column of the first row as text.
inline std::string sql_scalar(const std::filesystem::path& db, const std::string& q) {
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(h);
    return "open failed";
  }
  sqlite3_busy_timeout(h, 5000);
  sqlite3_stmt* st = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(h, q.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    auto* p = sqlite3_column_text(st, 0);
    out = p ? reinterpret_cast<const char*>(p) : "";
  } else {
    out = std::string("error: ") + sqlite3_errmsg(h);
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

}  // namespace cg::test
