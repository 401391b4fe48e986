// Waiting reasons.
#include "server/waiting.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/sqlite_rows.h"

namespace forgetlab {

std::string WaitingReason(const std::string& dataset,
                          const std::string& device_kind,
                          const std::vector<storage::WorkerRow>& workers,
                          int64_t now_ms, int64_t lease_ms) {
  bool live = false, offers_dataset = false;
  for (const storage::WorkerRow& w : workers) {
    if (now_ms - w.last_seen_ms > lease_ms) continue;
    live = true;
    const bool dataset_ok =
        w.datasets.empty() ||
        storage::OffersAll(storage::JoinDatasets(w.datasets), dataset);
    if (!dataset_ok) continue;
    offers_dataset = true;
    const std::string kind = w.device.substr(0, w.device.find(':'));
    if (device_kind.empty() || kind == device_kind) return "";
  }
  if (!live) {
    return "no live worker is connected; start one with forgetlab-worker "
           "--scheduler=HOST:PORT";
  }
  if (!offers_dataset) {
    return absl::StrCat(
        "no live worker offers ",
        absl::StrContains(dataset, ',') ? "datasets " : "dataset ", dataset);
  }
  return absl::StrCat("no live worker offers dataset ", dataset, " on a ",
                      device_kind, " device");
}

}  // namespace forgetlab
