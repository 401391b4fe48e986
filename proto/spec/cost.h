// What a resolved spec will cost before anything runs: parameters and
// training samples, for the CLI's dry run.
#ifndef FORGETLAB_PROTO_SPEC_COST_H_
#define FORGETLAB_PROTO_SPEC_COST_H_

#include <cstdint>

#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

// Parameters of the model a resolved spec trains (body plus one head per
// task). The trainer reports the exact count with each result.
int64_t EstimateParameterCount(const v1::ExperimentSpec& resolved);

// Training samples a resolved spec processes: pretraining (when N > 0) plus
// every task, steps x batch size (x context for LM: predicted bytes).
int64_t TrainingSamples(const v1::ExperimentSpec& resolved);

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_SPEC_COST_H_
