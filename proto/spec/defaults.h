// The default protocol applied to a spec: every field a user left unset
// takes DESIGN.md's value, from worker/train/default_protocol.h.
#ifndef FORGETLAB_PROTO_SPEC_DEFAULTS_H_
#define FORGETLAB_PROTO_SPEC_DEFAULTS_H_

#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

inline constexpr int kDefaultMaxJobsPerSweep = 10000;
inline constexpr int kDefaultMaxAttempts = 3;

// Returns `spec` with every unset field set to DESIGN.md's default protocol.
// Fields the user set are kept, valid or not. Only the chosen model family's
// knobs are filled, so that a job's key does not change with knobs it does
// not use.
v1::ExperimentSpec ResolveDefaults(const v1::ExperimentSpec& spec);

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_SPEC_DEFAULTS_H_
