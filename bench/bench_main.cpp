// citygate benchmark. Every figure is printed next to the limit it is bounded by, measured in the
// same run on the same machine:
//   MQTT ingest (QoS 1, committed under the durability contract) vs a bare Paho subscriber that
//   does nothing with the same broker; SQLite commit rate vs raw batched inserts on the same disk.
// Method: the consumer (bare subscriber or gateway, each its own process) is connected and
// subscribed; one publisher sends N QoS 1 messages as fast as the broker acknowledges them
// (window of 1500), and the rate is first -> last message received (resp. committed).
#include <MQTTAsync.h>
#include <MQTTClient.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "support/lake_files.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"

using namespace cg::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

int env_int(const char* name, int def) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : def;
}

struct Window {
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
};

void publish_n(const std::string& url, const std::string& topic_prefix, int n) {
  // QoS 1 through an async client with a window of in-flight messages; blocks (no spinning: the
  // machine has two cores and the broker and the consumer need them) when the window is full.
  MQTTAsync c;
  MQTTAsync_create(&c, url.c_str(), "bench-pub", MQTTCLIENT_PERSISTENCE_NONE, nullptr);
  Window w;
  // Paho requires a message callback even for a publisher that subscribes to nothing
  MQTTAsync_setCallbacks(
      c, &w, nullptr,
      [](void*, char* t, int, MQTTAsync_message* m) {
        MQTTAsync_freeMessage(&m);
        MQTTAsync_free(t);
        return 1;
      },
      [](void* ctx, MQTTAsync_token) {
        auto* win = static_cast<Window*>(ctx);
        std::lock_guard lk(win->mu);
        ++win->done;
        win->cv.notify_one();
      });
  MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
  co.cleansession = 1;
  co.maxInflight = 2000;
  std::atomic<bool> connected{false};
  co.context = &connected;
  co.onSuccess = [](void* ctx, MQTTAsync_successData*) { *static_cast<std::atomic<bool>*>(ctx) = true; };
  MQTTAsync_connect(c, &co);
  wait_until([&] { return connected.load(); }, 10s);
  for (int i = 0; i < n; ++i) {
    std::string topic = topic_prefix + "dev" + std::to_string(i % 50) + "/telemetry";
    std::string payload = "{\"v\":" + std::to_string(i) + ",\"t\":21.5}";
    {
      std::unique_lock lk(w.mu);
      w.cv.wait(lk, [&] { return i - w.done < 1500; });
    }
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = payload.data();
    m.payloadlen = static_cast<int>(payload.size());
    m.qos = 1;
    MQTTAsync_sendMessage(c, topic.c_str(), &m, nullptr);
  }
  {
    std::unique_lock lk(w.mu);
    w.cv.wait_for(lk, 120s, [&] { return w.done >= n; });
  }
  MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
  MQTTAsync_disconnect(c, &d);
  MQTTAsync_destroy(&c);
}

// A subscriber that does nothing: the broker's own QoS 1 publish -> subscribe ceiling on this
// machine. It runs as its own process (this program with --bare-subscriber): every Paho client of
// a process shares one receive thread, so a subscriber beside our publisher would measure Paho's
// contention, not the broker. Prints "ready" once subscribed and "rate <msg/s>" (first to last
// message) when it has received n.
int bare_subscriber_main(const std::string& url, int n) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  struct State {
    std::atomic<int> got{0};
    Clock::time_point first{}, last{};
    int n = 0;
  } st;
  st.n = n;
  MQTTAsync c;
  MQTTAsync_create(&c, url.c_str(), "bench-bare", MQTTCLIENT_PERSISTENCE_NONE, nullptr);
  MQTTAsync_setCallbacks(
      c, &st, nullptr,
      [](void* ctx, char* t, int, MQTTAsync_message* m) {
        auto* s = static_cast<State*>(ctx);
        int k = ++s->got;
        if (k == 1) s->first = Clock::now();
        if (k == s->n) s->last = Clock::now();
        MQTTAsync_freeMessage(&m);
        MQTTAsync_free(t);
        return 1;
      },
      nullptr);
  std::atomic<bool> ok{false}, subscribed{false};
  MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
  co.cleansession = 1;
  co.context = &ok;
  co.onSuccess = [](void* ctx, MQTTAsync_successData*) { *static_cast<std::atomic<bool>*>(ctx) = true; };
  MQTTAsync_connect(c, &co);
  if (!wait_until([&] { return ok.load(); }, 10s)) return 1;
  MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
  ro.context = &subscribed;
  ro.onSuccess = [](void* ctx, MQTTAsync_successData*) { *static_cast<std::atomic<bool>*>(ctx) = true; };
  MQTTAsync_subscribe(c, "bare/+/+/telemetry", 1, &ro);
  if (!wait_until([&] { return subscribed.load(); }, 10s)) return 1;
  std::printf("ready\n");
  if (!wait_until([&] { return st.got.load() >= n; }, 300s)) return 1;
  std::printf("rate %f\n", (n - 1) / std::chrono::duration<double>(st.last - st.first).count());
  MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
  MQTTAsync_disconnect(c, &d);
  MQTTAsync_destroy(&c);
  return 0;
}

double bare_subscriber_rate(const char* self, const std::string& url, int n, const std::filesystem::path& log) {
  Process sub({self, "--bare-subscriber", url, std::to_string(n)}, log);
  if (!wait_until([&] { return sub.log().find("ready") != std::string::npos; }, 20s)) return 0;
  publish_n(url, "bare/x/", n);
  if (sub.wait(300000) != 0) return 0;
  auto text = sub.log();
  auto p = text.find("rate ");
  return p == std::string::npos ? 0 : std::stod(text.substr(p + 5));
}

double raw_sqlite_rate(const std::filesystem::path& path, int n) {
  sqlite3* db;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                   "CREATE TABLE r(id INTEGER PRIMARY KEY, s INTEGER, seq INTEGER, o INTEGER, rc INTEGER, q INTEGER, t INTEGER, v)",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, "INSERT INTO r(s,seq,o,rc,q,t,v) VALUES(?,?,?,?,?,?,?)", -1, &st, nullptr);
  auto t0 = Clock::now();
  for (int i = 0; i < n;) {
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    for (int k = 0; k < 1000 && i < n; ++k, ++i) {
      sqlite3_bind_int64(st, 1, i % 50);
      sqlite3_bind_int64(st, 2, i);
      sqlite3_bind_int64(st, 3, 1700000000000000000LL + i);
      sqlite3_bind_int64(st, 4, 1700000000000000000LL + i);
      sqlite3_bind_int64(st, 5, 0);
      sqlite3_bind_int64(st, 6, 1);
      sqlite3_bind_double(st, 7, i * 0.5);
      sqlite3_step(st);
      sqlite3_reset(st);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  auto dt = std::chrono::duration<double>(Clock::now() - t0).count();
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n / dt;
}

struct ProcStat {
  double cpu_s = 0;
  long hwm_kb = 0;
};

ProcStat proc_stat(pid_t pid) {
  ProcStat ps;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  auto rp = s.rfind(')');
  std::istringstream is(s.substr(rp + 2));
  std::string tok;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && is >> tok; ++i) {
    if (i == 14) utime = std::stol(tok);
    if (i == 15) stime = std::stol(tok);
  }
  ps.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream st("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(st, line))
    if (line.rfind("VmHWM:", 0) == 0) ps.hwm_kb = std::stol(line.substr(6));
  return ps;
}

std::string sql_scalar(const std::filesystem::path& db, const std::string& q) {
  sqlite3* h;
  sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_busy_timeout(h, 5000);
  sqlite3_stmt* st;
  std::string out;
  if (sqlite3_prepare_v2(h, q.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    auto* p = sqlite3_column_text(st, 0);
    out = p ? reinterpret_cast<const char*>(p) : "";
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

void row(const std::string& what, double value, const std::string& unit, double limit = 0, const std::string& note = "") {
  if (limit > 0)
    fmt::print("  {:<44} {:>12.1f} {:<12} {:>6.2f} x limit {}\n", what, value, unit, value / limit, note);
  else
    fmt::print("  {:<44} {:>12.1f} {:<12} {}\n", what, value, unit, note);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--bare-subscriber") return bare_subscriber_main(argv[2], std::atoi(argv[3]));
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const int n = env_int("BENCH_MESSAGES", 100000);
  TempDir dir;
  fmt::print("citygate bench: {} QoS 1 JSON messages (~30 bytes, 2 readings each) via mosquitto on loopback; {} cores\n\n", n,
             std::thread::hardware_concurrency());

  Mosquitto broker(dir / "mosquitto");
  fmt::print(stderr, "measuring the broker limit...\n");
  double broker_rate = bare_subscriber_rate(argv[0], broker.url(), n, dir / "bare.log");
  fmt::print(stderr, "measuring raw SQLite...\n");
  double sqlite_rate = raw_sqlite_rate(dir / "raw.db", n);

  // gateway: establish its persistent session, go offline, queue N, start and drain
  int lake_port = free_port(), http_port = free_port();
  write_file(dir / "gw.toml",
             "[gateway]\nid = \"bench\"\n[store]\npath = \"" + (dir / "gw.db").string() +
                 "\"\n[http]\nlisten = \"127.0.0.1:" + std::to_string(http_port) +
                 "\"\n[uplink]\nbatch_max_rows = 5000\nbatch_max_age_ms = 200\n"
                 "[[uplink.sinks]]\nkind = \"http\"\nid = \"lake\"\nurl = \"http://127.0.0.1:" +
                 std::to_string(lake_port) +
                 "/v1/batches\"\n[[brokers]]\nid = \"b\"\nurl = \"" + broker.url() +
                 "\"\nclient_id = \"bench-gw\"\n[[adapters]]\nkind = \"mqtt_json\"\nid = \"m\"\nbroker = \"b\"\n"
                 "topics = [\"gw/+/{device}/telemetry\"]\n");
  Process lake({CITYGATE_BIN, "lake", "--listen", "127.0.0.1:" + std::to_string(lake_port), "--dir", (dir / "lake").string()},
               dir / "lake.log");
  wait_port_open(lake_port);
  Process gw({CITYGATE_BIN, "run", "--config", (dir / "gw.toml").string()}, dir / "gw.log");
  wait_port_open(http_port);
  if (!wait_until([&] { return gw.log().find("subscribed to") != std::string::npos; }, 20s)) {
    fmt::print("bench: gateway did not subscribe:\n{}\n", gw.log());
    return 1;
  }
  auto idle = proc_stat(gw.pid());
  auto t_start = Clock::now();
  const int readings = 2 * n;  // each message carries two fields: two readings
  fmt::print(stderr, "publishing {} messages to the gateway...\n", n);
  std::thread pub([&] { publish_n(broker.url(), "gw/x/", n); });
  bool committed = wait_until([&] { return sql_scalar(dir / "gw.db", "SELECT count(*) FROM readings") == std::to_string(readings); }, 300s);
  auto t_committed = Clock::now();
  bool forwarded = wait_until([&] { return summarize(read_lake(dir / "lake")).unique >= static_cast<std::size_t>(readings); }, 300s);
  auto t_forwarded = Clock::now();
  pub.join();
  auto busy = proc_stat(gw.pid());
  double span_s = std::stod(sql_scalar(dir / "gw.db", "SELECT (max(received_ns)-min(received_ns))/1e9 FROM readings"));
  double commit_rate = n / std::max(span_s, 1e-6);  // messages/s
  double fwd_rate = readings / std::chrono::duration<double>(t_forwarded - t_start).count();
  double cpu_us = (busy.cpu_s - idle.cpu_s) * 1e6 / readings;
  gw.stop(15, 20000);

  fmt::print("Limits measured in this run\n");
  row("broker QoS 1 → bare Paho subscriber", broker_rate, "msg/s");
  row("raw SQLite inserts (WAL, 1000 rows/txn)", sqlite_rate, "rows/s");
  fmt::print("\ncitygate (mqtt_json, QoS 1, ack after commit)\n");
  row("messages committed (ack after commit)", committed ? commit_rate : 0, "msg/s", broker_rate, "(target >= 0.9 x broker)");
  row("readings committed vs raw SQLite", committed ? 2 * commit_rate : 0, "readings/s", sqlite_rate);
  row("messages forwarded to the lake (publish start -> all in lake)", forwarded ? fwd_rate / 2 : 0, "msg/s", broker_rate);
  row("readings forwarded to the lake", forwarded ? fwd_rate : 0, "readings/s");
  row("CPU per reading (gateway process)", cpu_us, "us", 5.0, "(target <= 5 us)");
  row("peak RSS (VmHWM)", busy.hwm_kb / 1024.0, "MB", 32.0, "(target <= 32 MB)");
  fmt::print("\n  wall: committed after {:.2f} s, forwarded after {:.2f} s\n",
             std::chrono::duration<double>(t_committed - t_start).count(),
             std::chrono::duration<double>(t_forwarded - t_start).count());
  if (!committed || !forwarded) {
    fmt::print("bench: did not complete (committed={}, forwarded={})\n", committed, forwarded);
    return 1;
  }
  return 0;
}
