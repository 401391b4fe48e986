// The language-model track: text domains, the byte-level LM, AdamW, the
// metrics, and whole runs on small text folders the tests write.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <torch/torch.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "worker/train/experiment.h"
#include "worker/train/lm_metrics.h"
#include "worker/train/lm_model.h"
#include "worker/train/sha256.h"
#include "worker/train/text_data.h"

namespace forgetlab::train {
namespace {

namespace fs = std::filesystem;

void WriteText(const fs::path& path, const std::string& text, bool gzip) {
  fs::create_directories(path.parent_path());
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary) << text;
  }
}

// A small folder with the four domains: each of its documents is a
// sentence or two in the domain's style, built from a seed.
fs::path TinyTextFolder(const std::string& name) {
  const fs::path dir = fs::path(testing::TempDir()) / ("lm_" + name);
  fs::remove_all(dir);
  const char* words[] = {"stone", "river",  "light", "cold",  "measure",
                         "quiet", "number", "green", "table", "walk"};
  std::string dictionary, prose, german, code;
  for (int i = 0; i < 60; ++i) {
    const std::string a = words[i % 10], b = words[(i * 7 + 3) % 10];
    dictionary += a + " \\" + a + "\\, n. [" + b + ".]\n   The " + b +
                  " of a " + a + "; a " + b + " thing.\n\n";
    prose += "The " + a + " said to the " + b + ": never " + b +
             " before you " + a + ".\n%\n";
    german += "Der " + a + " sagt zum " + b + ": nie " + b + " vor dem " + a +
              ".\n%\n";
  }
  for (int f = 0; f < 12; ++f) {
    code.clear();
    for (int i = 0; i < 6; ++i) {
      code += "def " + std::string(words[(f + i) % 10]) + "_" +
              std::to_string(i) + "(x):\n    return x + " +
              std::to_string(f * i) + "\n\n";
    }
    WriteText(dir / "code" / ("m" + std::to_string(10 + f) + ".py"), code,
              false);
  }
  WriteText(dir / "dictionary" / "tiny.dict.dz", dictionary, true);
  WriteText(dir / "prose" / "tiny", prose, false);
  WriteText(dir / "german" / "klein", german, false);
  return dir;
}

ExperimentConfig TinyLm(const fs::path& folder) {
  ExperimentConfig c;
  c.family = "lm";
  c.dim = 16;
  c.heads = 2;
  c.mlp_ratio = 2;
  c.lm_depth = 1;
  c.context = 16;
  c.data.dataset = "text";
  c.data.path = folder.string();
  c.data.pretrain_domain = "dictionary";
  c.tasks = {{"prose", {}, "prose"}, {"code", {}, "code"}};
  c.pretrain_examples = 200;
  c.pretrain_steps = 40;
  c.pretrain_batch = 8;
  c.pretrain_lr = 3e-3;
  c.warmup_steps = 5;
  c.task_steps = 40;
  c.task_batch = 8;
  c.task_lr = 5e-3;
  c.eval_every = 10;
  c.seed = 3;
  return c;
}

RunOptions OneThread() {
  RunOptions o;
  o.threads = 1;
  return o;
}

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 56 bytes: the length needs a second padding block.
  EXPECT_EQ(
      Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(TextDataTest, DocumentRules) {
  EXPECT_EQ(SplitDocuments("percent", "one\ntwo\n%\nthree\n%\n\n%\nfour"),
            (std::vector<std::string>{"one\ntwo\n", "three\n", "four\n"}));
  EXPECT_EQ(SplitDocuments("blank", "A \\a\\\n  def\n\n\n  \nB\n"),
            (std::vector<std::string>{"A \\a\\\n  def\n", "B\n"}));
  EXPECT_EQ(SplitDocuments("file", "x = 1"),
            (std::vector<std::string>{"x = 1\n"}));
  EXPECT_TRUE(SplitDocuments("file", "").empty());
  EXPECT_EQ(DocumentRule("dictionary"), "blank");
  EXPECT_EQ(DocumentRule("german"), "percent");
  EXPECT_EQ(DocumentRule("code"), "file");
  EXPECT_EQ(DocumentRule("klingon"), "");
}

TEST(TextDataTest, EveryTenthDocumentIsHeldOutAndTheDigestIsOfTheText) {
  const fs::path dir = TinyTextFolder("split");
  TextDomain prose;
  ASSERT_TRUE(LoadTextDomain(dir.string(), "prose", &prose).ok());
  EXPECT_EQ(prose.documents, 60);
  std::vector<std::string> docs = SplitDocuments("percent", [&] {
    std::ifstream in(dir / "prose" / "tiny");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }());
  std::string train, heldout, all;
  for (size_t i = 0; i < docs.size(); ++i) {
    ((i + 1) % 10 == 0 ? heldout : train) += docs[i];
    all += docs[i];
  }
  EXPECT_EQ(prose.train, train);
  EXPECT_EQ(prose.heldout, heldout);
  EXPECT_EQ(prose.sha256, Sha256Hex(all));
  // The gzipped dictionary is read through gunzip, entry by entry.
  TextDomain dictionary;
  ASSERT_TRUE(LoadTextDomain(dir.string(), "dictionary", &dictionary).ok());
  EXPECT_EQ(dictionary.documents, 60);
  EXPECT_EQ(dictionary.train.find("\n\n"), std::string::npos);
  // Code: one document per file, in sorted path order.
  TextDomain code;
  ASSERT_TRUE(LoadTextDomain(dir.string(), "code", &code).ok());
  EXPECT_EQ(code.documents, 12);
  EXPECT_EQ(code.heldout.rfind("def stone_0", 0), std::string::npos);
  EXPECT_EQ(code.train.rfind("def stone_0(x):\n    return x + 0\n", 0), 0u);
}

TEST(TextDataTest, AMissingDomainNamesWhatToDo) {
  const fs::path dir = TinyTextFolder("missing");
  fs::remove_all(dir / "german");
  TextDomain german;
  TrainStatus s = LoadTextDomain(dir.string(), "german", &german);
  EXPECT_EQ(s.code, TrainCode::kNotFound);
  EXPECT_NE(s.message.find((dir / "german").string()), std::string::npos)
      << s.message;
  s = LoadTextDomain(dir.string(), "klingon", &german);
  EXPECT_EQ(s.code, TrainCode::kInvalidArgument);
  EXPECT_NE(s.message.find("dictionary, prose, code, german"),
            std::string::npos);
}

TEST(LmModelTest, ParameterCountMatchesTheClosedFormula) {
  for (LmShape shape : {LmShape{16, 1, 2, 16, 2}, LmShape{64, 2, 4, 64, 4},
                        LmShape{48, 3, 6, 32, 3}}) {
    ByteLm model(shape);
    int64_t counted = 0;
    for (const auto& p : model->parameters()) counted += p.numel();
    EXPECT_EQ(counted, LmParameterCount(shape)) << shape.dim;
  }
  // The default model, by hand: 256*64 + 64*64 + 2*(12*64^2 + 13*64) + 128.
  EXPECT_EQ(LmParameterCount(LmShape{}), 120576);
}

TEST(LmModelTest, InitialisationFollowsDesign) {
  torch::manual_seed(2);
  ByteLm model(LmShape{64, 2, 4, 64, 4});
  int layer_norms = 0, biases = 0, matrices = 0;
  for (const auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    const torch::Tensor& p = item.value();
    if (name.find("ln") != std::string::npos &&
        name.find("weight") != std::string::npos) {
      EXPECT_TRUE(torch::equal(p, torch::ones_like(p))) << name;
      ++layer_norms;
    } else if (name.find("bias") != std::string::npos) {
      EXPECT_TRUE(torch::equal(p, torch::zeros_like(p))) << name;
      ++biases;
    } else {
      EXPECT_NEAR(p.std().item<double>(), 0.02, 0.004) << name;
      EXPECT_NEAR(p.mean().item<double>(), 0.0, 0.004) << name;
      ++matrices;
    }
  }
  EXPECT_EQ(layer_norms, 5);  // ln1, ln2 per block, and lnf
  EXPECT_EQ(biases, 13);      // qkv, proj, fc1, fc2, ln1, ln2 per block; lnf
  EXPECT_EQ(matrices, 10);    // embedding, positions, 4 per block
}

TEST(LmModelTest, ALaterByteNeverChangesAnEarlierPrediction) {
  torch::manual_seed(1);
  ByteLm model(LmShape{32, 2, 4, 24, 4});
  torch::NoGradGuard no_grad;
  torch::Tensor bytes = torch::randint(256, {3, 24}, torch::kInt64);
  const torch::Tensor before = model->forward(bytes);
  for (int64_t position : {0, 7, 23}) {
    torch::Tensor changed = bytes.clone();
    changed.select(1, position).add_(1).remainder_(256);
    const torch::Tensor after = model->forward(changed);
    EXPECT_TRUE(
        torch::equal(before.slice(1, 0, position), after.slice(1, 0, position)))
        << position;
    EXPECT_FALSE(
        torch::allclose(before.slice(1, position), after.slice(1, position)))
        << position;
  }
}

TEST(LmModelTest, AnUntrainedModelPredictsBytesAboutUniformly) {
  torch::manual_seed(0);
  ByteLm model(LmShape{});
  torch::NoGradGuard no_grad;
  const torch::Tensor bytes = torch::randint(256, {8, 65}, torch::kInt64);
  const torch::Tensor logits = model->forward(bytes.slice(1, 0, 64));
  const double bits =
      torch::nn::functional::cross_entropy(logits.reshape({-1, 256}),
                                           bytes.slice(1, 1, 65).reshape({-1}))
          .item<double>() /
      std::log(2.0);
  EXPECT_NEAR(bits, 8.0, 0.1);
}

TEST(LmMetricsTest, ByHandFromASmallMatrix) {
  // L[i][j], bits per byte, three tasks.
  const std::vector<std::vector<double>> loss = {
      {2.0, 5.0, 6.0}, {1.5, 2.5, 6.0}, {3.0, 3.0, 2.0}};
  PoolTrace pool;
  pool.loss_after_pretraining = 3.0;
  pool.accuracy_after_pretraining = 0.5;
  pool.loss_after_task = {3.5, 4.0, 4.5};
  pool.accuracy_after_task = {0.45, 0.4, 0.25};
  auto m = ComputeLmMetrics(loss, &pool);
  EXPECT_DOUBLE_EQ(m["loss_forgetting"], 3.0 - 1.5);
  EXPECT_DOUBLE_EQ(m["pretrain_forgetting"], 1.5);
  EXPECT_DOUBLE_EQ(m["pretrain_progress_lost"], 1.5 / 5.0);
  // ((0.05 + 0.1 + 0.25) / 0.5 * 100) / 3
  EXPECT_NEAR(m["fg_general"], (10.0 + 20.0 + 50.0) / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(m["pretrain_loss"], 3.0);
  EXPECT_DOUBLE_EQ(m["pretrain_accuracy"], 0.5);
  // Without pretraining only the loss forgetting exists.
  m = ComputeLmMetrics(loss, nullptr);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_TRUE(ComputeLmMetrics({{1.0}}, nullptr).empty());
}

TEST(LmTrainerTest, RunsThePhasesAndReportsBothMatrices) {
  const fs::path dir = TinyTextFolder("run");
  ExperimentResult r;
  TrainStatus s = RunExperiment(TinyLm(dir), OneThread(), &r);
  ASSERT_TRUE(s.ok()) << s.message;
  ASSERT_EQ(r.accuracy_matrix.size(), 2u);
  ASSERT_EQ(r.loss_matrix.size(), 2u);
  ASSERT_EQ(r.loss_matrix[1].size(), 2u);
  // Training on code lowers the code loss well below the uniform 8 bits.
  EXPECT_LT(r.loss_matrix[1][1], 6.0);
  EXPECT_LT(r.loss_matrix[1][1], r.loss_matrix[0][1]);
  for (const char* name :
       {"forgetting", "acc", "loss_forgetting", "pretrain_forgetting",
        "pretrain_progress_lost", "fg_general", "pretrain_loss"}) {
    EXPECT_EQ(r.metrics.count(name), 1u) << name;
  }
  EXPECT_DOUBLE_EQ(r.metrics["loss_forgetting"],
                   r.loss_matrix[1][0] - r.loss_matrix[0][0]);
  EXPECT_EQ(r.parameter_count, LmParameterCount(LmShape{16, 1, 2, 16, 2}));
  EXPECT_EQ(r.data_sha256.size(), 3u);
  EXPECT_EQ(r.data_sha256.count("dictionary"), 1u);
  // Curves: steps 10, 20, 30 and the end of each task, with the pool.
  ASSERT_EQ(r.curves.size(), 8u);
  EXPECT_TRUE(r.curves[0].has_pool);
  EXPECT_EQ(r.curves[3].loss, r.loss_matrix[0]);
  EXPECT_DOUBLE_EQ(r.metrics["pretrain_forgetting"],
                   r.curves[7].pool_loss - r.metrics["pretrain_loss"]);

  // The same spec gives the same bits; another seed does not.
  ExperimentResult again;
  ASSERT_TRUE(RunExperiment(TinyLm(dir), OneThread(), &again).ok());
  EXPECT_EQ(again.loss_matrix, r.loss_matrix);
  ExperimentConfig other = TinyLm(dir);
  other.seed = 4;
  ASSERT_TRUE(RunExperiment(other, OneThread(), &again).ok());
  EXPECT_NE(again.loss_matrix, r.loss_matrix);
}

TEST(LmTrainerTest, FromScratchHasNoPretrainingMetricsAndReplayChangesBatches) {
  const fs::path dir = TinyTextFolder("scratch");
  ExperimentConfig c = TinyLm(dir);
  c.pretrain_examples = 0;
  ExperimentResult r;
  ASSERT_TRUE(RunExperiment(c, OneThread(), &r).ok());
  EXPECT_EQ(r.metrics.count("pretrain_forgetting"), 0u);
  EXPECT_EQ(r.metrics.count("fg_general"), 0u);
  EXPECT_EQ(r.metrics.count("loss_forgetting"), 1u);

  ExperimentConfig plain = TinyLm(dir), replay = TinyLm(dir);
  replay.replay_fraction = 0.25;  // 2 of each 8 windows
  ExperimentResult a, b;
  ASSERT_TRUE(RunExperiment(plain, OneThread(), &a).ok());
  ASSERT_TRUE(RunExperiment(replay, OneThread(), &b).ok());
  EXPECT_NE(a.loss_matrix, b.loss_matrix);
  // Pretraining is the same run either way.
  EXPECT_DOUBLE_EQ(a.metrics["pretrain_loss"], b.metrics["pretrain_loss"]);
}

// --checkpoint_dir: the first run keeps its pretrained weights, a later run
// with the same pretraining (and replay, or other task settings) loads them
// instead of pretraining, and every number is what pretraining would give.
TEST(LmTrainerTest, APretrainedCheckpointStandsInForPretraining) {
  const fs::path dir = TinyTextFolder("checkpoint");
  const fs::path checkpoints = dir / "checkpoints";
  fs::create_directories(checkpoints);
  RunOptions keep = OneThread();
  keep.checkpoint_dir = checkpoints.string();
  ExperimentConfig replay = TinyLm(dir);
  replay.replay_fraction = 0.25;
  ExperimentResult fresh, first, loaded;
  ASSERT_TRUE(RunExperiment(replay, OneThread(), &fresh).ok());
  ASSERT_TRUE(RunExperiment(TinyLm(dir), keep, &first).ok());
  ASSERT_EQ(std::distance(fs::directory_iterator(checkpoints),
                          fs::directory_iterator()),
            1);
  // The file pretraining wrote (a retrained run would replace it by a
  // rename, with a new inode).
  const fs::path file = fs::directory_iterator(checkpoints)->path();
  struct stat before {};
  ASSERT_EQ(stat(file.c_str(), &before), 0);
  // Task settings are not part of the key: the replay run loads it.
  ASSERT_TRUE(RunExperiment(replay, keep, &loaded).ok());
  EXPECT_EQ(std::distance(fs::directory_iterator(checkpoints),
                          fs::directory_iterator()),
            1);
  struct stat after {};
  ASSERT_EQ(stat(file.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "pretrained again";
  EXPECT_EQ(loaded.accuracy_matrix, fresh.accuracy_matrix);
  EXPECT_EQ(loaded.loss_matrix, fresh.loss_matrix);
  EXPECT_EQ(loaded.metrics, fresh.metrics);
  ASSERT_EQ(loaded.curves.size(), fresh.curves.size());
  for (size_t i = 0; i < fresh.curves.size(); ++i) {
    EXPECT_EQ(loaded.curves[i].loss, fresh.curves[i].loss);
    EXPECT_EQ(loaded.curves[i].pool_loss, fresh.curves[i].pool_loss);
  }
  // Another pretraining size is another checkpoint.
  ExperimentConfig smaller = TinyLm(dir);
  smaller.pretrain_examples = 100;
  ASSERT_TRUE(RunExperiment(smaller, keep, &loaded).ok());
  EXPECT_EQ(std::distance(fs::directory_iterator(checkpoints),
                          fs::directory_iterator()),
            2);
}

TEST(LmTrainerTest, ANonFiniteLossFailsNamingTheStep) {
  const fs::path dir = TinyTextFolder("nan");
  ExperimentConfig c = TinyLm(dir);
  c.pretrain_examples = 0;
  c.task_lr = 1e30;
  ExperimentResult r;
  TrainStatus s = RunExperiment(c, OneThread(), &r);
  EXPECT_EQ(s.code, TrainCode::kFailedPrecondition);
  EXPECT_NE(s.message.find("non-finite loss at task:prose step "),
            std::string::npos)
      << s.message;
}

}  // namespace
}  // namespace forgetlab::train
