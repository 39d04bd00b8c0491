#pragma once
// A saved HTTP request ("POST /x HTTP/1.1\r\nName: value\r\n\r\nbody", the shared .http vectors)
// split into its target, lower-cased headers and body (bounded by Content-Length). A file that is
// not a request is all body.
#include <cctype>
#include <string>
#include <utility>
#include <vector>

namespace http_push_test {

struct Request {
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case, values trimmed
  std::string body;
  std::string header(const std::string& name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return {};
  }
};

inline std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

inline Request parse_request(const std::string& text) {
  Request r;
  auto first_eol = text.find('\n');
  if (first_eol == std::string::npos || text.compare(0, 5, "POST ") != 0) {
    r.body = text;
    return r;
  }
  auto line0 = trim(text.substr(0, first_eol));
  r.target = line0.substr(5, line0.rfind(' ') - 5);
  std::size_t pos = first_eol + 1;
  while (pos < text.size()) {
    auto eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    r.headers.emplace_back(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
  }
  r.body = pos < text.size() ? text.substr(pos) : std::string();
  if (auto cl = r.header("content-length"); !cl.empty()) {
    auto n = std::stoull(cl);
    if (n < r.body.size()) r.body.resize(n);
  }
  return r;
}

}  // namespace http_push_test
