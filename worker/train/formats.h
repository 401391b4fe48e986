// The on-disk dataset formats, parsed without LibTorch so that the parsers
// can be fuzzed on their own: IDX arrays (MNIST and its relatives) and
// CIFAR-10 binary batches.
#ifndef FORGETLAB_WORKER_TRAIN_FORMATS_H_
#define FORGETLAB_WORKER_TRAIN_FORMATS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace forgetlab::train {

// Largest dimension and element count accepted from an IDX header.
inline constexpr int64_t kMaxIdxDimension = int64_t{1} << 24;
inline constexpr int64_t kMaxIdxElements = int64_t{1} << 32;

// An unsigned-byte IDX array inside a buffer.
struct IdxArray {
  std::vector<int64_t> dims;
  size_t data_offset = 0;  // where the elements start in the buffer
  int64_t elements = 0;    // product of dims
};

// Parses the header of an unsigned-byte IDX array of `expected_dims`
// dimensions. On failure returns false and says what is wrong in `error`
// (without the file name, which the caller adds).
bool ParseIdx(const std::string& data, int expected_dims, IdxArray* out,
              std::string* error);

// CIFAR-10 binary records: a label byte then 3x32x32 pixel bytes.
inline constexpr int64_t kCifarRecordBytes = 1 + 3 * 32 * 32;

// Checks a CIFAR-10 batch: a whole, non-zero number of records, each label
// at most 9. Sets *records.
bool CheckCifarBatch(const std::string& data, int64_t* records,
                     std::string* error);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_FORMATS_H_
