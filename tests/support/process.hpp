#pragma once
// Real processes for integration tests: the citygate binary, mosquitto, the lake receiver.
#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace cg::test {

// A fresh directory under $TMPDIR, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& s) const { return path_ / s; }

 private:
  std::filesystem::path path_;
};

// A loopback TCP port that was free a moment ago (bind to port 0, read it back, close).
int free_port();

// A child process; stdout+stderr go to `log_path`. Killed (SIGKILL) on destruction if running.
class Process {
 public:
  Process(std::vector<std::string> argv, std::filesystem::path log_path,
          std::vector<std::string> extra_env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();                 // reaps if it exited
  void signal(int sig);
  // Sends sig and waits up to timeout for exit; returns the exit code (or 128+signal), -1 on timeout.
  int stop(int sig = 15, int timeout_ms = 10000);
  int wait(int timeout_ms);       // -1 on timeout
  std::string log() const;        // what it printed so far
  const std::filesystem::path& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool exited_ = false;
  std::filesystem::path log_path_;
};

// mosquitto on a free loopback port with the test-broker settings (max_queued_messages 0,
// persistence in `dir`, `user root` when running as root).
class Mosquitto {
 public:
  // `extra_conf` is appended to the generated mosquitto.conf (another listener, TLS settings).
  explicit Mosquitto(const std::filesystem::path& dir, int port = 0, std::string extra_conf = {});
  int port() const { return port_; }
  std::string url() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  void restart();
  void stop();
  Process& process() { return *proc_; }

 private:
  void start();
  std::filesystem::path dir_;
  int port_;
  std::string extra_conf_;
  std::unique_ptr<Process> proc_;
};

// Waits until something accepts TCP connections on 127.0.0.1:port.
bool wait_port_open(int port, int timeout_ms = 10000);

std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& content);

}  // namespace cg::test
