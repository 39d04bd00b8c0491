#pragma once
// Expected failures on the data path are values, not exceptions (DESIGN §8). tl::expected is used
// rather than std::expected because bookworm's clang 14 (the fuzz builds) has no <expected>.
#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace cg {

// What the caller should do about a failure.
enum class Disposition {
  retry,   // transient: the same input may succeed later (I/O, busy, upstream down)
  reject,  // the input is bad: count it, answer the sender, keep going
  fatal,   // the component cannot continue (config, corrupt store)
};

struct Error {
  Disposition disposition = Disposition::reject;
  std::string code;     // short machine-readable reason, used as a counter label
  std::string message;  // human-readable detail

  static Error reject(std::string code, std::string message) {
    return {Disposition::reject, std::move(code), std::move(message)};
  }
  static Error retry(std::string code, std::string message) {
    return {Disposition::retry, std::move(code), std::move(message)};
  }
  static Error fatal(std::string code, std::string message) {
    return {Disposition::fatal, std::move(code), std::move(message)};
  }
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(Error e) { return tl::unexpected<Error>(std::move(e)); }

}  // namespace cg
