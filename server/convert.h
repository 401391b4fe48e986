// Conversions between storage rows and forgetlab.v1 messages, and the check
// of results that workers upload.
#ifndef FORGETLAB_SERVER_CONVERT_H_
#define FORGETLAB_SERVER_CONVERT_H_

#include "absl/status/status.h"
#include "forgetlab/v1/forgetlab.pb.h"
#include "storage/store.h"

namespace forgetlab {

void JobToProto(const storage::JobRow& row, v1::Job* job);
// `with_spec` false leaves status->spec empty: lists and watch events stay
// small however large the submitted specs were.
void SweepToProto(const storage::SweepRow& row, v1::SweepStatus* status,
                  bool with_spec = true);

// What one result may hold.
inline constexpr int kMaxResultMetrics = 64;
inline constexpr int kMaxCurvePoints = 10000;
inline constexpr size_t kMaxProvenanceText = 1024;

// INVALID_ARGUMENT unless the result fits the job: a k x k accuracy matrix
// for k tasks, accuracies and curve points finite and in [0, 1], at most
// kMaxResultMetrics finite metrics and kMaxCurvePoints curve points, finite
// non-negative timings, short provenance strings, parameter count positive.
absl::Status ValidateResult(const v1::JobResult& result, int num_tasks);

storage::ResultRecord ResultRecordFromProto(const v1::JobResult& result);

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_CONVERT_H_
