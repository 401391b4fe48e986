// Fuzzes the IDX loader's parsing: optional gzip (our own inflate), then
// the IDX header for 1- and 3-dimensional arrays. A header that parses must
// describe elements that lie inside the buffer.
#include <cstddef>
#include <cstdint>
#include <string>

#include "worker/train/formats.h"
#include "worker/train/gunzip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  std::string error;
  if (!forgetlab::train::InflateIfGzip(&bytes, &error)) return 0;
  for (int dims : {1, 3}) {
    forgetlab::train::IdxArray array;
    if (!forgetlab::train::ParseIdx(bytes, dims, &array, &error)) continue;
    if (array.dims.size() != static_cast<size_t>(dims)) __builtin_trap();
    if (array.data_offset + static_cast<size_t>(array.elements) >
        bytes.size()) {
      __builtin_trap();
    }
    // Touch every element the loader would copy.
    volatile uint8_t sum = 0;
    for (int64_t i = 0; i < array.elements; ++i) {
      sum += static_cast<uint8_t>(bytes[array.data_offset + i]);
    }
  }
  return 0;
}
