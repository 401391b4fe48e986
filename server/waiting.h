// Why a sweep's queued jobs wait: no live worker offers their dataset or
// device. Said by submit, status, watch and jobs, so a sweep never sits
// QUEUED forever without a word.
#ifndef FORGETLAB_SERVER_WAITING_H_
#define FORGETLAB_SERVER_WAITING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "storage/records.h"

namespace forgetlab {

// "" when a live worker (seen within `lease_ms`) can take jobs that need
// `dataset` (comma-separated, every one: RequiredDatasets) on `device_kind`
// ("" any, "cpu", "cuda"); otherwise the reason, e.g. "no live worker offers
// dataset idx". A worker that lists no datasets takes any.
std::string WaitingReason(const std::string& dataset,
                          const std::string& device_kind,
                          const std::vector<storage::WorkerRow>& workers,
                          int64_t now_ms, int64_t lease_ms);

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_WAITING_H_
