#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "worker/train/dataset.h"
#include "worker/train/gunzip.h"

namespace forgetlab::train {
namespace {

namespace fs = std::filesystem;

// gzip-compresses `data` with zlib at `level` (0 = stored blocks).
std::string Gzip(const std::string& data, int level) {
  z_stream z{};
  deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(GunzipTest, AgreesWithZlibAtEveryLevel) {
  std::mt19937 rng(1);
  std::string data;
  // Compressible text, repeats at long distances, and random bytes.
  for (int i = 0; i < 20000; ++i)
    data += "forgetting " + std::to_string(i % 97);
  for (int i = 0; i < 70000; ++i) data += static_cast<char>(rng() % 7);
  for (int i = 0; i < 5000; ++i) data += static_cast<char>(rng());
  for (int level : {0, 1, 6, 9}) {
    std::string out, error;
    ASSERT_TRUE(Gunzip(Gzip(data, level), &out, &error))
        << level << ": " << error;
    EXPECT_EQ(out, data) << "level " << level;
  }
  // Concatenated members decode to the concatenation.
  std::string out, error;
  ASSERT_TRUE(Gunzip(Gzip("abc", 6) + Gzip("defdefdef", 9), &out, &error))
      << error;
  EXPECT_EQ(out, "abcdefdefdef");
}

TEST(GunzipTest, CorruptionIsReported) {
  std::string gz = Gzip(std::string(1000, 'x') + "tail", 6);
  std::string out, error;
  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 6] ^= 1;
  EXPECT_FALSE(Gunzip(bad_crc, &out, &error));
  EXPECT_EQ(error, "CRC-32 mismatch");
  EXPECT_FALSE(Gunzip(gz.substr(0, gz.size() / 2), &out, &error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(IsGzip("plain"));
}

std::string Idx(const std::vector<int>& dims,
                const std::vector<uint8_t>& data) {
  std::string bytes = {0, 0, 8, static_cast<char>(dims.size())};
  for (int d : dims) {
    for (int shift : {24, 16, 8, 0}) bytes += static_cast<char>(d >> shift);
  }
  bytes.append(data.begin(), data.end());
  return bytes;
}

TEST(IdxNamesTest, EmnistStyleNamesAndPrefixes) {
  const fs::path dir = fs::path(testing::TempDir()) / "emnist";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const std::string set : {"emnist-balanced", "emnist-digits"}) {
    const int n = set == "emnist-balanced" ? 30 : 20;
    std::vector<uint8_t> pixels(static_cast<size_t>(n) * 16, 100), labels;
    for (int i = 0; i < n; ++i) labels.push_back(static_cast<uint8_t>(i % 3));
    WriteFile(dir / (set + "-train-images-idx3-ubyte.gz"),
              Gzip(Idx({n, 4, 4}, pixels), 6));
    WriteFile(dir / (set + "-train-labels-idx1-ubyte.gz"),
              Gzip(Idx({n}, labels), 6));
    WriteFile(dir / (set + "-test-images-idx3-ubyte"), Idx({n, 4, 4}, pixels));
    WriteFile(dir / (set + "-test-labels-idx1-ubyte"), Idx({n}, labels));
  }
  Dataset d;
  TrainStatus s = LoadIdxFolder(dir.string(), -1, -1, &d);
  EXPECT_EQ(s.code, TrainCode::kInvalidArgument);
  EXPECT_NE(s.message.find("emnist-balanced"), std::string::npos) << s.message;
  s = LoadIdxFolder((dir / "emnist-balanced").string(), -1, -1, &d);
  ASSERT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(d.train_images.size(0), 30);
  EXPECT_EQ(d.num_classes, 3);
  EXPECT_EQ(d.shape.width, 4);
}

TEST(Cifar10Test, ReadsBinaryBatches) {
  const fs::path dir = fs::path(testing::TempDir()) / "cifar";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto batch = [](int n, int first_label) {
    std::string bytes;
    for (int i = 0; i < n; ++i) {
      bytes += static_cast<char>((first_label + i) % 10);
      for (int c = 0; c < 3; ++c)
        bytes += std::string(1024, static_cast<char>(c * 100));
    }
    return bytes;
  };
  for (int b = 1; b <= 5; ++b) {
    WriteFile(dir / ("data_batch_" + std::to_string(b) + ".bin"), batch(4, b));
  }
  WriteFile(dir / "test_batch.bin", batch(3, 0));
  Dataset d;
  TrainStatus s = LoadCifar10(dir.string(), &d);
  ASSERT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(d.train_images.sizes(), (std::vector<int64_t>{20, 3072}));
  EXPECT_EQ(d.test_labels.size(0), 3);
  EXPECT_EQ(d.shape.channels, 3);
  EXPECT_EQ(d.train_labels[0].item<int64_t>(), 1);
  // Channel 0 is all 0: (0 - 0.4914) / 0.2470.
  EXPECT_NEAR(d.train_images[0][0].item<float>(), -0.4914 / 0.2470, 1e-4);
  EXPECT_NEAR(d.train_images[0][1024].item<float>(),
              (100 / 255.0 - 0.4822) / 0.2435, 1e-4);

  WriteFile(dir / "test_batch.bin", "short");
  s = LoadCifar10(dir.string(), &d);
  EXPECT_EQ(s.code, TrainCode::kInvalidArgument);
  EXPECT_NE(s.message.find("3073-byte records"), std::string::npos);
  fs::remove(dir / "data_batch_3.bin");
  s = LoadCifar10(dir.string(), &d);
  EXPECT_EQ(s.code, TrainCode::kNotFound);
  EXPECT_NE(s.message.find("data_batch_3.bin"), std::string::npos);
}

TEST(SyntheticTest, AnyChannelsAndClasses) {
  DataConfig c;
  c.dataset = "synthetic";
  c.synthetic_train = 60;
  c.synthetic_test = 30;
  c.synthetic_side = 5;
  c.synthetic_channels = 3;
  c.synthetic_classes = 6;
  Dataset d = MakeSyntheticDataset(c);
  EXPECT_EQ(d.train_images.sizes(), (std::vector<int64_t>{60, 75}));
  EXPECT_EQ(d.num_classes, 6);
  EXPECT_EQ(d.train_labels.max().item<int64_t>(), 5);
  EXPECT_TRUE(
      torch::equal(d.train_images, MakeSyntheticDataset(c).train_images));
}

}  // namespace
}  // namespace forgetlab::train
