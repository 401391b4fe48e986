// Fuzzes what a client's sweep file goes through: the text-format and JSON
// parsers, then validation and grid expansion. The first byte picks the
// format. Nothing may crash, hang or grow without bound; a sweep that
// expands must give jobs that each validate.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "forgetlab/v1/forgetlab.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "proto/spec/grid.h"
#include "proto/spec/spec_io.h"
#include "proto/spec/spec_key.h"
#include "proto/spec/validate.h"

// Invalid input is the point; protobuf's log lines about it are noise.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const char* filename = data[0] & 1 ? "fuzz.json" : "fuzz.textproto";
  const absl::string_view text(reinterpret_cast<const char*>(data + 1),
                               size - 1);
  forgetlab::v1::SweepSpec sweep;
  if (!forgetlab::ParseSpecText(filename, text, &sweep).ok()) return 0;
  absl::StatusOr<std::vector<forgetlab::ExpandedJob>> jobs =
      forgetlab::ExpandSweep(sweep, /*max_jobs=*/256);
  if (!jobs.ok()) return 0;
  for (const forgetlab::ExpandedJob& job : *jobs) {
    if (!forgetlab::ValidateExperiment(job.spec, "").ok()) __builtin_trap();
    if (job.spec_key != forgetlab::SpecKey(job.spec)) __builtin_trap();
  }
  return 0;
}
