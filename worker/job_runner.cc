// proto <-> trainer adapter.
#include "worker/job_runner.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/net/build_info.h"
#include "proto/spec/defaults.h"
#include "proto/spec/validate.h"

namespace forgetlab {

#define FORGETLAB_SAME_CODE(train_code, absl_code)                \
  static_assert(static_cast<int>(train::TrainCode::train_code) == \
                static_cast<int>(absl::StatusCode::absl_code))
FORGETLAB_SAME_CODE(kCancelled, kCancelled);
FORGETLAB_SAME_CODE(kInvalidArgument, kInvalidArgument);
FORGETLAB_SAME_CODE(kNotFound, kNotFound);
FORGETLAB_SAME_CODE(kResourceExhausted, kResourceExhausted);
FORGETLAB_SAME_CODE(kFailedPrecondition, kFailedPrecondition);
FORGETLAB_SAME_CODE(kInternal, kInternal);
#undef FORGETLAB_SAME_CODE

train::ExperimentConfig ToTrainConfig(const v1::ExperimentSpec& r) {
  train::ExperimentConfig c;
  // Only the chosen family's knobs come from the spec (ResolveDefaults fills
  // only those); the others keep the trainer's defaults, which it ignores.
  const v1::ModelSpec& model = r.model();
  switch (model.family()) {
    case v1::ModelSpec::RESNET:
      c.family = "resnet";
      c.width_multiplier = model.width_multiplier();
      c.blocks_per_stage = model.blocks_per_stage();
      break;
    case v1::ModelSpec::LM:
      c.family = "lm";
      c.dim = model.dim();
      c.lm_depth = model.lm_depth();
      c.heads = model.heads();
      c.context = model.context();
      c.mlp_ratio = model.mlp_ratio();
      break;
    case v1::ModelSpec::VIT:
      c.family = "vit";
      c.patch_size = model.patch_size();
      c.dim = model.dim();
      c.vit_depth = model.vit_depth();
      c.heads = model.heads();
      c.mlp_ratio = model.mlp_ratio();
      c.pooling = model.pooling();
      break;
    default:
      c.family = "mlp";
      c.depth = model.depth();
      c.width = model.width();
  }
  c.data.dataset = r.data().dataset();
  c.data.path = r.data().path();
  c.data.pretrain_pool = r.data().pretrain_pool();
  if (r.data().dataset() == "synthetic") {
    c.data.synthetic_train = r.data().synthetic_train();
    c.data.synthetic_test = r.data().synthetic_test();
    c.data.synthetic_side = r.data().synthetic_side();
    c.data.synthetic_seed = r.data().synthetic_seed();
    c.data.synthetic_channels = r.data().synthetic_channels();
    c.data.synthetic_classes = r.data().synthetic_classes();
  }
  c.pretrain_examples = r.pretrain().examples();
  c.pretrain_steps = r.pretrain().steps();
  c.pretrain_batch = r.pretrain().batch_size();
  c.pretrain_lr = r.pretrain().lr();
  c.pretrain_classes.assign(r.pretrain().classes().begin(),
                            r.pretrain().classes().end());
  c.tasks.clear();
  for (const v1::TaskSpec& task : r.tasks()) {
    c.tasks.push_back({task.name(),
                       {task.classes().begin(), task.classes().end()},
                       task.domain()});
  }
  c.task_steps = r.finetune().steps();
  c.task_batch = r.finetune().batch_size();
  c.task_lr = r.finetune().lr();
  c.momentum = r.optimizer().momentum();
  if (model.family() == v1::ModelSpec::LM) {
    c.data.pretrain_domain = r.data().pretrain_domain();
    c.warmup_steps = r.pretrain().warmup_steps();
    c.replay_fraction = r.finetune().replay_fraction();
  }
  c.eval_every = r.eval().eval_every();
  c.shared_head = r.finetune().shared_head();
  c.overlap = r.eval().overlap();
  c.seed = r.seed();
  return c;
}

v1::JobResult ToJobResult(const train::ExperimentResult& result) {
  v1::JobResult out;
  for (const auto& row : result.accuracy_matrix) {
    auto* r = out.add_accuracy_matrix();
    for (double a : row) r->add_accuracy(a);
  }
  for (const auto& [name, value] : result.metrics) {
    (*out.mutable_metrics())[name] = value;
  }
  for (const train::CurvePoint& point : result.curves) {
    v1::CurvePoint* p = out.add_curves();
    p->set_stage(point.stage);
    p->set_step(point.step);
    for (double a : point.accuracy) p->add_accuracy(a);
    for (double l : point.loss) p->add_loss(l);
    if (point.has_pool) {
      p->set_pool_loss(point.pool_loss);
      p->set_pool_accuracy(point.pool_accuracy);
    }
  }
  for (const auto& row : result.loss_matrix) {
    auto* r = out.add_loss_matrix();
    for (double l : row) r->add_loss(l);
  }
  out.set_parameter_count(result.parameter_count);
  out.set_pretrain_seconds(result.pretrain_seconds);
  out.set_finetune_seconds(result.finetune_seconds);
  out.set_total_seconds(result.total_seconds);
  out.set_device(result.device);
  out.set_samples_per_second(result.samples_per_second);
  return out;
}

absl::Status FromTrainStatus(const train::TrainStatus& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.code),
                      status.message);
}

absl::StatusOr<v1::JobResult> RunJob(const v1::ExperimentSpec& spec,
                                     const train::RunOptions& options) {
  const v1::ExperimentSpec resolved = ResolveDefaults(spec);
  absl::Status s = ValidateExperiment(resolved, "");
  if (!s.ok()) return s;
  train::ExperimentResult result;
  s = FromTrainStatus(
      train::RunExperiment(ToTrainConfig(resolved), options, &result));
  if (!s.ok()) return s;
  v1::JobResult out = ToJobResult(result);
  v1::Provenance* p = out.mutable_provenance();
  *p->mutable_spec() = resolved;
  p->set_forgetlab_version(ForgetlabVersion());
  p->set_forgetlab_commit(ForgetlabCommit());
  p->set_torch_version(train::TorchVersion());
  const std::string blas = train::BlasLibrary();
  p->set_blas(blas.empty() ? "unknown" : blas);
  p->set_device(result.device);
  p->set_threads(result.threads);
  for (const auto& [domain, digest] : result.data_sha256) {
    (*p->mutable_data_sha256())[domain] = digest;
  }
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0) p->set_host(host);
  return out;
}

absl::Status CheckDataRoots(const std::string& path,
                            const std::vector<std::string>& roots) {
  if (roots.empty() || path.empty()) return absl::OkStatus();
  char buffer[PATH_MAX];
  if (realpath(path.c_str(), buffer) == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "data.path '", path, "' does not exist on worker ", "this machine"));
  }
  std::vector<std::string> resolved_roots;
  for (const std::string& root : roots) {
    char root_buffer[PATH_MAX];
    if (realpath(root.c_str(), root_buffer) != nullptr) {
      resolved_roots.push_back(root_buffer);
    }
  }
  absl::Status s = CheckDataPath(buffer, resolved_roots);
  if (s.ok()) return s;
  return absl::PermissionDeniedError(absl::StrCat(
      "data.path '", path, "' resolves to '", buffer,
      "', outside this worker's --data_roots (", absl::StrJoin(roots, ","),
      "); start the worker with its folder in --data_roots"));
}

}  // namespace forgetlab
