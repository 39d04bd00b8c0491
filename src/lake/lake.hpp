#pragma once
// The reference lake receiver (`citygate lake`): the upstream of the demo and of the tests, and a
// starting point for a city's own ingestion. Contract: docs/lake-format.md.
//
//   POST /v1/batches   body = citygate.wire.v1.Batch (protobuf), Content-Encoding gzip | zstd |
//                      identity. 200 accepted (written and fsync'd), 409 duplicate (batch_id, part)
//                      already accepted, 400 undecodable, 413 too large, 415 unknown encoding,
//                      500 storage failure (retry).
//   GET  /healthz      200
//   GET  /v1/stats     counters since start (batches, readings and records written, batch_seq holes)
//   GET  /v1/gaps      per (gateway, incarnation): highest batch_seq accepted and the missing ranges
//   GET|POST|DELETE /v1/faults   fault injection, only with LakeOptions::faults_enabled (else 404)
//
// Files: DIR/dt=YYYY-MM-DD/gateway=ID/readings-<start unix ms>.ndjson (one JSON object per line:
// readings and gap/aggregate/status records, told apart by "type"; YYYY-MM-DD is the UTC date the
// lake received the batch); state in DIR/_state/accepted.log ("<batch_id> <part> <gateway>
// <incarnation> <batch_seq>" per line; dedup and batch_seq tracking both come from it).
//
// Durability: the lines are appended and fdatasync'd, then the state line is appended and
// fdatasync'd, then 200 is answered. A crash in between can leave a batch in the data files that
// is not in the state file; the gateway re-sends it and it is written again (consumers deduplicate
// by batch_id) — never the other way round, which would lose data.
//
// Threads: the request handler does its file I/O synchronously on the io thread (one thread is
// enough for the lake); it is serialised by a mutex, so more io threads are safe but do not add
// throughput. An injected delay is a timer: the io thread keeps serving other connections.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/metrics.hpp"
#include "core/result.hpp"

namespace boost::asio {
class io_context;
}

namespace cg::lake {

struct LakeOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0 = ephemeral (see LakeReceiver::port())
  std::filesystem::path dir;
  std::size_t max_body = 64 * 1024 * 1024;          // compressed request body → 413 beyond
  std::size_t max_decompressed = 64 * 1024 * 1024;  // decoded body → 413 beyond (zip bombs)
  // Registers the fault-injection routes (GET/POST/DELETE /v1/faults; docs/lake-format.md §4).
  // For tests only: anyone who can reach the port can make the lake refuse or drop batches.
  bool faults_enabled = false;
};

class LakeReceiver {  // in-process, for tests and for the CLI
 public:
  // `io` runs the HTTP listener; it must outlive the receiver. `metrics` must outlive it too.
  LakeReceiver(boost::asio::io_context& io, LakeOptions opts, Metrics& metrics);
  ~LakeReceiver();  // stop()s
  LakeReceiver(const LakeReceiver&) = delete;
  LakeReceiver& operator=(const LakeReceiver&) = delete;

  // Creates DIR and DIR/_state, loads the dedup state (a torn last line — a crash in the middle of
  // an append — is cut off), binds. Errors: Disposition::fatal ("lake_state", "listen").
  Result<void> start();
  std::uint16_t port() const;  // bound port, after start()
  // Stops accepting; when it returns (from outside a request handler) no request is being
  // processed. Files stay open until destruction. Any thread.
  void stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Blocking entry for `citygate lake --listen HOST:PORT --dir DIR [--max-body N] [--faults]`: runs its own io_context until
// SIGINT/SIGTERM; returns a process exit code (0 ok, 70 on runtime failure like a bind error,
// printing the reason to stderr). Logs "lake listening on HOST:PORT" once bound.
int run_lake(const LakeOptions& opts);

}  // namespace cg::lake
