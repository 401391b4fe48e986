// Dataset loading: IDX folders, CIFAR-10 batches and the synthetic set.
#include "worker/train/dataset.h"

#include <c10/core/impl/VirtualGuardImpl.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>
#include <vector>

#include "worker/train/formats.h"
#include "worker/train/gunzip.h"

namespace forgetlab::train {
namespace {

namespace fs = std::filesystem;

constexpr double kFashionMean = 0.2860;
constexpr double kFashionStd = 0.3530;

TrainStatus Error(TrainCode code, std::string message) {
  return TrainStatus{code, std::move(message)};
}

bool FileExists(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

torch::Tensor Normalise(const torch::Tensor& images_u8, double mean,
                        double std) {
  return images_u8.reshape({images_u8.size(0), -1})
      .to(torch::kFloat32)
      .div_(255.0)
      .sub_(mean)
      .div_(std)
      .contiguous();
}

int ClassCount(const torch::Tensor& train_labels,
               const torch::Tensor& test_labels) {
  return static_cast<int>(std::max(train_labels.max().item<int64_t>(),
                                   test_labels.max().item<int64_t>()) +
                          1);
}

// Finds the one file in `folder` whose name starts with `prefix`, contains
// one of `markers` and ends in `suffix` (optionally followed by ".gz").
// Returns the path without ".gz", or a status listing what was found.
TrainStatus FindIdx(const std::string& folder, const std::string& prefix,
                    const std::vector<std::string>& markers,
                    const std::string& suffix, std::string* found) {
  std::vector<std::string> matches;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    std::string name = entry.path().filename().string();
    if (name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0) {
      name.resize(name.size() - 3);
    }
    if (name.rfind(prefix, 0) != 0 || name.size() < suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    for (const std::string& marker : markers) {
      if (name.find(marker) != std::string::npos) {
        const std::string path = (fs::path(folder) / name).string();
        if (std::find(matches.begin(), matches.end(), path) == matches.end()) {
          matches.push_back(path);
        }
        break;
      }
    }
  }
  if (matches.size() == 1) {
    *found = matches[0];
    return {};
  }
  const std::string wanted = prefix + "*" + markers[0] + "*" + suffix + "[.gz]";
  if (matches.empty()) {
    return Error(
        TrainCode::kNotFound,
        "missing IDX file " + (fs::path(folder) / wanted).string() +
            (ec ? " (cannot read the folder: " + ec.message() + ")" : "") +
            "; for Fashion-MNIST install the Debian package "
            "dataset-fashion-mnist (deploy/install-deps.sh does)");
  }
  std::string list;
  for (const std::string& m : matches)
    list += " " + fs::path(m).filename().string();
  return Error(TrainCode::kInvalidArgument,
               "several IDX files in " + folder + " match " + wanted + ":" +
                   list +
                   "; end data.path with a file-name prefix to pick "
                   "one set, e.g. " +
                   folder + "/emnist-balanced");
}

}  // namespace

TrainStatus ReadMaybeGzipped(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(TrainCode::kNotFound, "cannot open " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  *out = buffer.str();
  std::string error;
  if (!InflateIfGzip(out, &error)) {
    return Error(TrainCode::kInvalidArgument,
                 "malformed gzip file " + path + ": " + error);
  }
  return {};
}

TrainStatus ReadIdxFile(const std::string& path_without_gz, int expected_dims,
                        torch::Tensor* out) {
  std::string path = path_without_gz + ".gz";
  if (!FileExists(path)) path = path_without_gz;
  if (!FileExists(path)) {
    return Error(TrainCode::kNotFound,
                 "missing IDX file " + path_without_gz +
                     "[.gz]; for Fashion-MNIST install the Debian package "
                     "dataset-fashion-mnist (deploy/install-deps.sh does)");
  }
  std::string data;
  TrainStatus s = ReadMaybeGzipped(path, &data);
  if (!s.ok()) return s;
  IdxArray array;
  std::string error;
  if (!ParseIdx(data, expected_dims, &array, &error)) {
    return Error(TrainCode::kInvalidArgument,
                 "malformed IDX file " + path + ": " + error);
  }
  const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
  const std::vector<int64_t>& dims = array.dims;
  const size_t header = array.data_offset;
  const int64_t total = array.elements;
  torch::Tensor tensor = torch::empty(dims, torch::kUInt8);
  std::copy(bytes + header, bytes + header + total, tensor.data_ptr<uint8_t>());
  *out = tensor;
  return {};
}

TrainStatus LoadIdxFolder(const std::string& path, double mean, double std,
                          Dataset* out) {
  std::error_code ec;
  std::string folder = path, prefix;
  if (!fs::is_directory(path, ec)) {
    folder = fs::path(path).parent_path().string();
    prefix = fs::path(path).filename().string();
    if (!fs::is_directory(folder, ec)) {
      return Error(TrainCode::kNotFound,
                   "no IDX folder " + path +
                       "; for Fashion-MNIST install the Debian package "
                       "dataset-fashion-mnist (deploy/install-deps.sh does)");
    }
  }
  struct Part {
    std::vector<std::string> markers;
    std::string suffix;
    int dims;
  };
  const Part kParts[4] = {{{"train-images"}, "idx3-ubyte", 3},
                          {{"train-labels"}, "idx1-ubyte", 1},
                          {{"t10k-images", "test-images"}, "idx3-ubyte", 3},
                          {{"t10k-labels", "test-labels"}, "idx1-ubyte", 1}};
  torch::Tensor parts[4];
  std::string names[4];
  for (int i = 0; i < 4; ++i) {
    TrainStatus s =
        FindIdx(folder, prefix, kParts[i].markers, kParts[i].suffix, &names[i]);
    if (s.ok()) s = ReadIdxFile(names[i], kParts[i].dims, &parts[i]);
    if (!s.ok()) return s;
  }
  for (int i = 0; i < 4; i += 2) {
    if (parts[i].size(0) != parts[i + 1].size(0)) {
      return Error(TrainCode::kInvalidArgument,
                   "IDX folder " + folder + ": " + names[i] + " has " +
                       std::to_string(parts[i].size(0)) + " images but " +
                       names[i + 1] + " has " +
                       std::to_string(parts[i + 1].size(0)) + " labels");
    }
  }
  if (parts[0].size(1) != parts[2].size(1) ||
      parts[0].size(2) != parts[2].size(2)) {
    return Error(
        TrainCode::kInvalidArgument,
        "IDX folder " + folder + ": train and test images differ in size");
  }
  if (mean < 0) {
    const torch::Tensor scaled = parts[0].to(torch::kFloat64).div(255.0);
    mean = scaled.mean().item<double>();
    std = std::max(scaled.std().item<double>(), 1e-6);
  }
  out->train_images = Normalise(parts[0], mean, std);
  out->train_labels = parts[1].to(torch::kInt64);
  out->test_images = Normalise(parts[2], mean, std);
  out->test_labels = parts[3].to(torch::kInt64);
  out->shape = ImageShape{1, parts[0].size(1), parts[0].size(2)};
  out->num_classes = ClassCount(out->train_labels, out->test_labels);
  return {};
}

TrainStatus LoadCifar10(const std::string& folder, Dataset* out) {
  constexpr int64_t kRecord = kCifarRecordBytes;
  auto load = [&](const std::vector<std::string>& files, torch::Tensor* images,
                  torch::Tensor* labels) -> TrainStatus {
    std::string all;
    for (const std::string& name : files) {
      const std::string path = (fs::path(folder) / name).string();
      if (!FileExists(path)) {
        return Error(TrainCode::kNotFound,
                     "missing CIFAR-10 file " + path +
                         "; expected the binary version (data_batch_1.bin .. "
                         "data_batch_5.bin, test_batch.bin from "
                         "cifar-10-binary.tar.gz)");
      }
      std::string data;
      TrainStatus s = ReadMaybeGzipped(path, &data);
      if (!s.ok()) return s;
      int64_t records = 0;
      std::string error;
      if (!CheckCifarBatch(data, &records, &error)) {
        return Error(TrainCode::kInvalidArgument,
                     "malformed CIFAR-10 file " + path + ": " + error);
      }
      all += data;
    }
    const int64_t n = static_cast<int64_t>(all.size()) / kRecord;
    torch::Tensor raw =
        torch::from_blob(all.data(), {n, kRecord}, torch::kUInt8).clone();
    *labels = raw.select(1, 0).to(torch::kInt64);
    torch::Tensor pixels =
        raw.slice(1, 1).to(torch::kFloat32).div_(255.0).view({n, 3, 32 * 32});
    const torch::Tensor mean =
        torch::tensor({0.4914f, 0.4822f, 0.4465f}).view({1, 3, 1});
    const torch::Tensor std =
        torch::tensor({0.2470f, 0.2435f, 0.2616f}).view({1, 3, 1});
    *images = pixels.sub_(mean).div_(std).view({n, -1}).contiguous();
    return {};
  };
  TrainStatus s =
      load({"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
            "data_batch_4.bin", "data_batch_5.bin"},
           &out->train_images, &out->train_labels);
  if (s.ok())
    s = load({"test_batch.bin"}, &out->test_images, &out->test_labels);
  if (!s.ok()) return s;
  out->shape = ImageShape{3, 32, 32};
  out->num_classes = 10;
  return {};
}

Dataset MakeSyntheticDataset(const DataConfig& c) {
  auto gen =
      at::detail::createCPUGenerator(static_cast<uint64_t>(c.synthetic_seed));
  const int64_t dim =
      c.synthetic_channels * c.synthetic_side * c.synthetic_side;
  torch::Tensor prototypes = torch::randn({c.synthetic_classes, dim}, gen);
  auto make = [&](int64_t n, torch::Tensor* images, torch::Tensor* labels) {
    // Balanced labels in a fixed order, so every class is present.
    *labels = torch::arange(n, torch::kInt64).remainder(c.synthetic_classes);
    *images = (prototypes.index_select(0, *labels) +
               torch::randn({n, dim}, gen).mul_(1.5))
                  .contiguous();
  };
  Dataset d;
  make(c.synthetic_train, &d.train_images, &d.train_labels);
  make(c.synthetic_test, &d.test_images, &d.test_labels);
  d.shape =
      ImageShape{c.synthetic_channels, c.synthetic_side, c.synthetic_side};
  d.num_classes = static_cast<int>(c.synthetic_classes);
  return d;
}

TrainStatus GetDataset(const DataConfig& config, const torch::Device& device,
                       std::shared_ptr<const Dataset>* out) {
  using Key = std::tuple<std::string, std::string, int64_t, int64_t, int64_t,
                         int64_t, int64_t, int64_t, std::string>;
  static std::mutex mu;
  static auto* cache = new std::map<Key, std::shared_ptr<const Dataset>>();
  const bool synthetic = config.dataset == "synthetic";
  const Key key{config.dataset,
                synthetic ? "" : config.path,
                synthetic ? config.synthetic_train : 0,
                synthetic ? config.synthetic_test : 0,
                synthetic ? config.synthetic_side : 0,
                synthetic ? config.synthetic_seed : 0,
                synthetic ? config.synthetic_channels : 0,
                synthetic ? config.synthetic_classes : 0,
                device.str()};
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(key);
  if (it != cache->end()) {
    *out = it->second;
    return {};
  }
  Dataset d;
  TrainStatus s;
  if (synthetic) {
    d = MakeSyntheticDataset(config);
  } else if (config.dataset == "fashion_mnist") {
    s = LoadIdxFolder(config.path, kFashionMean, kFashionStd, &d);
  } else if (config.dataset == "idx") {
    s = LoadIdxFolder(config.path, -1, -1, &d);
  } else if (config.dataset == "cifar10") {
    s = LoadCifar10(config.path, &d);
  } else {
    s = Error(TrainCode::kInvalidArgument,
              "unknown dataset '" + config.dataset +
                  "'; known: fashion_mnist, idx, cifar10, synthetic");
  }
  if (!s.ok()) return s;
  if (!device.is_cpu()) {
    d.train_images = d.train_images.to(device);
    d.train_labels = d.train_labels.to(device);
    d.test_images = d.test_images.to(device);
    d.test_labels = d.test_labels.to(device);
    // Jobs read the cached copy from streams of their own: the copies must
    // have landed before any of them can see it.
    c10::impl::VirtualGuardImpl(device.type()).getStream(device).synchronize();
  }
  auto shared = std::make_shared<const Dataset>(std::move(d));
  (*cache)[key] = shared;
  *out = shared;
  return {};
}

bool IdxFolderPresent(const std::string& folder) {
  std::string found;
  return FindIdx(folder, "", {"train-images"}, "idx3-ubyte", &found).ok();
}

}  // namespace forgetlab::train
