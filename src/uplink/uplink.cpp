#include "uplink/uplink.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "uplink/backoff.hpp"
#include "wire/batch_codec.hpp"

namespace cg::uplink {

namespace {

using steady = std::chrono::steady_clock;

// A token bucket that may go into debt: a batch bigger than the rate is sent, and the next waits.
class Pace {
 public:
  explicit Pace(double per_s) : rate_(per_s), tokens_(per_s), last_(steady::now()) {}
  bool unlimited() const { return rate_ <= 0; }
  // How long until the bucket is out of debt (0: go now).
  std::chrono::milliseconds wait() {
    if (unlimited()) return std::chrono::milliseconds(0);
    refill();
    if (tokens_ >= 0) return std::chrono::milliseconds(0);
    return std::chrono::milliseconds(static_cast<std::int64_t>(-tokens_ / rate_ * 1000.0) + 1);
  }
  void take(double n) {
    if (unlimited()) return;
    refill();
    tokens_ -= n;
  }

 private:
  void refill() {
    auto now = steady::now();
    tokens_ = std::min(rate_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }
  double rate_;
  double tokens_;
  steady::time_point last_;
};

const char* kind_name(SendResult::Kind k) {
  switch (k) {
    case SendResult::Kind::settled: return "settled";
    case SendResult::Kind::wait: return "wait";
    case SendResult::Kind::retry: return "retry";
    case SendResult::Kind::rejected: return "rejected";
    case SendResult::Kind::too_large: return "too_large";
  }
  return "?";
}

template <class T>
std::span<const T> slice(const std::vector<T>& v, std::uint32_t part, std::uint32_t parts) {
  const std::size_t n = v.size();
  const std::size_t a = n * (part - 1) / parts, b = n * part / parts;
  return std::span<const T>(v.data() + a, b - a);
}

}  // namespace

struct Uplink::Impl {
  struct SinkState {
    std::string id;
    std::vector<std::unique_ptr<Sink>> workers;
    std::mutex mu;  // in_flight, paces, failing
    std::vector<std::uint64_t> in_flight;
    Pace bandwidth;
    Pace drain;
    bool failing = false;
    Counter* c_settled = nullptr;
    Counter* c_readings = nullptr;
    Counter* c_retries = nullptr;
    Counter* c_bytes = nullptr;
    Gauge* g_last_success = nullptr;
    SinkState(SinkSlot s)
        : id(std::move(s.id)),
          workers(std::move(s.workers)),
          bandwidth(static_cast<double>(s.policy.bandwidth_bytes_per_s)),
          drain(s.policy.backlog_rows_per_s) {}
  };

  store::Outbox& outbox;
  std::vector<std::unique_ptr<SinkState>> sinks;
  UplinkOptions o;
  const Clock& clock;
  Metrics& metrics;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::uint64_t data_epoch = 0;  // bumped by notify()
  std::atomic<int> failing_sinks{0};

  Impl(store::Outbox& ob, std::vector<SinkSlot> s, UplinkOptions opts, const Clock& c, Metrics& m)
      : outbox(ob), o(std::move(opts)), clock(c), metrics(m) {
    for (auto& slot : s) {
      auto st = std::make_unique<SinkState>(std::move(slot));
      const Labels l{{"sink", st->id}};
      st->c_settled = &m.counter("uplink_batches_settled_total", l, "Batches (or parts) a sink acknowledged");
      st->c_readings = &m.counter("uplink_readings_settled_total", l, "Readings in batches a sink acknowledged");
      st->c_retries = &m.counter("uplink_retries_total", l, "Sends that will be retried (5xx, 429/503, timeouts)");
      st->c_bytes = &m.counter("uplink_bytes_sent_total", l, "Encoded batch bytes handed to the sink");
      st->g_last_success = &m.gauge("uplink_last_success_unix_seconds", l, "When the sink last acknowledged a batch");
      sinks.push_back(std::move(st));
    }
  }

  // Waits up to d, or until stop() (or new data, when wake_on_data). False when stopping.
  bool pause(std::chrono::milliseconds d, bool wake_on_data) {
    std::unique_lock lk(mu);
    const auto epoch = data_epoch;
    cv.wait_for(lk, d, [&] { return stopping || (wake_on_data && data_epoch != epoch); });
    return !stopping;
  }
  bool is_stopping() {
    std::lock_guard lk(mu);
    return stopping;
  }

  void set_failing(SinkState& s, bool failing, const SendResult* r) {
    std::lock_guard lk(s.mu);
    if (failing == s.failing) return;
    s.failing = failing;
    failing_sinks += failing ? 1 : -1;
    if (failing)
      spdlog::warn("uplink: sink '{}' failing ({} {}: {}); retrying with backoff", s.id, kind_name(r->kind), r->status,
                   r->detail.substr(0, 200));
    else
      spdlog::info("uplink: sink '{}' delivering again", s.id);
  }

  // Waits until the sink's bandwidth bucket is out of debt, then takes `bytes` from it. False
  // when stopping.
  bool take_bandwidth(SinkState& s, std::size_t bytes) {
    while (true) {
      std::chrono::milliseconds w;
      {
        std::lock_guard lk(s.mu);
        w = s.bandwidth.wait();
        if (w.count() == 0) {
          s.bandwidth.take(static_cast<double>(bytes));
          return true;
        }
      }
      if (!pause(w, false)) return false;
    }
  }

  enum class Outcome { done, failed, stop };

  // Sends one batch (whole or in parts) through `sink`. `delay` is set when the caller must wait.
  Outcome deliver(SinkState& s, Sink& sink, store::Batch& b, std::chrono::milliseconds& delay, Backoff& backoff) {
    wire::BatchHeader h{o.gateway_id, b.incarnation_id, b.batch_id, b.batch_seq, b.created, 0, 0, b.record_class};
    const std::size_t n = b.readings.empty() ? b.records.size() : b.readings.size();
    while (true) {
      const std::uint32_t parts = b.parts;
      bool resplit = false;
      for (std::uint32_t k = parts ? 1 : 0; k <= parts; ++k) {
        if (k > 0 && (b.parts_done & (1ull << (k - 1)))) continue;
        h.part = k;
        h.parts = k ? parts : 0;
        auto rs = k ? slice(b.readings, k, parts) : std::span<const Reading>(b.readings);
        auto rc = k ? slice(b.records, k, parts) : std::span<const Record>(b.records);
        std::string body = wire::encode_batch(h, rs, rc);
        if (!take_bandwidth(s, body.size())) return Outcome::stop;
        s.c_bytes->inc(body.size());
        auto r = sink.send(OutgoingBatch{h, rs, rc, body});
        metrics.counter("uplink_sends_total", {{"sink", s.id}, {"result", kind_name(r.kind)}}, "Sends by sink and answer class").inc();
        switch (r.kind) {
          case SendResult::Kind::settled:
            if (auto st = outbox.settle(s.id, b.batch_seq, k); !st) {
              delay = backoff.next();
              spdlog::error("uplink: settle failed: {}", st.error().message);
              return Outcome::failed;
            }
            if (k) b.parts_done |= 1ull << (k - 1);
            s.c_settled->inc();
            s.c_readings->inc(rs.size());
            s.g_last_success->set(to_unix_ns(clock.now()) / 1'000'000'000);
            set_failing(s, false, nullptr);
            break;
          case SendResult::Kind::rejected:
            if (auto st = outbox.dead_letter(s.id, b, k, r.status, r.detail); !st) {
              delay = backoff.next();
              return Outcome::failed;
            }
            if (k) b.parts_done |= 1ull << (k - 1);
            break;
          case SendResult::Kind::too_large: {
            const std::uint32_t next = parts ? parts * 2 : 2;
            if (b.parts_done == 0 && next <= store::kMaxParts && n >= next) {
              // Nothing of this batch got through this sink yet: a finer split cannot duplicate.
              if (auto st = outbox.split(s.id, b.batch_seq, next); !st) {
                delay = backoff.next();
                return Outcome::failed;
              }
              spdlog::info("uplink: sink '{}' found batch {} too large ({} bytes); sending it in {} parts", s.id,
                           b.batch_seq, body.size(), next);
              b.parts = next;
              resplit = true;
            } else {
              auto why = fmt::format("too large ({} bytes, {} rows) and cannot be split further: {}", body.size(),
                                     k ? rs.size() + rc.size() : n, r.detail);
              if (auto st = outbox.dead_letter(s.id, b, k, r.status, why); !st) {
                delay = backoff.next();
                return Outcome::failed;
              }
              if (k) b.parts_done |= 1ull << (k - 1);
            }
            break;
          }
          case SendResult::Kind::wait:
          case SendResult::Kind::retry:
            s.c_retries->inc();
            set_failing(s, true, &r);
            delay = backoff.next();
            if (r.kind == SendResult::Kind::wait && r.retry_after)
              delay = std::min(std::max(*r.retry_after, std::chrono::milliseconds(1)), std::chrono::milliseconds(3'600'000));
            return Outcome::failed;
        }
        if (resplit) break;
      }
      if (!resplit) return Outcome::done;
    }
  }

  void worker(SinkState& s, Sink& sink) {
    Backoff backoff(o.backoff_initial, o.backoff_max);
    while (!is_stopping()) {
      std::optional<store::Batch> batch;
      std::optional<std::chrono::milliseconds> retry_after;
      {
        // Held across the lease: two workers of one sink never take the same batch.
        std::lock_guard lk(s.mu);
        store::LeaseRequest req;
        req.sink = s.id;
        req.exclude = s.in_flight;
        req.max_rows = o.batch_max_rows;
        req.max_bytes = o.batch_max_bytes;
        req.max_age = o.batch_max_age;
        req.allow_backlog = s.drain.wait().count() == 0;
        auto lr = outbox.lease(req);
        if (!lr) {
          spdlog::error("uplink: lease for sink '{}' failed: {}", s.id, lr.error().message);
          retry_after = backoff.next();
        } else if (lr->batch) {
          batch = std::move(lr->batch);
          s.in_flight.push_back(batch->batch_seq);
          if (batch->record_class == RecordClass::backlog) s.drain.take(static_cast<double>(batch->rows));
        } else {
          retry_after = lr->retry_after;
        }
      }
      if (!batch) {
        // Nothing ready: wait for the oldest partial batch to come of age, or for new data.
        if (!pause(retry_after.value_or(std::chrono::milliseconds(5000)), true)) return;
        continue;
      }
      std::chrono::milliseconds delay{0};
      auto out = deliver(s, sink, *batch, delay, backoff);
      {
        std::lock_guard lk(s.mu);
        s.in_flight.erase(std::remove(s.in_flight.begin(), s.in_flight.end(), batch->batch_seq), s.in_flight.end());
      }
      if (out == Outcome::stop) return;
      if (out == Outcome::done) {
        backoff.reset();
        continue;
      }
      if (!pause(delay, false)) return;
    }
  }
};

Uplink::Uplink(store::Outbox& outbox, std::vector<SinkSlot> sinks, UplinkOptions opts, const Clock& clock,
               Metrics& metrics)
    : impl_(std::make_unique<Impl>(outbox, std::move(sinks), std::move(opts), clock, metrics)) {}

Uplink::~Uplink() { stop(); }

Result<void> Uplink::start() {
  auto& m = *impl_;
  std::vector<std::string> ids;
  for (auto& s : m.sinks) ids.push_back(s->id);
  if (auto r = m.outbox.set_sinks(ids); !r) return r;
  for (auto& s : m.sinks)
    for (auto& w : s->workers) m.threads.emplace_back([&m, st = s.get(), sk = w.get()] { m.worker(*st, *sk); });
  return {};
}

void Uplink::stop() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  for (auto& s : impl_->sinks)
    for (auto& w : s->workers) w->abort();
  impl_->cv.notify_all();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
}

void Uplink::notify() {
  {
    std::lock_guard lk(impl_->mu);
    ++impl_->data_epoch;
  }
  impl_->cv.notify_all();
}

bool Uplink::healthy() const { return impl_->failing_sinks.load() == 0; }

}  // namespace cg::uplink
