// Student's t quantiles, for confidence intervals of means.
#ifndef FORGETLAB_PROTO_STATS_STUDENT_T_H_
#define FORGETLAB_PROTO_STATS_STUDENT_T_H_

namespace forgetlab {

// The 0.975 quantile of Student's t with `df` degrees of freedom (df >= 1):
// the multiplier of the standard error in a two-sided 95% interval. 0 for
// df < 1.
double StudentT975(int df);

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_STATS_STUDENT_T_H_
