// Metrics: one counter per name+labels, snapshots, thread-safe increments.
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "core/metrics.hpp"

using namespace cg;

TEST_CASE("Metrics: the same name and labels give the same counter") {
  Metrics m;
  Counter& a = m.counter("readings_total", {{"adapter", "sim"}}, "Readings");
  Counter& b = m.counter("readings_total", {{"adapter", "sim"}});
  Counter& c = m.counter("readings_total", {{"adapter", "mqtt"}});
  CHECK(&a == &b);
  CHECK(&a != &c);
  a.inc();
  b.inc(2);
  CHECK(a.value() == 3);
  CHECK(c.value() == 0);
  CHECK(m.value("readings_total", {{"adapter", "sim"}}) == 3);
  CHECK(m.value("readings_total", {{"adapter", "nope"}}) == 0);
  CHECK(m.value("absent_total") == 0);
}

TEST_CASE("Metrics: label order is part of the identity") {
  Metrics m;
  Counter& a = m.counter("x_total", {{"a", "1"}, {"b", "2"}});
  Counter& b = m.counter("x_total", {{"b", "2"}, {"a", "1"}});
  CHECK(&a != &b);
}

TEST_CASE("Metrics: gauges and snapshot") {
  Metrics m;
  Gauge& g = m.gauge("queue_rows", {}, "Rows waiting");
  g.set(10);
  g.add(-3);
  CHECK(&g == &m.gauge("queue_rows"));
  m.counter("z_total").inc(5);
  auto snap = m.snapshot();
  REQUIRE(snap.size() == 2);
  CHECK(snap[0].name == "queue_rows");
  CHECK_FALSE(snap[0].is_counter);
  CHECK(snap[0].value == 7);
  CHECK(snap[0].help == "Rows waiting");
  CHECK(snap[1].name == "z_total");
  CHECK(snap[1].is_counter);
  CHECK(snap[1].value == 5);
}

TEST_CASE("Metrics: counters survive later registrations and count across threads") {
  Metrics m;
  Counter& first = m.counter("c_total", {{"n", "0"}});
  for (int i = 1; i < 200; ++i) m.counter("c_total", {{"n", std::to_string(i)}});  // map grows
  first.inc();
  CHECK(m.value("c_total", {{"n", "0"}}) == 1);

  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&m] {
      for (int i = 0; i < 10'000; ++i) m.counter("shared_total").inc();
    });
  for (auto& t : threads) t.join();
  CHECK(m.value("shared_total") == 40'000);
}
