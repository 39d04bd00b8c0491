#pragma once
// Bounded decompression of request bodies (internal to the lake). The output never grows beyond
// `cap` + 1 bytes, so a zip bomb costs at most `cap` of memory before it is refused.
#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace cg::lake {

// Error codes: "too_large" (more than cap bytes, or a zstd frame needing a window beyond
// kZstdWindowLogMax), "corrupt" (invalid or truncated data). Both Disposition::reject.
inline constexpr int kZstdWindowLogMax = 24;  // 16 MiB; the zstd CLI's levels 1-19 stay below

Result<std::string> gunzip(std::string_view in, std::size_t cap);  // one or more gzip members
Result<std::string> unzstd(std::string_view in, std::size_t cap);  // one or more zstd frames

}  // namespace cg::lake
