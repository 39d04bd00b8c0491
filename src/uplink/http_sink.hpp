#pragma once
// HTTP(S) sink over libcurl (no curl headers here).
#include <chrono>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "uplink/sink.hpp"

namespace cg::uplink {

struct HttpSinkOptions {
  std::string id;
  std::string url;
  std::string compression = "zstd";  // none | gzip | zstd
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{30000};
  std::string bearer_token;  // already read from its credential file
  std::string gateway_id;
  std::string proxy;      // libcurl proxy URL; empty: no proxy (the environment's proxy variables are ignored)
  std::string ca_file;    // PEM CA bundle; empty: the system's trust store
  std::string cert_file;  // PEM client certificate for mTLS (with key_file)
  std::string key_file;
  bool tls_verify = true;  // peer certificate and host name; off only for lab use
};

class HttpSink final : public Sink {
 public:
  static Result<std::unique_ptr<HttpSink>> create(HttpSinkOptions opts);
  ~HttpSink() override;
  const std::string& id() const override;
  SendResult send(const OutgoingBatch& batch) override;
  void abort() override;

  struct Impl;

 private:
  explicit HttpSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Compression used by the sink (and checked by tests against the lake's decoders).
std::string compress_gzip(std::string_view in);
std::string compress_zstd(std::string_view in, int level = 3);

}  // namespace cg::uplink
