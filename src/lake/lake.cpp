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
#include <unordered_set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/clock.hpp"
#include "core/json_writer.hpp"
#include "core/time_format.hpp"
#include "http/server.hpp"
#include "lake/decompress.hpp"
#include "lake/ndjson.hpp"
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

// The set of (batch_id, part) already accepted, persisted as an append-only log of
// "<batch_id> <part>\n" lines in DIR/_state/accepted.log.
class DedupState {
 public:
  ~DedupState() {
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
    // acknowledged, and a prefix of it may look valid ("<id> 1" torn from "<id> 12"): cut it off,
    // so that the next append does not glue onto it either.
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
      auto sp = line.find(' ');
      bool ok = sp != std::string_view::npos && sp > 0 && sp + 1 < line.size() &&
                line.find_first_not_of("0123456789", sp + 1) == std::string_view::npos;
      if (!ok) {
        ++bad;
        continue;
      }
      keys_.emplace(line);
    }
    if (bad) spdlog::warn("lake: {}: ignored {} malformed lines", path_.string(), bad);
    spdlog::info("lake: {} accepted batches in {}", keys_.size(), path_.string());
    return {};
  }

  bool contains(const std::string& key) const { return keys_.count(key) != 0; }

  Result<void> add(const std::string& key) {
    std::string line = key + '\n';
    if (auto r = write_all(fd_, line); !r) return r;
    if (::fdatasync(fd_) != 0) return fail(Error::retry("io", "fdatasync " + path_.string() + ": " + errno_text(errno)));
    keys_.insert(key);
    return {};
  }

 private:
  fs::path path_;
  int fd_ = -1;
  std::unordered_set<std::string> keys_;
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
        io_errors_(metrics.counter("lake_io_errors_total", {}, "Batches answered 500 because of a storage error")) {}

  ~Impl() { server_.reset(); }  // stops the listener before the files and state go away

  Result<void> start() {
    if (server_) return fail(Error::fatal("lake", "already started"));
    if (opts_.dir.empty()) return fail(Error::fatal("lake_state", "no data directory given (--dir)"));
    const fs::path state_dir = opts_.dir / "_state";
    std::error_code ec;
    const fs::path abs_state_dir = fs::absolute(state_dir, ec);
    if (ec) return fail(Error::fatal("lake_state", fmt::format("{}: {}", state_dir.string(), ec.message())));
    if (auto r = make_dirs_durable(abs_state_dir); !r)
      return fail(Error::fatal("lake_state", r.error().message));
    state_ = std::make_unique<DedupState>();
    if (auto r = state_->load(state_dir); !r) return r;
    const auto now_ms = to_unix_ns(clock_.now()) / 1'000'000;
    files_ = std::make_unique<PartitionFiles>(opts_.dir, now_ms);

    http::Router router;
    router.add("POST", "/v1/batches", [this](http::Request& req, http::Responder respond) {
      respond(handle_batch(req));
    });
    router.add("GET", "/healthz", [](http::Request&, http::Responder respond) {
      respond(http::Response::json(200, R"({"status":"ok"})"));
    });
    router.add("GET", "/v1/stats", [this](http::Request&, http::Responder respond) {
      respond(http::Response::json(
          200, fmt::format(R"({{"batches_accepted":{},"duplicates":{},"rejected":{},"readings_written":{}}})",
                           stats_.accepted.load(), stats_.duplicates.load(), stats_.rejected.load(),
                           stats_.readings.load())));
    });
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
  }

 private:
  http::Response reject(int status, std::string_view reason, std::string_view title, const std::string& detail) {
    ++stats_.rejected;
    metrics_.counter("lake_batches_rejected_total", {{"reason", std::string(reason)}}).inc();
    spdlog::debug("lake: rejected batch ({}): {}", status, detail);
    return http::Response::problem(status, title, detail);
  }

  http::Response handle_batch(http::Request& req) {
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

    // 2. Decode and validate.
    auto batch = wire::decode_batch(body);
    if (!batch) return reject(400, batch.error().code, "Bad Request", batch.error().message);
    decoded.clear();
    decoded.shrink_to_fit();
    const auto& h = batch->header;
    const std::string key = dedup_key(h);

    // 3. Idempotency: a (batch_id, part) is written once, across restarts.
    if (state_->contains(key)) {
      ++stats_.duplicates;
      duplicates_.inc();
      std::string b = R"({"status":"duplicate","batch_id":)";
      json::append_string(b, h.batch_id);
      b += '}';
      return http::Response::json(409, std::move(b));
    }

    // 4. Data first (fdatasync'd), then the dedup record (fdatasync'd), then the answer.
    const TimeNs now = clock_.now();
    const std::string partition = partition_dir(now, h.gateway_id);
    std::size_t next = 0;
    auto slices = [&](std::string& out) {
      while (next < batch->readings.size() && out.size() < kWriteSlice)
        append_reading_line(out, h, batch->readings[next++], now);
      return next < batch->readings.size();
    };
    if (auto r = files_->append(partition, format_utc_date(now), slices); !r) return storage_failure(r.error());
    if (auto r = state_->add(key); !r) return storage_failure(r.error());
    if (io_failing_) {
      io_failing_ = false;
      spdlog::info("lake: writing batches again");
    }

    ++stats_.accepted;
    stats_.readings += batch->readings.size();
    accepted_.inc();
    readings_.inc(batch->readings.size());
    std::string b = R"({"status":"accepted","batch_id":)";
    json::append_string(b, h.batch_id);
    b += fmt::format(R"(,"part":{},"readings":{}}})", h.part, batch->readings.size());
    return http::Response::json(200, std::move(b));
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

  boost::asio::io_context& io_;
  const LakeOptions opts_;
  Metrics& metrics_;
  SystemClock clock_;
  Counter& accepted_;
  Counter& duplicates_;
  Counter& readings_;
  Counter& io_errors_;
  struct {
    std::atomic<std::uint64_t> accepted{0}, duplicates{0}, rejected{0}, readings{0};
  } stats_;

  std::mutex mu_;  // handle_batch: state_, files_, io_failing_
  std::unique_ptr<DedupState> state_;
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
