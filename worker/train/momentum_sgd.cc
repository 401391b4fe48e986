// SGD with momentum: one fused pass per parameter on a CPU with FMA, else
// _foreach calls.
#include "worker/train/momentum_sgd.h"

#include <ATen/Parallel.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cmath>

namespace forgetlab::train {
namespace {

#if defined(__x86_64__)
// The update LibTorch's three calls make (buffer.mul_(m), buffer.add_(g),
// param.add_(buffer, -lr)), in one pass over memory instead of three, with
// the same roundings: b * m, then + g, each rounded; then p + alpha * b
// fused, as ATen's add with alpha computes it (Vectorized::fmadd, and its
// scalar tail compiled with FMA contraction). This file is compiled with
// -ffp-contract=off, so nothing else fuses. MomentumSgdTest checks it
// against the _foreach calls bit for bit, tails included.
__attribute__((target("avx2,fma"))) void FusedUpdate(float* p, float* b,
                                                     const float* g,
                                                     int64_t begin, int64_t end,
                                                     float m, float alpha) {
  const __m256 vm = _mm256_set1_ps(m), valpha = _mm256_set1_ps(alpha);
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    __m256 vb = _mm256_mul_ps(_mm256_loadu_ps(b + i), vm);
    vb = _mm256_add_ps(vb, _mm256_loadu_ps(g + i));
    _mm256_storeu_ps(b + i, vb);
    _mm256_storeu_ps(p + i,
                     _mm256_fmadd_ps(vb, valpha, _mm256_loadu_ps(p + i)));
  }
  for (; i < end; ++i) {
    float vb = b[i] * m;
    vb = vb + g[i];
    b[i] = vb;
    p[i] = std::fma(vb, alpha, p[i]);
  }
}

bool Fusable(const torch::Tensor& p, const torch::Tensor& b,
             const torch::Tensor& g) {
  auto plain = [&](const torch::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == torch::kFloat &&
           t.is_contiguous() && t.numel() == p.numel();
  };
  return plain(p) && plain(b) && plain(g);
}
#endif

}  // namespace

bool MomentumSgd::FusedStep(const std::vector<torch::Tensor>& grads) {
#if defined(__x86_64__)
  static const bool fma =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (!fma || !fused_) return false;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!Fusable(params_[i], buffers_[i], grads[i])) return false;
  }
  const float m = static_cast<float>(momentum_);
  const float alpha = static_cast<float>(-lr_);
  for (size_t i = 0; i < params_.size(); ++i) {
    float* p = params_[i].data_ptr<float>();
    float* b = buffers_[i].data_ptr<float>();
    const float* g = grads[i].data_ptr<float>();
    // Elementwise, so any split among threads gives the same bits. The
    // grain is ATen's (at::internal::GRAIN_SIZE).
    at::parallel_for(0, params_[i].numel(), 32768,
                     [&](int64_t begin, int64_t end) {
                       FusedUpdate(p, b, g, begin, end, m, alpha);
                     });
  }
  return true;
#else
  return false;
#endif
}

void MomentumSgd::Step() {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  grads.reserve(params_.size());
  for (const torch::Tensor& p : params_) {
    if (!p.grad().defined()) break;
    grads.push_back(p.grad());
  }
  if (grads.size() == params_.size() && (momentum_ == 0 || started_)) {
    if (momentum_ == 0) {
      at::_foreach_add_(params_, grads, -lr_);
      return;
    }
    if (FusedStep(grads)) return;
    at::_foreach_mul_(buffers_, momentum_);
    at::_foreach_add_(buffers_, grads);
    at::_foreach_add_(params_, buffers_, -lr_);
    return;
  }
  // The first step, or some parameter has no gradient: one at a time.
  bool all_buffers = true;
  for (size_t i = 0; i < params_.size(); ++i) {
    const torch::Tensor& grad = params_[i].grad();
    if (grad.defined()) {
      if (momentum_ == 0) {
        params_[i].add_(grad, -lr_);
        continue;
      }
      if (buffers_[i].defined()) {
        buffers_[i].mul_(momentum_).add_(grad);
      } else {
        buffers_[i] = grad.clone();
      }
      params_[i].add_(buffers_[i], -lr_);
    }
    all_buffers = all_buffers && buffers_[i].defined();
  }
  started_ = all_buffers;
}

}  // namespace forgetlab::train
