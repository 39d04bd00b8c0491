#pragma once
// Reads what the lake receiver wrote: every *.ndjson line under a directory.
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace cg::test {

struct LakeLine {
  std::string type, device, metric, unit, batch_id, observed_at, received_at, value_json, record_class;
  std::uint64_t seq = 0, batch_seq = 0, quality = 0, part = 0;
  bool has_src_seq = false;
  std::uint64_t src_seq = 0;
  std::string file;
};

// The reading lines of every NDJSON file under dir.
std::vector<LakeLine> read_lake(const std::filesystem::path& dir);
// The whole lines (JSON text) of another type: "gap", "aggregate", "status".
std::vector<std::string> read_lake_records(const std::filesystem::path& dir, std::string_view type);

struct LakeSummary {
  std::size_t lines = 0;
  std::size_t unique = 0;                       // distinct (device, seq)
  std::size_t duplicate_lines = 0;              // lines - unique
  std::set<std::string> duplicate_batches;      // batch ids whose lines appeared more than once
  std::map<std::string, std::set<std::uint64_t>> seqs;  // device -> seqs seen
  bool dup_only_as_repeated_batches = true;     // every duplicate (device,seq) came under the same batch_id
};

LakeSummary summarize(const std::vector<LakeLine>& lines);

}  // namespace cg::test
