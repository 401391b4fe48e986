// Canonical bytes and content keys of resolved specs: equal bytes mean the
// same experiment, and the key addresses the result cache.
#ifndef FORGETLAB_PROTO_SPEC_SPEC_KEY_H_
#define FORGETLAB_PROTO_SPEC_SPEC_KEY_H_

#include <string>

#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

// Deterministic serialisation of a resolved spec; equal bytes mean the same
// experiment.
std::string CanonicalSpec(const v1::ExperimentSpec& resolved);

// 16 hex digits of a 64-bit FNV-1a hash of the canonical spec. A content
// address for the result cache, not a security boundary.
std::string SpecKey(const v1::ExperimentSpec& resolved);

// Shared pretraining: the key of the pretraining phase of a resolved spec,
// or "" when it has none (pretrain.examples 0). Equal keys mean equal
// pretrained weights on the same device and thread count: it hashes every
// field but those read only after pretraining (tasks, finetune, eval), so it
// errs towards two keys, never towards one. SHA-256 (64 hex digits), since
// a collision would hand one user's weights to another's experiments.
std::string PretrainingKey(const v1::ExperimentSpec& resolved);

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_SPEC_SPEC_KEY_H_
