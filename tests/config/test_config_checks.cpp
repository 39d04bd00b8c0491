// Pure value checks: listen addresses, URLs, ids, suggestions.
#include <catch2/catch.hpp>

#include "config/checks.hpp"
#include "config/config.hpp"

using namespace cg::config;

TEST_CASE("parse_listen_address") {
  CHECK(parse_listen_address("127.0.0.1:8080") == ListenAddress{"127.0.0.1", 8080});
  CHECK(parse_listen_address("0.0.0.0:0") == ListenAddress{"0.0.0.0", 0});
  CHECK(parse_listen_address("localhost:65535") == ListenAddress{"localhost", 65535});
  CHECK(parse_listen_address("[::1]:80") == ListenAddress{"::1", 80});
  CHECK(parse_listen_address("[::]:443") == ListenAddress{"::", 443});
  std::string why;
  for (const char* bad : {"8080", ":8080", "host:", "host:65536", "host:-1", "host:+80", "::1:80", "[::1]80", "[::1",
                          "[]:80", "a b:80", "host:8080x", ""}) {
    INFO(bad);
    CHECK_FALSE(parse_listen_address(bad, &why));
    CHECK_FALSE(why.empty());
  }
}

TEST_CASE("check_url") {
  constexpr std::string_view http[] = {"http", "https"};
  CHECK_FALSE(checks::check_url("http://lake", http));
  CHECK_FALSE(checks::check_url("https://lake.example:8443/v1/batches?x=1", http));
  CHECK_FALSE(checks::check_url("http://[::1]:8099/v1", http));
  CHECK(checks::check_url("HTTP://lake", http));  // schemes are written lower-case
  CHECK(checks::check_url("lake/v1", http));
  CHECK(checks::check_url("http:///v1", http));
  CHECK(checks::check_url("http://lake:0/", http));
  CHECK(checks::check_url("http://lake:99999/", http));
  CHECK(checks::check_url("http://user:secret@lake/", http)->find("embeds credentials") != std::string::npos);
  CHECK(checks::check_url("http://la ke/", http));
}

TEST_CASE("check_id and check_device_id") {
  CHECK_FALSE(checks::check_id("gw-001"));
  CHECK_FALSE(checks::check_id("A.b_c-9"));
  CHECK_FALSE(checks::check_id(std::string(64, 'a')));
  CHECK(checks::check_id(std::string(65, 'a')));
  CHECK(checks::check_id(""));
  CHECK(checks::check_id("a:b"));
  CHECK(checks::check_id("é"));
  CHECK_FALSE(checks::check_device_id("70:B3:D5:7E:D0:01"));
  CHECK(checks::check_device_id("a/b"));
  CHECK(checks::check_device_id("a+b"));
  CHECK(checks::check_device_id(std::string(129, 'a')));
}

TEST_CASE("did_you_mean") {
  constexpr std::string_view keys[] = {"path", "sync_interval_ms", "queue_max_rows", "rejected_max"};
  CHECK(checks::did_you_mean("pth", keys) == "path");
  CHECK(checks::did_you_mean("sync_interval", keys) == "sync_interval_ms");
  CHECK(checks::did_you_mean("queue_max_row", keys) == "queue_max_rows");
  CHECK_FALSE(checks::did_you_mean("colour", keys));
  CHECK_FALSE(checks::did_you_mean("x", keys));
  CHECK(checks::edit_distance("kitten", "sitting") == 3);
  CHECK(checks::edit_distance("", "abc") == 3);
}
