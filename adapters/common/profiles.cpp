#include "common/profiles.hpp"

#include <algorithm>

namespace cg::adapters {

Result<std::filesystem::path> profile_path(const std::filesystem::path& dir, std::string_view name) {
  if (name.empty()) return fail(Error::fatal("profile", "no profile given"));
  if (name.find('/') != std::string_view::npos || name.ends_with(".toml")) return std::filesystem::path(name);
  bool ok = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
  if (!ok || name == "." || name == "..")
    return fail(Error::fatal("profile", "profile name must be [A-Za-z0-9_.-]+, not \"" + std::string(name) + "\""));
  return dir / (std::string(name) + ".toml");
}

}  // namespace cg::adapters
