// The language-model track's spec rules: its defaults, its validation and
// what a worker must offer to run one of its jobs.
#ifndef FORGETLAB_PROTO_SPEC_LM_RULES_H_
#define FORGETLAB_PROTO_SPEC_LM_RULES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

// Fills the unset fields of an LM spec (model.family LM) with the LM
// track's embedded default (worker/train/default_protocol.h). Only LM knobs
// are filled, so a job's key does not change with knobs it does not use.
void ResolveLmDefaults(v1::ExperimentSpec* spec);

// Checks a resolved LM spec; errors name the field as `prefix` + path.
absl::Status ValidateLmExperiment(const v1::ExperimentSpec& resolved,
                                  absl::string_view prefix);

// What a worker must offer to run `resolved`, comma-separated: the dataset
// name for image jobs, "text:<domain>" for each domain an LM job reads.
std::string RequiredDatasets(const v1::ExperimentSpec& resolved);

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_SPEC_LM_RULES_H_
