#include "core/secret_file.hpp"

#include <fstream>
#include <sstream>

namespace cg {

Result<std::string> read_secret_file(const std::string& path, const std::string& what, bool allow_empty) {
  if (path.empty()) return std::string();
  std::ifstream f(path);
  if (!f) return fail(Error::fatal("credentials", "cannot read " + what + " from " + path));
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  if (s.empty() && !allow_empty) return fail(Error::fatal("credentials", what + ": " + path + " is empty"));
  return s;
}

}  // namespace cg
