// Store-and-forward delivery against the real lake receiver with fault injection (`citygate lake
// --faults`, docs/lake-format.md §5), from the outside: readings go in over HTTP ingest (line
// protocol), the lake's answers are bent, and what ends up in the lake's files, its stats and
// the gateway's admin endpoint / CLI (`citygate status`, `citygate dead-batches`) is checked.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <simdjson.h>

#include <chrono>
#include <map>
#include <set>

#include "integration/harness.hpp"

using namespace cg::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

namespace {

// ---------------------------------------------------------------- the CLI, stdout and stderr apart
struct CliResult {
  int code = -1;
  std::string out, err;
};

CliResult run_citygate(const std::vector<std::string>& args, const fs::path& scratch) {
  static int n = 0;
  ++n;
  const fs::path out = scratch / ("cli-" + std::to_string(n) + ".out");
  const fs::path err = scratch / ("cli-" + std::to_string(n) + ".err");
  std::vector<std::string> all{CITYGATE_BIN};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string out_s = out.string(), err_s = err.string();
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(out_s.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err_s.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0) ::_exit(126);
    ::dup2(o, 1);
    ::dup2(e, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  CliResult r;
  if (pid < 0) return r;
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

// ---------------------------------------------------------------- JSON
// A parsed document that stays valid while the object lives.
struct Json {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  bool ok = false;
  explicit Json(const std::string& text) { ok = !parser.parse(text).get(root); }
};

using JsonValue = simdjson::simdjson_result<simdjson::dom::element>;
std::int64_t num(JsonValue e, std::string_view key, std::int64_t dflt = -1) {
  std::int64_t v = 0;
  if (e[key].get_int64().get(v)) return dflt;
  return v;
}
std::string str(JsonValue e, std::string_view key) {
  std::string_view s;
  if (e[key].get_string().get(s)) return "<missing>";
  return std::string(s);
}
std::int64_t num(simdjson::dom::element e, std::string_view key, std::int64_t dflt = -1) {
  return num(JsonValue(simdjson::dom::element(e)), key, dflt);
}
std::string str(simdjson::dom::element e, std::string_view key) { return str(JsonValue(simdjson::dom::element(e)), key); }

// Fails the test with both processes' logs when a wait for a condition timed out.
#define REQUIRE_WAIT(stack, ...)                                       \
  do {                                                                 \
    const bool ok_ = (__VA_ARGS__);                                    \
    if (!ok_) FAIL("timed out: " #__VA_ARGS__ "\n" << (stack).logs()); \
  } while (0)

using SeqRanges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

// ---------------------------------------------------------------- the lake
std::map<std::string, std::int64_t> lake_stats(const Lake& lake) {
  std::map<std::string, std::int64_t> out;
  auto r = http_get(lake.url("/v1/stats"));
  if (r.status != 200) return out;
  Json j(r.body);
  simdjson::dom::object o;
  if (!j.ok || j.root.get(o)) return out;
  for (auto f : o) {
    std::int64_t v = 0;
    if (!f.value.get_int64().get(v)) out[std::string(f.key)] = v;
  }
  return out;
}

void set_faults(const Lake& lake, const std::string& body) {
  auto r = http_request("POST", lake.url("/v1/faults"), body, {"Content-Type: application/json"});
  INFO(r.body);
  REQUIRE(r.status == 200);
}
void clear_faults(const Lake& lake) { REQUIRE(http_request("DELETE", lake.url("/v1/faults")).status == 200); }

// The lake's missing batch_seq ranges of our one gateway incarnation, as "[a,b]" pairs.
SeqRanges lake_missing(const Lake& lake) {
  SeqRanges out;
  auto r = http_get(lake.url("/v1/gaps"));
  Json j(r.body);
  simdjson::dom::array gws;
  if (!j.ok || j.root["gateways"].get(gws)) return out;
  for (auto g : gws) {
    simdjson::dom::array miss;
    if (g["missing"].get(miss)) continue;
    for (auto m : miss) {
      std::uint64_t a = 0, b = 0;
      if (!m.at(0).get(a) && !m.at(1).get(b)) out.emplace_back(a, b);
    }
  }
  return out;
}

// Reading lines of the lake by (device, value), e.g. {"dl-1", "17"} → how many lines.
std::map<std::pair<std::string, std::string>, int> lake_values(const Lake& lake) {
  std::map<std::pair<std::string, std::string>, int> m;
  for (const auto& l : read_lake(lake.data())) ++m[{l.device, l.value_json}];
  return m;
}

// Every raw reading line of the lake (for fields LakeLine does not carry, e.g. "parts").
std::vector<std::string> lake_reading_lines(const Lake& lake) { return read_lake_records(lake.data(), "reading"); }

// ---------------------------------------------------------------- the gateway
std::string admin_url(Gateway& gw, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(gw.admin_port()) + path;
}

// A counter (or gauge) of the running gateway as `citygate status --json` shows it; 0 when absent.
std::int64_t gw_counter(Gateway& gw, const std::string& name) {
  auto r = http_get(admin_url(gw, "/admin/v1/status"));
  if (r.status != 200) return -1;
  Json j(r.body);
  if (!j.ok) return -1;
  std::int64_t v = 0;
  if (j.root["counters"][name].get_int64().get(v)) return 0;
  return v;
}

std::int64_t gw_dead_batches(Gateway& gw) {
  auto r = http_get(admin_url(gw, "/admin/v1/status"));
  Json j(r.body);
  if (!j.ok) return -1;
  std::int64_t v = 0;
  if (j.root["outbox"]["dead_batches"].get_int64().get(v)) return -1;
  return v;
}

const std::string kRetries = R"(uplink_retries_total{sink="lake"})";
const std::string kDead = R"(uplink_dead_batches_total{sink="lake"})";
std::string sends(const std::string& result) { return R"(uplink_sends_total{sink="lake",result=")" + result + "\"}"; }

// The gateway under test: an influx_line HTTP route on the ingest listener, one http sink to a
// lake with --faults. The lake is started; the gateway is configured (faults may be set before
// it starts) and started by start().
struct Stack {
  TempDir dir;
  Lake lake{dir.path(), 0, {"--faults"}};
  int ingest_port = free_port();
  std::unique_ptr<Gateway> gw;

  // `status_interval_s` < 0: the default (a status record at start and every 60 s); 0: no status
  // records at all, so that batch_seq 1, 2, … are the readings batches in order.
  explicit Stack(GatewaySettings gs, int status_interval_s = 0) {
    lake.start();
    gs.lake_port = lake.port();
    gs.ingest_port = ingest_port;
    gs.extra += "[[adapters]]\nkind = \"influx_line\"\nid = \"lp\"\nhttp_path = \"/write\"\nmax_payload_bytes = 262144\n";
    gw = std::make_unique<Gateway>(dir.path(), gs);
    if (status_interval_s >= 0) {
      // [uplink] cannot be reopened after [[uplink.sinks]]: put the key into the generated table.
      auto toml = read_file(gw->config());
      auto at = toml.find("[uplink]\n");
      REQUIRE(at != std::string::npos);
      toml.insert(at + 9, "status_interval_s = " + std::to_string(status_interval_s) + "\n");
      write_file(gw->config(), toml);
    }
  }
  void start() { gw->start(); }

  // One POST of `count` line-protocol readings `m.v` = first..first+count-1 for `device`: one
  // commit, so with batch_max_rows == count it is exactly one batch.
  void post(const std::string& device, int first, int count) {
    std::string body;
    for (int i = first; i < first + count; ++i)
      body += "m,device=" + device + " v=" + std::to_string(i) + "i " + std::to_string(1700000000 + i) + "\n";
    post_raw(body);
  }
  // 200 only once the readings are committed (fsync'd).
  void post_raw(const std::string& body) {
    auto r = http_request("POST", "http://127.0.0.1:" + std::to_string(ingest_port) + "/write?precision=s", body,
                          {"Content-Type: text/plain; charset=utf-8"});
    INFO(r.body);
    REQUIRE(r.status == 200);
  }
  CliResult cli(std::vector<std::string> args) {
    args.push_back("--config");
    args.push_back(gw->config().string());
    return run_citygate(args, dir.path());
  }
  std::string logs() { return "gateway log:\n" + gw->process().log() + "\nlake log:\n" + lake.process().log(); }
};

GatewaySettings settings(int rows, int age_ms = 100, int backoff_initial = 50, int backoff_max = 500) {
  GatewaySettings gs;
  gs.batch_max_rows = rows;
  gs.batch_max_age_ms = age_ms;
  gs.backoff_initial_ms = backoff_initial;
  gs.backoff_max_ms = backoff_max;
  return gs;
}

// Every value first..last of `device` is in the lake exactly once.
void check_exactly_once(const std::map<std::pair<std::string, std::string>, int>& got, const std::string& device, int first,
                        int last) {
  for (int i = first; i <= last; ++i) {
    auto it = got.find({device, std::to_string(i)});
    INFO(device << " value " << i);
    CHECK((it == got.end() ? 0 : it->second) == 1);
  }
}

double seconds_since(steady::time_point t) { return std::chrono::duration<double>(steady::now() - t).count(); }

}  // namespace

// 1 ------------------------------------------------------------------------------------------------
TEST_CASE("delivery: 503 and 429 with Retry-After are waited out - not retried on the backoff", "[integration][delivery]") {
  // backoff 50 ms → 500 ms: ignoring Retry-After would re-send within ~100 ms
  Stack s(settings(100, 100, 50, 500));
  set_faults(s.lake, R"({"status":[503,503],"retry_after_s":2})");
  s.start();
  s.post("ra-1", 1, 20);

  steady::time_point first_refusal;
  REQUIRE_WAIT(s, wait_until([&] { return lake_stats(s.lake)["faults_injected"] >= 1; }, 10s));
  first_refusal = steady::now();
  REQUIRE_WAIT(s, wait_lake_unique(s.lake, 20, 20s));
  const double waited = seconds_since(first_refusal);
  CHECK(waited >= 3.5);  // two waits of 2 s (measured from when the first refusal was seen)
  CHECK(waited < 15.0);
  auto st = lake_stats(s.lake);
  CHECK(st["faults_injected"] == 2);
  CHECK(st["batches_accepted"] == 1);
  CHECK(gw_counter(*s.gw, sends("wait")) == 2);
  CHECK(gw_counter(*s.gw, kRetries) == 2);

  // 429 is the same class: Retry-After 1 s, twice
  set_faults(s.lake, R"({"status":[429,429],"retry_after_s":1})");
  s.post("ra-2", 1, 20);
  REQUIRE_WAIT(s, wait_until([&] { return lake_stats(s.lake)["faults_injected"] >= 3; }, 10s));
  first_refusal = steady::now();
  REQUIRE_WAIT(s, wait_until([&] { return lake_values(s.lake).count({"ra-2", "20"}) == 1; }, 20s));
  const double waited429 = seconds_since(first_refusal);
  CHECK(waited429 >= 1.7);
  CHECK(waited429 < 10.0);
  st = lake_stats(s.lake);
  CHECK(st["faults_injected"] == 4);
  CHECK(st["batches_accepted"] == 2);
  CHECK(gw_counter(*s.gw, sends("wait")) == 4);

  auto got = lake_values(s.lake);
  check_exactly_once(got, "ra-1", 1, 20);
  check_exactly_once(got, "ra-2", 1, 20);
  CHECK(s.gw->stop() == 0);
}

// 2 ------------------------------------------------------------------------------------------------
TEST_CASE("delivery: 5xx is retried with backoff until the lake recovers - nothing lost or doubled",
          "[integration][delivery]") {
  Stack s(settings(10, 100, 50, 400));
  set_faults(s.lake, R"({"failure_rate":1.0,"seed":7})");
  s.start();
  for (int k = 0; k < 3; ++k) {
    s.post("bo-1", 1 + 10 * k, 10);
    s.post("bo-2", 1 + 10 * k, 10);
  }
  const auto t0 = steady::now();
  REQUIRE_WAIT(s, wait_until([&] { return gw_counter(*s.gw, kRetries) >= 10; }, 20s));
  const double failing_for = seconds_since(t0);
  const auto retries = gw_counter(*s.gw, kRetries);
  auto st = lake_stats(s.lake);
  CHECK(st["readings_written"] == 0);
  CHECK(st["faults_injected"] >= 10);
  CHECK(gw_counter(*s.gw, sends("retry")) >= 10);
  // backoff, not a tight loop: with a 400 ms cap the mean wait is ≥ ~100 ms after a few attempts
  CHECK(retries <= 10 + static_cast<std::int64_t>(failing_for * 1000 / 40));
  CHECK(gw_counter(*s.gw, kDead) == 0);

  clear_faults(s.lake);
  LakeSummary sum;
  REQUIRE_WAIT(s, wait_lake_unique(s.lake, 60, 20s, nullptr, &sum));
  CHECK(sum.unique == 60);
  CHECK(sum.duplicate_lines == 0);
  auto got = lake_values(s.lake);
  check_exactly_once(got, "bo-1", 1, 30);
  check_exactly_once(got, "bo-2", 1, 30);
  for (const auto& [dev, seqs] : sum.seqs) {
    CHECK(seqs.size() == 30);
    CHECK(*seqs.rbegin() == 30);
  }
  CHECK(lake_missing(s.lake).empty());
  CHECK(gw_counter(*s.gw, kDead) == 0);
  CHECK(s.gw->stop() == 0);
}

// 3 ------------------------------------------------------------------------------------------------
TEST_CASE("delivery: a 400 batch is dead-lettered while later batches go - replay delivers it once",
          "[integration][delivery]") {
  // No status records: batch_seq k is the k-th POST of 10 readings (batch_max_rows 10).
  Stack s(settings(10, 100));
  set_faults(s.lake, R"({"status_for_seq":{"2":400}})");
  s.start();
  for (int k = 0; k < 4; ++k) s.post("dl-1", 1 + 10 * k, 10);

  // batches 1, 3, 4 arrive although 2 was refused
  LakeSummary sum;
  REQUIRE_WAIT(s, wait_lake_unique(s.lake, 30, 20s, nullptr, &sum));
  REQUIRE_WAIT(s, wait_until([&] { return gw_dead_batches(*s.gw) == 1; }, 10s));
  auto got = lake_values(s.lake);
  check_exactly_once(got, "dl-1", 1, 10);
  check_exactly_once(got, "dl-1", 21, 40);
  for (int i = 11; i <= 20; ++i) CHECK(got.count({"dl-1", std::to_string(i)}) == 0);
  CHECK(gw_counter(*s.gw, kDead) == 1);
  // status_interval_s = 0 sends no status record at all (not even one at start): seq 2 was readings
  CHECK(read_lake_records(s.lake.data(), "status").empty());
  // the lake sees the hole in batch_seq
  CHECK(lake_missing(s.lake) == SeqRanges{{2, 2}});

  // citygate dead-batches list
  auto list = s.cli({"dead-batches", "list", "--json"});
  INFO(list.out << list.err);
  REQUIRE(list.code == 0);
  Json lj(list.out);
  REQUIRE(lj.ok);
  simdjson::dom::array arr;
  REQUIRE(!lj.root["dead_batches"].get(arr));
  REQUIRE(arr.size() == 1);
  simdjson::dom::element d;
  REQUIRE(!arr.at(0).get(d));
  const std::int64_t id = num(d, "id");
  CHECK(num(d, "batch_seq") == 2);
  CHECK(num(d, "status") == 400);
  CHECK(str(d, "sink") == "lake");
  CHECK(str(d, "class") == "telemetry");
  CHECK(num(d, "rows") == 10);
  CHECK(num(d, "part") == 0);
  CHECK(str(d, "reason").find("injected fault") != std::string::npos);
  CHECK(str(d, "batch_id").size() == 36);
  auto text_list = s.cli({"dead-batches", "list"});
  CHECK(text_list.code == 0);
  CHECK(text_list.out.find(str(d, "batch_id")) != std::string::npos);

  // citygate dead-batches show ID: its readings
  auto show = s.cli({"dead-batches", "show", std::to_string(id), "--json"});
  INFO(show.out << show.err);
  REQUIRE(show.code == 0);
  Json sj(show.out);
  REQUIRE(sj.ok);
  simdjson::dom::array rs;
  REQUIRE(!sj.root["readings"].get(rs));
  CHECK(rs.size() == 10);
  std::set<std::int64_t> vals, seqs;
  for (auto r : rs) {
    CHECK(str(r, "device") == "dl-1");
    CHECK(str(r, "metric") == "m.v");
    vals.insert(num(r, "value"));
    seqs.insert(num(r, "seq"));
  }
  CHECK(vals == std::set<std::int64_t>{11, 12, 13, 14, 15, 16, 17, 18, 19, 20});
  CHECK(seqs == std::set<std::int64_t>{11, 12, 13, 14, 15, 16, 17, 18, 19, 20});
  auto show_text = s.cli({"dead-batches", "show", std::to_string(id)});
  CHECK(show_text.code == 0);
  CHECK(show_text.out.find("dl-1 m.v = 15") != std::string::npos);
  CHECK(s.cli({"dead-batches", "show", "999"}).code == 1);

  // replay once the lake takes it: every reading exactly once, no hole left
  clear_faults(s.lake);
  auto replay = s.cli({"dead-batches", "replay", std::to_string(id)});
  INFO(replay.out << replay.err);
  CHECK(replay.code == 0);
  REQUIRE_WAIT(s, wait_lake_unique(s.lake, 40, 20s, nullptr, &sum));
  CHECK(sum.duplicate_lines == 0);
  check_exactly_once(lake_values(s.lake), "dl-1", 1, 40);
  CHECK(lake_missing(s.lake).empty());
  CHECK(lake_stats(s.lake)["batch_seq_missing"] == 0);
  CHECK(wait_until([&] { return gw_dead_batches(*s.gw) == 0; }, 5s));  // replayed: not counted as dead any more

  // replayed already → the gateway refuses (409) → exit 1; an unknown id too
  auto again = s.cli({"dead-batches", "replay", std::to_string(id)});
  CHECK(again.code == 1);
  CHECK(again.err.find("409") != std::string::npos);
  CHECK(s.cli({"dead-batches", "replay", "999"}).code == 1);
  // the list still shows it, marked replayed
  auto after = s.cli({"dead-batches", "list", "--json"});
  CHECK(after.code == 0);
  CHECK(after.out.find("\"replayed_at\"") != std::string::npos);
  CHECK(s.gw->stop() == 0);

  // stopped: the same commands read the store file (exit 3) and tell the same story
  auto file_list = s.cli({"dead-batches", "list", "--json"});
  INFO(file_list.out << file_list.err);
  CHECK(file_list.code == 3);
  Json fj(file_list.out);
  simdjson::dom::array farr;
  REQUIRE(!fj.root["dead_batches"].get(farr));
  REQUIRE(farr.size() == 1);
  simdjson::dom::element fd;
  REQUIRE(!farr.at(0).get(fd));
  CHECK(num(fd, "id") == id);
  CHECK(num(fd, "status") == 400);
  CHECK(str(fd, "replayed_at") != "<missing>");
  auto file_show_text = s.cli({"dead-batches", "show", std::to_string(id)});
  CHECK(file_show_text.code == 3);
  CHECK(file_show_text.out.find("dl-1 m.v = 15") != std::string::npos);
  auto file_show = s.cli({"dead-batches", "show", std::to_string(id), "--json"});
  INFO(file_show.out << file_show.err);
  CHECK(file_show.code == 3);
  Json fsj(file_show.out);
  REQUIRE(fsj.ok);
  simdjson::dom::array frs;
  // read from the file, the JSON carries the readings like the running gateway's answer
  const bool file_has_readings = !fsj.root["readings"].get(frs);
  CHECK(file_has_readings);
  if (file_has_readings) CHECK(frs.size() == 10);
  CHECK(s.cli({"dead-batches", "replay", std::to_string(id)}).code == 3);  // replay needs the gateway
}

// 4 ------------------------------------------------------------------------------------------------
TEST_CASE("delivery: 413 splits a batch into parts - a single reading too large is dead-lettered",
          "[integration][delivery]") {
  // A reading here is ~50 protobuf bytes: 40 of them (~2 KB) are refused, 10 (~0.6 KB) fit.
  Stack s(settings(40, 150));
  set_faults(s.lake, R"({"max_batch_bytes":1000})");
  s.start();
  s.post("sp-1", 1, 40);

  LakeSummary sum;
  REQUIRE_WAIT(s, wait_lake_unique(s.lake, 40, 20s, nullptr, &sum));
  CHECK(sum.duplicate_lines == 0);
  check_exactly_once(lake_values(s.lake), "sp-1", 1, 40);
  // every line came in a part k of n (n ≥ 2), one batch_id, one batch_seq, every part present
  std::set<std::string> batch_ids;
  std::set<std::uint64_t> parts_seen, parts_n;
  for (const auto& line : lake_reading_lines(s.lake)) {
    Json j(line);
    REQUIRE(j.ok);
    batch_ids.insert(str(j.root, "batch_id"));
    parts_seen.insert(static_cast<std::uint64_t>(num(j.root, "part")));
    parts_n.insert(static_cast<std::uint64_t>(num(j.root, "parts")));
    CHECK(num(j.root, "batch_seq") == 1);
  }
  CHECK(batch_ids.size() == 1);
  REQUIRE(parts_n.size() == 1);
  const auto n = *parts_n.begin();
  CHECK(n >= 2);
  CHECK(n <= 4);  // a quarter fits
  CHECK(parts_seen.size() == n);
  CHECK(*parts_seen.begin() == 1);
  CHECK(*parts_seen.rbegin() == n);
  CHECK(gw_counter(*s.gw, sends("too_large")) >= 1);
  CHECK(gw_counter(*s.gw, kDead) == 0);
  CHECK(gw_dead_batches(*s.gw) == 0);
  CHECK(lake_missing(s.lake).empty());

  // one reading bigger than max_batch_bytes, alone in its batch: cannot be split → dead batch
  s.post_raw("big,device=sp-big s=\"" + std::string(1500, 'x') + "\" 1700000000\n");
  REQUIRE_WAIT(s, wait_until([&] { return gw_dead_batches(*s.gw) == 1; }, 20s));
  // the batches behind it still go
  s.post("sp-1", 41, 10);
  REQUIRE_WAIT(s, wait_lake_unique(s.lake, 50, 20s, nullptr, &sum));
  CHECK(sum.duplicate_lines == 0);
  auto got = lake_values(s.lake);
  check_exactly_once(got, "sp-1", 1, 50);
  for (const auto& [k, v] : got) CHECK(k.first != "sp-big");
  auto list = s.cli({"dead-batches", "list", "--json"});
  INFO(list.out << list.err);
  REQUIRE(list.code == 0);
  Json lj(list.out);
  simdjson::dom::array arr;
  REQUIRE(!lj.root["dead_batches"].get(arr));
  REQUIRE(arr.size() == 1);
  simdjson::dom::element d;
  REQUIRE(!arr.at(0).get(d));
  CHECK(num(d, "status") == 413);
  CHECK(num(d, "rows") == 1);
  CHECK(num(d, "batch_seq") == 2);
  CHECK(str(d, "reason").find("cannot be split") != std::string::npos);
  CHECK(gw_counter(*s.gw, kDead) == 1);
  CHECK(s.gw->stop() == 0);
}

// 5 ------------------------------------------------------------------------------------------------
TEST_CASE("delivery: answers dropped after the lake committed - the re-sends are 409 and the files hold each reading once",
          "[integration][delivery]") {
  Stack s(settings(10, 100));
  set_faults(s.lake, R"({"drop_after_commit":3})");
  s.start();
  for (int k = 0; k < 5; ++k) s.post("dr-1", 1 + 10 * k, 10);

  LakeSummary sum;
  REQUIRE_WAIT(s, wait_lake_unique(s.lake, 50, 20s, nullptr, &sum));
  // each dropped batch is sent again and recognised
  REQUIRE_WAIT(s, wait_until([&] { return lake_stats(s.lake)["duplicates"] >= 3; }, 20s));
  auto st = lake_stats(s.lake);
  CHECK(st["faults_injected"] == 3);
  CHECK(st["batches_accepted"] == 5);
  CHECK(st["readings_written"] == 50);
  sum = summarize(read_lake(s.lake.data()));
  CHECK(sum.lines == 50);
  CHECK(sum.duplicate_lines == 0);
  check_exactly_once(lake_values(s.lake), "dr-1", 1, 50);
  CHECK(lake_missing(s.lake).empty());
  // the gateway settled everything (409 settles) and dead-lettered nothing
  CHECK(wait_until([&] { return sql_scalar(s.gw->db(), "SELECT count(*) FROM batches") == "0"; }, 10s));
  CHECK(gw_counter(*s.gw, kDead) == 0);
  CHECK(s.gw->stop() == 0);
  CHECK(lake_stats(s.lake)["duplicates"] == 3);
}

// 6 ------------------------------------------------------------------------------------------------
TEST_CASE("delivery: kill -9 between the lake's commit and the settle re-sends the same batch_id once",
          "[integration][delivery][crash]") {
  Stack s(settings(10, 100));
  set_faults(s.lake, R"({"delay_ms":1500})");
  s.start();

  // two rounds: each time the lake has written a batch and holds its answer when the gateway dies
  std::set<std::string> killed_ids;
  for (int round = 0; round < 2; ++round) {
    const auto accepted_before = lake_stats(s.lake)["batches_accepted"];
    s.post("k9-1", 1 + 10 * round, 10);
    REQUIRE_WAIT(s, wait_until([&] { return lake_stats(s.lake)["batches_accepted"] > accepted_before; }, 10s));
    const auto seen = steady::now();
    s.gw->kill9();
    // the answer was still held (1.5 s): the gateway cannot have settled
    REQUIRE(seconds_since(seen) < 1.3);
    const std::string seq = std::to_string(round + 1);
    const auto batch_id = sql_scalar(s.gw->db(), "SELECT batch_id FROM batches WHERE batch_seq = " + seq);
    REQUIRE(batch_id.size() == 36);
    killed_ids.insert(batch_id);
    // and the lake has that very batch in its files
    std::set<std::string> lake_ids;
    for (const auto& l : read_lake(s.lake.data())) lake_ids.insert(l.batch_id);
    CHECK(lake_ids.count(batch_id) == 1);

    const auto dups_before = lake_stats(s.lake)["duplicates"];
    if (round == 1) clear_faults(s.lake);  // round 0 restarts with the delay still on
    s.gw->start();
    // re-sent under the same batch_id → 409 → settled
    REQUIRE_WAIT(s, wait_until([&] { return lake_stats(s.lake)["duplicates"] == dups_before + 1; }, 20s));
    REQUIRE_WAIT(s, wait_until([&] { return sql_scalar(s.gw->db(), "SELECT count(*) FROM batches") == "0"; }, 10s));
  }
  s.post("k9-1", 21, 10);
  LakeSummary sum;
  REQUIRE_WAIT(s, wait_lake_unique(s.lake, 30, 20s, nullptr, &sum));
  auto st = lake_stats(s.lake);
  CHECK(st["duplicates"] == 2);  // one re-send per kill, no more
  CHECK(st["batches_accepted"] == 3);
  CHECK(sum.lines == 30);
  CHECK(sum.duplicate_lines == 0);
  CHECK(sum.dup_only_as_repeated_batches);
  check_exactly_once(lake_values(s.lake), "k9-1", 1, 30);
  CHECK(lake_missing(s.lake).empty());
  CHECK(killed_ids.size() == 2);
  CHECK(s.gw->stop() == 0);
}

// 7 ------------------------------------------------------------------------------------------------
TEST_CASE("delivery: citygate status answers from the running gateway - and from the store file when it is stopped",
          "[integration][delivery][cli]") {
  Stack s(settings(10, 100), -1);  // default status interval: a status record at start
  s.start();
  s.post("st-1", 1, 10);
  REQUIRE_WAIT(s, wait_lake_unique(s.lake, 10, 20s));
  REQUIRE_WAIT(s, wait_until([&] { return !read_lake_records(s.lake.data(), "status").empty(); }, 10s));
  REQUIRE_WAIT(s, wait_until([&] { return sql_scalar(s.gw->db(), "SELECT count(*) FROM batches") == "0"; }, 10s));

  auto run = s.cli({"status", "--json"});
  INFO(run.out << run.err);
  REQUIRE(run.code == 0);
  Json j(run.out);
  REQUIRE(j.ok);
  bool running = false;
  CHECK(!j.root["gateway"]["running"].get(running));
  CHECK(running);
  CHECK(str(j.root["gateway"], "id") == "it-gw");
  const std::string incarnation = str(j.root["store"], "incarnation_id");
  CHECK(incarnation.size() >= 8);
  CHECK(num(j.root["store"], "readings") == 10);
  for (const char* c : {"status", "alert", "report", "summary", "telemetry", "backlog"}) {
    INFO(c);
    CHECK(num(j.root["outbox"]["classes"][c], "rows") >= 0);
  }
  CHECK(num(j.root["outbox"], "unsent_rows") == 0);
  CHECK(num(j.root["outbox"], "dead_batches") == 0);
  CHECK(num(j.root["counters"], R"(uplink_batches_settled_total{sink="lake"})") >= 2);  // status record + readings
  CHECK(num(j.root["counters"], R"(uplink_readings_settled_total{sink="lake"})") == 10);
  CHECK(num(j.root["counters"], sends("settled")) >= 2);
  // the admin route answers the same document
  auto direct = http_get(admin_url(*s.gw, "/admin/v1/status"));
  CHECK(direct.status == 200);
  CHECK(direct.body.find("\"incarnation_id\":\"" + incarnation + "\"") != std::string::npos);

  auto text = s.cli({"status"});
  CHECK(text.code == 0);
  CHECK(text.out.rfind("gateway", 0) == 0);
  CHECK(text.out.find("\nstore") != std::string::npos);
  CHECK(text.out.find("\noutbox") != std::string::npos);
  CHECK(text.out.find("\nsinks") != std::string::npos);
  CHECK(text.out.find("running, ready") != std::string::npos);

  REQUIRE(s.gw->stop() == 0);
  auto stopped = s.cli({"status", "--json"});
  INFO(stopped.out << stopped.err);
  CHECK(stopped.code == 3);
  Json k(stopped.out);
  REQUIRE(k.ok);
  CHECK(!k.root["gateway"]["running"].get(running));
  CHECK_FALSE(running);
  CHECK(str(k.root["store"], "incarnation_id") == incarnation);
  CHECK(num(k.root["store"], "readings") == 10);
  CHECK(num(k.root["outbox"], "unsent_rows") == 0);
  CHECK(num(k.root["outbox"]["classes"]["telemetry"], "rows") == 0);
  CHECK(k.root["counters"].error() == simdjson::NO_SUCH_FIELD);  // no process, no counters

  auto stopped_text = s.cli({"status"});
  CHECK(stopped_text.code == 3);
  CHECK(stopped_text.out.rfind("gateway", 0) == 0);
  CHECK(stopped_text.out.find("NOT RUNNING") != std::string::npos);
  CHECK(stopped_text.out.find("\nstore") != std::string::npos);
  CHECK(stopped_text.out.find("\noutbox") != std::string::npos);
  CHECK(stopped_text.out.find(incarnation) != std::string::npos);

  // dead-batches from the file; replay needs the running gateway
  auto dl = s.cli({"dead-batches", "list", "--json"});
  CHECK(dl.code == 3);
  CHECK(dl.out.find("\"dead_batches\":[]") != std::string::npos);
  CHECK(s.cli({"dead-batches", "replay", "1"}).code == 3);
}

// 8 ------------------------------------------------------------------------------------------------
TEST_CASE("delivery: replaying two dead parts of one split batch delivers both parts",
          "[integration][delivery]") {
  // 40 readings (~2 KB) are too large for 1500 bytes, 20 (~1.1 KB) fit: the batch goes as 2 parts,
  // and the lake refuses both (400 for its batch_seq): two dead parts of batch_seq 1.
  Stack s(settings(40, 150));
  set_faults(s.lake, R"({"max_batch_bytes":1500,"status_for_seq":{"1":400}})");
  s.start();
  s.post("pr-1", 1, 40);
  REQUIRE_WAIT(s, wait_until([&] { return gw_dead_batches(*s.gw) == 2; }, 20s));
  auto list = s.cli({"dead-batches", "list", "--json"});
  INFO(list.out << list.err);
  REQUIRE(list.code == 0);
  Json lj(list.out);
  simdjson::dom::array arr;
  REQUIRE(!lj.root["dead_batches"].get(arr));
  REQUIRE(arr.size() == 2);
  std::map<std::int64_t, std::int64_t> id_of_part;  // part → dead batch id
  for (auto d : arr) {
    CHECK(num(d, "batch_seq") == 1);
    CHECK(num(d, "parts") == 2);
    CHECK(num(d, "status") == 400);
    id_of_part[num(d, "part")] = num(d, "id");
  }
  REQUIRE(id_of_part.size() == 2);
  REQUIRE(id_of_part.count(1) == 1);
  REQUIRE(id_of_part.count(2) == 1);

  // The lake is busy for that batch for a moment (503, Retry-After 2 s): the replayed part 1 is
  // refused and waits; meanwhile the operator replays part 2 too.
  set_faults(s.lake, R"({"max_batch_bytes":1500,"status_for_seq":{"1":503},"retry_after_s":2})");
  const auto injected = lake_stats(s.lake)["faults_injected"];
  CHECK(s.cli({"dead-batches", "replay", std::to_string(id_of_part[1])}).code == 0);
  REQUIRE_WAIT(s, wait_until([&] { return lake_stats(s.lake)["faults_injected"] > injected; }, 10s));
  CHECK(s.cli({"dead-batches", "replay", std::to_string(id_of_part[2])}).code == 0);
  clear_faults(s.lake);

  // both parts end up in the lake: all 40 readings, once each
  REQUIRE_WAIT(s, wait_until([&] { return sql_scalar(s.gw->db(), "SELECT count(*) FROM batches") == "0"; }, 20s));
  LakeSummary sum;
  const bool all = wait_lake_unique(s.lake, 40, 5s, nullptr, &sum);
  INFO("lake holds " << sum.unique << " of 40 readings");
  // replaying part 2 must not mark part 1 (replayed, not yet delivered) as done
  CHECK(all);
  CHECK(sum.duplicate_lines == 0);
  if (all) check_exactly_once(lake_values(s.lake), "pr-1", 1, 40);
  // the lake cannot tell: batch_seq 1 arrived (part 2), so /v1/gaps shows no hole
  CHECK(lake_missing(s.lake).empty());
  CHECK(s.gw->stop() == 0);
}
