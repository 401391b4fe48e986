// Validation of resolved specs and data paths.
#include "proto/spec/validate.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "proto/spec/dataset_shape.h"
#include "proto/spec/field_checks.h"
#include "proto/spec/lm_rules.h"

namespace forgetlab {
namespace {

constexpr int kFashionMnistTrain = 60000;
constexpr int kCifar10Train = 50000;
constexpr int kMaxClasses = 1000;

}  // namespace

absl::Status ValidateExperiment(const v1::ExperimentSpec& r,
                                absl::string_view prefix) {
  if (r.model().family() == v1::ModelSpec::LM) {
    return ValidateLmExperiment(r, prefix);
  }
  if (r.data().dataset() == "text") {
    return Invalid(prefix, "data.dataset",
                   "\"text\" is for model.family LM (the language-model "
                   "track); image models need an image dataset");
  }
  absl::Status s;
  const v1::ModelSpec& model = r.model();
  switch (model.family()) {
    case v1::ModelSpec::MLP:
      s = CheckRange(prefix, "model.depth", model.depth(), 1, 16);
      if (s.ok()) s = CheckRange(prefix, "model.width", model.width(), 1, 8192);
      break;
    case v1::ModelSpec::RESNET:
      s = CheckRange(prefix, "model.width_multiplier", model.width_multiplier(),
                     0.0625, 8.0);
      if (s.ok()) {
        s = CheckRange(prefix, "model.blocks_per_stage",
                       model.blocks_per_stage(), 1, 8);
      }
      break;
    case v1::ModelSpec::VIT: {
      const int64_t side = ImageSizeOf(r.data()).side;
      s = CheckRange(prefix, "model.dim", model.dim(), 8, 1024);
      if (s.ok())
        s = CheckRange(prefix, "model.vit_depth", model.vit_depth(), 1, 24);
      if (s.ok()) s = CheckRange(prefix, "model.heads", model.heads(), 1, 64);
      if (s.ok())
        s = CheckRange(prefix, "model.mlp_ratio", model.mlp_ratio(), 1, 16);
      if (s.ok())
        s = CheckRange(prefix, "model.patch_size", model.patch_size(), 1, 64);
      if (s.ok() && model.dim() % model.heads() != 0) {
        s = Invalid(
            prefix, "model.heads",
            absl::StrCat("(", model.heads(), ") must divide model.dim (",
                         model.dim(), ")"));
      }
      if (s.ok() && r.data().dataset() != "idx" &&
          side % model.patch_size() != 0) {
        s = Invalid(prefix, "model.patch_size",
                    absl::StrCat("(", model.patch_size(),
                                 ") must divide the image side (", side, ")"));
      }
      if (s.ok() && model.pooling() != "cls" && model.pooling() != "mean") {
        s = Invalid(prefix, "model.pooling",
                    absl::StrCat("must be \"cls\" or \"mean\" (got \"",
                                 model.pooling(), "\")"));
      }
      break;
    }
    default:
      s = Invalid(prefix, "model.family", "must be MLP, RESNET, VIT or LM");
  }
  if (!s.ok()) return s;

  const v1::DataSpec& data = r.data();
  int64_t train_images = 0;
  if (data.dataset() == "fashion_mnist" || data.dataset() == "idx" ||
      data.dataset() == "cifar10") {
    train_images = data.dataset() == "fashion_mnist" ? kFashionMnistTrain
                   : data.dataset() == "cifar10"     ? kCifar10Train
                                                     : int64_t{1} << 24;
    s = CheckDataPathForm(prefix, data.dataset(), data.path());
    if (!s.ok()) return s;
  } else if (data.dataset() == "synthetic") {
    s = CheckRange(prefix, "data.synthetic_train", data.synthetic_train(), 20,
                   1000000);
    if (s.ok()) {
      s = CheckRange(prefix, "data.synthetic_test", data.synthetic_test(), 10,
                     1000000);
    }
    if (s.ok()) {
      s = CheckRange(prefix, "data.synthetic_side", data.synthetic_side(), 2,
                     64);
    }
    if (s.ok()) {
      s = CheckRange(prefix, "data.synthetic_channels",
                     data.synthetic_channels(), 1, 4);
    }
    if (s.ok()) {
      s = CheckRange(prefix, "data.synthetic_classes", data.synthetic_classes(),
                     2, 100);
    }
    if (!s.ok()) return s;
    train_images = data.synthetic_train();
  } else {
    return Invalid(prefix, "data.dataset",
                   absl::StrCat("is unknown ('", data.dataset(),
                                "'); known datasets: fashion_mnist, idx, "
                                "cifar10, synthetic, text"));
  }
  s = CheckRange<int64_t>(prefix, "data.pretrain_pool", data.pretrain_pool(), 0,
                          train_images - 1);
  if (!s.ok()) return s;

  const v1::PretrainSpec& pretrain = r.pretrain();
  s = CheckRange<int64_t>(prefix, "pretrain.examples", pretrain.examples(), 0,
                          data.pretrain_pool());
  if (s.ok()) {
    s = CheckPhase(prefix, "pretrain", pretrain.steps(), pretrain.batch_size(),
                   pretrain.lr());
  }
  if (!s.ok()) return s;

  const int classes = ClassesOf(data) > 0 ? ClassesOf(data) : kMaxClasses;
  if (r.tasks_size() < 2 || r.tasks_size() > classes) {
    return Invalid(prefix, "tasks",
                   absl::StrCat("must list between 2 and ", classes,
                                " tasks (got ", r.tasks_size(), ")"));
  }
  std::set<int> pretrain_classes;
  for (int c : r.pretrain().classes()) {
    if (c < 0 || c >= classes) {
      return Invalid(
          prefix, "pretrain.classes",
          absl::StrCat("has class ", c, "; classes are 0..", classes - 1));
    }
    if (!pretrain_classes.insert(c).second) {
      return Invalid(prefix, "pretrain.classes",
                     absl::StrCat("repeats class ", c));
    }
  }
  std::map<int, int> owner;  // class -> task index
  for (int i = 0; i < r.tasks_size(); ++i) {
    s = CheckTaskName(prefix, i, r.tasks(i).name());
    if (!s.ok()) return s;
    const std::string field = absl::StrCat("tasks[", i, "].classes");
    if (r.tasks(i).classes().empty()) {
      return Invalid(prefix, field, "must list at least one class");
    }
    for (int c : r.tasks(i).classes()) {
      if (c < 0 || c >= classes) {
        return Invalid(
            prefix, field,
            absl::StrCat("has class ", c, "; classes are 0..", classes - 1));
      }
      auto [it, inserted] = owner.emplace(c, i);
      if (!inserted) {
        return Invalid(prefix, field,
                       absl::StrCat("repeats class ", c, ", already in tasks[",
                                    it->second, "]; tasks must not overlap"));
      }
    }
  }

  const v1::FinetuneSpec& finetune = r.finetune();
  s = CheckPhase(prefix, "finetune", finetune.steps(), finetune.batch_size(),
                 finetune.lr());
  if (s.ok()) {
    const double m = r.optimizer().momentum();
    if (!(m >= 0 && m < 1)) {
      s = Invalid(prefix, "optimizer.momentum",
                  absl::StrCat("must be in [0, 1) (got ", m, ")"));
    }
  }
  if (s.ok()) s = CheckEvalAndSeed(r, prefix);
  return s;
}

absl::Status CheckPhase(absl::string_view prefix, absl::string_view phase,
                        int steps, int batch_size, double lr) {
  absl::Status s =
      CheckRange(prefix, absl::StrCat(phase, ".steps"), steps, 1, 1000000);
  if (s.ok()) {
    s = CheckRange(prefix, absl::StrCat(phase, ".batch_size"), batch_size, 1,
                   65536);
  }
  if (s.ok()) s = CheckRate(prefix, absl::StrCat(phase, ".lr"), lr);
  return s;
}

absl::Status CheckTaskName(absl::string_view prefix, int index,
                           const std::string& name) {
  if (name.size() <= kMaxTaskNameLength &&
      std::none_of(name.begin(), name.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      })) {
    return absl::OkStatus();
  }
  return Invalid(prefix, absl::StrCat("tasks[", index, "].name"),
                 absl::StrCat("must be at most ", kMaxTaskNameLength,
                              " printable characters"));
}

absl::Status CheckEvalAndSeed(const v1::ExperimentSpec& r,
                              absl::string_view prefix) {
  absl::Status s = CheckRange(prefix, "eval.eval_every", r.eval().eval_every(),
                              0, r.finetune().steps());
  if (s.ok() && r.seed() < 0) {
    s = Invalid(prefix, "seed",
                absl::StrCat("must be >= 0 (got ", r.seed(), ")"));
  }
  return s;
}

absl::Status CheckDataPathForm(absl::string_view prefix,
                               const std::string& dataset,
                               const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return Invalid(prefix, "data.path",
                   absl::StrCat("must be an absolute folder path for dataset ",
                                dataset, " (got '", path, "')"));
  }
  if (path.find("..") != std::string::npos) {
    return Invalid(prefix, "data.path", "must not contain '..'");
  }
  if (path.size() > kMaxDataPathLength) {
    return Invalid(
        prefix, "data.path",
        absl::StrCat("is longer than ", kMaxDataPathLength, " characters"));
  }
  for (char c : path) {
    if (static_cast<unsigned char>(c) < 0x20) {
      return Invalid(prefix, "data.path",
                     "must not contain control characters");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckDataPath(absl::string_view path,
                           const std::vector<std::string>& roots) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("data.path '", path, "' is not an absolute path"));
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "." || part == "..") {
      return absl::InvalidArgumentError(absl::StrCat(
          "data.path '", path, "' must not have '.' or '..' segments"));
    }
  }
  if (roots.empty()) return absl::OkStatus();
  for (std::string root : roots) {
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    if (path == root ||
        (path.size() > root.size() && path.substr(0, root.size()) == root &&
         (root == "/" || path[root.size()] == '/'))) {
      return absl::OkStatus();
    }
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "data.path '", path, "' is outside the data roots (",
      absl::StrJoin(roots, ", "),
      "); move the data under one of them or add its folder to --data_roots"));
}

}  // namespace forgetlab
