// Spec defaults, validation, numeric field paths and sweep expansion.
#include "proto/spec.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/reflection.h"

namespace forgetlab {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

constexpr int kFashionMnistTrain = 60000;
constexpr int kCifar10Train = 50000;
constexpr int kMaxClasses = 1000;

struct ImageSize {
  int64_t channels = 1, side = 28;
};

// The image size a dataset has (IDX folders other than Fashion-MNIST are
// assumed 28x28; the trainer checks the real size).
ImageSize ImageSizeOf(const v1::DataSpec& data) {
  if (data.dataset() == "cifar10") return {3, 32};
  if (data.dataset() == "synthetic") {
    return {data.synthetic_channels(), data.synthetic_side()};
  }
  return {1, 28};
}

// Number of classes, or 0 when only the files can tell (idx).
int ClassesOf(const v1::DataSpec& data) {
  if (data.dataset() == "synthetic") return data.synthetic_classes();
  if (data.dataset() == "idx") return 0;
  return 10;
}

absl::Status Invalid(absl::string_view prefix, absl::string_view field,
                     absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(prefix, field, " ", what));
}

template <typename T>
absl::Status CheckRange(absl::string_view prefix, absl::string_view field,
                        T value, T low, T high) {
  if (value >= low && value <= high) return absl::OkStatus();
  return Invalid(prefix, field,
                 absl::StrCat("must be between ", low, " and ", high, " (got ",
                              value, ")"));
}

absl::Status CheckRate(absl::string_view prefix, absl::string_view field,
                       double value) {
  if (std::isfinite(value) && value > 0 && value <= 10) return absl::OkStatus();
  return Invalid(
      prefix, field,
      absl::StrCat("must be a learning rate in (0, 10] (got ", value, ")"));
}

// Walks `path` to the message holding its last field. Fails when a segment
// is unknown, repeated, or not a message where one is needed.
absl::StatusOr<std::pair<const Message*, const FieldDescriptor*>> Resolve(
    const Message& root, absl::string_view path) {
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  const Message* message = &root;
  for (size_t i = 0; i < parts.size(); ++i) {
    const FieldDescriptor* field =
        message->GetDescriptor()->FindFieldByName(parts[i]);
    if (field == nullptr || field->is_repeated()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", path, "' is not a numeric field of ExperimentSpec (no field '",
          parts[i], "' in ", message->GetDescriptor()->name(),
          "); examples: model.width, model.depth, pretrain.examples, "
          "finetune.lr, seed"));
    }
    if (i + 1 == parts.size()) {
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
        case FieldDescriptor::CPPTYPE_INT64:
        case FieldDescriptor::CPPTYPE_UINT32:
        case FieldDescriptor::CPPTYPE_UINT64:
        case FieldDescriptor::CPPTYPE_DOUBLE:
        case FieldDescriptor::CPPTYPE_FLOAT:
        case FieldDescriptor::CPPTYPE_ENUM:
          return std::make_pair(message, field);
        default:
          return absl::InvalidArgumentError(
              absl::StrCat("'", path, "' is not a numeric field"));
      }
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", path, "': '", parts[i], "' is not a message field"));
    }
    message = &message->GetReflection()->GetMessage(*message, field);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("empty field path '", path, "'"));
}

uint64_t Fnv1a64(absl::string_view bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

v1::ExperimentSpec ResolveDefaults(const v1::ExperimentSpec& spec) {
  v1::ExperimentSpec r = spec;
  v1::ModelSpec& model = *r.mutable_model();
  if (model.family() == v1::ModelSpec::FAMILY_UNSPECIFIED) {
    model.set_family(v1::ModelSpec::MLP);
  }
  v1::DataSpec& data = *r.mutable_data();
  if (data.dataset().empty()) data.set_dataset("fashion_mnist");
  if (data.dataset() == "synthetic") {
    data.clear_path();
    if (!data.has_synthetic_train()) data.set_synthetic_train(1200);
    if (!data.has_synthetic_test()) data.set_synthetic_test(400);
    if (!data.has_synthetic_side()) data.set_synthetic_side(8);
    if (!data.has_synthetic_seed()) data.set_synthetic_seed(7);
    if (!data.has_synthetic_channels()) data.set_synthetic_channels(1);
    if (!data.has_synthetic_classes()) data.set_synthetic_classes(10);
    if (!data.has_pretrain_pool()) {
      data.set_pretrain_pool(data.synthetic_train() * 5 / 6);
    }
  } else {
    if (data.path().empty() && data.dataset() == "fashion_mnist") {
      data.set_path(kDefaultFashionMnistPath);
    }
    if (!data.has_pretrain_pool()) {
      data.set_pretrain_pool(data.dataset() == "cifar10" ? 40000 : 50000);
    }
  }

  // Only the chosen family's knobs are filled, so that a job's key does not
  // change with knobs it does not use.
  switch (model.family()) {
    case v1::ModelSpec::RESNET:
      if (!model.has_width_multiplier()) model.set_width_multiplier(0.25);
      if (!model.has_blocks_per_stage()) model.set_blocks_per_stage(1);
      break;
    case v1::ModelSpec::VIT: {
      const int64_t side = ImageSizeOf(data).side;
      if (!model.has_patch_size()) {
        model.set_patch_size(side % 7 == 0 ? 7 : side % 4 == 0 ? 4 : side);
      }
      if (!model.has_dim()) model.set_dim(64);
      if (!model.has_vit_depth()) model.set_vit_depth(2);
      if (!model.has_heads()) model.set_heads(4);
      if (!model.has_mlp_ratio()) model.set_mlp_ratio(2);
      if (model.pooling().empty()) model.set_pooling("cls");
      break;
    }
    default:
      if (!model.has_depth()) model.set_depth(2);
      if (!model.has_width()) model.set_width(128);
  }

  v1::PretrainSpec& pretrain = *r.mutable_pretrain();
  if (!pretrain.has_examples()) pretrain.set_examples(0);
  if (!pretrain.has_steps()) pretrain.set_steps(600);
  if (!pretrain.has_batch_size()) pretrain.set_batch_size(128);
  if (!pretrain.has_lr()) pretrain.set_lr(0.05);

  if (r.tasks().empty()) {
    v1::TaskSpec* a = r.add_tasks();
    a->set_name("A");
    for (int c = 0; c < 5; ++c) a->add_classes(c);
    v1::TaskSpec* b = r.add_tasks();
    b->set_name("B");
    for (int c = 5; c < 10; ++c) b->add_classes(c);
  }
  for (int i = 0; i < r.tasks_size(); ++i) {
    if (r.tasks(i).name().empty()) {
      r.mutable_tasks(i)->set_name(absl::StrCat("T", i + 1));
    }
  }

  v1::FinetuneSpec& finetune = *r.mutable_finetune();
  if (!finetune.has_steps()) finetune.set_steps(300);
  if (!finetune.has_batch_size()) finetune.set_batch_size(64);
  if (!finetune.has_lr()) finetune.set_lr(0.01);
  if (!r.optimizer().has_momentum()) r.mutable_optimizer()->set_momentum(0.9);
  if (!r.eval().has_eval_every()) r.mutable_eval()->set_eval_every(100);
  if (!r.has_seed()) r.set_seed(0);
  return r;
}

absl::Status ValidateExperiment(const v1::ExperimentSpec& r,
                                absl::string_view prefix) {
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
      s = Invalid(prefix, "model.family", "must be MLP, RESNET or VIT");
  }
  if (!s.ok()) return s;

  const v1::DataSpec& data = r.data();
  int64_t train_images = 0;
  if (data.dataset() == "fashion_mnist" || data.dataset() == "idx" ||
      data.dataset() == "cifar10") {
    train_images = data.dataset() == "fashion_mnist" ? kFashionMnistTrain
                   : data.dataset() == "cifar10"     ? kCifar10Train
                                                     : int64_t{1} << 24;
    if (data.path().empty() || data.path()[0] != '/') {
      return Invalid(
          prefix, "data.path",
          absl::StrCat("must be an absolute folder path for dataset ",
                       data.dataset(), " (got '", data.path(), "')"));
    }
    if (data.path().find("..") != std::string::npos) {
      return Invalid(prefix, "data.path", "must not contain '..'");
    }
    if (data.path().size() > kMaxDataPathLength) {
      return Invalid(
          prefix, "data.path",
          absl::StrCat("is longer than ", kMaxDataPathLength, " characters"));
    }
    for (char c : data.path()) {
      if (static_cast<unsigned char>(c) < 0x20) {
        return Invalid(prefix, "data.path",
                       "must not contain control characters");
      }
    }
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
                                "cifar10, synthetic"));
  }
  s = CheckRange<int64_t>(prefix, "data.pretrain_pool", data.pretrain_pool(), 0,
                          train_images - 1);
  if (!s.ok()) return s;

  const v1::PretrainSpec& pretrain = r.pretrain();
  s = CheckRange<int64_t>(prefix, "pretrain.examples", pretrain.examples(), 0,
                          data.pretrain_pool());
  if (s.ok())
    s = CheckRange(prefix, "pretrain.steps", pretrain.steps(), 1, 1000000);
  if (s.ok()) {
    s = CheckRange(prefix, "pretrain.batch_size", pretrain.batch_size(), 1,
                   65536);
  }
  if (s.ok()) s = CheckRate(prefix, "pretrain.lr", pretrain.lr());
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
  s = CheckRange(prefix, "finetune.steps", finetune.steps(), 1, 1000000);
  if (s.ok()) {
    s = CheckRange(prefix, "finetune.batch_size", finetune.batch_size(), 1,
                   65536);
  }
  if (s.ok()) s = CheckRate(prefix, "finetune.lr", finetune.lr());
  if (s.ok()) {
    const double m = r.optimizer().momentum();
    if (!(m >= 0 && m < 1)) {
      s = Invalid(prefix, "optimizer.momentum",
                  absl::StrCat("must be in [0, 1) (got ", m, ")"));
    }
  }
  if (s.ok()) {
    s = CheckRange(prefix, "eval.eval_every", r.eval().eval_every(), 0,
                   finetune.steps());
  }
  if (s.ok() && r.seed() < 0) {
    s = Invalid(prefix, "seed",
                absl::StrCat("must be >= 0 (got ", r.seed(), ")"));
  }
  return s;
}

absl::Status SetNumericField(absl::string_view path, double value,
                             v1::ExperimentSpec* spec) {
  // Resolve on the const view first, then walk again mutably.
  absl::StatusOr<std::pair<const Message*, const FieldDescriptor*>> found =
      Resolve(*spec, path);
  if (!found.ok()) return found.status();
  if (!std::isfinite(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' value ", value, " is not finite"));
  }
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  Message* message = spec;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const FieldDescriptor* f =
        message->GetDescriptor()->FindFieldByName(parts[i]);
    message = message->GetReflection()->MutableMessage(message, f);
  }
  const FieldDescriptor* field = found->second;
  const auto* reflection = message->GetReflection();
  const bool integral = field->cpp_type() != FieldDescriptor::CPPTYPE_DOUBLE &&
                        field->cpp_type() != FieldDescriptor::CPPTYPE_FLOAT;
  if (integral && (value != std::floor(value) || std::fabs(value) > 9.0e15)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", path, "' is an integer field; ", value, " is not an integer"));
  }
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      if (value < INT32_MIN || value > INT32_MAX) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", path, "' value ", value, " is out of range"));
      }
      reflection->SetInt32(message, field, static_cast<int32_t>(value));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      reflection->SetInt64(message, field, static_cast<int64_t>(value));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      if (value < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", path, "' must not be negative"));
      }
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32) {
        reflection->SetUInt32(message, field, static_cast<uint32_t>(value));
      } else {
        reflection->SetUInt64(message, field, static_cast<uint64_t>(value));
      }
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      reflection->SetDouble(message, field, value);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      reflection->SetFloat(message, field, static_cast<float>(value));
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      if (field->enum_type()->FindValueByNumber(static_cast<int>(value)) ==
          nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", path, "' has no enum value ", value));
      }
      reflection->SetEnumValue(message, field, static_cast<int>(value));
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("'", path, "' is not a numeric field"));
  }
  return absl::OkStatus();
}

absl::StatusOr<double> GetNumericField(const v1::ExperimentSpec& spec,
                                       absl::string_view path) {
  absl::StatusOr<std::pair<const Message*, const FieldDescriptor*>> found =
      Resolve(spec, path);
  if (!found.ok()) return found.status();
  const Message& m = *found->first;
  const FieldDescriptor* f = found->second;
  const auto* reflection = m.GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return reflection->GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64:
      return static_cast<double>(reflection->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return reflection->GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64:
      return static_cast<double>(reflection->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return reflection->GetDouble(m, f);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return reflection->GetFloat(m, f);
    case FieldDescriptor::CPPTYPE_ENUM:
      return reflection->GetEnumValue(m, f);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("'", path, "' is not a numeric field"));
  }
}

std::string CanonicalSpec(const v1::ExperimentSpec& resolved) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    resolved.SerializeToCodedStream(&coded);
  }
  return bytes;
}

std::string SpecKey(const v1::ExperimentSpec& resolved) {
  static const char kHex[] = "0123456789abcdef";
  uint64_t h = Fnv1a64(CanonicalSpec(resolved));
  std::string key(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4)
    key[static_cast<size_t>(i)] = kHex[h & 15];
  return key;
}

int64_t EstimateParameterCount(const v1::ExperimentSpec& r) {
  const ImageSize image = ImageSizeOf(r.data());
  const v1::ModelSpec& m = r.model();
  int64_t count = 0, features = 0;
  if (m.family() == v1::ModelSpec::RESNET) {
    int64_t widths[3];
    for (int s = 0; s < 3; ++s) {
      widths[s] =
          std::max<int64_t>(1, std::llround((16 << s) * m.width_multiplier()));
    }
    count += image.channels * widths[0] * 9 + 2 * widths[0];  // stem + BN
    int64_t in = widths[0];
    for (int s = 0; s < 3; ++s) {
      for (int b = 0; b < m.blocks_per_stage(); ++b) {
        const int64_t out = widths[s];
        count += in * out * 9 + 2 * out + out * out * 9 + 2 * out;
        if (in != out || (s > 0 && b == 0)) count += in * out + 2 * out;
        in = out;
      }
    }
    features = in;
  } else if (m.family() == v1::ModelSpec::VIT) {
    const int64_t d = m.dim(), hidden = d * m.mlp_ratio();
    const int64_t tokens =
        (image.side / m.patch_size()) * (image.side / m.patch_size());
    count +=
        image.channels * m.patch_size() * m.patch_size() * d + d;  // patches
    const int64_t class_token = m.pooling() == "mean" ? 0 : 1;
    count += class_token * d + (tokens + class_token) * d;  // class, position
    count += m.vit_depth() * (2 * d + 3 * d * d + 3 * d + d * d + d + 2 * d +
                              d * hidden + hidden + hidden * d + d);
    count += 2 * d;  // final norm
    features = d;
  } else {
    int64_t in = image.channels * image.side * image.side;
    for (int i = 0; i < m.depth(); ++i) {
      count += in * m.width() + m.width();
      in = m.width();
    }
    features = in;
  }
  if (r.finetune().shared_head()) {
    int widest = 0;
    for (const v1::TaskSpec& task : r.tasks()) {
      widest = std::max(widest, task.classes_size());
    }
    return count + (features + 1) * widest;
  }
  for (const v1::TaskSpec& task : r.tasks()) {
    count += (features + 1) * task.classes_size();
  }
  return count;
}

int64_t TrainingSamples(const v1::ExperimentSpec& r) {
  int64_t samples = int64_t{r.tasks_size()} * r.finetune().steps() *
                    r.finetune().batch_size();
  if (r.pretrain().examples() > 0) {
    samples += int64_t{r.pretrain().steps()} * r.pretrain().batch_size();
  }
  return samples;
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

absl::StatusOr<std::vector<ExpandedJob>> ExpandSweep(const v1::SweepSpec& sweep,
                                                     int max_jobs) {
  const v1::ExperimentSpec base = ResolveDefaults(sweep.base());
  absl::Status s = ValidateExperiment(base, "base.");
  if (!s.ok()) return s;
  if (sweep.has_max_attempts() &&
      (sweep.max_attempts() < 1 || sweep.max_attempts() > 100)) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_attempts must be between 1 and 100 (got ",
                     sweep.max_attempts(), ")"));
  }

  if (sweep.axes_size() > kMaxAxes) {
    return absl::InvalidArgumentError(absl::StrCat("axes: ", sweep.axes_size(),
                                                   " axes; at most ", kMaxAxes,
                                                   " are allowed"));
  }
  if (sweep.seeds_size() > kMaxAxisValues) {
    return absl::InvalidArgumentError(
        absl::StrCat("seeds: ", sweep.seeds_size(), " seeds; at most ",
                     kMaxAxisValues, " are allowed"));
  }
  for (int a = 0; a < sweep.axes_size(); ++a) {
    if (sweep.axes(a).path().size() > kMaxFieldPathLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("axes[", a, "].path is longer than ",
                       kMaxFieldPathLength, " characters"));
    }
    if (sweep.axes(a).values_size() > kMaxAxisValues) {
      return absl::InvalidArgumentError(
          absl::StrCat("axes[", a, "] (", sweep.axes(a).path(), ") has ",
                       sweep.axes(a).values_size(), " values; at most ",
                       kMaxAxisValues, " are allowed"));
    }
  }

  // Axes, with seeds as one more (innermost) axis.
  std::vector<v1::Axis> axes(sweep.axes().begin(), sweep.axes().end());
  std::set<std::string> seen;
  for (size_t a = 0; a < axes.size(); ++a) {
    const std::string name = absl::StrCat("axes[", a, "]");
    if (axes[a].path() == "seed" && !sweep.seeds().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " sweeps 'seed' and the sweep also lists seeds; use one"));
    }
    if (!seen.insert(axes[a].path()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " repeats the axis '", axes[a].path(), "'"));
    }
    if (axes[a].values().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " (", axes[a].path(), ") has no values"));
    }
    std::set<double> distinct(axes[a].values().begin(), axes[a].values().end());
    if (distinct.size() != static_cast<size_t>(axes[a].values_size())) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " (", axes[a].path(), ") lists a value twice"));
    }
    // Each value on its own, so the error names the axis and value.
    for (double value : axes[a].values()) {
      v1::ExperimentSpec probe = base;
      s = SetNumericField(axes[a].path(), value, &probe);
      if (s.ok()) s = ValidateExperiment(probe, "");
      if (!s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, " (", axes[a].path(), ") value ", value, ": ", s.message()));
      }
    }
  }
  if (!sweep.seeds().empty()) {
    std::set<int64_t> distinct(sweep.seeds().begin(), sweep.seeds().end());
    if (distinct.size() != static_cast<size_t>(sweep.seeds_size())) {
      return absl::InvalidArgumentError("seeds lists a seed twice");
    }
    v1::Axis seeds;
    seeds.set_path("seed");
    for (int64_t seed : sweep.seeds()) {
      if (seed < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("seeds: ", seed, " is negative; seeds must be >= 0"));
      }
      seeds.add_values(static_cast<double>(seed));
    }
    axes.push_back(seeds);
  }

  int64_t total = 1;
  for (const v1::Axis& axis : axes) {
    total *= axis.values_size();
    if (total > max_jobs) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the sweep expands to more than ", max_jobs,
          " jobs (the per-sweep limit); split it into smaller sweeps"));
    }
  }

  std::vector<ExpandedJob> jobs;
  jobs.reserve(static_cast<size_t>(total));
  std::vector<int> index(axes.size(), 0);
  for (int64_t n = 0; n < total; ++n) {
    ExpandedJob job;
    job.spec = base;
    std::vector<std::string> coordinates;
    for (size_t a = 0; a < axes.size(); ++a) {
      const double value = axes[a].values(index[a]);
      // Validated per value above; combinations are validated below.
      SetNumericField(axes[a].path(), value, &job.spec).IgnoreError();
      job.axis_values[axes[a].path()] = value;
      coordinates.push_back(absl::StrCat(axes[a].path(), "=", value));
    }
    job.axis_values["seed"] = static_cast<double>(job.spec.seed());
    s = ValidateExperiment(job.spec, "");
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "grid cell {", absl::StrJoin(coordinates, ", "), "}: ", s.message()));
    }
    job.canonical = CanonicalSpec(job.spec);
    job.spec_key = SpecKey(job.spec);
    jobs.push_back(std::move(job));
    // Odometer, last axis fastest.
    for (int a = static_cast<int>(axes.size()) - 1; a >= 0; --a) {
      if (++index[static_cast<size_t>(a)] <
          axes[static_cast<size_t>(a)].values_size())
        break;
      index[static_cast<size_t>(a)] = 0;
    }
  }
  return jobs;
}

}  // namespace forgetlab
