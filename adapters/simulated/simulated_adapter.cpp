// `simulated`: an in-process fleet of city devices; the demo's default source.
#include <algorithm>

#include "adapter_api/adapter.hpp"
#include "simulated/fleet.hpp"

namespace cg {

namespace {

constexpr ConfigKey kKeys[] = {
    {"devices", KeyType::integer, "12", false, "Number of simulated devices (1..10000); kinds rotate: air quality, traffic counter, energy meter, noise."},
    {"interval_ms", KeyType::integer, "1000", false, "How often each device reports, in milliseconds (10..3600000)."},
    {"seed", KeyType::integer, "1", false, "Random seed: the same seed gives the same fleet."},
};

class SimulatedAdapter final : public Adapter {
 public:
  SimulatedAdapter(int devices, std::chrono::milliseconds interval, std::uint64_t seed)
      : fleet_(devices, seed), interval_(interval) {}

  Result<void> start(AdapterContext& ctx) override {
    ctx_ = &ctx;
    dropped_ = &ctx.metrics().counter("simulated_dropped_total", {{"adapter", std::string(ctx.instance_id())}},
                                      "Simulated readings refused by a full or failing store");
    running_ = true;
    last_ = ctx.clock().now();
    tick();
    return {};
  }
  void stop() override { running_ = false; }

 private:
  void tick() {
    if (!running_) return;
    auto now = ctx_->clock().now();
    auto since = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_);
    if (since.count() <= 0) since = interval_;
    last_ = now;
    std::vector<Reading> batch;
    for (std::size_t i = 0; i < fleet_.size(); ++i) {
      auto r = fleet_.sample(i, now, since);
      std::move(r.begin(), r.end(), std::back_inserter(batch));
    }
    // A throttled or failed submit loses nothing that was promised to anyone: there is no
    // real device behind it. Count it so the demo shows back-pressure honestly.
    ctx_->sink().submit(std::move(batch), {}, [this](CommitStatus st) {
      if (st == CommitStatus::throttled || st == CommitStatus::failed) dropped_->inc();
    });
    ctx_->schedule(interval_, [this] { tick(); });
  }

  sim::Fleet fleet_;
  std::chrono::milliseconds interval_;
  AdapterContext* ctx_ = nullptr;
  Counter* dropped_ = nullptr;
  bool running_ = false;
  TimeNs last_{};
};

}  // namespace

Result<std::unique_ptr<Adapter>> make_simulated(const std::string&, const ConfigView& cfg) {
  auto devices = cfg.get_int("devices");
  auto interval = cfg.get_int("interval_ms");
  if (devices < 1 || devices > 10000) return fail(Error::fatal("config", "devices must be 1..10000"));
  if (interval < 10 || interval > 3'600'000) return fail(Error::fatal("config", "interval_ms must be 10..3600000"));
  auto a = std::make_unique<SimulatedAdapter>(static_cast<int>(devices), std::chrono::milliseconds(interval),
                                              static_cast<std::uint64_t>(cfg.get_int("seed")));
  return std::unique_ptr<Adapter>(std::move(a));
}

const AdapterDescriptor& simulated_descriptor() {
  static const AdapterDescriptor d{"simulated", "In-process fleet of simulated city devices (demo, tests)", kKeys,
                                   make_simulated};
  return d;
}

}  // namespace cg
