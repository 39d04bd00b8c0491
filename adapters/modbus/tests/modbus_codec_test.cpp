// Pure parts of the Modbus adapters: register values, word orders, scaling, profiles, read
// planning, frame decoding and the golden cases (tests/cases/<case>/expected.json).
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "adapter_api/adapter.hpp"
#include "core/time_format.hpp"
#include "modbus/modbus_codec.hpp"
#include "modbus/modbus_profile.hpp"

namespace cg {
const AdapterDescriptor& modbus_tcp_descriptor();
const AdapterDescriptor& modbus_rtu_descriptor();
}  // namespace cg

namespace {

namespace fs = std::filesystem;
using namespace cg;
using namespace cg::modbus;
using Words = std::vector<std::uint16_t>;

const fs::path kShared = fs::path(CITYGATE_SHARED_DIR) / "vectors" / "modbus_eastron_sdm";
const fs::path kProfiles = fs::path(CITYGATE_SOURCE_DIR) / "firmware-config" / "profiles";
const fs::path kCases = fs::path(CITYGATE_SOURCE_DIR) / "adapters" / "modbus" / "tests" / "cases";
const TimeNs kNow = from_unix_ns(1'714'564'800'000'000'000);

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  REQUIRE(f.good());
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Register reg(ValueKind k, WordOrder o = WordOrder::abcd, double scale = 1.0) {
  Register r;
  r.metric = "m";
  r.kind = k;
  r.order = o;
  r.scale = scale;
  return r;
}

Value dec(const Register& r, Words w) {
  auto v = decode_value(r, w);
  REQUIRE(v);
  return *v;
}

Profile parse(const std::string& text) {
  auto p = parse_profile(text, "<test>", "test");
  INFO((p ? std::string() : p.error().message));
  REQUIRE(p);
  return *p;
}

std::string parse_error(const std::string& text) {
  auto p = parse_profile(text, "<test>", "test");
  REQUIRE_FALSE(p);
  CHECK(p.error().code == "profile");
  CHECK(p.error().disposition == Disposition::fatal);
  return p.error().message;
}

std::string reg_toml(const std::string& metric, const std::string& function, int address, const std::string& type) {
  return "[[registers]]\nmetric = \"" + metric + "\"\nfunction = \"" + function + "\"\naddress = " +
         std::to_string(address) + "\ntype = \"" + type + "\"\n";
}

}  // namespace

TEST_CASE("modbus codec: float32 decodes in every word order", "[modbus]") {
  // The Tasmota frame's 43 66 33 34 (bytes A B C D) is 230.20001220703125: one step above the
  // float nearest 230.2 (43 66 33 33); the shortest decimal naming it is 230.20001.
  CHECK(dec(reg(ValueKind::float32, WordOrder::abcd), {0x4366, 0x3334}) == Value(230.20001));
  CHECK(dec(reg(ValueKind::float32, WordOrder::cdab), {0x3334, 0x4366}) == Value(230.20001));
  CHECK(dec(reg(ValueKind::float32, WordOrder::badc), {0x6643, 0x3433}) == Value(230.20001));
  CHECK(dec(reg(ValueKind::float32, WordOrder::dcba), {0x3433, 0x6643}) == Value(230.20001));
  // The shortest round-trip decimal, not the float's exact binary value.
  CHECK(dec(reg(ValueKind::float32), {0x4366, 0x3333}) == Value(230.2));
  CHECK(dec(reg(ValueKind::float32), {0x3DCC, 0xCCCD}) == Value(0.1));
  CHECK(dec(reg(ValueKind::float32), {0xC2F6, 0xE979}) == Value(-123.456));
  CHECK(dec(reg(ValueKind::float32), {0x0000, 0x0000}) == Value(0.0));
  for (auto o : {WordOrder::abcd, WordOrder::cdab, WordOrder::badc, WordOrder::dcba}) {
    INFO(word_order_name(o));
    auto r = reg(ValueKind::float32, o);
    CHECK(dec(r, encode_value(r, 49.98)) == Value(49.98));
    CHECK(dec(r, encode_value(r, -1.5e6)) == Value(-1.5e6));
  }
}

TEST_CASE("modbus codec: int32 and uint32 decode in every word order", "[modbus]") {
  CHECK(dec(reg(ValueKind::uint32, WordOrder::abcd), {0x1234, 0x5678}) == Value(std::int64_t{0x12345678}));
  CHECK(dec(reg(ValueKind::uint32, WordOrder::cdab), {0x5678, 0x1234}) == Value(std::int64_t{0x12345678}));
  CHECK(dec(reg(ValueKind::uint32, WordOrder::badc), {0x3412, 0x7856}) == Value(std::int64_t{0x12345678}));
  CHECK(dec(reg(ValueKind::uint32, WordOrder::dcba), {0x7856, 0x3412}) == Value(std::int64_t{0x12345678}));
  CHECK(dec(reg(ValueKind::uint32), {0xEE6B, 0x2800}) == Value(std::int64_t{4'000'000'000}));
  CHECK(dec(reg(ValueKind::int32), {0xFFFF, 0xFFFE}) == Value(std::int64_t{-2}));
  CHECK(dec(reg(ValueKind::int32, WordOrder::cdab), {0xFFFE, 0xFFFF}) == Value(std::int64_t{-2}));
  CHECK(dec(reg(ValueKind::int32), {0x8000, 0x0000}) == Value(std::int64_t{-2147483648LL}));
  for (auto o : {WordOrder::abcd, WordOrder::cdab, WordOrder::badc, WordOrder::dcba}) {
    INFO(word_order_name(o));
    auto r = reg(ValueKind::int32, o);
    CHECK(dec(r, encode_value(r, -123456789)) == Value(std::int64_t{-123456789}));
    auto u = reg(ValueKind::uint32, o);
    CHECK(dec(u, encode_value(u, 3'000'000'123.0)) == Value(std::int64_t{3'000'000'123}));
  }
}

TEST_CASE("modbus codec: int16 and uint16 and scaling", "[modbus]") {
  CHECK(dec(reg(ValueKind::int16), {0xFFFF}) == Value(std::int64_t{-1}));
  CHECK(dec(reg(ValueKind::uint16), {0xFFFF}) == Value(std::int64_t{65535}));
  CHECK(dec(reg(ValueKind::int16), {0x8000}) == Value(std::int64_t{-32768}));
  // Decimal scales divide: exactly the decimal a person expects.
  CHECK(dec(reg(ValueKind::uint16, WordOrder::abcd, 0.1), {2301}) == Value(230.1));
  CHECK(dec(reg(ValueKind::int16, WordOrder::abcd, 0.1), {static_cast<std::uint16_t>(-125)}) == Value(-12.5));
  CHECK(dec(reg(ValueKind::uint16, WordOrder::abcd, 0.01), {4998}) == Value(49.98));
  CHECK(dec(reg(ValueKind::uint32, WordOrder::abcd, 0.001), {0x0001, 0xE240}) == Value(123.456));
  CHECK(dec(reg(ValueKind::int32, WordOrder::cdab, 0.01), {0xCFC7, 0xFFFF}) == Value(-123.45));
  // Other scales multiply; a scaled integer is f64.
  CHECK(dec(reg(ValueKind::uint16, WordOrder::abcd, 10), {2301}) == Value(23010.0));
  CHECK(dec(reg(ValueKind::uint16, WordOrder::abcd, 0.5), {7}) == Value(3.5));
  CHECK(dec(reg(ValueKind::float32, WordOrder::abcd, 1000), {0x3F80, 0x0000}) == Value(1000.0));
  CHECK(dec(reg(ValueKind::float32, WordOrder::abcd, 0.001), {0x4366, 0x3333}) == Value(0.2302));
  // encode_value is the inverse, rounding and clamping integers.
  CHECK(encode_value(reg(ValueKind::uint16, WordOrder::abcd, 0.1), 230.1) == Words{2301});
  CHECK(encode_value(reg(ValueKind::int16), -40000) == Words{0x8000});
  CHECK(encode_value(reg(ValueKind::uint16), -5) == Words{0});
}

TEST_CASE("modbus codec: non-finite floats are errors and the rest still decodes", "[modbus]") {
  auto p = parse(reg_toml("a", "input", 0, "float32") + reg_toml("b", "input", 2, "float32") +
                 reg_toml("c", "input", 4, "float32"));
  auto plan = plan_reads(p);
  REQUIRE(plan.size() == 1);
  Decoded out;
  decode_block(p, plan[0], Words{0x7FC0, 0x0000, 0x4366, 0x3334, 0x7F80, 0x0000}, "m1", kNow, out);
  REQUIRE(out.readings.size() == 1);
  CHECK(out.readings[0].metric == "b");
  CHECK(out.readings[0].device == "m1");
  CHECK(out.readings[0].observed == kNow);
  CHECK(out.readings[0].received == kNow);
  CHECK(out.readings[0].quality == quality::kTimeFromGateway);
  REQUIRE(out.errors.size() == 2);
  CHECK(out.errors[0].code == "non_finite");
  CHECK(out.errors[0].message.find("'a' holds NaN") != std::string::npos);
  CHECK(out.errors[1].message.find("'c' holds infinity") != std::string::npos);
}

TEST_CASE("modbus profile: contiguous registers are grouped into few reads", "[modbus]") {
  SECTION("contiguous and gaps") {
    auto p = parse(reg_toml("v", "input", 0, "float32") + reg_toml("i", "input", 2, "float32") +
                   reg_toml("f", "input", 70, "float32") + reg_toml("e", "input", 72, "float32") +
                   reg_toml("s", "holding", 10, "uint16") + reg_toml("t", "holding", 11, "int16") +
                   reg_toml("p", "input", 5, "int16"));
    auto plan = plan_reads(p);
    REQUIRE(plan.size() == 4);
    CHECK((plan[0].function == Function::input && plan[0].start == 0 && plan[0].count == 4));
    CHECK(plan[0].regs == std::vector<std::size_t>{0, 1});
    CHECK((plan[1].function == Function::input && plan[1].start == 5 && plan[1].count == 1));
    CHECK((plan[2].function == Function::input && plan[2].start == 70 && plan[2].count == 4));
    CHECK((plan[3].function == Function::holding && plan[3].start == 10 && plan[3].count == 2));
    CHECK(plan[3].regs == std::vector<std::size_t>{4, 5});
  }
  SECTION("max_gap bridges small gaps") {
    auto p = parse("max_gap = 1\n" + reg_toml("v", "input", 0, "float32") + reg_toml("i", "input", 3, "float32") +
                   reg_toml("f", "input", 7, "float32"));
    auto plan = plan_reads(p);
    REQUIRE(plan.size() == 2);
    CHECK((plan[0].start == 0 && plan[0].count == 5));
    CHECK((plan[1].start == 7 && plan[1].count == 2));
  }
  SECTION("at most 125 registers per read") {
    std::string t;
    for (int i = 0; i < 100; ++i) t += reg_toml("r" + std::to_string(i), "input", 2 * i, "uint32");
    auto plan = plan_reads(parse(t));
    REQUIRE(plan.size() == 2);
    CHECK((plan[0].start == 0 && plan[0].count == 124));  // 62 values; a 63rd would make 126
    CHECK((plan[1].start == 124 && plan[1].count == 76));
    for (const auto& b : plan) CHECK(b.count <= kMaxReadRegisters);
  }
  SECTION("max_registers_per_read") {
    std::string t = "max_registers_per_read = 4\n";
    for (int i = 0; i < 5; ++i) t += reg_toml("r" + std::to_string(i), "input", 2 * i, "float32");
    auto plan = plan_reads(parse(t));
    REQUIRE(plan.size() == 3);
    CHECK(plan[2].count == 2);
  }
  SECTION("the shipped SDM120 profile") {
    auto p = load_profile(kProfiles / "eastron_sdm120.toml");
    REQUIRE(p);
    auto plan = plan_reads(*p);
    std::vector<std::pair<int, int>> got;
    for (const auto& b : plan) got.emplace_back(b.start, b.count);
    CHECK(got == std::vector<std::pair<int, int>>{{0, 2}, {6, 2}, {12, 2}, {18, 2}, {24, 2}, {30, 2}, {70, 10},
                                                  {342, 4}});
  }
}

TEST_CASE("modbus profile: bad profiles are refused with a clear message", "[modbus]") {
  const std::string ok = reg_toml("v", "input", 0, "float32");
  struct Bad {
    std::string toml, expect;
  };
  const std::vector<Bad> cases = {
      {"registers = [", "<test>:1:"},
      {"", "at least one [[registers]]"},
      {"colour = \"red\"\n" + ok, "unknown key 'colour'"},
      {ok + "colour = 1\n", "registers[0] 'v': unknown key 'colour'"},
      {"[[registers]]\nfunction = \"input\"\naddress = 0\ntype = \"int16\"\n", "'metric' is required"},
      {reg_toml("v", "coil", 0, "int16"), "'function' must be \"input\" or \"holding\""},
      {reg_toml("v", "input", 0, "float64"), "'type' must be int16, uint16, int32, uint32 or float32"},
      {reg_toml("v", "input", 65535, "float32"), "'address' must be 0..65534"},
      {reg_toml("v", "input", -1, "int16"), "'address' must be 0..65535"},
      {"[[registers]]\nmetric = \"v\"\nfunction = \"input\"\ntype = \"int16\"\n", "'address' is required"},
      {"[[registers]]\nmetric = \"v\"\nfunction = \"input\"\naddress = \"0x10\"\ntype = \"int16\"\n",
       "'address' must be an integer"},
      {ok + "word_order = \"abdc\"\n", "'word_order' must be abcd, cdab, badc or dcba"},
      {reg_toml("v", "input", 0, "int16") + "word_order = \"cdab\"\n", "'word_order' applies to 32-bit types only"},
      {ok + "scale = 0\n", "'scale' must be a finite number other than 0"},
      {ok + "scale = \"x\"\n", "'scale' must be a number"},
      {ok + reg_toml("v", "input", 2, "float32"), "metric 'v' appears twice"},
      {ok + reg_toml("w", "input", 1, "int16"), "registers 'v' and 'w' overlap (input address 1)"},
      {"word_order = \"little\"\n" + ok, "'word_order' must be abcd"},
      {"max_registers_per_read = 126\n" + ok, "'max_registers_per_read' must be 1..125"},
      {"max_registers_per_read = 1\n" + ok, "wider than max_registers_per_read"},
      {"name = \"other\"\n" + ok, "'name' is \"other\" but the file is named \"test\""},
      {"registers = 3\n", "at least one [[registers]]"},
  };
  for (const auto& c : cases) {
    INFO(c.toml);
    auto msg = parse_error(c.toml);
    INFO(msg);
    CHECK(msg.find(c.expect) != std::string::npos);
    CHECK(msg.rfind("profile <test>", 0) == 0);
  }
  // Same register number under two functions is fine (different tables).
  CHECK(parse_profile(ok + reg_toml("h", "holding", 0, "float32"), "<test>", "test"));
}

TEST_CASE("modbus profile: a profile names its file and line", "[modbus]") {
  auto p = parse_profile("[[registers]]\nmetric = \"v\"\nfunction = \"input\"\naddress = 0\ntype = \"float32\"\nscale = 0\n",
                         "/etc/citygate/profiles/x.toml", "x");
  REQUIRE_FALSE(p);
  CHECK(p.error().message.find("profile /etc/citygate/profiles/x.toml:6:") == 0);
  auto missing = load_profile("/nonexistent/nope.toml");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "profile /nonexistent/nope.toml: cannot be read");
}

TEST_CASE("modbus profile: names resolve in profiles_dir and paths stay paths", "[modbus]") {
  CHECK(*profile_path("/etc/citygate/profiles", "eastron_sdm120") == fs::path("/etc/citygate/profiles/eastron_sdm120.toml"));
  CHECK(*profile_path("/etc/citygate/profiles", "./mine.toml") == fs::path("./mine.toml"));
  CHECK(*profile_path("/x", "/opt/p/meter.toml") == fs::path("/opt/p/meter.toml"));
  CHECK_FALSE(profile_path("/x", ""));
  CHECK_FALSE(profile_path("/x", ".."));
  CHECK_FALSE(profile_path("/x", "a b"));
}

TEST_CASE("modbus profile: shipped Eastron profiles match the shared register table", "[modbus]") {
  // sdm_input_registers_reaper7.csv: name,address_hex,address_dec,register_30001_style,unit,in_SDM630,...,in_SDM120,...
  std::ifstream csv(kShared / "sdm_input_registers_reaper7.csv");
  REQUIRE(csv.good());
  std::string line;
  std::getline(csv, line);
  std::vector<std::string> header;
  {
    std::stringstream ss(line);
    std::string f;
    while (std::getline(ss, f, ',')) header.push_back(f);
  }
  auto col = [&](const std::string& name) {
    auto it = std::find(header.begin(), header.end(), name);
    REQUIRE(it != header.end());
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t c_addr = col("address_dec"), c_reg = col("register_30001_style"), c_630 = col("in_SDM630"),
                    c_120 = col("in_SDM120");
  std::map<std::string, std::vector<int>> expected;  // profile -> addresses in table order
  while (std::getline(csv, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string x;
    while (std::getline(ss, x, ',')) f.push_back(x);
    f.resize(header.size());
    int address = std::stoi(f[c_addr]);
    CHECK(std::stoi(f[c_reg]) == address + 30001);  // the documented 30001-style mapping
    if (f[c_630] == "1") expected["eastron_sdm630"].push_back(address);
    if (f[c_120] == "1") expected["eastron_sdm120"].push_back(address);
  }
  for (const auto& [name, addresses] : expected) {
    INFO(name);
    auto p = load_profile(kProfiles / (name + ".toml"));
    INFO((p ? std::string() : p.error().message));
    REQUIRE(p);
    CHECK(p->name == name);
    std::vector<int> got;
    for (const auto& r : p->registers) {
      got.push_back(r.address);
      CHECK(r.function == Function::input);
      CHECK(r.kind == ValueKind::float32);
      CHECK(r.order == WordOrder::abcd);
      CHECK(r.scale == 1.0);
    }
    CHECK(got == addresses);
    for (const auto& b : plan_reads(*p)) CHECK(b.count <= 80);
  }
  auto sdm120 = load_profile(kProfiles / "eastron_sdm120.toml");
  REQUIRE(sdm120);
  REQUIRE(sdm120->registers.size() == 13);
  CHECK(sdm120->registers[0].metric == "voltage");
  CHECK(sdm120->registers[0].unit == "V");
  CHECK(sdm120->registers[5].metric == "power_factor");
  CHECK(sdm120->registers[5].unit == "1");
  CHECK(sdm120->registers[7].metric == "import_active_energy");
  CHECK(sdm120->registers[7].address == 0x48);
  CHECK(sdm120->registers[7].unit == "kWh");
}

TEST_CASE("modbus codec: crc16 matches the shared frame", "[modbus]") {
  const std::uint8_t frame[] = {0x01, 0x04, 0x04, 0x43, 0x66, 0x33, 0x34};
  CHECK(crc16(frame) == 0x381B);  // sent 1B 38
}

TEST_CASE("modbus golden: response frames decode to the expected readings", "[modbus]") {
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(kCases))
    if (fs::exists(e.path() / "expected.json")) cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() >= 2);
  for (const auto& dir : cases) {
    INFO("case " << dir.filename());
    simdjson::dom::parser parser;
    simdjson::dom::element exp;
    REQUIRE(parser.load((dir / "expected.json").string()).get(exp) == simdjson::SUCCESS);
    std::string_view s;
    std::string input;
    if (exp["vector"].get(s) == simdjson::SUCCESS) input = slurp(fs::path(CITYGATE_SHARED_DIR) / "vectors" / s);
    else input = slurp(dir / std::string(exp["input"].get_string().value()));
    auto received = parse_rfc3339(exp["received"].get_string().value());
    REQUIRE(received);

    // Through the descriptor's decoder, as `citygate decode --kind modbus_tcp --profile NAME FILE` runs it.
    std::map<std::string, ConfigValue, std::less<>> cfg;
    cfg["profiles_dir"] = kProfiles.string();
    simdjson::dom::object units;
    if (exp["units"].get(units) == simdjson::SUCCESS) {
      std::vector<std::pair<std::string, std::string>> m;
      for (auto [k, v] : units) m.emplace_back(std::string(k), std::string(v.get_string().value()));
      cfg["units"] = m;
    }
    for (const auto* d : {&modbus_tcp_descriptor(), &modbus_rtu_descriptor()}) {
      INFO(d->kind);
      auto session = d->decoder(ConfigView(cfg));
      REQUIRE(session);
      DecodeInput in;
      in.payload = {reinterpret_cast<const std::uint8_t*>(input.data()), input.size()};
      in.now = *received;
      in.profile = std::string(exp["profile"].get_string().value());
      auto out = (*session)->decode(in);

      std::vector<std::string> codes;
      for (const auto& e : out.errors) codes.push_back(e.code);
      std::vector<std::string> want_codes;
      simdjson::dom::array want_errors = exp["errors"].get_array().value();
      for (auto c : want_errors) want_codes.emplace_back(c.get_string().value());
      CHECK(codes == want_codes);

      simdjson::dom::array want = exp["readings"].get_array().value();
      REQUIRE(out.readings.size() == want.size());
      std::size_t i = 0;
      for (auto w : want) {
        const Reading& r = out.readings[i++];
        INFO("reading " << i - 1 << ": " << r.metric);
        CHECK(r.device == std::string(w["device"].get_string().value()));
        CHECK(r.metric == std::string(w["metric"].get_string().value()));
        CHECK(r.unit == std::string(w["unit"].get_string().value()));
        REQUIRE(std::string(w["type"].get_string().value()) == "f64");
        REQUIRE(std::holds_alternative<double>(r.value));
        CHECK(std::get<double>(r.value) == w["value"].get_double().value());
        CHECK(r.observed == *received);
        CHECK(r.received == *received);
        CHECK(r.quality == quality::kTimeFromGateway);
        CHECK(r.tags.empty());
        CHECK_FALSE(r.src_seq);
      }
    }
  }
}

TEST_CASE("modbus frames: malformed input is reported line by line", "[modbus]") {
  auto p = load_profile(kProfiles / "eastron_sdm120.toml");
  REQUIRE(p);
  FrameDecodeOptions o;
  o.received = kNow;
  auto codes = [&](const std::string& text) {
    auto d = decode_frames(*p, text, o);
    std::vector<std::string> c;
    for (const auto& e : d.errors) c.push_back(e.code);
    return c;
  };
  using V = std::vector<std::string>;
  CHECK(codes("01 04 04 43 66 33 34 1B 39") == V{"frame"});         // CRC off by one
  CHECK(codes("01 04 04 43 66 33 3") == V{"hex"});
  CHECK(codes("zz") == V{"hex"});
  CHECK(codes("01 01 01 00 51 88") == V{"function"});               // read coils (valid CRC)
  CHECK(codes("01 04 00 00 00 04 F1 C9\n01 04 04 43 66 33 34 1B 38") == V{"mismatch"});
  CHECK(codes("01 04 00 64 00 02 30 14\n01 04 04 43 66 33 34 1B 38") == V{"no_registers"});
  CHECK(codes("01 03 04 43 66 33 34 1A 8F") == V{"no_registers"});  // the profile has no holding registers
  CHECK(codes("# only a comment\n\n   \n").empty());
  // "0x" bytes and packed hex are the same frame.
  auto d = decode_frames(*p, "0x01 0x04 0x04 0x43 0x66 0x33 0x34 0x1B 0x38\n010404436633341b38", o);
  CHECK(d.errors.empty());
  CHECK(d.readings.size() == 2);
  // The error names the line.
  auto e = decode_frames(*p, "# x\n01 84 02 C2 C1", o);
  REQUIRE(e.errors.size() == 1);
  CHECK(e.errors[0].code == "exception");
  CHECK(e.errors[0].message == "line 2: unit 1 answered function 0x04 with exception 2 (illegal data address)");
}

TEST_CASE("modbus decode: without a profile the decoder says how to give one", "[modbus]") {
  auto session = modbus_tcp_descriptor().decoder(ConfigView());
  REQUIRE(session);
  DecodeInput in;
  auto out = (*session)->decode(in);
  REQUIRE(out.errors.size() == 1);
  CHECK(out.errors[0].message.find("--profile") != std::string::npos);
  in.profile = "no_such_profile";
  out = (*session)->decode(in);
  REQUIRE(out.errors.size() == 1);
  CHECK(out.errors[0].message == "profile /etc/citygate/profiles/no_such_profile.toml: cannot be read");
}
