// How forgetlab-train prints a result: a text summary for people, or one
// JSON object (a documented shape: README.md, "forgetlab-train").
#ifndef FORGETLAB_WORKER_RESULT_FORMAT_H_
#define FORGETLAB_WORKER_RESULT_FORMAT_H_

#include <string>

#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

// {"accuracy_matrix": [[...]], "metrics": {...}, "parameter_count": N,
//  "curves": [...], "device": "...", "total_seconds": S,
//  "samples_per_second": R, "provenance": {"forgetlab_version": "...",
//  "forgetlab_commit": "...", "torch_version": "...", "blas": "...",
//  "device": "...", "threads": N, "host": "..."}}, without a trailing
//  newline.
std::string ResultJson(const v1::JobResult& result);

// The experiment, its accuracy matrix, metrics and timing, for a resolved
// spec.
std::string ResultText(const v1::ExperimentSpec& resolved,
                       const v1::JobResult& result);

}  // namespace forgetlab

#endif  // FORGETLAB_WORKER_RESULT_FORMAT_H_
