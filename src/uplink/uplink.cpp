#include "uplink/uplink.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "uplink/backoff.hpp"
#include "wire/batch_codec.hpp"

namespace cg::uplink {

struct Uplink::Impl {
  store::Outbox& outbox;
  std::vector<std::unique_ptr<Sink>> sinks;
  UplinkOptions o;
  const Clock& clock;
  Metrics& metrics;
  std::thread th;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  bool poked = false;
  std::atomic<bool> healthy{true};
  Counter& c_batches;
  Counter& c_readings;
  Counter& c_failures;
  Gauge& g_last_success;

  Impl(store::Outbox& ob, std::vector<std::unique_ptr<Sink>> s, UplinkOptions opts, const Clock& c, Metrics& m)
      : outbox(ob),
        sinks(std::move(s)),
        o(std::move(opts)),
        clock(c),
        metrics(m),
        c_batches(m.counter("uplink_batches_settled_total", {}, "Batches acknowledged by every sink")),
        c_readings(m.counter("uplink_readings_settled_total", {}, "Readings in settled batches")),
        c_failures(m.counter("uplink_send_failures_total", {}, "Batch sends that did not settle")),
        g_last_success(m.gauge("uplink_last_success_unix_seconds", {}, "When a batch last settled")) {}

  // Waits up to d, or until notify()/stop(). Returns false when stopping.
  bool pause(std::chrono::milliseconds d, bool wake_on_data) {
    std::unique_lock lk(mu);
    cv.wait_for(lk, d, [&] { return stopping || (wake_on_data && poked); });
    poked = false;
    return !stopping;
  }

  void run() {
    Backoff backoff(o.backoff_initial, o.backoff_max);
    std::uint64_t acked_seq = 0;  // batch whose per-sink acks `acked` holds
    std::set<std::size_t> acked;
    bool failing = false;
    while (true) {
      {
        std::lock_guard lk(mu);
        if (stopping) return;
        poked = false;
      }
      auto lr = outbox.lease(o.batch_max_rows, o.batch_max_age);
      if (!lr) {
        spdlog::error("uplink: lease failed: {}", lr.error().message);
        if (!pause(backoff.next(), false)) return;
        continue;
      }
      if (!lr->batch) {
        if (!pause(lr->retry_after.value_or(std::chrono::milliseconds(5000)), !lr->retry_after)) return;
        continue;
      }
      auto& b = *lr->batch;
      if (b.batch_seq != acked_seq) {
        acked_seq = b.batch_seq;
        acked.clear();
      }
      wire::BatchHeader h{o.gateway_id, b.incarnation_id, b.batch_id, b.batch_seq, b.created, 0, 0};
      std::string body = wire::encode_batch(h, b.readings);
      std::optional<std::chrono::milliseconds> wait;
      for (std::size_t i = 0; i < sinks.size(); ++i) {
        if (acked.count(i)) continue;
        auto r = sinks[i]->send(h, body);
        auto& sink_id = sinks[i]->id();
        metrics.counter("uplink_sends_total", {{"sink", sink_id}, {"result", std::to_string(r.status)}}).inc();
        if (r.kind == SendResult::Kind::settled) {
          acked.insert(i);
          metrics.gauge("uplink_last_success_unix_seconds", {{"sink", sink_id}})
              .set(to_unix_ns(clock.now()) / 1'000'000'000);
          continue;
        }
        c_failures.inc();
        if (!failing) {
          failing = true;
          healthy = false;
          spdlog::warn("uplink: sink '{}' failing (status {}: {}); retrying with backoff", sink_id, r.status,
                       r.detail.substr(0, 200));
        }
        auto d = backoff.next();
        if (r.kind == SendResult::Kind::wait && r.retry_after) d = *r.retry_after;
        wait = wait ? std::max(*wait, d) : d;
      }
      if (wait) {
        if (!pause(*wait, false)) return;
        continue;
      }
      if (auto s = outbox.settle(b.batch_seq); !s) {
        spdlog::error("uplink: settle failed: {}", s.error().message);
        if (!pause(backoff.next(), false)) return;
        continue;
      }
      acked.clear();
      backoff.reset();
      c_batches.inc();
      c_readings.inc(b.readings.size());
      g_last_success.set(to_unix_ns(clock.now()) / 1'000'000'000);
      if (failing) {
        failing = false;
        healthy = true;
        spdlog::info("uplink: recovered; batch {} settled", b.batch_seq);
      }
    }
  }
};

Uplink::Uplink(store::Outbox& outbox, std::vector<std::unique_ptr<Sink>> sinks, UplinkOptions opts, const Clock& clock,
               Metrics& metrics)
    : impl_(std::make_unique<Impl>(outbox, std::move(sinks), std::move(opts), clock, metrics)) {}

Uplink::~Uplink() { stop(); }

void Uplink::start() {
  if (impl_->sinks.empty()) return;
  impl_->th = std::thread([this] { impl_->run(); });
}

void Uplink::stop() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  for (auto& s : impl_->sinks) s->abort();
  impl_->cv.notify_all();
  if (impl_->th.joinable()) impl_->th.join();
}

void Uplink::notify() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->poked = true;
  }
  impl_->cv.notify_one();
}

bool Uplink::healthy() const { return impl_->healthy; }

}  // namespace cg::uplink
