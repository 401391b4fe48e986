// Canonical spec bytes and their FNV-1a key.
#include "proto/spec/spec_key.h"

#include <openssl/evp.h>

#include <cstdint>

#include "absl/strings/string_view.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace forgetlab {
namespace {

uint64_t Fnv1a64(absl::string_view bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

std::string CanonicalSpec(const v1::ExperimentSpec& resolved) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    resolved.SerializeToCodedStream(&coded);
  }
  return bytes;
}

std::string SpecKey(const v1::ExperimentSpec& resolved) {
  static const char kHex[] = "0123456789abcdef";
  uint64_t h = Fnv1a64(CanonicalSpec(resolved));
  std::string key(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4)
    key[static_cast<size_t>(i)] = kHex[h & 15];
  return key;
}

std::string PretrainingKey(const v1::ExperimentSpec& resolved) {
  if (resolved.pretrain().examples() <= 0) return "";
  v1::ExperimentSpec pretraining = resolved;
  pretraining.clear_tasks();
  pretraining.clear_finetune();
  pretraining.clear_eval();
  const std::string bytes = "pretraining-v1|" + CanonicalSpec(pretraining);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(),
             nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string key;
  for (unsigned int i = 0; i < length; ++i) {
    key.push_back(kHex[digest[i] >> 4]);
    key.push_back(kHex[digest[i] & 15]);
  }
  return key;
}

}  // namespace forgetlab
