// Defaults, validation and requirements of LM specs.
#include "proto/spec/lm_rules.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/spec/field_checks.h"
#include "proto/spec/validate.h"
#include "worker/train/default_protocol.h"

namespace forgetlab {
namespace {

constexpr const char* kDomains[] = {"dictionary", "prose", "code", "german"};
constexpr int kMaxLmTasks = 16;

bool IsDomain(const std::string& name) {
  return std::find_if(std::begin(kDomains), std::end(kDomains),
                      [&](const char* d) { return name == d; }) !=
         std::end(kDomains);
}

}  // namespace

void ResolveLmDefaults(v1::ExperimentSpec* r) {
  v1::ModelSpec& model = *r->mutable_model();
  if (!model.has_dim()) model.set_dim(protocol::kLmDim);
  if (!model.has_lm_depth()) model.set_lm_depth(protocol::kLmDepth);
  if (!model.has_heads()) model.set_heads(protocol::kLmHeads);
  if (!model.has_context()) model.set_context(protocol::kLmContext);
  if (!model.has_mlp_ratio()) model.set_mlp_ratio(protocol::kLmMlpRatio);
  v1::DataSpec& data = *r->mutable_data();
  if (data.dataset().empty()) data.set_dataset("text");
  if (data.pretrain_domain().empty()) {
    data.set_pretrain_domain(protocol::kLmPretrainDomain);
  }
  v1::PretrainSpec& pretrain = *r->mutable_pretrain();
  if (!pretrain.has_examples()) {
    pretrain.set_examples(protocol::kPretrainExamples);
  }
  if (!pretrain.has_steps()) pretrain.set_steps(protocol::kLmPretrainSteps);
  if (!pretrain.has_batch_size()) {
    pretrain.set_batch_size(protocol::kLmPretrainBatch);
  }
  if (!pretrain.has_lr()) pretrain.set_lr(protocol::kLmPretrainLr);
  if (!pretrain.has_warmup_steps()) {
    pretrain.set_warmup_steps(protocol::kLmWarmupSteps);
  }
  if (r->tasks().empty()) {
    for (const char* domain : protocol::kLmTaskDomains) {
      v1::TaskSpec* task = r->add_tasks();
      task->set_name(domain);
      task->set_domain(domain);
    }
  }
  for (int i = 0; i < r->tasks_size(); ++i) {
    v1::TaskSpec& task = *r->mutable_tasks(i);
    if (task.domain().empty()) task.set_domain(task.name());
    if (task.name().empty()) task.set_name(task.domain());
  }
  v1::FinetuneSpec& finetune = *r->mutable_finetune();
  if (!finetune.has_steps()) finetune.set_steps(protocol::kLmTaskSteps);
  if (!finetune.has_batch_size()) {
    finetune.set_batch_size(protocol::kLmTaskBatch);
  }
  if (!finetune.has_lr()) finetune.set_lr(protocol::kLmTaskLr);
  if (!finetune.has_replay_fraction()) {
    finetune.set_replay_fraction(protocol::kLmReplayFraction);
  }
  if (!r->eval().has_eval_every()) {
    r->mutable_eval()->set_eval_every(protocol::kLmEvalEvery);
  }
  if (!r->has_seed()) r->set_seed(protocol::kSeed);
}

absl::Status ValidateLmExperiment(const v1::ExperimentSpec& r,
                                  absl::string_view prefix) {
  const v1::ModelSpec& m = r.model();
  absl::Status s = CheckRange(prefix, "model.dim", m.dim(), 8, 1024);
  if (s.ok()) s = CheckRange(prefix, "model.lm_depth", m.lm_depth(), 1, 24);
  if (s.ok()) s = CheckRange(prefix, "model.heads", m.heads(), 1, 64);
  if (s.ok()) s = CheckRange(prefix, "model.context", m.context(), 8, 1024);
  if (s.ok()) s = CheckRange(prefix, "model.mlp_ratio", m.mlp_ratio(), 1, 16);
  if (!s.ok()) return s;
  if (m.dim() % m.heads() != 0) {
    return Invalid(prefix, "model.heads",
                   absl::StrCat("(", m.heads(), ") must divide model.dim (",
                                m.dim(), ")"));
  }
  for (const auto& [field, set] :
       {std::pair<const char*, bool>{"model.depth", m.has_depth()},
        {"model.width", m.has_width()},
        {"model.vit_depth", m.has_vit_depth()},
        {"model.patch_size", m.has_patch_size()},
        {"model.width_multiplier", m.has_width_multiplier()},
        {"optimizer.momentum", r.optimizer().has_momentum()},
        {"finetune.shared_head", r.finetune().shared_head()},
        {"eval.overlap", r.eval().overlap()},
        {"data.pretrain_pool", r.data().has_pretrain_pool()}}) {
    if (set) {
      return Invalid(prefix, field,
                     "does not apply to model.family LM; remove it (LM "
                     "trains with AdamW on text windows)");
    }
  }
  const v1::DataSpec& data = r.data();
  if (data.dataset() != "text") {
    return Invalid(prefix, "data.dataset",
                   absl::StrCat("must be \"text\" for model.family LM (got \"",
                                data.dataset(), "\")"));
  }
  if (!data.path().empty()) {
    s = CheckDataPathForm(prefix, "text", data.path());
    if (!s.ok()) return s;
  }
  const std::string domains = absl::StrJoin(kDomains, ", ");
  if (!IsDomain(data.pretrain_domain())) {
    return Invalid(prefix, "data.pretrain_domain",
                   absl::StrCat("is \"", data.pretrain_domain(),
                                "\"; text domains are ", domains));
  }
  const v1::PretrainSpec& p = r.pretrain();
  s = CheckRange<int64_t>(prefix, "pretrain.examples", p.examples(), 0,
                          1'000'000'000);
  if (s.ok()) {
    s = CheckPhase(prefix, "pretrain", p.steps(), p.batch_size(), p.lr());
  }
  if (s.ok()) {
    s = CheckRange(prefix, "pretrain.warmup_steps", p.warmup_steps(), 0,
                   p.steps());
  }
  if (s.ok() && !p.classes().empty()) {
    s = Invalid(prefix, "pretrain.classes",
                "does not apply to model.family LM; remove it");
  }
  if (!s.ok()) return s;
  if (r.tasks_size() < 2 || r.tasks_size() > kMaxLmTasks) {
    return Invalid(prefix, "tasks",
                   absl::StrCat("must list between 2 and ", kMaxLmTasks,
                                " tasks (got ", r.tasks_size(), ")"));
  }
  for (int i = 0; i < r.tasks_size(); ++i) {
    const v1::TaskSpec& task = r.tasks(i);
    s = CheckTaskName(prefix, i, task.name());
    if (!s.ok()) return s;
    if (!IsDomain(task.domain())) {
      return Invalid(prefix, absl::StrCat("tasks[", i, "].domain"),
                     absl::StrCat("is \"", task.domain(),
                                  "\"; text domains are ", domains));
    }
    if (!task.classes().empty()) {
      return Invalid(prefix, absl::StrCat("tasks[", i, "].classes"),
                     "does not apply to model.family LM; an LM task is a "
                     "text domain (tasks[i].domain)");
    }
  }
  const v1::FinetuneSpec& f = r.finetune();
  s = CheckPhase(prefix, "finetune", f.steps(), f.batch_size(), f.lr());
  if (s.ok() && !(f.replay_fraction() >= 0 && f.replay_fraction() < 1)) {
    s = Invalid(
        prefix, "finetune.replay_fraction",
        absl::StrCat("must be in [0, 1) (got ", f.replay_fraction(), ")"));
  }
  if (s.ok()) s = CheckEvalAndSeed(r, prefix);
  return s;
}

std::string RequiredDatasets(const v1::ExperimentSpec& r) {
  if (r.model().family() != v1::ModelSpec::LM) return r.data().dataset();
  std::vector<std::string> needed = {"text:" + r.data().pretrain_domain()};
  for (const v1::TaskSpec& task : r.tasks()) {
    const std::string name = "text:" + task.domain();
    if (std::find(needed.begin(), needed.end(), name) == needed.end()) {
      needed.push_back(name);
    }
  }
  return absl::StrJoin(needed, ",");
}

}  // namespace forgetlab
