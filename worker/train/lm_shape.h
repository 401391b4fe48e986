// The byte-level LM's shape and its parameter count by closed formula.
// Constants and arithmetic only (no LibTorch), so the spec rules' cost
// estimates use the same formula the model is tested against.
#ifndef FORGETLAB_WORKER_TRAIN_LM_SHAPE_H_
#define FORGETLAB_WORKER_TRAIN_LM_SHAPE_H_

#include <cstdint>

namespace forgetlab::train {

struct LmShape {
  int64_t dim = 64;       // d_model
  int64_t depth = 2;      // blocks
  int64_t heads = 4;      // must divide dim
  int64_t context = 64;   // input bytes per window
  int64_t mlp_ratio = 4;  // MLP hidden units = mlp_ratio * dim
  static constexpr int64_t kVocabulary = 256;
};

// 256 d + context d (embeddings) + depth ((4 + 2 r) d^2 + (9 + r) d)
// + 2 d (final LayerNorm); the output projection is the embedding.
inline int64_t LmParameterCount(const LmShape& s) {
  const int64_t d = s.dim, r = s.mlp_ratio;
  return LmShape::kVocabulary * d + s.context * d +
         s.depth * ((4 + 2 * r) * d * d + (9 + r) * d) + 2 * d;
}

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_LM_SHAPE_H_
