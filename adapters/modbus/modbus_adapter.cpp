#include "modbus/modbus_adapter.hpp"

#include <atomic>
#include <charconv>
#include <map>
#include <set>

#include "modbus/modbus_codec.hpp"

namespace cg::modbus {

// ---- PollAdapter ----

struct PollAdapter::State : std::enable_shared_from_this<PollAdapter::State> {
  enum class Health { unknown, up, down };

  struct Device {
    DeviceSpec spec;
    std::string key;              // worker-pool key (the runtime scopes keys to the instance)
    std::shared_ptr<Link> link;   // TCP: its own; RTU: the bus's, shared
    bool busy = false;            // a poll is queued or running
    Health health = Health::unknown;
    std::string down_reason;
    std::uint64_t failed_in_row = 0;
    bool value_errors = false;    // the last poll had registers that did not decode
    // the run of polls without data not yet reported as a gap record
    std::uint64_t missed = 0;
    TimeNs missed_from{}, missed_to{};
    std::string missed_reason;
    // polls whose readings the store refused, counted by the commit callback (any thread) and
    // folded into the run of missed polls on the strand at the next tick
    std::shared_ptr<std::atomic<std::uint64_t>> refused = std::make_shared<std::atomic<std::uint64_t>>(0);
    Counter* polls = nullptr;
    Counter* skipped = nullptr;
    Gauge* up = nullptr;
  };

  std::string id;
  PollerConfig cfg;
  AdapterContext* ctx = nullptr;
  bool stopped = false;
  std::vector<Device> devices;
  Counter* dropped_throttled = nullptr;
  Counter* dropped_failed = nullptr;

  std::string where(const Device& d) const {
    // The runtime's log prefixes the adapter instance.
    std::string w = "device " + d.spec.id + " (unit " + std::to_string(d.spec.unit) + " on ";
    w += cfg.tcp ? cfg.tcp_target.host + ":" + std::to_string(cfg.tcp_target.port) : cfg.serial_target.device;
    return w + ")";
  }

  // Reasons are a small fixed set (LinkError::reason, "non_finite"); looked up only on failures.
  Counter& error_counter(const Device& d, const std::string& reason) {
    return ctx->metrics().counter("modbus_poll_errors_total", {{"adapter", id}, {"device", d.spec.id}, {"reason", reason}},
                                  "Failed Modbus polls (and skipped NaN/inf registers) by reason");
  }

  // A poll that brought no data (failed, skipped because the previous one still ran, or refused
  // by the store) is a gap (DESIGN §4). A run of them becomes one record when the device answers again, when the
  // run is an hour long (so the lake learns of a dead meter within the hour), and at stop.
  void note_missed(Device& d, const std::string& reason, std::uint64_t n = 1) {
    const auto now = ctx->clock().now();
    if (d.missed == 0) d.missed_from = now;
    d.missed_to = now;
    d.missed += n;
    d.missed_reason = reason;
    if (now - d.missed_from >= std::chrono::hours(1)) report_missed(d);
  }

  // Folds the polls the store refused (counted on its thread) into the run; on the strand.
  void take_refused(Device& d) {
    if (auto n = d.refused->exchange(0)) note_missed(d, "the store refused the poll's readings", n);
  }

  void report_missed(Device& d) {
    if (d.missed == 0) return;
    GapRecord g;
    g.kind = GapRecord::Kind::missed_poll;
    g.device = d.spec.id;
    g.count = d.missed;
    g.from = d.missed_from;
    g.to = d.missed_to;
    g.reason = std::to_string(d.missed) + " poll(s) without data (last: " + d.missed_reason + ")";
    ctx->sink().report_gap(std::move(g));
    d.missed = 0;
  }

  void schedule_tick(std::size_t i, std::chrono::milliseconds delay) {
    std::weak_ptr<State> w = weak_from_this();
    ctx->schedule(delay, [w, i] {
      if (auto s = w.lock()) s->tick(i);
    });
  }

  void tick(std::size_t i) {
    if (stopped) return;
    schedule_tick(i, cfg.interval);  // fixed cadence, whatever this poll does
    Device& d = devices[i];
    take_refused(d);
    if (d.busy) {
      d.skipped->inc();
      note_missed(d, "skipped: the previous poll was still running");
      return;
    }
    d.busy = true;
    // Everything the job needs, by value or shared ownership: it may outlive this adapter.
    std::shared_ptr<Link> link = d.link;
    std::shared_ptr<const Profile> profile = d.spec.profile;
    std::shared_ptr<const std::vector<ReadBlock>> plan = d.spec.plan;
    std::string device = d.spec.id;
    int unit = d.spec.unit;
    AdapterContext* c = ctx;
    std::weak_ptr<State> w = weak_from_this();
    ctx->run_blocking(d.key, [link, profile, plan, device, unit, c, w, i] {
      Decoded out;
      const Clock& clock = c->clock();
      auto err = link->read(unit, *plan, [&](std::size_t b, std::span<const std::uint16_t> words) {
        decode_block(*profile, (*plan)[b], words, device, clock.now(), out);
      });
      c->post([w, i, out = std::move(out), err = std::move(err)]() mutable {
        if (auto s = w.lock()) s->finished(i, std::move(out), std::move(err));
      });
    });
  }

  void finished(std::size_t i, Decoded out, std::optional<LinkError> err) {
    if (stopped) return;
    Device& d = devices[i];
    d.busy = false;
    if (!out.readings.empty()) {
      // Polled values have no one to acknowledge (DESIGN §4): a refused batch is a gap, counted.
      Counter* throttled = dropped_throttled;
      Counter* failed = dropped_failed;
      ctx->sink().submit(std::move(out.readings), {}, [throttled, failed, refused = d.refused](CommitStatus st) {
        if (st == CommitStatus::throttled) throttled->inc();
        else if (st == CommitStatus::failed) failed->inc();
        if (st == CommitStatus::throttled || st == CommitStatus::failed) refused->fetch_add(1);
      });
    }
    for (const auto& e : out.errors) error_counter(d, e.code).inc();
    if (!out.errors.empty() && !d.value_errors)
      ctx->log().warn(where(d) + ": " + out.errors.front().message + " (" + std::to_string(out.errors.size()) +
                      " register(s) skipped; counted, not logged again until a clean poll)");
    d.value_errors = !out.errors.empty();

    if (err) {
      error_counter(d, err->reason).inc();
      d.up->set(0);
      ++d.failed_in_row;
      note_missed(d, err->reason);
      if (d.health != Health::down || d.down_reason != err->reason) {
        ctx->log().warn(where(d) + ": poll failed (" + err->reason + "): " + err->message +
                        "; further failures are counted in modbus_poll_errors_total, not logged");
      }
      d.health = Health::down;
      d.down_reason = err->reason;
      return;
    }
    d.polls->inc();
    d.up->set(1);
    if (d.health == Health::down) {
      ctx->log().info(where(d) + ": answering again after " + std::to_string(d.failed_in_row) + " failed poll(s)");
    } else if (d.health == Health::unknown) {
      ctx->log().info(where(d) + ": answering (profile " + d.spec.profile->name + ", " +
                      std::to_string(d.spec.plan->size()) + " read(s) per poll)");
    }
    d.health = Health::up;
    d.failed_in_row = 0;
    report_missed(d);
  }
};

PollAdapter::PollAdapter(std::string id, PollerConfig cfg) : st_(std::make_shared<State>()) {
  st_->id = std::move(id);
  st_->cfg = std::move(cfg);
}

PollAdapter::~PollAdapter() = default;

Result<void> PollAdapter::start(AdapterContext& ctx) {
  State& s = *st_;
  s.ctx = &ctx;
  s.stopped = false;
  s.dropped_throttled = &ctx.metrics().counter("modbus_readings_dropped_total", {{"adapter", s.id}, {"reason", "throttled"}},
                                               "Polls whose readings the store refused");
  s.dropped_failed = &ctx.metrics().counter("modbus_readings_dropped_total", {{"adapter", s.id}, {"reason", "failed"}},
                                            "Polls whose readings the store refused");
  std::shared_ptr<Link> bus;  // RTU: one port for every unit of the instance
  if (!s.cfg.tcp) bus = Link::serial(s.cfg.serial_target, s.cfg.timeout);
  s.devices.clear();
  for (const auto& spec : s.cfg.devices) {
    State::Device d;
    d.spec = spec;
    if (s.cfg.tcp) {
      d.key = "device:" + spec.id;
      d.link = Link::tcp(s.cfg.tcp_target, s.cfg.timeout);
    } else {
      d.key = "bus:" + s.cfg.serial_target.device;
      d.link = bus;
    }
    const Labels labels{{"adapter", s.id}, {"device", spec.id}};
    d.polls = &ctx.metrics().counter("modbus_polls_total", labels, "Modbus polls that read every register block");
    d.skipped = &ctx.metrics().counter("modbus_polls_skipped_total", labels,
                                       "Poll ticks skipped because the previous poll of the device was still busy");
    d.up = &ctx.metrics().gauge("modbus_device_up", labels, "1 after a good poll, 0 after a failed one");
    s.devices.push_back(std::move(d));
  }
  for (std::size_t i = 0; i < s.devices.size(); ++i) s.schedule_tick(i, std::chrono::milliseconds(0));
  return {};
}

void PollAdapter::stop() {
  // Runs on the adapter's strand (the runtime's contract): the open runs of missed polls are
  // reported now. Queued timers and completions then find `stopped` (or a dead State) and do
  // nothing; a running job finishes on its worker and closes its Link when its last owner lets go.
  if (!st_->stopped && st_->ctx)
    for (auto& d : st_->devices) {
      st_->take_refused(d);
      st_->report_missed(d);
    }
  st_->stopped = true;
}

// ---- config ----

namespace {

std::optional<int> parse_int(std::string_view s) {
  int v = 0;
  auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (res.ec != std::errc() || res.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

Error config_error(std::string msg) { return Error::fatal("config", std::move(msg)); }

}  // namespace

Result<void> read_common(const ConfigView& cfg, PollerConfig& out) {
  auto interval = cfg.get_int("poll_interval_ms");
  if (interval < 100 || interval > 86'400'000) return fail(config_error("poll_interval_ms must be 100..86400000"));
  auto timeout = cfg.get_int("timeout_ms");
  if (timeout < 10 || timeout > 60'000) return fail(config_error("timeout_ms must be 10..60000"));
  if (timeout >= interval)
    return fail(config_error("timeout_ms (" + std::to_string(timeout) + ") must be below poll_interval_ms (" +
                             std::to_string(interval) + ")"));
  out.interval = std::chrono::milliseconds(interval);
  out.timeout = std::chrono::milliseconds(timeout);

  auto units = cfg.get_map("units");
  if (units.empty()) return fail(config_error("units must name at least one device, e.g. { \"meter-01\" = \"1\" }"));
  const int lo = out.tcp ? 0 : 1, hi = out.tcp ? 255 : 247;
  std::map<std::string, std::string> unit_profiles;
  for (const auto& [dev, prof] : cfg.get_map("unit_profiles")) unit_profiles.emplace(dev, prof);
  std::set<std::string> device_ids;
  for (const auto& [dev, unit] : units) device_ids.insert(dev);
  for (const auto& [dev, prof] : unit_profiles)
    if (!device_ids.contains(dev))
      return fail(config_error("unit_profiles names device '" + dev + "', which is not in units"));
  const std::string default_profile = cfg.get_string("profile");
  const std::filesystem::path dir = cfg.get_string("profiles_dir");

  std::map<std::string, std::pair<std::shared_ptr<const Profile>, std::shared_ptr<const std::vector<ReadBlock>>>> loaded;
  std::map<int, std::string> by_unit;
  out.devices.clear();
  for (const auto& [dev, unit_text] : units) {
    if (dev.empty()) return fail(config_error("units: a device id is empty"));
    auto unit = parse_int(unit_text);
    if (!unit || *unit < lo || *unit > hi)
      return fail(config_error("units: device '" + dev + "' has unit id \"" + unit_text + "\"; it must be " +
                               std::to_string(lo) + ".." + std::to_string(hi)));
    if (auto [it, fresh] = by_unit.emplace(*unit, dev); !fresh)
      return fail(config_error("units: devices '" + it->second + "' and '" + dev + "' both have unit id " +
                               std::to_string(*unit)));
    auto up = unit_profiles.find(dev);
    std::string name = up != unit_profiles.end() ? up->second : default_profile;
    if (name.empty())
      return fail(config_error("device '" + dev + "' has no profile: set profile, or unit_profiles for it"));
    auto it = loaded.find(name);
    if (it == loaded.end()) {
      auto path = profile_path(dir, name);
      if (!path) return fail(path.error());
      auto p = load_profile(*path);
      if (!p) return fail(p.error());
      auto plan = std::make_shared<const std::vector<ReadBlock>>(plan_reads(*p));
      it = loaded.emplace(name, std::pair(std::make_shared<const Profile>(std::move(*p)), std::move(plan))).first;
    }
    out.devices.push_back({dev, *unit, it->second.first, it->second.second});
  }
  return {};
}

// ---- offline decoding ----

namespace {

class FrameDecodeSession final : public DecodeSession {
 public:
  FrameDecodeSession(std::filesystem::path dir, std::string profile, std::vector<std::pair<std::string, std::string>> units)
      : dir_(std::move(dir)), profile_(std::move(profile)), units_(std::move(units)) {}

  DecodeOutput decode(const DecodeInput& in) override {
    DecodeOutput out;
    std::string name = in.profile.empty() ? profile_ : in.profile;
    if (name.empty()) {
      out.errors.push_back(Error::reject("profile", "no profile: give --profile NAME (or a config with `profile`)"));
      return out;
    }
    auto it = cache_.find(name);
    if (it == cache_.end()) {
      auto path = profile_path(dir_, name);
      if (!path) {
        out.errors.push_back(Error::reject("profile", path.error().message));
        return out;
      }
      auto p = load_profile(*path);
      if (!p) {
        out.errors.push_back(Error::reject("profile", p.error().message));
        return out;
      }
      it = cache_.emplace(name, std::move(*p)).first;
    }
    FrameDecodeOptions o;
    o.received = in.now;
    o.units = units_;
    std::string_view text(reinterpret_cast<const char*>(in.payload.data()), in.payload.size());
    auto d = decode_frames(it->second, text, o);
    out.readings = std::move(d.readings);
    out.errors = std::move(d.errors);
    return out;
  }

 private:
  std::filesystem::path dir_;
  std::string profile_;
  std::vector<std::pair<std::string, std::string>> units_;
  std::map<std::string, Profile, std::less<>> cache_;
};

}  // namespace

Result<std::unique_ptr<DecodeSession>> make_frame_decoder(const ConfigView& cfg) {
  std::string dir = cfg.has("profiles_dir") ? cfg.get_string("profiles_dir") : std::string("/etc/citygate/profiles");
  std::string profile = cfg.has("profile") ? cfg.get_string("profile") : std::string();
  auto units = cfg.has("units") ? cfg.get_map("units") : std::vector<std::pair<std::string, std::string>>{};
  return std::unique_ptr<DecodeSession>(std::make_unique<FrameDecodeSession>(dir, profile, std::move(units)));
}

}  // namespace cg::modbus
