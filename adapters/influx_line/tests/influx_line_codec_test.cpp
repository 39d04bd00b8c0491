#include <catch2/catch.hpp>
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <variant>

#include "influx_line/influx_line_codec.hpp"

using namespace cg;
using namespace cg::influx_line;

namespace {

const TimeNs kNow = from_unix_ns(1'700'000'000'123'456'789);

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  INFO(path);
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string base64_decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) continue;  // '=' padding, whitespace
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::string_view str(simdjson::dom::element e) { return e.get_string().value(); }

// Compares a typed JSON value ({"float": 1} / {"int": ..} / {"uint": ..} / {"string": ..} /
// {"bool": ..}) with a decoded field value.
void check_value(simdjson::dom::object expected, const Value& got) {
  for (auto [type, v] : expected) {
    INFO("type " << type);
    if (type == "float") {
      REQUIRE(std::holds_alternative<double>(got));
      CHECK(std::get<double>(got) == v.get_double().value());
    } else if (type == "int") {
      REQUIRE(std::holds_alternative<std::int64_t>(got));
      CHECK(std::get<std::int64_t>(got) == v.get_int64().value());
    } else if (type == "uint") {
      REQUIRE(std::holds_alternative<std::uint64_t>(got));
      CHECK(std::get<std::uint64_t>(got) == v.get_uint64().value());
    } else if (type == "string") {
      REQUIRE(std::holds_alternative<std::string>(got));
      CHECK(std::get<std::string>(got) == str(v));
    } else if (type == "bool") {
      REQUIRE(std::holds_alternative<bool>(got));
      CHECK(std::get<bool>(got) == v.get_bool().value());
    } else {
      FAIL("unknown value type " << type);
    }
  }
}

// Checks one expected point (name, tags, fields, time) against the decoded point, and the readings
// made from it (naming rule, tags, values, times).
void check_point(simdjson::dom::object exp, const Point& p, const Reading* readings, TimeNs received,
                 std::optional<std::int64_t> time) {
  CHECK(p.measurement == str(exp["name"]));
  Tags tags;
  simdjson::dom::array tag_list = exp["tags"].get_array().value();
  for (auto t : tag_list) tags.emplace_back(str(t["key"]), str(t["value"]));
  CHECK(p.tags == tags);
  auto fields = exp["fields"].get_array().value();
  REQUIRE(p.fields.size() == fields.size());
  if (time) CHECK(to_unix_ns(p.time) == *time);
  std::string device = p.measurement;
  for (const auto& [k, v] : tags)
    if (k == "host") device = v;
  for (const auto& [k, v] : tags)
    if (k == "device") device = v;
  std::size_t i = 0;
  for (auto f : fields) {
    INFO("field " << i);
    std::string key(str(f["key"]));
    CHECK(p.fields[i].first == key);
    check_value(f["value"].get_object().value(), p.fields[i].second);
    const Reading& r = readings[i];
    CHECK(r.device == device);
    CHECK(r.metric == p.measurement + "." + key);
    CHECK(r.value == p.fields[i].second);
    CHECK(r.tags == tags);
    CHECK(r.observed == p.time);
    CHECK(r.received == received);
    CHECK(((r.quality & quality::kTimeFromGateway) != 0) == !p.has_timestamp);
    ++i;
  }
}

DecodeResult dec(std::string_view body, CodecOptions o = {}) { return decode(body, kNow, o); }

Point one(std::string_view line, CodecOptions o = {}) {
  auto p = parse_line(line, kNow, o);
  INFO(line);
  if (!p) FAIL_CHECK(p.error().message);
  REQUIRE(p);
  return *p;
}

bool rejected(std::string_view line, CodecOptions o = {}) { return !parse_line(line, kNow, o).has_value(); }

// The error code of a rejected line, "" when the line is accepted.
std::string err_code(std::string_view line, CodecOptions o = {}) {
  auto p = parse_line(line, kNow, o);
  return p ? std::string() : p.error().code;
}

}  // namespace

TEST_CASE("golden: influxdata line-protocol corpus subset", "[influx_line]") {
  simdjson::dom::parser parser;
  std::string text = read_file(std::string(CITYGATE_SHARED_DIR) + "/vectors/influx_line_protocol/lp_corpus_subset.json");
  simdjson::dom::element doc;
  REQUIRE(parser.parse(text).get(doc) == simdjson::SUCCESS);
  std::size_t n_cases = 0, n_errors = 0;
  simdjson::dom::array cases = doc["cases"].get_array().value();
  for (auto c : cases) {
    ++n_cases;
    std::string key(str(c["key"]));
    INFO("case " << key);
    auto input = c["input"].get_object().value();
    std::string body;
    std::string_view t;
    if (input["text"].get(t) == simdjson::SUCCESS) {
      body = std::string(t);
    } else {
      std::string_view b64;
      REQUIRE(input["text.binary"].get(b64) == simdjson::SUCCESS);
      body = base64_decode(b64);
    }
    auto prec = parse_precision(str(input["precision"]));
    REQUIRE(prec);
    CodecOptions o;
    o.precision = *prec;
    TimeNs def = from_unix_ns(input["defaultTime"].get_int64().value());

    auto pts = decode_points(body, def, o);
    auto rd = decode(body, def, o);
    CHECK(rd.rejected_lines == pts.rejected_lines);
    auto output = c["output"].get_object().value();
    simdjson::dom::array result;
    if (output["result"].get(result) != simdjson::SUCCESS) {
      ++n_errors;
      CHECK(pts.rejected_lines > 0);
      CHECK_FALSE(pts.errors.empty());
      continue;
    }
    INFO("body " << body);
    for (const auto& e : pts.errors) UNSCOPED_INFO("line " << e.line << ": " << e.reason);
    CHECK(pts.errors.empty());
    REQUIRE(pts.points.size() == result.size());
    std::size_t i = 0, r = 0;
    for (auto exp : result) {
      const Point& p = pts.points[i++];
      REQUIRE(r + p.fields.size() <= rd.readings.size());
      check_point(exp.get_object().value(), p, rd.readings.data() + r, def, exp["time"].get_int64().value());
      r += p.fields.size();
    }
    CHECK(r == rd.readings.size());
  }
  CHECK(n_cases == 24);
  CHECK(n_errors == 2);
}

TEST_CASE("golden: InfluxDB v2 documentation examples", "[influx_line]") {
  simdjson::dom::parser parser;
  std::string text = read_file(std::string(INFLUX_LINE_CASES_DIR) + "/docs_examples/expected.json");
  simdjson::dom::element doc;
  REQUIRE(parser.parse(text).get(doc) == simdjson::SUCCESS);
  std::string body = read_file(std::string(CITYGATE_SHARED_DIR) + "/" + std::string(str(doc["file"])));
  CodecOptions o;
  o.precision = *parse_precision(str(doc["precision"]));
  TimeNs def = from_unix_ns(doc["default_time"].get_int64().value());

  auto pts = decode_points(body, def, o);
  auto rd = decode(body, def, o);
  for (const auto& e : pts.errors) UNSCOPED_INFO("line " << e.line << ": " << e.reason);
  CHECK(pts.errors.empty());
  auto expected = doc["points"].get_array().value();
  REQUIRE(pts.points.size() == expected.size());
  CHECK(pts.points.size() == 23);
  std::size_t i = 0, r = 0;
  for (auto exp : expected) {
    INFO("line " << exp["line"].get_int64().value());
    const Point& p = pts.points[i++];
    std::optional<std::int64_t> time;
    std::int64_t t = 0;
    if (exp["time"].get(t) == simdjson::SUCCESS) {
      time = t;
      CHECK(p.has_timestamp);
    } else {
      CHECK_FALSE(p.has_timestamp);
      CHECK(p.time == def);
    }
    check_point(exp.get_object().value(), p, rd.readings.data() + r, def, time);
    r += p.fields.size();
  }
  CHECK(r == rd.readings.size());
}

TEST_CASE("escaping depends on the position", "[influx_line]") {
  // measurement: comma and space; '=' and other backslashes stay literal
  auto p = one(R"(my\,meas\ ure=x\y f=1)");
  CHECK(p.measurement == R"(my,meas ure=x\y)");
  // tag keys and values: comma, '=' and space
  p = one(R"(m,k\,1\=\ a=v\,1\=\ b f=1)");
  REQUIRE(p.tags.size() == 1);
  CHECK(p.tags[0].first == "k,1= a");
  CHECK(p.tags[0].second == "v,1= b");
  // field keys: comma, '=' and space
  p = one(R"(m f\,x\=y\ z=1i)");
  REQUIRE(p.fields.size() == 1);
  CHECK(p.fields[0].first == "f,x=y z");
  // string values: only '"' and '\'; commas, spaces and '=' inside need no escape
  p = one(R"(m s="a \"q\" b\\c, d=e \n x" 5)");
  CHECK(std::get<std::string>(p.fields[0].second) == R"(a "q" b\c, d=e \n x)");
  CHECK(to_unix_ns(p.time) == 5);
  // string ending in an escaped backslash
  p = one(R"(m s="end\\",t=1i)");
  CHECK(std::get<std::string>(p.fields[0].second) == R"(end\)");
  CHECK(std::get<std::int64_t>(p.fields[1].second) == 1);
  // a backslash before an ordinary char is literal in keys
  p = one(R"(m,k=a\b f=1)");
  CHECK(p.tags[0].second == R"(a\b)");
  // an unescaped '=' in a tag value, a stray quote after a string, unterminated string
  CHECK(rejected("m,k=a=b f=1"));
  CHECK(rejected(R"(m s="abc"x)"));
  CHECK(rejected(R"(m s="abc)"));
  CHECK(rejected(R"(m s="abc\")"));
  // empty parts
  CHECK(rejected("m, f=1"));
  CHECK(rejected("m,k= f=1"));
  CHECK(rejected("m,=v f=1"));
  CHECK(rejected("m =1"));
  CHECK(rejected("m f="));
  CHECK(rejected("m f=1,"));
  CHECK(rejected(",k=v f=1"));
  CHECK(rejected(" f=1") == true);  // leading space then measurement 'f=1' without fields
}

TEST_CASE("every boolean spelling", "[influx_line]") {
  for (std::string t : {"t", "T", "true", "True", "TRUE"}) {
    INFO(t);
    CHECK(std::get<bool>(one("m v=" + t).fields[0].second) == true);
  }
  for (std::string f : {"f", "F", "false", "False", "FALSE"}) {
    INFO(f);
    CHECK(std::get<bool>(one("m v=" + f).fields[0].second) == false);
  }
  for (std::string bad : {"tRUE", "yes", "TrUe", "fALSE", "truee", "on"}) {
    INFO(bad);
    CHECK(rejected("m v=" + bad));
  }
}

TEST_CASE("numbers: floats integer limits and overflow by one", "[influx_line]") {
  CHECK(std::get<double>(one("m v=1").fields[0].second) == 1.0);
  CHECK(std::get<double>(one("m v=-1.234456e+78").fields[0].second) == -1.234456e+78);
  CHECK(std::get<double>(one("m v=1E-3").fields[0].second) == 1e-3);
  CHECK(std::get<double>(one("m v=.5").fields[0].second) == 0.5);
  CHECK(std::get<double>(one("m v=1e-400").fields[0].second) == 0.0);  // underflow is zero
  CHECK(rejected("m v=1e400"));                                          // overflow is an error
  for (std::string bad : {"NaN", "inf", "-inf", "0x10", "1e", "1.2.3", "--1", "1_000", "-", "."}) {
    INFO(bad);
    CHECK(rejected("m v=" + bad));
  }

  CHECK(std::get<std::int64_t>(one("m v=9223372036854775807i").fields[0].second) ==
        std::numeric_limits<std::int64_t>::max());
  CHECK(std::get<std::int64_t>(one("m v=-9223372036854775808i").fields[0].second) ==
        std::numeric_limits<std::int64_t>::min());
  CHECK(std::get<std::uint64_t>(one("m v=18446744073709551615u").fields[0].second) ==
        std::numeric_limits<std::uint64_t>::max());
  auto over = parse_line("m v=9223372036854775808i", kNow, {});
  REQUIRE_FALSE(over);
  CHECK(over.error().code == "range");
  CHECK(err_code("m v=-9223372036854775809i", {}) == "range");
  CHECK(err_code("m v=18446744073709551616u", {}) == "range");
  CHECK(rejected("m v=-1u"));
  CHECK(rejected("m v=+1i"));
  CHECK(rejected("m v=1.5i"));
  CHECK(rejected("m v=i"));
  CHECK(rejected("m v=u"));
}

TEST_CASE("timestamps: precision negative default time truncated", "[influx_line]") {
  CodecOptions o;
  auto p = one("m v=1 -1", o);
  CHECK(to_unix_ns(p.time) == -1);
  CHECK(p.has_timestamp);
  o.precision = Precision::s;
  CHECK(to_unix_ns(one("m v=1 -2", o).time) == -2'000'000'000);
  CHECK(to_unix_ns(one("m v=1 946730096", o).time) == 946730096'000'000'000);
  p = one("m v=1", o);
  CHECK_FALSE(p.has_timestamp);
  CHECK(to_unix_ns(p.time) == 1'700'000'000'000'000'000);
  o.precision = Precision::ms;
  CHECK(to_unix_ns(one("m v=1", o).time) == 1'700'000'000'123'000'000);
  o.precision = Precision::us;
  CHECK(to_unix_ns(one("m v=1", o).time) == 1'700'000'000'123'456'000);
  // a negative default time truncates down
  o.precision = Precision::s;
  auto neg = parse_line("m v=1", from_unix_ns(-1'500'000'000), o);
  REQUIRE(neg);
  CHECK(to_unix_ns(neg->time) == -2'000'000'000);
  // overflow of the scaled timestamp, overflow of int64, junk
  CHECK(err_code("m v=1 9223372037", o) == "range");
  o.precision = Precision::ns;
  CHECK(err_code("m v=1 9223372036854775808", o) == "range");
  CHECK(rejected("m v=1 12a"));
  CHECK(rejected("m v=1 1 2"));
  CHECK(rejected("m v=1 1.5"));
  // precision names
  CHECK(parse_precision("ns") == Precision::ns);
  CHECK(parse_precision("1µs") == Precision::us);
  CHECK(parse_precision("us") == Precision::us);
  CHECK(parse_precision("1ms") == Precision::ms);
  CHECK(parse_precision("s") == Precision::s);
  CHECK_FALSE(parse_precision("m"));
  CHECK_FALSE(parse_precision("1"));
  CHECK_FALSE(parse_precision(""));
}

TEST_CASE("whitespace comments blank lines and CRLF", "[influx_line]") {
  auto r = dec("# comment\r\n\r\n   \ncpu,host=a   v=1,w=2i    10  \r\n  # indented comment\ncpu v=3 11\n");
  CHECK(r.errors.empty());
  REQUIRE(r.readings.size() == 3);
  CHECK(r.readings[0].metric == "cpu.v");
  CHECK(r.readings[1].metric == "cpu.w");
  CHECK(to_unix_ns(r.readings[1].observed) == 10);
  CHECK(to_unix_ns(r.readings[2].observed) == 11);
  CHECK(dec("").readings.empty());
  CHECK(dec("\n\n").errors.empty());
}

TEST_CASE("a bad line never drops the good ones", "[influx_line]") {
  auto r = dec("cpu value=42\ncpu value=invalid\ncpu value=43\n");
  REQUIRE(r.readings.size() == 2);
  CHECK(std::get<double>(r.readings[0].value) == 42);
  CHECK(std::get<double>(r.readings[1].value) == 43);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.rejected_lines == 1);
  CHECK(r.errors[0].line == 2);
  CHECK(r.errors[0].code == "syntax");
  CHECK(r.errors[0].reason.find("invalid") != std::string::npos);
  // line numbers count comments and blank lines
  r = dec("# c\n\nm v=1\nm v=\nm v=2\nm v=99999999999999999999i\n");
  CHECK(r.readings.size() == 2);
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0].line == 4);
  CHECK(r.errors[1].line == 6);
  CHECK(r.errors[1].code == "range");
}

TEST_CASE("naming: device tag else host tag else measurement and tags kept and sorted", "[influx_line]") {
  auto r = dec("cpu,zone=b,host=h1,device=d7 usage=1\ncpu,host=h1 usage=2\ncpu usage=3\n");
  REQUIRE(r.readings.size() == 3);
  CHECK(r.readings[0].device == "d7");
  CHECK(r.readings[0].metric == "cpu.usage");
  CHECK(r.readings[0].tags == Tags{{"device", "d7"}, {"host", "h1"}, {"zone", "b"}});
  CHECK(r.readings[1].device == "h1");
  CHECK(r.readings[1].tags == Tags{{"host", "h1"}});
  CHECK(r.readings[2].device == "cpu");
  CHECK(r.readings[2].tags.empty());
  CHECK(r.readings[2].received == kNow);
  CHECK((r.readings[2].quality & quality::kTimeFromGateway) != 0);
  // duplicate keys: last wins
  auto p = one("m,k=1,k=2 a=1,b=2,a=3");
  CHECK(p.tags == Tags{{"k", "2"}});
  REQUIRE(p.fields.size() == 2);
  CHECK(p.fields[0].first == "a");
  CHECK(std::get<double>(p.fields[0].second) == 3);
}

TEST_CASE("UTF-8 everywhere invalid UTF-8 rejected", "[influx_line]") {
  auto p = one("🌡️\\ temp,city=Zürich,device=capteur-é wert=\"w\xC3\xA8 🚀\",grad=1 1");
  CHECK(p.measurement == "🌡️ temp");
  CHECK(p.tags == Tags{{"city", "Zürich"}, {"device", "capteur-é"}});
  CHECK(std::get<std::string>(p.fields[0].second) == "wè 🚀");
  auto r = dec("m,device=ü v=1");
  REQUIRE(r.readings.size() == 1);
  CHECK(r.readings[0].device == "ü");
  CHECK(err_code("m v=\"\xC3\"", {}) == "utf8");
  CHECK(err_code("m\xFF v=1", {}) == "utf8");
  CHECK(err_code("m v=\"\xED\xA0\x80\"", {}) == "utf8");  // surrogate
  CHECK(err_code("m v=\"\xC0\xAF\"", {}) == "utf8");      // overlong
}

TEST_CASE("limits: line length fields per line readings per body", "[influx_line]") {
  CodecOptions o;
  o.max_line_bytes = 20;
  CHECK(err_code("m v=1,w=2,x=3,y=4,z=5", o) == "line_too_long");
  o = {};
  o.max_fields_per_line = 3;
  CHECK(parse_line("m a=1,b=2,c=3", kNow, o));
  CHECK(err_code("m a=1,b=2,c=3,d=4", o) == "too_many_fields");
  o = {};
  o.max_readings = 3;
  auto r = decode("m a=1,b=2\nm c=3,d=4\nm e=5\nm f=6\n", kNow, o);
  CHECK(r.readings.size() == 3);
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0].line == 2);
  CHECK(r.errors[0].code == "too_many_readings");
  CHECK(r.errors[1].line == 4);
  o = {};
  o.max_errors = 2;
  r = decode("x\nx\nx\nx\nm v=1\n", kNow, o);
  CHECK(r.readings.size() == 1);
  CHECK(r.errors.size() == 2);
  CHECK(r.rejected_lines == 4);
}

TEST_CASE("garbage is rejected cleanly: random bytes a 1 MB line 100k fields", "[influx_line]") {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> byte(0, 255), len(0, 300);
  const std::string alphabet = "ab=, \"\\\n\r#0123456789.eEiutfTF-+\xC3\xA8";
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  for (int n = 0; n < 3000; ++n) {
    std::string body;
    int l = len(rng);
    for (int k = 0; k < l; ++k)
      body.push_back(n % 2 ? static_cast<char>(byte(rng)) : alphabet[pick(rng)]);
    auto r = decode(body, kNow, {});
    CHECK(r.errors.size() == std::min<std::size_t>(r.rejected_lines, 100));
    for (const auto& e : r.errors) {
      CHECK(e.line >= 1);
      CHECK_FALSE(e.reason.empty());
    }
  }
  // 1 MB line
  std::string big = "m v=\"" + std::string(1 << 20, 'x') + "\"";
  auto r = decode(big + "\nm v=1\n", kNow, {});
  CHECK(r.readings.size() == 1);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].line == 1);
  CHECK(r.errors[0].code == "line_too_long");
  // 100k fields: rejected by the line limit by default, by the field limit when lines may be long
  std::string wide = "m ";
  for (int k = 0; k < 100000; ++k) wide += (k ? ",f" : "f") + std::to_string(k) + "=1i";
  r = decode(wide, kNow, {});
  CHECK(r.readings.empty());
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].code == "line_too_long");
  CodecOptions o;
  o.max_line_bytes = 4 << 20;
  r = decode(wide, kNow, o);
  CHECK(r.readings.empty());
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].code == "too_many_fields");
  // and with every limit raised it still decodes (no quadratic blow-up)
  o.max_fields_per_line = 200000;
  r = decode(wide, kNow, o);
  CHECK(r.errors.empty());
  CHECK(r.readings.size() == 100000);
}
