#include "app/simulate_cmd.hpp"

#include <MQTTAsync.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include "app/sim_payloads.hpp"
#include "core/clock.hpp"
#include "simulated/fleet.hpp"

namespace cg::app {

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }

constexpr int kOk = 0, kUsage = 64, kData = 65, kUnavailable = 69;

class Sender {
 public:
  virtual ~Sender() = default;
  virtual bool send(const sim::Message& m) = 0;
};

// MQTT QoS 1, waiting for each PUBACK: the simulator never outruns what the broker took.
class MqttSender final : public Sender {
 public:
  static std::unique_ptr<MqttSender> connect(const std::string& url, std::string& why) {
    auto s = std::unique_ptr<MqttSender>(new MqttSender);
    std::string id = "citygate-sim-" + std::to_string(getpid());
    if (MQTTAsync_create(&s->c_, url.c_str(), id.c_str(), MQTTCLIENT_PERSISTENCE_NONE, nullptr) != MQTTASYNC_SUCCESS) {
      why = "bad broker URL " + url;
      return nullptr;
    }
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    o.cleansession = 1;
    o.keepAliveInterval = 30;
    o.onSuccess = [](void* ctx, MQTTAsync_successData*) { static_cast<MqttSender*>(ctx)->done(true); };
    o.onFailure = [](void* ctx, MQTTAsync_failureData*) { static_cast<MqttSender*>(ctx)->done(false); };
    o.context = s.get();
    s->arm();
    if (MQTTAsync_connect(s->c_, &o) != MQTTASYNC_SUCCESS || !s->wait()) {
      why = "cannot connect to " + url;
      return nullptr;
    }
    return s;
  }
  ~MqttSender() override {
    if (!c_) return;
    MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
    o.timeout = 1000;
    MQTTAsync_disconnect(c_, &o);
    MQTTAsync_destroy(&c_);
  }
  bool send(const sim::Message& m) override {
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = const_cast<char*>(m.body.data());
    msg.payloadlen = static_cast<int>(m.body.size());
    msg.qos = 1;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = [](void* ctx, MQTTAsync_successData*) { static_cast<MqttSender*>(ctx)->done(true); };
    ro.onFailure = [](void* ctx, MQTTAsync_failureData*) { static_cast<MqttSender*>(ctx)->done(false); };
    ro.context = this;
    arm();
    if (MQTTAsync_sendMessage(c_, m.topic.c_str(), &msg, &ro) != MQTTASYNC_SUCCESS) return false;
    return wait();
  }

 private:
  MqttSender() = default;
  void arm() {
    std::lock_guard lk(mu_);
    state_ = 0;
  }
  void done(bool ok) {
    std::lock_guard lk(mu_);
    state_ = ok ? 1 : 2;
    cv_.notify_all();
  }
  bool wait() {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(10), [&] { return state_ != 0; }) && state_ == 1;
  }
  MQTTAsync c_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  int state_ = 0;
};

// HTTP POST on one keep-alive connection; 2xx counts as delivered.
class HttpSender final : public Sender {
 public:
  explicit HttpSender(std::string url) : url_(std::move(url)), curl_(curl_easy_init()) {}
  ~HttpSender() override { curl_easy_cleanup(curl_); }
  bool send(const sim::Message& m) override {
    std::string url = url_ + m.http_query;
    curl_slist* h = nullptr;
    h = curl_slist_append(h, ("Content-Type: " + m.content_type).c_str());
    for (const auto& [k, v] : m.headers) h = curl_slist_append(h, (k + ": " + v).c_str());
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, m.body.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(m.body.size()));
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, +[](char*, size_t n, size_t k, void*) { return n * k; });
    CURLcode rc = curl_easy_perform(curl_);
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return rc == CURLE_OK && status >= 200 && status < 300;
  }

 private:
  std::string url_;
  CURL* curl_;
};

// Line protocol over UDP (one datagram a message) or TCP (one stream).
class SocketSender final : public Sender {
 public:
  static std::unique_ptr<SocketSender> open(bool udp, const std::string& host, const std::string& port, std::string& why) {
    addrinfo hints{};
    hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) {
      why = "cannot resolve " + host;
      return nullptr;
    }
    int fd = socket(res->ai_family, res->ai_socktype, 0);
    bool ok = fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) == 0;
    freeaddrinfo(res);
    if (!ok) {
      if (fd >= 0) close(fd);
      why = "cannot connect to " + host + ":" + port;
      return nullptr;
    }
    auto s = std::unique_ptr<SocketSender>(new SocketSender);
    s->fd_ = fd;
    return s;
  }
  ~SocketSender() override {
    if (fd_ >= 0) close(fd_);
  }
  bool send(const sim::Message& m) override {
    std::size_t off = 0;
    while (off < m.body.size()) {
      auto n = ::send(fd_, m.body.data() + off, m.body.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

 private:
  SocketSender() = default;
  int fd_ = -1;
};

bool split_host_port(std::string_view hp, std::string& host, std::string& port) {
  auto colon = hp.rfind(':');
  if (colon == std::string_view::npos) return false;
  host = std::string(hp.substr(0, colon));
  port = std::string(hp.substr(colon + 1));
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return !host.empty() && !port.empty();
}

}  // namespace

int run_modbus_simulator(const SimulateArgs& a, const std::atomic<bool>& stop);

int run_simulate(const SimulateArgs& a) {
  // main() blocks these for the gateway's sigwait; the simulator takes them as a stop request
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  if (a.devices < 1 || a.devices > 100000 || a.rate < 0 || a.duration < 0) {
    std::cerr << "citygate simulate: --devices 1..100000, --rate and --duration >= 0\n";
    return kUsage;
  }
  if (a.kind == "modbus_tcp") return run_modbus_simulator(a, g_stop);
  auto fmt = sim::parse_format(a.kind);
  if (!fmt) {
    std::cerr << "citygate simulate: unknown --kind '" << a.kind
              << "' (mqtt_json, senml, sparkplug_b, lorawan_ttn, lorawan_chirpstack, influx_line, http_push, modbus_tcp)\n";
    return kUsage;
  }
  std::string scheme = a.target.substr(0, a.target.find("://"));
  if (scheme == a.target) scheme.clear();
  std::string why;
  std::unique_ptr<Sender> sender;
  if (scheme == "http" || scheme == "https") {
    if (*fmt == sim::Format::sparkplug_b) {
      std::cerr << "citygate simulate: sparkplug_b goes over MQTT only\n";
      return kUsage;
    }
    sender = std::make_unique<HttpSender>(a.target);
  } else if ((scheme == "udp" || scheme == "tcp") && *fmt == sim::Format::influx_line) {
    std::string host, port;
    if (!split_host_port(a.target.substr(scheme.size() + 3), host, port)) {
      std::cerr << "citygate simulate: --target " << scheme << "://HOST:PORT\n";
      return kUsage;
    }
    sender = SocketSender::open(scheme == "udp", host, port, why);
  } else if (scheme == "tcp" || scheme == "mqtt" || scheme == "ssl" || scheme == "mqtts" || scheme == "ws") {
    if (*fmt == sim::Format::http_push) {
      std::cerr << "citygate simulate: http_push goes over HTTP only (--target http://...)\n";
      return kUsage;
    }
    sender = MqttSender::connect(a.target, why);
  } else {
    std::cerr << "citygate simulate: --target must be a broker URL (tcp://, mqtt://), an HTTP URL, or for "
                 "influx_line udp://HOST:PORT or tcp://HOST:PORT\n";
    return kUsage;
  }
  if (!sender) {
    std::cerr << "citygate simulate: " << why << "\n";
    return kUnavailable;
  }

  // airrohr nodes are air-quality devices: every fourth device of the fleet model is one
  bool aq_only = *fmt == sim::Format::http_push;
  cg::sim::Fleet fleet(aq_only ? a.devices * 4 : a.devices, a.seed);
  std::vector<sim::DeviceState> states(static_cast<std::size_t>(a.devices));
  const double rate = a.rate > 0 ? a.rate : static_cast<double>(a.devices);
  const auto period = std::chrono::duration<double>(1.0 / rate);
  SystemClock clock;
  auto start = std::chrono::steady_clock::now();
  auto next = start;
  std::uint64_t sent = 0, failed = 0, readings = 0;
  std::vector<TimeNs> last(states.size());
  for (std::size_t k = 0; !g_stop; ++k) {
    if (a.duration > 0 && std::chrono::steady_clock::now() - start >= std::chrono::duration<double>(a.duration)) break;
    std::size_t i = k % states.size();
    std::size_t fi = aq_only ? i * 4 : i;
    TimeNs now = clock.now();
    auto since = last[i] == TimeNs{} ? std::chrono::milliseconds(1000)
                                     : std::chrono::duration_cast<std::chrono::milliseconds>(now - last[i]);
    last[i] = now;
    auto sample = fleet.sample(fi, now, since);
    std::string device = sim::device_id(*fmt, fleet.device(fi).id);
    for (auto& r : sample) r.device = device;
    for (const auto& m : sim::encode(*fmt, i, device, sample, now, states[i])) {
      if (sender->send(m)) ++sent;
      else ++failed;
    }
    readings += sample.size();
    next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
    auto now_s = std::chrono::steady_clock::now();
    if (next > now_s) std::this_thread::sleep_until(next);
    else if (now_s - next > std::chrono::seconds(1)) next = now_s;  // behind: do not burst to catch up
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cerr << "citygate simulate: " << a.kind << " -> " << a.target << ": " << sent << " message(s) sent, " << failed
            << " failed, " << readings << " reading(s), " << a.devices << " device(s), " << secs << " s\n";
  if (sent == 0 && failed > 0) return kUnavailable;
  return failed ? kData : kOk;
}

}  // namespace cg::app
