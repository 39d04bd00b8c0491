#include "uplink/http_sink.hpp"

#include <curl/curl.h>
#include <zlib.h>
#include <zstd.h>

#include <atomic>
#include <cctype>
#include <ctime>
#include <mutex>

namespace cg::uplink {

std::string compress_gzip(std::string_view in) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // +16: gzip framing
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string compress_zstd(std::string_view in, int level) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  auto n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level);
  if (ZSTD_isError(n)) return {};
  out.resize(n);
  return out;
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view v, std::int64_t now_unix_s) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\r' || v.back() == '\n')) v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  bool all_digits = true;
  for (char c : v) all_digits &= std::isdigit(static_cast<unsigned char>(c)) != 0;
  if (all_digits) {
    if (v.size() > 9) return std::chrono::hours(24);  // absurd values: cap at a day
    return std::chrono::seconds(std::stoll(std::string(v)));
  }
  std::string s(v);
  time_t t = curl_getdate(s.c_str(), nullptr);
  if (t < 0) return std::nullopt;
  auto d = static_cast<std::int64_t>(t) - now_unix_s;
  return std::chrono::seconds(std::clamp<std::int64_t>(d, 0, 86400));
}

namespace {
std::once_flag curl_once;

size_t discard_body(char* p, size_t sz, size_t n, void* ud) {
  auto* s = static_cast<std::string*>(ud);
  if (s->size() < 4096) s->append(p, std::min<size_t>(sz * n, 4096 - s->size()));
  return sz * n;
}
size_t on_header(char* p, size_t sz, size_t n, void* ud) {
  std::string_view line(p, sz * n);
  constexpr std::string_view key = "retry-after:";
  if (line.size() > key.size()) {
    bool match = true;
    for (std::size_t i = 0; i < key.size(); ++i)
      match &= std::tolower(static_cast<unsigned char>(line[i])) == key[i];
    if (match) *static_cast<std::string*>(ud) = std::string(line.substr(key.size()));
  }
  return sz * n;
}
}  // namespace

struct HttpSink::Impl {
  HttpSinkOptions o;
  CURL* curl = nullptr;
  std::atomic<bool> aborting{false};

  static int progress(void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<Impl*>(ud)->aborting.load() ? 1 : 0;  // non-zero aborts the transfer
  }
};

HttpSink::HttpSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpSink::~HttpSink() {
  if (impl_->curl) curl_easy_cleanup(impl_->curl);
}

Result<std::unique_ptr<HttpSink>> HttpSink::create(HttpSinkOptions opts) {
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (opts.compression != "none" && opts.compression != "gzip" && opts.compression != "zstd")
    return fail(Error::fatal("config", "unknown compression '" + opts.compression + "'"));
  auto impl = std::make_unique<Impl>();
  impl->o = std::move(opts);
  impl->curl = curl_easy_init();
  if (!impl->curl) return fail(Error::fatal("curl", "curl_easy_init failed"));
  return std::unique_ptr<HttpSink>(new HttpSink(std::move(impl)));
}

const std::string& HttpSink::id() const { return impl_->o.id; }

void HttpSink::abort() { impl_->aborting = true; }

SendResult HttpSink::send(const OutgoingBatch& batch) {
  auto& m = *impl_;
  const auto& h = batch.header;
  const std::string_view body = batch.body;
  CURL* c = m.curl;
  std::string payload;
  const char* encoding = nullptr;
  if (m.o.compression == "zstd") {
    payload = compress_zstd(body);
    encoding = "Content-Encoding: zstd";
  } else if (m.o.compression == "gzip") {
    payload = compress_gzip(body);
    encoding = "Content-Encoding: gzip";
  } else {
    payload.assign(body);
  }
  curl_slist* hdrs = nullptr;
  hdrs = curl_slist_append(hdrs, "Content-Type: application/x-protobuf");
  if (encoding) hdrs = curl_slist_append(hdrs, encoding);
  hdrs = curl_slist_append(hdrs, ("Idempotency-Key: " + h.batch_id).c_str());
  hdrs = curl_slist_append(hdrs, ("X-Citygate-Gateway: " + h.gateway_id).c_str());
  hdrs = curl_slist_append(hdrs, ("X-Citygate-Batch-Seq: " + std::to_string(h.batch_seq)).c_str());
  if (h.parts > 0)
    hdrs = curl_slist_append(hdrs, ("X-Citygate-Part: " + std::to_string(h.part) + "/" + std::to_string(h.parts)).c_str());
  if (!m.o.bearer_token.empty()) hdrs = curl_slist_append(hdrs, ("Authorization: Bearer " + m.o.bearer_token).c_str());
  hdrs = curl_slist_append(hdrs, "Expect:");  // no 100-continue round trip

  std::string resp_body, retry_after;
  curl_easy_reset(c);  // keeps the connection cache: keep-alive across batches
  curl_easy_setopt(c, CURLOPT_URL, m.o.url.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(m.o.connect_timeout.count()));
  // The total timeout also ends a half-open connection (a frozen lake) that would otherwise hang.
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(m.o.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, m.o.tls_verify ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, m.o.tls_verify ? 2L : 0L);
  if (!m.o.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, m.o.ca_file.c_str());
  if (!m.o.cert_file.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, m.o.cert_file.c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, m.o.key_file.c_str());
  }
  // An explicit proxy, or none at all: a gateway must not pick one up from its environment.
  curl_easy_setopt(c, CURLOPT_PROXY, m.o.proxy.c_str());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "citygate");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp_body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &retry_after);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, Impl::progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &m);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(hdrs);

  SendResult r;
  if (rc != CURLE_OK) {
    r.kind = SendResult::Kind::retry;
    r.detail = curl_easy_strerror(rc);
    return r;
  }
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  r.status = static_cast<int>(code);
  r.detail = resp_body;
  if (!retry_after.empty()) r.retry_after = parse_retry_after(retry_after, static_cast<std::int64_t>(std::time(nullptr)));
  if ((code >= 200 && code < 300) || code == 409) r.kind = SendResult::Kind::settled;
  else if (code == 429 || code == 503) r.kind = SendResult::Kind::wait;
  else if (code == 413) r.kind = SendResult::Kind::too_large;
  else if (code == 408 || code >= 500) r.kind = SendResult::Kind::retry;
  else r.kind = SendResult::Kind::rejected;
  return r;
}

}  // namespace cg::uplink
