#pragma once
// Secrets (passwords, tokens) live in files — systemd credentials — never in the config. One
// reader for all of them, so they are trimmed and reported alike.
#include <string>

#include "core/result.hpp"

namespace cg {

// The file's content without trailing newlines/spaces. `what` names the secret in errors
// ("password of broker 'local'"). An empty path gives an empty secret; an unreadable file is a
// Disposition::fatal error, and so is an empty one when `allow_empty` is false.
Result<std::string> read_secret_file(const std::string& path, const std::string& what, bool allow_empty = true);

}  // namespace cg
