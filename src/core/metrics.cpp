#include "core/metrics.hpp"

namespace cg {

Counter& Metrics::counter(const std::string& name, const Labels& labels, const std::string& help) {
  std::lock_guard lk(mu_);
  auto& e = entries_[{name, labels}];
  if (!e.c) e.c = std::make_unique<Counter>();
  if (!help.empty()) e.help = help;
  return *e.c;
}

Gauge& Metrics::gauge(const std::string& name, const Labels& labels, const std::string& help) {
  std::lock_guard lk(mu_);
  auto& e = entries_[{name, labels}];
  if (!e.g) e.g = std::make_unique<Gauge>();
  if (!help.empty()) e.help = help;
  return *e.g;
}

std::vector<Metrics::Sample> Metrics::snapshot() const {
  std::lock_guard lk(mu_);
  std::vector<Sample> out;
  for (const auto& [key, e] : entries_) {
    if (e.c) out.push_back({key.first, key.second, e.help, true, static_cast<std::int64_t>(e.c->value())});
    if (e.g) out.push_back({key.first, key.second, e.help, false, e.g->value()});
  }
  return out;
}

std::int64_t Metrics::value(const std::string& name, const Labels& labels) const {
  std::lock_guard lk(mu_);
  auto it = entries_.find({name, labels});
  if (it == entries_.end()) return 0;
  if (it->second.c) return static_cast<std::int64_t>(it->second.c->value());
  if (it->second.g) return it->second.g->value();
  return 0;
}

}  // namespace cg
