// gzip decompression (RFC 1952 members of RFC 1951 DEFLATE data), so that
// worker/train reads gzipped IDX files with the standard library alone.
#ifndef FORGETLAB_WORKER_TRAIN_GUNZIP_H_
#define FORGETLAB_WORKER_TRAIN_GUNZIP_H_

#include <string>

namespace forgetlab::train {

// True when `data` starts with the gzip magic bytes.
bool IsGzip(const std::string& data);

// Decompresses every gzip member of `in` into `out`, checking each member's
// CRC-32 and length. On failure returns false and says why in `error`.
bool Gunzip(const std::string& in, std::string* out, std::string* error);

// Replaces `*data` by its decompressed contents when it is gzip; leaves
// other data alone. False (with the reason in `error`) for malformed gzip.
bool InflateIfGzip(std::string* data, std::string* error);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_GUNZIP_H_
