// IDX and CIFAR-10 parsing.
#include "worker/train/formats.h"

namespace forgetlab::train {
namespace {

constexpr uint8_t kIdxUnsignedByte = 0x08;

}  // namespace

bool ParseIdx(const std::string& data, int expected_dims, IdxArray* out,
              std::string* error) {
  const std::string expected =
      "; expected an MNIST-format IDX file (magic 0x0000080" +
      std::to_string(expected_dims) + ", big-endian sizes)";
  const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
  if (data.size() < 4 || bytes[0] != 0 || bytes[1] != 0 ||
      bytes[2] != kIdxUnsignedByte || bytes[3] != expected_dims) {
    *error = "bad magic number" + expected;
    return false;
  }
  const size_t header = 4 + 4 * static_cast<size_t>(expected_dims);
  if (data.size() < header) {
    *error = "truncated header" + expected;
    return false;
  }
  out->dims.clear();
  int64_t total = 1;
  for (int d = 0; d < expected_dims; ++d) {
    const uint8_t* b = bytes + 4 + 4 * d;
    const int64_t size = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) |
                         (int64_t{b[2]} << 8) | int64_t{b[3]};
    if (size <= 0 || size > kMaxIdxDimension) {
      *error = "dimension " + std::to_string(d) + " is " +
               std::to_string(size) + expected;
      return false;
    }
    out->dims.push_back(size);
    total *= size;
    if (total > kMaxIdxElements) {
      *error = "more than 2^32 elements" + expected;
      return false;
    }
  }
  if (data.size() - header < static_cast<size_t>(total)) {
    *error = "truncated data (header says " + std::to_string(total) +
             " bytes, file has " + std::to_string(data.size() - header) + ")";
    return false;
  }
  out->data_offset = header;
  out->elements = total;
  return true;
}

bool CheckCifarBatch(const std::string& data, int64_t* records,
                     std::string* error) {
  if (data.empty() || data.size() % kCifarRecordBytes != 0) {
    *error = std::to_string(data.size()) +
             " bytes is not a whole number of 3073-byte records";
    return false;
  }
  const int64_t n = static_cast<int64_t>(data.size()) / kCifarRecordBytes;
  for (int64_t i = 0; i < n; ++i) {
    const auto label =
        static_cast<uint8_t>(data[static_cast<size_t>(i * kCifarRecordBytes)]);
    if (label > 9) {
      *error = "record " + std::to_string(i) + " has label " +
               std::to_string(label) + " (labels are 0-9)";
      return false;
    }
  }
  *records = n;
  return true;
}

}  // namespace forgetlab::train
