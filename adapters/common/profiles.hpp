#pragma once
// Device profiles are TOML files in one directory (/etc/citygate/profiles, shipped from
// firmware-config/profiles/): Modbus register maps, JSON field maps. This is where a profile name
// is looked up; each kind parses its own format.
#include <filesystem>
#include <string_view>

#include "core/result.hpp"

namespace cg::adapters {

// `name` itself when it contains '/' or ends in ".toml" (a path, relative to the working
// directory), else <dir>/<name>.toml. Names are [A-Za-z0-9_.-]+. Errors are Disposition::fatal.
Result<std::filesystem::path> profile_path(const std::filesystem::path& dir, std::string_view name);

}  // namespace cg::adapters
