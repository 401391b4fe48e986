// What a resolved spec will cost before anything runs: parameters and
// training samples, for the CLI's dry run.
#ifndef FORGETLAB_PROTO_SPEC_COST_H_
#define FORGETLAB_PROTO_SPEC_COST_H_

#include <cstdint>
#include <string>

#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

// Parameters of the model a resolved spec trains (body plus one head per
// task). The trainer reports the exact count with each result.
int64_t EstimateParameterCount(const v1::ExperimentSpec& resolved);

// Training samples a resolved spec processes: pretraining (when N > 0) plus
// every task, steps x batch size (x context for LM: predicted bytes).
int64_t TrainingSamples(const v1::ExperimentSpec& resolved);

// Training FLOPs of one step of `phase` ("pretrain" or "task:<name>", as the
// trainer reports progress): 6 x parameters x samples per step (x context
// for LM). 0 for any other phase.
double StepFlops(const v1::ExperimentSpec& resolved, const std::string& phase);

// An upper estimate of the device memory one job of a resolved spec needs:
// parameters, gradients and optimizer state, the activations a training
// batch keeps for backward, the widest layer of an evaluation pass over the
// whole test split, and a fixed allowance for the allocator and the math
// library's workspace (kJobDeviceOverheadBytes). The dataset itself is
// shared by every job of a process and not counted. For --slots=auto on a
// GPU; docs/PERFORMANCE.md compares it with measured peaks.
int64_t EstimateDeviceBytes(const v1::ExperimentSpec& resolved);
inline constexpr int64_t kJobDeviceOverheadBytes = int64_t{64} << 20;

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_SPEC_COST_H_
