// `forgetlab results`: one row per succeeded job, for pandas and friends.
//
// CSV columns, in order: job_id, sweep_id, seed, each axis of the sweep (its
// path), each metric (its name), parameter_count, total_seconds, cached, the
// rest of the resolved spec as dotted paths (finetune.lr, pretrain.steps,
// tasks[0].classes, ...), then provenance.forgetlab_version,
// provenance.forgetlab_commit, provenance.torch_version, provenance.blas,
// provenance.device, provenance.threads, provenance.host. With curves, one
// line per curve point and task instead, with curve_stage, curve_step,
// curve_task and curve_accuracy appended.
//
// JSON Lines: one object per job:
// {"job_id": int, "sweep_id": str, "seed": int, "axes": {path: number},
//  "metrics": {name: number}, "parameter_count": int, "total_seconds": x,
//  "cached": bool, "accuracy_matrix": [[x, ...], ...],
//  "spec": {dotted path: number or str}, "provenance": {"forgetlab_version":
//  str, "forgetlab_commit": str, "torch_version": str, "blas": str,
//  "device": str, "threads": int, "host": str}}
// and with curves also "curves": [{"stage": int, "step": int,
// "accuracy": [x, ...]}].
#ifndef FORGETLAB_CLIENT_RESULTS_EXPORT_H_
#define FORGETLAB_CLIENT_RESULTS_EXPORT_H_

#include <string>
#include <vector>

#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

// A succeeded job and its result.
struct JobWithResult {
  v1::Job job;
  v1::JobResult result;
};

std::string ResultsCsv(const std::vector<JobWithResult>& rows, bool curves);
std::string ResultsJsonl(const std::vector<JobWithResult>& rows, bool curves);

}  // namespace forgetlab

#endif  // FORGETLAB_CLIENT_RESULTS_EXPORT_H_
