#include "support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "support/wait.hpp"

namespace cg::test {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/citygate-test-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!std::getenv("CITYGATE_KEEP_TEST_DIRS")) std::filesystem::remove_all(path_, ec);
}

namespace {
// The kernel's ephemeral range: the local ports of outgoing connections come from it.
std::pair<int, int> ephemeral_range() {
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  int lo = 32768, hi = 60999;
  if (f >> lo >> hi && lo > 0 && hi >= lo) return {lo, hi};
  return {32768, 60999};
}

bool can_bind(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}
}  // namespace

// A port OUTSIDE the ephemeral range. bind(0) would hand out an ephemeral port, which any
// outgoing connection of a parallel test (or of this one, such as a sink retrying a lake that is
// not up yet) may take as its local port before our server binds it — or connect to itself
// through it. Random, so parallel test processes rarely pick the same one; checked by binding.
int free_port() {
  static thread_local std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
  auto [lo, hi] = ephemeral_range();
  // the larger of the two gaps around the ephemeral range, above the privileged/common ports
  int from = 10000, to = lo - 1;
  if (65535 - hi > to - from) from = hi + 1, to = 65535;
  const bool no_room = to - from < 1000;  // a machine with an odd range: take any port
  if (no_room) from = 1024, to = 65535;
  std::uniform_int_distribution<int> pick(from, to);
  for (int i = 0; i < 200; ++i) {
    int p = pick(rng);
    if ((no_room || p < lo || p > hi) && can_bind(p)) return p;
  }
  throw std::runtime_error("no free port outside the ephemeral range");
}

bool wait_port_open(int port, int timeout_ms) {
  return wait_until(
      [&] {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<uint16_t>(port));
        bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        return ok;
      },
      std::chrono::milliseconds(timeout_ms));
}

Process::Process(std::vector<std::string> argv, std::filesystem::path log_path,
                 std::vector<std::string> extra_env)
    : log_path_(std::move(log_path)) {
  int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open log " + log_path_.string());
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // a test that dies must not leave brokers and gateways behind
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    for (auto& e : extra_env) ::putenv(e.data());
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    _exit(127);
  }
  ::close(fd);
}

Process::~Process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait(5000);
  }
}

bool Process::running() {
  if (exited_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    status_ = st;
    return false;
  }
  return true;
}

void Process::signal(int sig) {
  if (!exited_) ::kill(pid_, sig);
}

int Process::wait(int timeout_ms) {
  if (!wait_until([&] { return !running(); }, std::chrono::milliseconds(timeout_ms))) return -1;
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return -1;
}

int Process::stop(int sig, int timeout_ms) {
  signal(sig);
  return wait(timeout_ms);
}

std::string Process::log() const { return read_file(log_path_); }

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const std::filesystem::path& p, const std::string& content) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << content;
}

Mosquitto::Mosquitto(const std::filesystem::path& dir, int port, std::string extra_conf)
    : dir_(dir), port_(port ? port : free_port()), extra_conf_(std::move(extra_conf)) {
  std::filesystem::create_directories(dir_);
  start();
}

void Mosquitto::start() {
  std::ostringstream conf;
  conf << "listener " << port_ << " 127.0.0.1\n"
       << "allow_anonymous true\n"
       << "max_queued_messages 0\n"  // the default 1000 silently drops QoS 1 under load
       << "max_inflight_messages 0\n"
       << "persistence true\n"
       << "persistence_location " << dir_.string() << "/\n"
       << "log_dest stdout\n";
  if (::geteuid() == 0) conf << "user root\n";  // else 2.0 drops privileges and cannot write dir_
  conf << extra_conf_;
  write_file(dir_ / "mosquitto.conf", conf.str());
  proc_ = std::make_unique<Process>(std::vector<std::string>{"mosquitto", "-c", (dir_ / "mosquitto.conf").string()},
                                    dir_ / "mosquitto.log");
  if (!wait_port_open(port_, 10000)) throw std::runtime_error("mosquitto did not start: " + proc_->log());
}

void Mosquitto::stop() {
  if (proc_) proc_->stop(SIGTERM, 10000);
}

void Mosquitto::restart() {
  stop();
  start();
}

}  // namespace cg::test
