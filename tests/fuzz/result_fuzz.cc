// Fuzzes the check of a result a worker uploads: wire bytes are parsed as a
// JobResult and validated against a job of 1-4 tasks (the first byte). A
// result that passes must convert to a storage record that holds only
// accuracies in [0, 1].
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "forgetlab/v1/forgetlab.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "server/convert.h"

// Invalid input is the point; protobuf's log lines about it are noise.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int tasks = 1 + data[0] % 4;
  forgetlab::v1::JobResult result;
  if (!result.ParseFromArray(data + 1, static_cast<int>(size - 1))) return 0;
  if (!forgetlab::ValidateResult(result, tasks).ok()) return 0;
  const forgetlab::storage::ResultRecord record =
      forgetlab::ResultRecordFromProto(result);
  if (record.accuracy_matrix.size() != static_cast<size_t>(tasks)) {
    __builtin_trap();
  }
  for (const auto& row : record.accuracy_matrix) {
    if (row.size() != static_cast<size_t>(tasks)) __builtin_trap();
    for (double a : row) {
      if (!(a >= 0 && a <= 1)) __builtin_trap();
    }
  }
  for (const auto& [name, value] : record.metrics) {
    if (!std::isfinite(value)) __builtin_trap();
  }
  return 0;
}
