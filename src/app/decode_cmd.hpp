#pragma once
// `citygate decode`: decode payload files with an adapter's codec, no gateway running.
#include <string>
#include <vector>

namespace cg::app {

struct DecodeArgs {
  std::string kind;
  std::string topic;
  std::string profile;
  std::string config;                 // optional: take the first [[adapters]] instance of `kind`
  std::vector<std::string> headers;   // "Name: value"
  std::string now;                    // RFC 3339; default: the current time
  std::string precision;              // ns|us|ms|s
  std::vector<std::string> files;     // "-" = stdin
};

// Prints one JSON line per reading on stdout, errors on stderr. Returns 0, 65 (some record
// invalid; the valid ones are still printed), 64 (usage) or 66 (unreadable input).
int run_decode(const DecodeArgs& args);

// `citygate describe-adapters`: every adapter's config keys from the same tables that validate
// the config. format "json": [{"kind","summary","keys":[{"name","type","default","required","doc"}]}]
// (default as a JSON value, null when none); "md": one section per adapter.
// --format md|json; `kind` non-empty: only that kind (md: only its key table). Exit 64 for an
// unknown kind.
int run_describe_adapters(const std::string& format, const std::string& kind = {});

}  // namespace cg::app
