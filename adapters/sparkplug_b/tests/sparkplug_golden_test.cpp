// Golden cases over every file in shared/vectors/sparkplug_b (read by path, never copied). A case
// is a session: its steps are fed in order to one host session, as `citygate decode` does with
// several files. adapters/sparkplug_b/tests/cases/<case>/expected.json:
//   { "received": RFC 3339, "steps": [ { "vector": "sparkplug_b/...", "topic": "...",
//       "error": "" | code, "rebirth": bool, "status": node or device status after the step,
//       "ndeath_ignored": bool (optional),
//       "device", "observed", "src_seq", "quality", "readings": [[metric, type, value, unit]...] } ] }
// A vector is used as stored: .bin raw, .b64 base64 text, .json the specification's JSON rendering
// (encoded to protobuf by the test's own encoder). topics.txt has its own case (cases/topics).
#include <catch2/catch.hpp>

#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <set>

#include "sparkplug_test_util.hpp"
#include "support/golden.hpp"

using namespace cg;
using namespace cg::sparkplug;

namespace {

namespace fs = std::filesystem;

std::vector<std::uint8_t> vector_bytes(const std::string& rel) {
  auto path = golden::vectors_dir() / rel;
  REQUIRE(fs::exists(path));
  auto text = golden::read_file(path);
  auto ext = path.extension().string();
  if (ext == ".b64") return spt::base64_decode(text);
  if (ext == ".json") return spt::from_spec_json(text);
  return std::vector<std::uint8_t>(text.begin(), text.end());
}

std::set<std::string> all_vectors() {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(golden::vectors_dir() / "sparkplug_b"))
    if (e.is_regular_file()) out.insert(fs::relative(e.path(), golden::vectors_dir()).generic_string());
  return out;
}

std::string topic_type(const Topic& t) { return std::string(message_type_name(t.type)); }

}  // namespace

TEST_CASE("sparkplug_b golden: every shared vector decodes as its case says", "[sparkplug_b][golden]") {
  std::set<std::string> covered;
  simdjson::dom::parser p;
  for (const auto& dir : golden::case_dirs(SPARKPLUG_CASES_DIR)) {
    auto text = golden::read_file(dir / "expected.json");
    simdjson::dom::element exp = p.parse(text).value();
    if (golden::str(exp, "vector") == "sparkplug_b/topics.txt") continue;  // the topics case below
    auto received = golden::time_of(exp, "received");
    spt::Host host;
    host.received = received;
    int i = 0;
    simdjson::dom::array steps = exp["steps"].get_array().value();
    for (auto step : steps) {
      std::string vector = golden::str(step, "vector");
      std::string topic = golden::str(step, "topic");
      INFO("case " << dir.filename().string() << " step " << i++ << " " << vector << " on " << topic);
      covered.insert(vector);
      auto out = host.send(topic, vector_bytes(vector));
      CHECK((out.error ? out.error->code : std::string()) == golden::str(step, "error"));
      CHECK(out.rebirth.has_value() == step["rebirth"].get_bool().value());
      bool ignored = false;
      if (step["ndeath_ignored"].get(ignored) != simdjson::SUCCESS) ignored = false;  // optional
      CHECK(out.ndeath_ignored == ignored);
      auto t = parse_topic(topic);
      REQUIRE(t);
      auto status = t->device_level() ? host.device(t->group, t->node, t->device) : host.node(t->group, t->node);
      CHECK(std::string(status_name(status)) == golden::str(step, "status"));
      golden::check(step, out.readings, received);
    }
  }
  for (const auto& v : all_vectors()) {
    if (v == "sparkplug_b/topics.txt") continue;
    INFO(v);
    CHECK(covered.count(v) == 1);
  }
}

TEST_CASE("sparkplug_b golden: topics.txt parses as documented", "[sparkplug_b][golden]") {
  simdjson::dom::parser p;
  auto text = golden::read_file(fs::path(SPARKPLUG_CASES_DIR) / "topics" / "expected.json");
  simdjson::dom::element exp = p.parse(text).value();
  REQUIRE(golden::str(exp, "vector") == "sparkplug_b/topics.txt");
  std::map<std::string, simdjson::dom::element> want;
  simdjson::dom::array topics = exp["topics"].get_array().value();
  for (auto e : topics) want.emplace(golden::str(e, "topic"), e);
  std::istringstream lines(golden::read_file(golden::vectors_dir() / "sparkplug_b" / "topics.txt"));
  std::string line;
  int seen = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    INFO(line);
    ++seen;
    REQUIRE(want.count(line) == 1);
    auto e = want.at(line);
    auto t = parse_topic(line);
    if (!golden::str(e, "error").empty()) {
      REQUIRE_FALSE(t);
      CHECK(t.error().code == golden::str(e, "error"));
      continue;
    }
    REQUIRE(t);
    CHECK(topic_type(*t) == golden::str(e, "type"));
    CHECK(t->group == golden::str(e, "group"));
    CHECK(t->node == golden::str(e, "node"));
    CHECK(t->device == golden::str(e, "device"));
    CHECK(t->device_key() == golden::str(e, "device_key"));
  }
  CHECK(static_cast<std::size_t>(seen) == want.size());
}

TEST_CASE("sparkplug_b dump decoded vectors (bootstrap for expected.json)", "[.dump]") {
  simdjson::dom::parser p;
  for (const auto& dir : golden::case_dirs(SPARKPLUG_CASES_DIR)) {
    auto text = golden::read_file(dir / "expected.json");
    simdjson::dom::element exp = p.parse(text).value();
    if (golden::str(exp, "vector") == "sparkplug_b/topics.txt") continue;
    spt::Host host;
    std::cout << "== " << dir.filename().string() << "\n";
    simdjson::dom::array steps = exp["steps"].get_array().value();
    for (auto step : steps) {
      std::string topic = golden::str(step, "topic");
      auto out = host.send(topic, vector_bytes(golden::str(step, "vector")));
      auto t = parse_topic(topic);
      auto status = t->device_level() ? host.device(t->group, t->node, t->device) : host.node(t->group, t->node);
      std::cout << "-- " << golden::str(step, "vector") << " error=" << (out.error ? out.error->code : "")
                << " rebirth=" << out.rebirth.has_value() << " status=" << status_name(status) << "\n";
      golden::dump(out.readings);
    }
  }
}
