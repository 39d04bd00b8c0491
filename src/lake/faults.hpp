#pragma once
// Fault injection for tests of a gateway against the reference lake (internal to the lake;
// docs/lake-format.md §4). Only reachable when the receiver runs with LakeOptions::faults_enabled
// (`citygate lake --faults`): POST /v1/faults sets these, DELETE /v1/faults clears them.
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace cg::lake {

struct FaultSettings {
  std::deque<int> status;                      // answers for the next batch requests, in order
  std::uint32_t retry_after_s = 1;             // Retry-After of an injected 429 or 503
  std::map<std::uint64_t, int> status_for_seq;  // batch_seq → answer, every time
  std::uint32_t delay_ms = 0;                  // every batch answer this much later
  std::uint64_t drop_after_commit = 0;         // the next N accepted batches: commit, then drop
  double failure_rate = 0;                     // probability of a 500 per batch request
  std::uint64_t seed = 1;                      // of the failure_rate draws
  std::uint64_t max_batch_bytes = 0;           // decoded batch beyond this → 413; 0 = off
};

// Applies a POST /v1/faults body: every key present replaces that setting, the others stay.
// Keys: status (array of 200..599), retry_after_s, status_for_seq (object "<seq>": code),
// delay_ms (≤ 600000), drop_after_commit, failure_rate (0..1), seed, max_batch_bytes. An unknown
// key, a wrong type or an out-of-range value is an error (Disposition::reject, code "faults") and
// leaves `f` unchanged. `reseed` becomes true when "seed" or "failure_rate" was given: the draws
// restart from f.seed, so the same settings give the same sequence of failures.
Result<void> apply_faults_json(std::string_view body, FaultSettings& f, bool& reseed);

// The settings as the JSON object GET /v1/faults answers (same keys as the POST body).
std::string faults_json(const FaultSettings& f);

// Deterministic draws for failure_rate (SplitMix64).
class FaultRng {
 public:
  explicit FaultRng(std::uint64_t seed = 1) : state_(seed) {}
  void reseed(std::uint64_t seed) { state_ = seed; }
  double uniform();  // [0, 1)

 private:
  std::uint64_t state_;
};

}  // namespace cg::lake
