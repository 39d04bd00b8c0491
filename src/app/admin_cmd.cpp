#include "app/admin_cmd.hpp"

#include <curl/curl.h>

#include <iostream>
#include <optional>

#include "config/config.hpp"
#include "core/secret_file.hpp"
#include "runtime/admin_api.hpp"
#include "store/store.hpp"

namespace cg::app {

namespace {

constexpr int kNotRunning = 3;
constexpr int kUnavailable = 69;

struct HttpAnswer {
  bool connected = false;
  long status = 0;
  std::string body;
  std::string error;
};

size_t collect(char* p, size_t sz, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, sz * n);
  return sz * n;
}

HttpAnswer call(const config::ListenAddress& l, const std::string& token, const std::string& method,
                const std::string& path) {
  HttpAnswer a;
  CURL* c = curl_easy_init();
  if (!c) return a;
  std::string host = l.host == "0.0.0.0" ? "127.0.0.1" : l.host == "::" ? "::1" : l.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  std::string url = "http://" + host + ":" + std::to_string(l.port) + path;
  curl_slist* h = nullptr;
  if (!token.empty()) h = curl_slist_append(h, ("Authorization: Bearer " + token).c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST") curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &a.body);
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) {
    a.connected = true;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
  } else {
    a.error = curl_easy_strerror(rc);
  }
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return a;
}

struct Target {
  config::GatewayConfig cfg;
  std::string token;
};

std::optional<Target> load(const AdminArgs& a, int& exit_code) {
  auto loaded = config::load_config(a.config);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
    exit_code = config::kExitConfig;
    return std::nullopt;
  }
  Target t{*loaded.config, {}};
  if (t.cfg.admin.listen && !t.cfg.admin.token_file.empty()) {
    auto tok = read_secret_file(t.cfg.admin.token_file, "admin token");
    if (!tok) {
      std::cerr << "citygate: " << tok.error().message << "\n";
      exit_code = kUnavailable;
      return std::nullopt;
    }
    t.token = *tok;
  }
  return t;
}

// Asks the running gateway. nullopt when nothing listens there (the caller falls back to the file).
std::optional<HttpAnswer> ask(const Target& t, const std::string& method, const std::string& path) {
  if (!t.cfg.admin.listen) return std::nullopt;
  auto ans = call(*t.cfg.admin.listen, t.token, method, path);
  if (!ans.connected) return std::nullopt;
  return ans;
}

int print_answer(const HttpAnswer& ans) {
  if (ans.status >= 200 && ans.status < 300) {
    std::cout << ans.body;
    if (!ans.body.empty() && ans.body.back() != '\n') std::cout << "\n";
    return 0;
  }
  std::cerr << "citygate: the gateway answered " << ans.status << ": " << ans.body << "\n";
  return 1;
}

}  // namespace

int run_status(const AdminArgs& a) {
  int rc = 0;
  auto t = load(a, rc);
  if (!t) return rc;
  if (auto ans = ask(*t, "GET", a.json ? "/admin/v1/status" : "/admin/v1/status?format=text")) return print_answer(*ans);
  auto st = store::inspect_store(t->cfg.store.path);
  if (!st) {
    std::cerr << "citygate: the gateway does not answer on its admin endpoint and its store cannot be read: "
              << st.error().message << "\n";
    return kUnavailable;
  }
  runtime::GatewayInfo gw{t->cfg.gateway_id, {}, 0, false, false};
  std::cout << (a.json ? runtime::status_json(gw, *st, nullptr) + "\n" : runtime::status_text(gw, *st, nullptr));
  return kNotRunning;
}

int run_dead_batches(const AdminArgs& a) {
  int rc = 0;
  auto t = load(a, rc);
  if (!t) return rc;
  const std::string fmt = a.json ? "" : "?format=text";
  if (a.action == "list") {
    if (auto ans = ask(*t, "GET", "/admin/v1/dead-batches" + fmt)) return print_answer(*ans);
    auto list = store::inspect_dead_batches(t->cfg.store.path);
    if (!list) {
      std::cerr << "citygate: " << list.error().message << "\n";
      return kUnavailable;
    }
    if (a.json) {
      std::string o = "{\"dead_batches\":[";
      for (std::size_t i = 0; i < list->size(); ++i) o += (i ? "," : "") + runtime::dead_batch_json((*list)[i]);
      std::cout << o << "]}\n";
    } else {
      std::cout << runtime::dead_batches_text(*list);
    }
    return kNotRunning;
  }
  if (a.action == "show") {
    if (auto ans = ask(*t, "GET", "/admin/v1/dead-batches/" + std::to_string(a.id) + fmt)) return print_answer(*ans);
    auto one = store::inspect_dead_batch(t->cfg.store.path, a.id, 100);
    if (!one) {
      std::cerr << "citygate: " << one.error().message << "\n";
      return one.error().code == "not_found" ? 1 : kUnavailable;
    }
    if (a.json) std::cout << runtime::dead_batch_json(one->first, one->second) << "\n";
    else std::cout << runtime::dead_batch_text(one->first, one->second);
    return kNotRunning;
  }
  if (a.action == "replay") {
    if (auto ans = ask(*t, "POST", "/admin/v1/dead-batches/" + std::to_string(a.id) + "/replay")) return print_answer(*ans);
    std::cerr << "citygate: the gateway is not running (nothing answers on its admin endpoint); replay needs it "
                 "running, the store is only read while it is stopped\n";
    return kNotRunning;
  }
  std::cerr << "citygate dead-batches: unknown action '" << a.action << "' (list, show ID, replay ID)\n";
  return 64;
}

}  // namespace cg::app
