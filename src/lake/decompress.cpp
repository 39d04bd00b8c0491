#include "lake/decompress.hpp"

#include <algorithm>
#include <climits>

#include <fmt/format.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

namespace cg::lake {

namespace {

constexpr std::size_t kFirstChunk = 64 * 1024;

Error too_large(std::size_t cap) {
  return Error::reject("too_large", fmt::format("decompressed body exceeds {} bytes", cap));
}

// Makes room for more output: doubles the buffer, but never beyond cap + 1 (one byte over the
// cap is how we notice the cap was exceeded); a doubling that would reach the cap goes straight to
// cap + 1, so the largest reallocation copies at most half the cap (peak ≈ 1.5 × cap). Returns
// false when the buffer is already at cap + 1.
bool grow(std::string& out, std::size_t cap) {
  const std::size_t limit = cap + 1;
  if (out.size() >= limit) return false;
  std::size_t next = std::max(kFirstChunk, out.size() * 2);
  out.resize(next >= cap ? limit : next);
  return true;
}

}  // namespace

Result<std::string> gunzip(std::string_view in, std::size_t cap) {
  if (in.size() > UINT_MAX) return fail(too_large(cap));
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)  // 16: gzip wrapper only
    return fail(Error::retry("zlib", "inflateInit2 failed"));
  struct End {
    z_stream* z;
    ~End() { inflateEnd(z); }
  } end{&zs};

  std::string out;
  std::size_t produced = 0;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  while (true) {
    if (produced == out.size() && !grow(out, cap)) return fail(too_large(cap));
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = static_cast<uInt>(out.size() - produced);
    int rc = inflate(&zs, Z_NO_FLUSH);
    produced = out.size() - zs.avail_out;
    if (produced > cap) return fail(too_large(cap));
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      // RFC 1952 §2.2: a gzip file may hold several members, decoded as one concatenation.
      if (inflateReset(&zs) != Z_OK) return fail(Error::reject("corrupt", "gzip: cannot reset stream"));
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && zs.avail_out == 0) continue;  // needs more room: grow
    if (rc == Z_BUF_ERROR) return fail(Error::reject("corrupt", "gzip: data is truncated"));
    return fail(Error::reject("corrupt", fmt::format("gzip: {}", zs.msg ? zs.msg : "invalid data")));
  }
  out.resize(produced);
  return out;
}

Result<std::string> unzstd(std::string_view in, std::size_t cap) {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  if (!dctx) return fail(Error::retry("zstd", "ZSTD_createDCtx failed"));
  struct Free {
    ZSTD_DCtx* d;
    ~Free() { ZSTD_freeDCtx(d); }
  } free_dctx{dctx};
  // Bounds the decoder's own memory (the window), independent of the output cap.
  ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, kZstdWindowLogMax);

  std::string out;
  // A frame that declares its size up front: refuse an oversized one before decoding anything,
  // and size the buffer once for an honest one.
  const unsigned long long declared = ZSTD_getFrameContentSize(in.data(), in.size());
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR) {
    if (declared > cap) return fail(too_large(cap));
    out.reserve(static_cast<std::size_t>(declared) + 1);
  }
  std::size_t produced = 0;
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  std::size_t last = 1;  // 0 = the last frame is complete
  while (!(input.pos == input.size && last == 0)) {
    if (produced == out.size() && !grow(out, cap)) return fail(too_large(cap));
    ZSTD_outBuffer output{out.data() + produced, out.size() - produced, 0};
    std::size_t rc = ZSTD_decompressStream(dctx, &output, &input);
    produced += output.pos;
    if (ZSTD_isError(rc)) {
      if (ZSTD_getErrorCode(rc) == ZSTD_error_frameParameter_windowTooLarge)
        return fail(Error::reject("too_large", fmt::format("zstd: frame window larger than 2^{} bytes",
                                                           kZstdWindowLogMax)));
      return fail(Error::reject("corrupt", fmt::format("zstd: {}", ZSTD_getErrorName(rc))));
    }
    if (produced > cap) return fail(too_large(cap));
    last = rc;
    // All input consumed, the frame is unfinished and the decoder did not fill the room it had:
    // it is waiting for input that will never come.
    if (input.pos == input.size && rc != 0 && output.pos < output.size)
      return fail(Error::reject("corrupt", "zstd: data is truncated"));
  }
  out.resize(produced);
  return out;
}

}  // namespace cg::lake
