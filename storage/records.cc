// Names of the job states.
#include "storage/records.h"

namespace forgetlab::storage {

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "QUEUED";
    case JobState::kLeased:
      return "LEASED";
    case JobState::kSucceeded:
      return "SUCCEEDED";
    case JobState::kFailed:
      return "FAILED";
    case JobState::kCancelled:
      return "CANCELLED";
    case JobState::kWaiting:
      return "WAITING";
  }
  return "UNKNOWN";
}

}  // namespace forgetlab::storage
