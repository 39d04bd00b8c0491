#pragma once
// Records that travel upstream beside readings (DESIGN §4): gaps, per-minute aggregates and the
// gateway's periodic status. std only, like reading.hpp.
//
// Outbox classes: every batch carries one class. Classes are sent in priority order (lower value
// first) and evicted in the opposite order when the disk budget is reached; `status` is never
// evicted. Stable numeric codes: stored in SQLite and mirrored in the protobuf enum. Never renumber.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/reading.hpp"

namespace cg {

enum class RecordClass : std::uint8_t {
  telemetry = 0,  // raw readings, live
  alert = 1,      // readings of adapters configured as alert sources
  report = 2,     // citizen reports
  status = 3,     // the gateway's status record; never evicted
  summary = 4,    // gap and aggregate records
  backlog = 5,    // raw readings found waiting after an outage, drained at a capped rate
};
inline constexpr int kRecordClassCount = 6;

// Send priority: status, alert, report, summary, telemetry, backlog.
inline constexpr RecordClass kSendOrder[] = {RecordClass::status, RecordClass::alert,     RecordClass::report,
                                             RecordClass::summary, RecordClass::telemetry, RecordClass::backlog};

std::string_view record_class_name(RecordClass c);
std::optional<RecordClass> record_class_from_name(std::string_view s);

// Loss (or knowing absence) of data. `src_seq`: the device's own counter skipped values
// (loss between device and gateway). `evicted`: the gateway deleted readings that had not been
// forwarded, to stay within its disk budget (seq first..last of the device, inclusive, count rows).
// `missed_poll`: a polled device did not answer `count` polls between `from` and `to` (first and
// last are 0: a poll has no counter).
struct GapRecord {
  enum class Kind : std::uint8_t { src_seq = 1, evicted = 2, missed_poll = 3 };
  Kind kind = Kind::src_seq;
  std::string device;
  std::string metric;  // empty: the whole device
  std::uint64_t first = 0;  // first missing counter value (src_seq, or gateway seq for evicted)
  std::uint64_t last = 0;   // last missing, inclusive
  std::uint64_t count = 0;  // how many readings are missing (may differ from last-first+1 for evictions)
  TimeNs from{};            // observed/received time span of what is missing, when known
  TimeNs to{};
  TimeNs detected{};
  std::string reason;
  friend bool operator==(const GapRecord&, const GapRecord&) = default;
};

// Per-minute summary of one numeric stream, kept when raw rows are evicted under the disk budget.
struct AggregateRecord {
  std::string device;
  std::string metric;
  std::string unit;
  TimeNs minute{};  // start of the UTC minute (observed time)
  std::uint64_t count = 0;
  double min = 0, max = 0, sum = 0, last = 0;
  std::uint64_t first_seq = 0, last_seq = 0;
  friend bool operator==(const AggregateRecord&, const AggregateRecord&) = default;
};

// The periodic "I am alive" record: lets the lake tell "gateway down" from "sensors quiet".
struct StatusRecord {
  std::string version;
  TimeNs at{};
  std::int64_t uptime_s = 0;
  std::int64_t backlog_rows = 0;
  std::int64_t backlog_bytes = 0;
  std::int64_t oldest_unsent_age_ms = 0;  // on the persisted monotonic clock; 0 when nothing waits
  std::int64_t db_bytes = 0;
  std::int64_t disk_budget_bytes = 0;
  std::int64_t disk_free_bytes = 0;
  std::int64_t dead_batches = 0;
  std::int64_t evicted_rows = 0;  // readings evicted unforwarded since the store was created
  std::vector<std::pair<std::string, TimeNs>> last_ingest;  // adapter instance → last commit
  friend bool operator==(const StatusRecord&, const StatusRecord&) = default;
};

using Record = std::variant<GapRecord, AggregateRecord, StatusRecord>;

}  // namespace cg
