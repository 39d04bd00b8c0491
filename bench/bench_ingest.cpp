// citygate ingest bench (`make bench`, after the MQTT bench):
//  1. Decode throughput of every codec on one core: messages/s and MB/s over the shared vectors of
//     its kind (each decoded in a loop through the same DecodeSession the gateway uses).
//  2. HTTP push ingest end to end: the real gateway with an http_push route, 4 keep-alive
//     connections posting bodies of 100 readings; a 200 comes only after the fsync'd commit.
//     Limits in the same run: a bare Beast listener (our HTTP server answering 200 without doing
//     anything) under the same load, and raw SQLite inserts of 100-row transactions, fsync each.
#include <curl/curl.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "adapter_api/adapter.hpp"
#include "config/config.hpp"
#include "http/server.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"

using namespace cg;
using namespace cg::test;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

void decode_bench() {
  const std::filesystem::path vectors = std::filesystem::path(CITYGATE_SOURCE_DIR) / "../shared/vectors";
  // kind -> (vector folder, file extension taken); the rest of a folder is documentation or
  // another encoding of the same payloads
  const std::map<std::string, std::pair<std::string, std::string>> dirs = {
      {"senml", {"senml", ".json"}},
      {"influx_line", {"influx_line_protocol", ".lp"}},
      {"lorawan_ttn", {"lorawan_ttn_v3", ".json"}},
      {"lorawan_chirpstack", {"lorawan_chirpstack_v4", ".json"}},
      {"http_push", {"sensor_community", ".json"}},
      {"mqtt_json", {"generic_json", ".json"}},
      {"sparkplug_b", {"sparkplug_b/binary", ".bin"}},
  };
  // Sparkplug payloads decode under their message type's topic, births before data in one session
  auto topic_of = [](const std::string& kind, const std::string& file) -> std::string {
    if (kind == "lorawan_chirpstack") return "application/1/device/0102030405060708/event/up";
    if (kind != "sparkplug_b") return "city/air/bench-1/telemetry";
    for (const char* t : {"nbirth", "ndata", "ndeath", "dbirth", "ddata", "ddeath"})
      if (file.find(t) != std::string::npos) {
        std::string up(t);
        for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return "spBv1.0/bench/" + up + "/edge1" + (up[0] == 'D' ? "/dev1" : "");
      }
    return "spBv1.0/bench/NDATA/edge1";
  };
  fmt::print("Decode throughput, one core (inputs: ../shared/vectors of the kind, decoded in turn)\n");
  fmt::print("  {:<20} {:>8} {:>14} {:>10} {:>14} {:>11}\n", "kind", "inputs", "messages/s", "MB/s", "readings/s",
             "rejected");
  for (const auto& [kind, ds] : dirs) {
    const auto* d = find_adapter(kind);
    if (!d || !d->decoder) continue;
    auto session = d->decoder(config::default_settings(d->keys));
    if (!session) continue;
    std::vector<std::pair<std::string, std::string>> inputs;  // topic, payload
    const auto& [sub, ext] = ds;
    if (!std::filesystem::is_directory(vectors / sub)) continue;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(vectors / sub))
      if (e.is_regular_file() && e.path().extension() == ext) files.push_back(e.path());
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
      bool ba = a.filename().string().find("birth") != std::string::npos;  // births first
      bool bb = b.filename().string().find("birth") != std::string::npos;
      return ba != bb ? ba : a < b;
    });
    for (const auto& f : files) inputs.emplace_back(topic_of(kind, f.filename().string()), slurp(f));
    if (inputs.empty()) continue;
    std::size_t msgs = 0, bytes = 0, readings = 0, errors = 0;
    auto t0 = SteadyClock::now();
    while (SteadyClock::now() - t0 < 1s) {
      for (const auto& [topic, in] : inputs) {
        DecodeInput di;
        di.topic = topic;
        di.payload = {reinterpret_cast<const std::uint8_t*>(in.data()), in.size()};
        di.now = from_unix_ns(1'790'000'000'000'000'000);
        auto out = (*session)->decode(di);
        readings += out.readings.size();
        errors += out.errors.size();
        bytes += in.size();
        ++msgs;
      }
    }
    double s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    fmt::print("  {:<20} {:>8} {:>14.0f} {:>10.1f} {:>14.0f} {:>10.1f}%\n", kind, inputs.size(), msgs / s,
               bytes / s / 1e6, readings / s, 100.0 * errors / std::max<std::size_t>(msgs, 1));
  }
}

std::string body_of(int conn, int k) {
  std::string b = "{\"device\":\"bench-" + std::to_string(conn) + "-" + std::to_string(k % 50) + "\"";
  for (int m = 0; m < 100; ++m) b += ",\"m" + std::to_string(m) + "\":" + std::to_string(k * 0.5 + m);
  return b + "}";
}

// 4 threads, each one curl handle = one keep-alive connection, `per_conn` requests each.
// Returns requests/s; counts non-2xx answers in `failed`.
double post_load(const std::string& url, int per_conn, std::atomic<int>& failed) {
  std::vector<std::thread> ts;
  auto t0 = SteadyClock::now();
  for (int c = 0; c < 4; ++c)
    ts.emplace_back([&, c] {
      CURL* h = curl_easy_init();
      curl_slist* hdr = curl_slist_append(nullptr, "Content-Type: application/json");
      curl_easy_setopt(h, CURLOPT_URL, url.c_str());
      curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
      curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, +[](char*, size_t n, size_t k, void*) { return n * k; });
      for (int k = 0; k < per_conn; ++k) {
        std::string body = body_of(c, k);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
        long status = 0;
        if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status / 100 != 2) ++failed;
      }
      curl_slist_free_all(hdr);
      curl_easy_cleanup(h);
    });
  for (auto& t : ts) t.join();
  return 4.0 * per_conn / std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

double raw_sqlite_fsync_rate(const std::filesystem::path& path, int txns) {
  sqlite3* db;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE r(id INTEGER PRIMARY KEY, s, o, v)",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, "INSERT INTO r(s,o,v) VALUES(?,?,?)", -1, &st, nullptr);
  auto t0 = SteadyClock::now();
  for (int t = 0; t < txns; ++t) {
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    for (int k = 0; k < 100; ++k) {
      sqlite3_bind_int64(st, 1, k);
      sqlite3_bind_int64(st, 2, 1700000000000000000LL + t);
      sqlite3_bind_double(st, 3, k * 0.5);
      sqlite3_step(st);
      sqlite3_reset(st);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  double s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  sqlite3_finalize(st);
  sqlite3_close(db);
  return txns * 100 / s;
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  decode_bench();

  const int per_conn = 2500;  // 4 x 2500 requests x 100 readings = 1M readings
  TempDir dir;
  fmt::print("\nHTTP push ingest: 4 keep-alive connections, 100 readings per request, {} requests\n", 4 * per_conn);

  // bare Beast: our server, a handler that answers at once
  double bare_rps = 0;
  {
    boost::asio::io_context io;
    Metrics m;
    http::Router r;
    r.add("POST", "/ingest/bench", [](http::Request&, http::Responder done) { done(http::Response::json(200, "{}")); });
    http::Server srv(io, std::move(r), {}, m, "bare");
    auto port = free_port();
    if (!srv.listen("127.0.0.1", static_cast<std::uint16_t>(port))) return 1;
    std::vector<std::thread> th;
    auto guard = std::make_unique<int>(0);
    for (int i = 0; i < 2; ++i) th.emplace_back([&] { io.run_for(600s); });
    std::atomic<int> failed{0};
    bare_rps = post_load("http://127.0.0.1:" + std::to_string(port) + "/ingest/bench", per_conn, failed);
    srv.stop();
    io.stop();
    for (auto& t : th) t.join();
  }
  double sqlite_rps = raw_sqlite_fsync_rate(dir / "raw.db", 2000);

  int http_port = free_port(), ingest_port = free_port();
  write_file(dir / "gw.toml", "[gateway]\nid = \"bench\"\n[store]\npath = \"" + (dir / "gw.db").string() +
                                  "\"\n[http]\nlisten = \"127.0.0.1:" + std::to_string(http_port) +
                                  "\"\ningest_listen = \"127.0.0.1:" + std::to_string(ingest_port) +
                                  "\"\n[[adapters]]\nkind = \"http_push\"\nid = \"push\"\nhttp_path = \"/ingest/bench\"\n"
                                  "format = \"json\"\n");
  Process gw({CITYGATE_BIN, "run", "--config", (dir / "gw.toml").string()}, dir / "gw.log");
  if (!wait_port_open(ingest_port)) {
    fmt::print("bench: gateway did not start:\n{}\n", gw.log());
    return 1;
  }
  std::atomic<int> failed{0};
  double gw_rps = post_load("http://127.0.0.1:" + std::to_string(ingest_port) + "/ingest/bench", per_conn, failed);
  gw.stop(15, 20000);

  auto row = [](const std::string& what, double v, const std::string& unit, double limit, const std::string& note) {
    if (limit > 0) fmt::print("  {:<48} {:>12.0f} {:<12} {:>6.2f} x limit {}\n", what, v, unit, v / limit, note);
    else fmt::print("  {:<48} {:>12.0f} {:<12} {}\n", what, v, unit, note);
  };
  row("bare Beast (no-op handler), readings carried", bare_rps * 100, "readings/s", 0, "(limit)");
  row("raw SQLite, 100-row txns, fsync each", sqlite_rps, "rows/s", 0, "(limit without group commit)");
  row("citygate http_push, 200 after fsync'd commit", gw_rps * 100, "readings/s", bare_rps * 100, "(vs bare Beast)");
  row("  same, vs target 230k readings/s", gw_rps * 100, "readings/s", 230000, "");
  if (failed) fmt::print("  {} request(s) were not answered 2xx\n", failed.load());
  return failed ? 1 : 0;
}
