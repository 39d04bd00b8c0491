#include "support/lake_files.hpp"

#include <simdjson.h>

#include <fstream>

namespace cg::test {

namespace {
// Calls fn(file, line, parsed document, type) for every complete JSON line of every NDJSON file
// under dir (a torn last line while the lake writes is skipped).
template <class Fn>
void for_each_line(const std::filesystem::path& dir, Fn fn) {
  if (!std::filesystem::exists(dir)) return;
  simdjson::dom::parser parser;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().extension() != ".ndjson") continue;
    std::ifstream f(e.path());
    std::string line;
    while (std::getline(f, line)) {
      simdjson::dom::element doc;
      if (line.empty() || parser.parse(line).get(doc)) continue;
      std::string_view type;
      if (doc["type"].get(type)) continue;
      fn(e.path(), line, doc, type);
    }
  }
}
}  // namespace

std::vector<LakeLine> read_lake(const std::filesystem::path& dir) {
  std::vector<LakeLine> out;
  for_each_line(dir, [&](const std::filesystem::path& file, const std::string&, simdjson::dom::element doc,
                         std::string_view type) {
    if (type != "reading") return;  // gap, aggregate, status lines: read_lake_records()
    LakeLine l;
    l.file = file.string();
    l.type = type;
    std::string_view s;
    if (!doc["device"].get(s)) l.device = s;
    if (!doc["metric"].get(s)) l.metric = s;
    if (!doc["unit"].get(s)) l.unit = s;
    if (!doc["batch_id"].get(s)) l.batch_id = s;
    if (!doc["observed_at"].get(s)) l.observed_at = s;
    if (!doc["received_at"].get(s)) l.received_at = s;
    if (!doc["record_class"].get(s)) l.record_class = s;
    std::uint64_t u;
    if (!doc["seq"].get(u)) l.seq = u;
    if (!doc["batch_seq"].get(u)) l.batch_seq = u;
    if (!doc["quality"].get(u)) l.quality = u;
    if (!doc["part"].get(u)) l.part = u;
    if (!doc["src_seq"].get(u)) {
      l.has_src_seq = true;
      l.src_seq = u;
    }
    l.value_json = simdjson::minify(doc["value"]);
    out.push_back(std::move(l));
  });
  return out;
}

std::vector<std::string> read_lake_records(const std::filesystem::path& dir, std::string_view type) {
  std::vector<std::string> out;
  for_each_line(dir, [&](const std::filesystem::path&, const std::string& line, simdjson::dom::element,
                         std::string_view t) {
    if (t == type) out.push_back(line);
  });
  return out;
}

LakeSummary summarize(const std::vector<LakeLine>& lines) {
  LakeSummary s;
  std::map<std::pair<std::string, std::uint64_t>, std::string> first_batch;
  for (const auto& l : lines) {
    if (l.type != "reading") continue;
    ++s.lines;
    auto key = std::make_pair(l.device, l.seq);
    auto [it, fresh] = first_batch.emplace(key, l.batch_id);
    if (fresh) {
      s.seqs[l.device].insert(l.seq);
    } else {
      s.duplicate_batches.insert(l.batch_id);
      if (it->second != l.batch_id) s.dup_only_as_repeated_batches = false;
    }
  }
  s.unique = first_batch.size();
  s.duplicate_lines = s.lines - s.unique;
  return s;
}

}  // namespace cg::test
