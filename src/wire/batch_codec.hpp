#pragma once
// Mapping core <-> protobuf for the lake wire format. The only header other modules include from
// wire/: protobuf headers stay inside wire's .cpp files.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/reading.hpp"
#include "core/records.hpp"
#include "core/result.hpp"

namespace cg::wire {

inline constexpr std::uint32_t kSchemaVersion = 1;

struct BatchHeader {
  std::string gateway_id;
  std::string incarnation_id;
  std::string batch_id;
  std::uint64_t batch_seq = 0;
  TimeNs created_at{};
  std::uint32_t part = 0;
  std::uint32_t parts = 0;
  RecordClass record_class = RecordClass::telemetry;
};

struct DecodedBatch {
  BatchHeader header;
  std::vector<Reading> readings;
  std::vector<Record> records;  // gaps, aggregates, statuses (in that order)
};

// Serialises a Batch. Deterministic for the same input (tags are emitted in the given order).
std::string encode_batch(const BatchHeader& h, std::span<const Reading> readings,
                         std::span<const Record> records = {});

// Parses and validates a Batch: schema_version == 1, non-empty gateway_id/incarnation_id,
// batch_id a UUID, part <= parts, every reading with device, metric and a value. Errors are
// Disposition::reject with a reason.
Result<DecodedBatch> decode_batch(std::string_view bytes);

}  // namespace cg::wire
