// Fuzzes the CIFAR-10 batch check: optional gzip, then record framing and
// labels. A batch that passes must hold whole records with labels 0-9.
#include <cstddef>
#include <cstdint>
#include <string>

#include "worker/train/formats.h"
#include "worker/train/gunzip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  std::string error;
  if (!forgetlab::train::InflateIfGzip(&bytes, &error)) return 0;
  int64_t records = 0;
  if (!forgetlab::train::CheckCifarBatch(bytes, &records, &error)) return 0;
  if (records * forgetlab::train::kCifarRecordBytes !=
      static_cast<int64_t>(bytes.size())) {
    __builtin_trap();
  }
  for (int64_t i = 0; i < records; ++i) {
    if (static_cast<uint8_t>(bytes[i * forgetlab::train::kCifarRecordBytes]) >
        9) {
      __builtin_trap();
    }
  }
  return 0;
}
