#pragma once
// Blocking HTTP client for tests (libcurl): real requests over loopback.
#include <string>
#include <utility>
#include <vector>

namespace cg::test {

struct HttpResult {
  int status = 0;          // 0 when the request failed at transport level
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string error;       // curl error text when status == 0
  std::string header(const std::string& lower_name) const;
};

HttpResult http_request(const std::string& method, const std::string& url, const std::string& body = "",
                        const std::vector<std::string>& headers = {}, long timeout_ms = 10000);
inline HttpResult http_get(const std::string& url) { return http_request("GET", url); }

}  // namespace cg::test
