#include "lake/faults.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include "core/json_writer.hpp"

namespace cg::lake {

namespace {

constexpr std::size_t kMaxStatusQueue = 100000;
constexpr std::uint64_t kMaxDelayMs = 600000;
constexpr std::uint64_t kMaxRetryAfter = 86400;

Result<void> bad(std::string msg) { return fail(Error::reject("faults", std::move(msg))); }

Result<int> status_code(simdjson::dom::element e, std::string_view where) {
  std::int64_t v = 0;
  if (e.get_int64().get(v) || v < 200 || v > 599)
    return fail(Error::reject("faults", fmt::format("{}: a status must be an integer 200..599", where)));
  return static_cast<int>(v);
}

Result<std::uint64_t> unsigned_value(simdjson::dom::element e, std::string_view key, std::uint64_t max) {
  std::uint64_t v = 0;
  if (e.get_uint64().get(v) || v > max)
    return fail(Error::reject("faults", fmt::format("{}: must be an integer 0..{}", key, max)));
  return v;
}

}  // namespace

Result<void> apply_faults_json(std::string_view body, FaultSettings& f, bool& reseed) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  simdjson::dom::element doc;
  if (auto err = parser.parse(padded).get(doc)) return bad(std::string("body is not JSON: ") + simdjson::error_message(err));
  simdjson::dom::object obj;
  if (doc.get(obj)) return bad("body must be a JSON object");

  FaultSettings n = f;
  bool rs = false;
  for (auto field : obj) {
    const std::string_view key = field.key;
    const simdjson::dom::element v = field.value;
    if (key == "status") {
      simdjson::dom::array arr;
      if (v.get(arr)) return bad("status: must be an array of status codes");
      if (arr.size() > kMaxStatusQueue) return bad(fmt::format("status: at most {} entries", kMaxStatusQueue));
      n.status.clear();
      for (auto e : arr) {
        auto c = status_code(e, "status");
        if (!c) return fail(c.error());
        n.status.push_back(*c);
      }
    } else if (key == "retry_after_s") {
      auto u = unsigned_value(v, key, kMaxRetryAfter);
      if (!u) return fail(u.error());
      n.retry_after_s = static_cast<std::uint32_t>(*u);
    } else if (key == "status_for_seq") {
      simdjson::dom::object m;
      if (v.get(m)) return bad("status_for_seq: must be an object {\"<batch_seq>\": status}");
      n.status_for_seq.clear();
      for (auto e : m) {
        const std::string_view k = e.key;
        std::uint64_t seq = 0;
        bool ok = !k.empty() && k.size() <= 20 && k.find_first_not_of("0123456789") == std::string_view::npos;
        for (char c : k) {
          if (!ok) break;
          auto d = static_cast<std::uint64_t>(c - '0');
          if (seq > (UINT64_MAX - d) / 10) ok = false;
          else seq = seq * 10 + d;
        }
        if (!ok) return bad(fmt::format("status_for_seq: key '{}' is not a batch_seq", k));
        auto c = status_code(e.value, "status_for_seq");
        if (!c) return fail(c.error());
        n.status_for_seq[seq] = *c;
      }
    } else if (key == "delay_ms") {
      auto u = unsigned_value(v, key, kMaxDelayMs);
      if (!u) return fail(u.error());
      n.delay_ms = static_cast<std::uint32_t>(*u);
    } else if (key == "drop_after_commit") {
      auto u = unsigned_value(v, key, UINT64_MAX);
      if (!u) return fail(u.error());
      n.drop_after_commit = *u;
    } else if (key == "failure_rate") {
      double d = 0;
      if (v.get_double().get(d) || !(d >= 0.0 && d <= 1.0)) return bad("failure_rate: must be a number 0..1");
      n.failure_rate = d;
      rs = true;
    } else if (key == "seed") {
      auto u = unsigned_value(v, key, UINT64_MAX);
      if (!u) return fail(u.error());
      n.seed = *u;
      rs = true;
    } else if (key == "max_batch_bytes") {
      auto u = unsigned_value(v, key, UINT64_MAX);
      if (!u) return fail(u.error());
      n.max_batch_bytes = *u;
    } else {
      return bad(fmt::format("unknown key '{}'", key));
    }
  }
  f = std::move(n);
  reseed = rs;
  return {};
}

std::string faults_json(const FaultSettings& f) {
  std::string out = R"({"status":[)";
  for (std::size_t i = 0; i < f.status.size(); ++i) fmt::format_to(std::back_inserter(out), "{}{}", i ? "," : "", f.status[i]);
  fmt::format_to(std::back_inserter(out), R"(],"retry_after_s":{},"status_for_seq":{{)", f.retry_after_s);
  bool first = true;
  for (const auto& [seq, code] : f.status_for_seq) {
    fmt::format_to(std::back_inserter(out), R"({}"{}":{})", first ? "" : ",", seq, code);
    first = false;
  }
  fmt::format_to(std::back_inserter(out), R"(}},"delay_ms":{},"drop_after_commit":{},"failure_rate":)", f.delay_ms,
                 f.drop_after_commit);
  json::append_double(out, f.failure_rate);
  fmt::format_to(std::back_inserter(out), R"(,"seed":{},"max_batch_bytes":{}}})", f.seed, f.max_batch_bytes);
  return out;
}

double FaultRng::uniform() {
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

}  // namespace cg::lake
