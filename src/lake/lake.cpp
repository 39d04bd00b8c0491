#include "lake/lake.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/clock.hpp"
#include "core/json_writer.hpp"
#include "core/time_format.hpp"
#include "http/server.hpp"
#include "lake/decompress.hpp"
#include "lake/faults.hpp"
#include "lake/ndjson.hpp"
#include "lake/seq_tracker.hpp"
#include "wire/batch_codec.hpp"

namespace cg::lake {

namespace fs = std::filesystem;

namespace {

// Lines are written in slices of about this size, so a large batch never needs its whole NDJSON
// rendering in memory at once.
constexpr std::size_t kWriteSlice = 1024 * 1024;

std::string errno_text(int e) { return std::strerror(e); }

Result<void> write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Error::retry("io", "write: " + errno_text(errno)));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// Makes a directory entry (a new file or sub-directory) durable.
Result<void> fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(Error::retry("io", fmt::format("open {}: {}", dir.string(), errno_text(errno))));
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0) return fail(Error::retry("io", fmt::format("fsync {}: {}", dir.string(), errno_text(e))));
  return {};
}

// Creates `dir` and any missing parents, fsyncing each parent whose entries changed.
Result<void> make_dirs_durable(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return {};
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    if (auto r = make_dirs_durable(dir.parent_path()); !r) return r;
  }
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return fail(Error::retry("io", fmt::format("mkdir {}: {}", dir.string(), errno_text(errno))));
  return fsync_dir(dir.has_parent_path() ? dir.parent_path() : fs::path("."));
}

std::string trim_lower(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string dedup_key(const wire::BatchHeader& h) {
  std::string k = trim_lower(h.batch_id);  // one UUID, whatever its letter case
  k += ' ';
  k += std::to_string(h.part);
  return k;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 20 && s.find_first_not_of("0123456789") == std::string_view::npos;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (!all_digits(s)) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

// The set of (batch_id, part) already accepted and the batch_seq seen per (gateway,
// incarnation), persisted as an append-only log in DIR/_state/accepted.log. A line is
// "<batch_id> <part> <gateway> <incarnation> <batch_seq>\n" (gateway and incarnation
// percent-encoded like partition names); lines of older receivers hold only "<batch_id> <part>".
class AcceptedState {
 public:
  using Incarnation = std::pair<std::string, std::string>;  // gateway, incarnation

  ~AcceptedState() {
    if (fd_ >= 0) ::close(fd_);
  }

  Result<void> load(const fs::path& state_dir) {
    path_ = state_dir / "accepted.log";
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) return fail(Error::fatal("lake_state", fmt::format("open {}: {}", path_.string(), errno_text(errno))));
    if (auto r = fsync_dir(state_dir); !r) return fail(Error::fatal("lake_state", r.error().message));

    std::string content;
    char buf[64 * 1024];
    while (true) {
      ssize_t n = ::pread(fd_, buf, sizeof buf, static_cast<off_t>(content.size()));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(Error::fatal("lake_state", fmt::format("read {}: {}", path_.string(), errno_text(errno))));
      if (n == 0) break;
      content.append(buf, static_cast<std::size_t>(n));
    }
    // A crash in the middle of an append leaves a line without its '\n'. It was never
    // acknowledged, and a prefix of it may look valid ("<id> 1" torn from "<id> 12 gw …"): cut it
    // off, so that the next append does not glue onto it either.
    auto last_nl = content.rfind('\n');
    std::size_t good = last_nl == std::string::npos ? 0 : last_nl + 1;
    if (good < content.size()) {
      spdlog::warn("lake: {}: discarding a torn last line ({} bytes)", path_.string(), content.size() - good);
      if (::ftruncate(fd_, static_cast<off_t>(good)) != 0 || ::fdatasync(fd_) != 0)
        return fail(Error::fatal("lake_state", fmt::format("truncate {}: {}", path_.string(), errno_text(errno))));
      content.resize(good);
    }
    std::size_t bad = 0;
    std::string_view rest = content;
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest.remove_prefix(nl + 1);
      if (!load_line(line)) ++bad;
    }
    if (bad) spdlog::warn("lake: {}: ignored {} malformed lines", path_.string(), bad);
    std::uint64_t missing = 0;
    for (const auto& [k, t] : seqs_) missing += t.missing_count();
    spdlog::info("lake: {} accepted batches in {}; {} gateway incarnations, {} batch_seq missing", keys_.size(),
                 path_.string(), seqs_.size(), missing);
    return {};
  }

  bool contains(const std::string& key) const { return keys_.count(key) != 0; }

  bool seq_known(const wire::BatchHeader& h) const {
    auto it = seqs_.find(Incarnation{h.gateway_id, h.incarnation_id});
    return it != seqs_.end() && it->second.contains(h.batch_seq);
  }

  // Appends and fdatasyncs the batch's line, then records it in memory. Returns the batch_seq
  // hole that appeared because of this batch, if any.
  Result<std::optional<SeqTracker::Range>> add(const std::string& key, const wire::BatchHeader& h) {
    std::string line = key;
    line += ' ';
    line += encode_path_component(h.gateway_id);
    line += ' ';
    line += encode_path_component(h.incarnation_id);
    line += ' ';
    line += std::to_string(h.batch_seq);
    line += '\n';
    if (auto r = write_all(fd_, line); !r) return fail(r.error());
    if (::fdatasync(fd_) != 0) return fail(Error::retry("io", "fdatasync " + path_.string() + ": " + errno_text(errno)));
    keys_.insert(key);
    return seqs_[Incarnation{h.gateway_id, h.incarnation_id}].add(h.batch_seq);
  }

  const std::map<Incarnation, SeqTracker>& seqs() const { return seqs_; }

 private:
  bool load_line(std::string_view line) {
    std::string_view f[6];
    std::size_t n = 0;
    while (n < 6) {
      auto sp = line.find(' ');
      f[n++] = line.substr(0, sp);
      if (sp == std::string_view::npos) break;
      line.remove_prefix(sp + 1);
    }
    if (n != 2 && n != 5) return false;
    if (f[0].empty() || !all_digits(f[1])) return false;
    std::string key(f[0]);
    key += ' ';
    key += f[1];
    if (n == 5) {
      auto gw = http::percent_decode(f[2]);
      auto inc = http::percent_decode(f[3]);
      auto seq = parse_u64(f[4]);
      if (!gw || !inc || gw->empty() || inc->empty() || !seq) return false;
      seqs_[Incarnation{std::move(*gw), std::move(*inc)}].add(*seq);
    }
    keys_.insert(std::move(key));
    return true;
  }

  fs::path path_;
  int fd_ = -1;
  std::unordered_set<std::string> keys_;
  std::map<Incarnation, SeqTracker> seqs_;
};

// The open data files, one per partition directory, named after the receiver's start time.
class PartitionFiles {
 public:
  PartitionFiles(fs::path root, std::int64_t start_ms) : root_(std::move(root)), start_ms_(start_ms) {}
  ~PartitionFiles() { close_all(); }

  // Appends the lines produced by `next_slice` (complete NDJSON lines; it returns false with the
  // last slice) to the partition's file and fdatasyncs it. On failure the file is cut back to its
  // previous length so that readers never see a partial batch.
  Result<void> append(const std::string& partition, const std::string& date,
                      const std::function<bool(std::string&)>& next_slice) {
    if (date != date_) {
      close_all();  // a new day: yesterday's files are done
      date_ = date;
    }
    auto fd = open_file(partition);
    if (!fd) return fail(fd.error());
    struct stat st{};
    if (::fstat(*fd, &st) != 0) return fail(Error::retry("io", "fstat: " + errno_text(errno)));
    const off_t before = st.st_size;

    std::string slice;
    Result<void> r;
    bool more = true;
    while (r && more) {
      slice.clear();
      more = next_slice(slice);
      r = write_all(*fd, slice);
    }
    if (r && ::fdatasync(*fd) != 0) r = fail(Error::retry("io", "fdatasync: " + errno_text(errno)));
    if (!r) {
      if (::ftruncate(*fd, before) == 0) {
        ::fdatasync(*fd);  // best effort: the batch was not acknowledged either way
      } else {
        // Could not undo: never append to this file again (a new one gets a new name).
        spdlog::error("lake: cannot truncate {} back after a failed write: {}", partition, errno_text(errno));
        ::close(*fd);
        files_.erase(partition);
        ++generation_;
      }
      return r;
    }
    return {};
  }

 private:
  Result<int> open_file(const std::string& partition) {
    if (auto it = files_.find(partition); it != files_.end()) return it->second;
    fs::path dir = root_ / partition;
    if (auto r = make_dirs_durable(dir); !r) return fail(r.error());
    std::string name = generation_ == 0 ? fmt::format("readings-{}.ndjson", start_ms_)
                                        : fmt::format("readings-{}-{}.ndjson", start_ms_, generation_);
    fs::path file = dir / name;
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return fail(Error::retry("io", fmt::format("open {}: {}", file.string(), errno_text(errno))));
    if (auto r = fsync_dir(dir); !r) {
      ::close(fd);
      return fail(r.error());
    }
    files_.emplace(partition, fd);
    return fd;
  }

  void close_all() {
    for (auto& [p, fd] : files_) ::close(fd);
    files_.clear();
  }

  fs::path root_;
  std::int64_t start_ms_;
  int generation_ = 0;
  std::string date_;
  std::map<std::string, int> files_;
};

// Answers handed back later by a timer (fault injection "delay_ms"), without blocking an io
// thread. Shared with the timer handlers, so that it outlives the receiver when a handler is
// still queued. Every timer operation runs on one strand.
class DelayedAnswers : public std::enable_shared_from_this<DelayedAnswers> {
 public:
  explicit DelayedAnswers(boost::asio::io_context& io) : strand_(boost::asio::make_strand(io)) {}

  void add(std::chrono::milliseconds delay, http::Response res, http::Responder respond) {
    boost::asio::post(strand_, [self = shared_from_this(), delay, res = std::move(res),
                                respond = std::move(respond)]() mutable {
      if (self->stopped_) return respond(std::move(res));  // dropped by the stopped server
      auto t = std::make_shared<boost::asio::steady_timer>(self->strand_, delay);
      self->live_.insert(t);
      t->async_wait([self, t, res = std::move(res), respond = std::move(respond)](const boost::system::error_code&) mutable {
        self->live_.erase(t);
        respond(std::move(res));
      });
    });
  }

  // Fires every pending timer now (their answers go to a stopped server, which drops them), so
  // that the io_context runs out of work.
  void stop() {
    boost::asio::post(strand_, [self = shared_from_this()] {
      self->stopped_ = true;
      for (const auto& t : self->live_) t->cancel();
    });
  }

 private:
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  std::set<std::shared_ptr<boost::asio::steady_timer>> live_;  // strand only
  bool stopped_ = false;                                      // strand only
};

std::string_view status_title(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Injected Fault";
  }
}

}  // namespace

class LakeReceiver::Impl {
 public:
  Impl(boost::asio::io_context& io, LakeOptions opts, Metrics& metrics)
      : io_(io),
        opts_(std::move(opts)),
        metrics_(metrics),
        accepted_(metrics.counter("lake_batches_accepted_total", {}, "Batches written by the lake receiver")),
        duplicates_(metrics.counter("lake_batches_duplicate_total", {}, "Batches answered 409 (already accepted)")),
        readings_(metrics.counter("lake_readings_written_total", {}, "Readings written to NDJSON files")),
        gap_records_(metrics.counter("lake_records_written_total", {{"type", "gap"}},
                                     "Gap, aggregate and status records written to NDJSON files")),
        aggregate_records_(metrics.counter("lake_records_written_total", {{"type", "aggregate"}})),
        status_records_(metrics.counter("lake_records_written_total", {{"type", "status"}})),
        seq_gaps_(metrics.counter("lake_batch_seq_gaps_total", {},
                                  "Holes that appeared in a gateway incarnation's batch_seq (each logged once)")),
        io_errors_(metrics.counter("lake_io_errors_total", {}, "Batches answered 500 because of a storage error")),
        delayed_(std::make_shared<DelayedAnswers>(io)) {}

  ~Impl() {
    server_.reset();  // stops the listener before the files and state go away
    delayed_->stop();
  }

  Result<void> start() {
    if (server_) return fail(Error::fatal("lake", "already started"));
    if (opts_.dir.empty()) return fail(Error::fatal("lake_state", "no data directory given (--dir)"));
    const fs::path state_dir = opts_.dir / "_state";
    std::error_code ec;
    const fs::path abs_state_dir = fs::absolute(state_dir, ec);
    if (ec) return fail(Error::fatal("lake_state", fmt::format("{}: {}", state_dir.string(), ec.message())));
    if (auto r = make_dirs_durable(abs_state_dir); !r)
      return fail(Error::fatal("lake_state", r.error().message));
    state_ = std::make_unique<AcceptedState>();
    if (auto r = state_->load(state_dir); !r) return r;
    const auto now_ms = to_unix_ns(clock_.now()) / 1'000'000;
    files_ = std::make_unique<PartitionFiles>(opts_.dir, now_ms);

    http::Router router;
    router.add("POST", "/v1/batches", [this](http::Request& req, http::Responder respond) {
      auto res = handle_batch(req);
      answer(std::move(res), std::move(respond));
    });
    router.add("GET", "/healthz", [](http::Request&, http::Responder respond) {
      respond(http::Response::json(200, R"({"status":"ok"})"));
    });
    router.add("GET", "/v1/stats", [this](http::Request&, http::Responder respond) {
      respond(http::Response::json(200, stats_json()));
    });
    router.add("GET", "/v1/gaps", [this](http::Request&, http::Responder respond) {
      respond(http::Response::json(200, gaps_json()));
    });
    if (opts_.faults_enabled) {
      router.add("GET", "/v1/faults", [this](http::Request&, http::Responder respond) {
        std::lock_guard lk(faults_mu_);
        respond(http::Response::json(200, faults_json(faults_)));
      });
      router.add("POST", "/v1/faults", [this](http::Request& req, http::Responder respond) {
        std::lock_guard lk(faults_mu_);
        bool reseed = false;
        if (auto r = apply_faults_json(req.body, faults_, reseed); !r)
          return respond(http::Response::problem(400, "Bad Request", r.error().message));
        if (reseed) rng_.reseed(faults_.seed);
        spdlog::info("lake: faults set: {}", faults_json(faults_));
        respond(http::Response::json(200, faults_json(faults_)));
      });
      router.add("DELETE", "/v1/faults", [this](http::Request&, http::Responder respond) {
        std::lock_guard lk(faults_mu_);
        faults_ = FaultSettings{};
        rng_.reseed(faults_.seed);
        spdlog::info("lake: faults cleared");
        respond(http::Response::json(200, faults_json(faults_)));
      });
      spdlog::warn("lake: fault injection enabled (POST /v1/faults); for tests only");
    }
    http::Limits limits;
    limits.body_max = opts_.max_body;
    limits.read_timeout = std::chrono::seconds(60);  // 64 MiB over a slow uplink
    limits.write_timeout = std::chrono::seconds(30);
    server_ = std::make_unique<http::Server>(io_, std::move(router), limits, metrics_, "lake");
    if (auto r = server_->listen(opts_.host, opts_.port); !r) {
      server_.reset();
      return r;
    }
    return {};
  }

  std::uint16_t port() const { return server_ ? server_->port() : 0; }

  void stop() {
    if (server_) server_->stop();
    delayed_->stop();
  }

 private:
  http::Response reject(int status, std::string_view reason, std::string_view title, const std::string& detail) {
    ++stats_.rejected;
    metrics_.counter("lake_batches_rejected_total", {{"reason", std::string(reason)}}).inc();
    spdlog::debug("lake: rejected batch ({}): {}", status, detail);
    return http::Response::problem(status, title, detail);
  }

  // --- fault injection (each helper takes faults_mu_; never held while taking mu_) ---

  void count_fault(std::string_view kind) {
    ++stats_.faults;
    metrics_.counter("lake_faults_injected_total", {{"kind", std::string(kind)}}, "Faults injected by the lake receiver")
        .inc();
  }

  http::Response injected(int status, std::string_view kind, std::uint32_t retry_after_s, const std::string& detail) {
    count_fault(kind);
    spdlog::debug("lake: injected {} ({})", status, detail);
    http::Response r = status >= 400 ? http::Response::problem(status, status_title(status), "injected fault: " + detail)
                                     : http::Response::json(status, R"({"status":"injected"})");
    if (status == 429 || status == 503) r.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
    return r;
  }

  // Faults decided before the body is looked at: the "status" queue, then "failure_rate".
  std::optional<http::Response> fault_before_decode() {
    std::lock_guard lk(faults_mu_);
    if (!faults_.status.empty()) {
      int st = faults_.status.front();
      faults_.status.pop_front();
      return injected(st, "status", faults_.retry_after_s, "next status in the queue");
    }
    if (faults_.failure_rate > 0 && rng_.uniform() < faults_.failure_rate)
      return injected(500, "failure_rate", faults_.retry_after_s, "random failure");
    return std::nullopt;
  }

  std::optional<http::Response> fault_for_size(std::size_t decoded_bytes) {
    std::lock_guard lk(faults_mu_);
    if (faults_.max_batch_bytes == 0 || decoded_bytes <= faults_.max_batch_bytes) return std::nullopt;
    return injected(413, "max_batch_bytes", faults_.retry_after_s,
                    fmt::format("decoded batch of {} bytes exceeds max_batch_bytes {}", decoded_bytes,
                                faults_.max_batch_bytes));
  }

  std::optional<http::Response> fault_for_seq(std::uint64_t seq) {
    std::lock_guard lk(faults_mu_);
    auto it = faults_.status_for_seq.find(seq);
    if (it == faults_.status_for_seq.end()) return std::nullopt;
    return injected(it->second, "status_for_seq", faults_.retry_after_s, fmt::format("batch_seq {}", seq));
  }

  bool drop_this_answer() {
    std::lock_guard lk(faults_mu_);
    if (faults_.drop_after_commit == 0) return false;
    --faults_.drop_after_commit;
    count_fault("drop_after_commit");
    return true;
  }

  void answer(http::Response res, http::Responder respond) {
    std::uint32_t delay = 0;
    if (opts_.faults_enabled) {
      std::lock_guard lk(faults_mu_);
      delay = faults_.delay_ms;
      if (delay) count_fault("delay");
    }
    if (delay == 0) return respond(std::move(res));
    delayed_->add(std::chrono::milliseconds(delay), std::move(res), std::move(respond));
  }

  // --- batches ---

  http::Response handle_batch(http::Request& req) {
    if (opts_.faults_enabled) {
      if (auto f = fault_before_decode()) return std::move(*f);
    }
    std::lock_guard lk(mu_);
    // 1. Content-Encoding → the protobuf bytes, bounded.
    std::string decoded;
    std::string_view body = req.body;
    const std::string enc = trim_lower(req.header("content-encoding").value_or(""));
    if (!enc.empty() && enc != "identity") {
      if (enc != "gzip" && enc != "x-gzip" && enc != "zstd") {
        auto res = reject(415, "encoding", "Unsupported Media Type",
                          "Content-Encoding '" + enc + "' is not supported (gzip, zstd, identity)");
        res.headers.emplace_back("Accept-Encoding", "gzip, zstd, identity");
        return res;
      }
      auto out = enc == "zstd" ? unzstd(body, opts_.max_decompressed) : gunzip(body, opts_.max_decompressed);
      if (!out) {
        if (out.error().code == "too_large") return reject(413, "too_large", "Content Too Large", out.error().message);
        if (out.error().disposition == Disposition::retry) {
          auto res = http::Response::problem(503, "Service Unavailable", out.error().message);
          res.headers.emplace_back("Retry-After", "1");
          return res;
        }
        return reject(400, "encoding", "Bad Request", out.error().message);
      }
      decoded = std::move(*out);
      req.body.clear();
      req.body.shrink_to_fit();
      body = decoded;
    } else if (body.size() > opts_.max_decompressed) {
      return reject(413, "too_large", "Content Too Large", "body exceeds the batch size limit");
    }
    if (opts_.faults_enabled) {
      if (auto f = fault_for_size(body.size())) return std::move(*f);
    }

    // 2. Decode and validate.
    auto batch = wire::decode_batch(body);
    if (!batch) return reject(400, batch.error().code, "Bad Request", batch.error().message);
    decoded.clear();
    decoded.shrink_to_fit();
    const auto& h = batch->header;
    if (opts_.faults_enabled) {
      if (auto f = fault_for_seq(h.batch_seq)) return std::move(*f);
    }
    const std::string key = dedup_key(h);

    // 3. Idempotency: a (batch_id, part) is written once, across restarts.
    if (state_->contains(key)) {
      ++stats_.duplicates;
      duplicates_.inc();
      if (!state_->seq_known(h)) {
        // Accepted by a receiver that did not record batch_seq yet: record it now, so that the
        // re-send closes its hole in /v1/gaps.
        auto r = state_->add(key, h);
        if (!r) spdlog::warn("lake: cannot record batch_seq of a duplicate: {}", r.error().message);
        else note_gap(h, *r);
      }
      std::string b = R"({"status":"duplicate","batch_id":)";
      json::append_string(b, h.batch_id);
      b += '}';
      return http::Response::json(409, std::move(b));
    }

    // 4. Data first (fdatasync'd), then the dedup record (fdatasync'd), then the answer.
    const TimeNs now = clock_.now();
    const std::string partition = partition_dir(now, h.gateway_id);
    const std::size_t n_readings = batch->readings.size();
    const std::size_t total = n_readings + batch->records.size();
    std::size_t next = 0;
    auto slices = [&](std::string& out) {
      for (; next < total && out.size() < kWriteSlice; ++next) {
        if (next < n_readings) append_reading_line(out, h, batch->readings[next], now);
        else append_record_line(out, h, batch->records[next - n_readings], now);
      }
      return next < total;
    };
    if (auto r = files_->append(partition, format_utc_date(now), slices); !r) return storage_failure(r.error());
    auto added = state_->add(key, h);
    if (!added) return storage_failure(added.error());
    if (io_failing_) {
      io_failing_ = false;
      spdlog::info("lake: writing batches again");
    }
    note_gap(h, *added);

    std::size_t gaps = 0, aggregates = 0, statuses = 0;
    for (const auto& rec : batch->records) {
      if (std::holds_alternative<GapRecord>(rec)) ++gaps;
      else if (std::holds_alternative<AggregateRecord>(rec)) ++aggregates;
      else ++statuses;
    }
    ++stats_.accepted;
    stats_.readings += n_readings;
    stats_.gaps += gaps;
    stats_.aggregates += aggregates;
    stats_.statuses += statuses;
    accepted_.inc();
    readings_.inc(n_readings);
    gap_records_.inc(gaps);
    aggregate_records_.inc(aggregates);
    status_records_.inc(statuses);

    if (opts_.faults_enabled && drop_this_answer()) {
      spdlog::info("lake: batch {} part {} committed; dropping the connection without an answer (fault)", h.batch_id,
                   h.part);
      http::Response drop;
      drop.drop_connection = true;
      return drop;
    }
    std::string b = R"({"status":"accepted","batch_id":)";
    json::append_string(b, h.batch_id);
    b += fmt::format(R"(,"part":{},"readings":{},"records":{}}})", h.part, n_readings, batch->records.size());
    return http::Response::json(200, std::move(b));
  }

  // Logs a batch_seq hole once, when the batch that reveals it is recorded.
  void note_gap(const wire::BatchHeader& h, const std::optional<SeqTracker::Range>& opened) {
    if (!opened) return;
    seq_gaps_.inc();
    if (opened->first == opened->second)
      spdlog::info("lake: gateway '{}' incarnation '{}': batch_seq {} missing (received {})", h.gateway_id,
                   h.incarnation_id, opened->first, h.batch_seq);
    else
      spdlog::info("lake: gateway '{}' incarnation '{}': batch_seq {}..{} missing (received {})", h.gateway_id,
                   h.incarnation_id, opened->first, opened->second, h.batch_seq);
  }

  // The gateway retries a 5xx with backoff; nothing was acknowledged.
  http::Response storage_failure(const Error& e) {
    io_errors_.inc();
    if (!io_failing_) {
      io_failing_ = true;
      spdlog::error("lake: cannot store batches: {}", e.message);
    }
    return http::Response::problem(500, "Internal Server Error", "the lake could not store the batch: " + e.message);
  }

  // --- reports ---

  std::string stats_json() {
    std::uint64_t ranges = 0, missing = 0;
    {
      std::lock_guard lk(mu_);
      for (const auto& [k, t] : state_->seqs()) {
        ranges += t.missing_ranges();
        missing += t.missing_count();
      }
    }
    return fmt::format(
        R"({{"batches_accepted":{},"duplicates":{},"rejected":{},"readings_written":{},"gaps_written":{},)"
        R"("aggregates_written":{},"statuses_written":{},"batch_seq_gaps":{},"batch_seq_missing":{},)"
        R"("faults_injected":{}}})",
        stats_.accepted.load(), stats_.duplicates.load(), stats_.rejected.load(), stats_.readings.load(),
        stats_.gaps.load(), stats_.aggregates.load(), stats_.statuses.load(), ranges, missing, stats_.faults.load());
  }

  std::string gaps_json() {
    std::lock_guard lk(mu_);
    std::string out = R"({"gateways":[)";
    bool first = true;
    for (const auto& [k, t] : state_->seqs()) {
      if (!first) out += ',';
      first = false;
      out += R"({"gateway":)";
      json::append_string(out, k.first);
      out += R"(,"incarnation":)";
      json::append_string(out, k.second);
      fmt::format_to(std::back_inserter(out), R"(,"max_seq":{},"missing":[)", t.max_seq());
      bool first_range = true;
      std::uint64_t count = 0;
      t.for_each_missing([&](SeqTracker::Range r) {
        fmt::format_to(std::back_inserter(out), "{}[{},{}]", first_range ? "" : ",", r.first, r.second);
        first_range = false;
        count += r.second - r.first + 1;
      });
      fmt::format_to(std::back_inserter(out), R"(],"missing_count":{},"forgotten":{}}})", count, t.forgotten());
    }
    out += "]}";
    return out;
  }

  boost::asio::io_context& io_;
  const LakeOptions opts_;
  Metrics& metrics_;
  SystemClock clock_;
  Counter& accepted_;
  Counter& duplicates_;
  Counter& readings_;
  Counter& gap_records_;
  Counter& aggregate_records_;
  Counter& status_records_;
  Counter& seq_gaps_;
  Counter& io_errors_;
  struct {
    std::atomic<std::uint64_t> accepted{0}, duplicates{0}, rejected{0}, readings{0}, gaps{0}, aggregates{0},
        statuses{0}, faults{0};
  } stats_;

  std::mutex faults_mu_;  // faults_, rng_
  FaultSettings faults_;
  FaultRng rng_{FaultSettings{}.seed};
  std::shared_ptr<DelayedAnswers> delayed_;

  std::mutex mu_;  // handle_batch, reports: state_, files_, io_failing_
  std::unique_ptr<AcceptedState> state_;
  std::unique_ptr<PartitionFiles> files_;
  bool io_failing_ = false;
  std::unique_ptr<http::Server> server_;  // last member: destroyed (stopped) first
};

LakeReceiver::LakeReceiver(boost::asio::io_context& io, LakeOptions opts, Metrics& metrics)
    : impl_(std::make_unique<Impl>(io, std::move(opts), metrics)) {}

LakeReceiver::~LakeReceiver() = default;

Result<void> LakeReceiver::start() { return impl_->start(); }

std::uint16_t LakeReceiver::port() const { return impl_->port(); }

void LakeReceiver::stop() { impl_->stop(); }

int run_lake(const LakeOptions& opts) {
  try {
    boost::asio::io_context io{1};
    Metrics metrics;
    LakeReceiver rx(io, opts, metrics);
    if (auto r = rx.start(); !r) {
      std::fprintf(stderr, "citygate lake: %s\n", r.error().message.c_str());
      return 70;
    }
    const bool v6 = opts.host.find(':') != std::string::npos && opts.host.front() != '[';
    spdlog::info("lake listening on {}{}{}:{} (dir {})", v6 ? "[" : "", opts.host, v6 ? "]" : "", rx.port(),
                 opts.dir.string());
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      spdlog::info("lake: signal {}, stopping", sig);
      rx.stop();
    });
    io.run();  // returns once the listener and its connections are closed
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "citygate lake: %s\n", e.what());
    return 70;
  }
}

}  // namespace cg::lake
