#include "client/render.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace forgetlab {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using ::testing::HasSubstr;
using ::testing::Not;

v1::Table SampleTable() {
  v1::Table t;
  t.set_metric("forgetting");
  t.set_row_axis("model.width");
  t.set_col_axis("pretrain.examples");
  for (double w : {32.0, 128.0}) {
    v1::TableRow* row = t.add_rows();
    row->set_value(w);
    row->set_parameter_count(w == 32 ? 26506 : 118282);
  }
  t.add_cols(0);
  t.add_cols(50000);
  auto add = [&](double row, double col, double mean) {
    v1::TableCell* c = t.add_cells();
    c->set_row(row);
    c->set_col(col);
    c->set_n(3);
    c->set_mean(mean);
    c->set_std(0.01);
    c->set_sem(0.00577);
    c->set_ci95_low(mean - 0.0248);
    c->set_ci95_high(mean + 0.0248);
    c->set_min(mean - 0.01);
    c->set_max(mean + 0.01);
  };
  add(32, 0, 0.08);
  add(32, 50000, 0.02);
  add(128, 0, 0.06);
  return t;
}

Struct ParseJson(const std::string& text) {
  Struct s;
  auto status =
      google::protobuf::util::JsonStringToMessage("{\"v\": " + text + "}", &s);
  EXPECT_TRUE(status.ok()) << status.message() << "\n" << text;
  return s;
}

TEST(RenderTest, PooledAndDroppedAreSaidInEveryFormat) {
  v1::Table t = SampleTable();
  t.set_duplicates_dropped(2);
  v1::PooledAxis* pooled = t.add_pooled_over();
  pooled->set_path("model.depth");
  for (const char* v : {"1", "2", "4"}) pooled->add_values(v);
  // Row 32 holds one model size, row 128 three.
  t.mutable_rows(0)->set_parameter_count_min(26506);
  t.mutable_rows(0)->set_parameter_count_max(26506);
  t.mutable_rows(1)->set_parameter_count_min(100000);
  t.mutable_rows(1)->set_parameter_count_max(140000);
  for (const std::string& text : {TableText(t, false), TableMarkdown(t)}) {
    EXPECT_THAT(text, HasSubstr("pooled over: model.depth (3 values)"));
    EXPECT_THAT(text, HasSubstr("duplicates dropped: 2"));
    EXPECT_THAT(text, HasSubstr("32 (26,506 params)"));
    EXPECT_THAT(text, Not(HasSubstr("118,282")));
  }
  const Struct root = ParseJson(TableJson(t));
  const Struct& j = root.fields().at("v").struct_value();
  EXPECT_EQ(j.fields().at("duplicates_dropped").number_value(), 2);
  const auto& list = j.fields().at("pooled_over").list_value();
  ASSERT_EQ(list.values_size(), 1);
  const Struct& axis = list.values(0).struct_value();
  EXPECT_EQ(axis.fields().at("path").string_value(), "model.depth");
  EXPECT_EQ(axis.fields().at("values").list_value().values_size(), 3);
}

TEST(RenderTest, TableJsonHasTheDocumentedShape) {
  const Struct root = ParseJson(TableJson(SampleTable()));
  const Struct& t = root.fields().at("v").struct_value();
  EXPECT_EQ(t.fields().at("metric").string_value(), "forgetting");
  EXPECT_EQ(t.fields().at("row_axis").string_value(), "model.width");
  EXPECT_EQ(t.fields().at("col_axis").string_value(), "pretrain.examples");
  const auto& cells = t.fields().at("cells").list_value().values();
  ASSERT_EQ(cells.size(), 3);
  const Struct& c = cells[1].struct_value();
  for (const char* key : {"row", "col", "n", "mean", "std", "sem", "ci95_low",
                          "ci95_high", "min", "max"}) {
    ASSERT_TRUE(c.fields().count(key)) << key;
    EXPECT_EQ(c.fields().at(key).kind_case(), Value::kNumberValue) << key;
  }
  EXPECT_EQ(c.fields().size(), 10u);
  EXPECT_EQ(c.fields().at("row").number_value(), 32);
  EXPECT_EQ(c.fields().at("col").number_value(), 50000);
  EXPECT_EQ(c.fields().at("n").number_value(), 3);
  EXPECT_DOUBLE_EQ(c.fields().at("mean").number_value(), 0.02);
}

TEST(RenderTest, StatusAndJobsJsonHaveTheDocumentedShape) {
  v1::SweepStatus s;
  s.set_sweep_id("sw-1");
  s.set_state("RUNNING");
  s.set_total(36);
  s.set_queued(30);
  s.set_leased(1);
  s.set_succeeded(5);
  s.set_owner("carol");
  const Struct status =
      ParseJson(StatusJson(s)).fields().at("v").struct_value();
  EXPECT_EQ(status.fields().at("sweep_id").string_value(), "sw-1");
  EXPECT_EQ(status.fields().at("owner").string_value(), "carol");
  EXPECT_EQ(status.fields().at("total").number_value(), 36);
  const Struct& counts = status.fields().at("counts").struct_value();
  EXPECT_EQ(counts.fields().size(), 6u);
  EXPECT_EQ(counts.fields().at("queued").number_value(), 30);
  EXPECT_EQ(counts.fields().at("cancelled").number_value(), 0);
  EXPECT_EQ(counts.fields().at("awaiting_pretraining").number_value(), 0);
  EXPECT_EQ(status.fields().at("pretraining_jobs").number_value(), 0);

  v1::Job job;
  job.set_job_id(7);
  job.set_state(v1::FAILED);
  job.set_attempt(2);
  job.set_worker_id("w-1");
  job.set_error("non-finite loss at task:A step 3 \"quoted\"");
  (*job.mutable_axis_values())["model.width"] = 32;
  const Struct root = ParseJson(JobsJson({job, job}));
  const auto& list = root.fields().at("v").list_value();
  ASSERT_EQ(list.values_size(), 2);
  const Struct& j = list.values(0).struct_value();
  EXPECT_EQ(j.fields().at("job_id").number_value(), 7);
  EXPECT_EQ(j.fields().at("state").string_value(), "FAILED");
  EXPECT_EQ(j.fields().at("kind").string_value(), "experiment");
  EXPECT_EQ(j.fields().at("artifact_key").string_value(), "");
  EXPECT_EQ(j.fields().at("attempt").number_value(), 2);
  EXPECT_EQ(j.fields().at("worker").string_value(), "w-1");
  EXPECT_EQ(j.fields().at("error").string_value(), job.error());
  EXPECT_EQ(j.fields()
                .at("axes")
                .struct_value()
                .fields()
                .at("model.width")
                .number_value(),
            32);
}

// A shared pretraining job has no fine-tuning axes; the experiments' still
// get their column.
TEST(RenderTest, JobsTextShowsEveryJobsAxesAndKind) {
  v1::Job pretrain;
  pretrain.set_job_id(1);
  pretrain.set_kind("pretrain");
  (*pretrain.mutable_axis_values())["model.width"] = 32;
  v1::Job experiment;
  experiment.set_job_id(2);
  experiment.set_kind("experiment");
  experiment.set_state(v1::WAITING);
  (*experiment.mutable_axis_values())["model.width"] = 32;
  (*experiment.mutable_axis_values())["finetune.lr"] = 0.03;
  const std::string text = JobsText({pretrain, experiment});
  EXPECT_THAT(text, ::testing::HasSubstr("finetune.lr"));
  EXPECT_THAT(text, ::testing::HasSubstr("0.03"));
  EXPECT_THAT(text, ::testing::HasSubstr("pretrain"));
  EXPECT_THAT(text, ::testing::HasSubstr("WAITING"));
}

TEST(RenderTest, CsvHasHeaderAndOneLinePerCell) {
  const std::vector<std::string> lines =
      absl::StrSplit(TableCsv(SampleTable()), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0],
            "model.width,pretrain.examples,parameter_count,n,mean,std,sem,"
            "ci95_low,ci95_high,min,max,median,values");
  EXPECT_THAT(lines[2], ::testing::StartsWith("32,50000,26506,3,0.02,"));
}

TEST(RenderTest, TextAndMarkdownShowGridWithParameterCounts) {
  const std::string text = TableText(SampleTable(), false);
  EXPECT_THAT(text, HasSubstr("32 (26,506 params)"));
  EXPECT_THAT(text, HasSubstr("0.0800 ± 0.0248 (3)"));
  EXPECT_THAT(text, HasSubstr("50000"));
  // The empty cell (128, 50000) shows a dash.
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  EXPECT_THAT(lines[3], HasSubstr("-"));
  EXPECT_EQ(text.find("\033["), std::string::npos);  // no colour off a TTY
  EXPECT_NE(TableText(SampleTable(), true).find("\033["), std::string::npos);

  const std::string md = TableMarkdown(SampleTable());
  EXPECT_THAT(md, HasSubstr("| model.width | 0 | 50000 |"));
  EXPECT_THAT(md,
              HasSubstr("| 128 (118,282 params) | 0.0600 ± 0.0248 (3) | - |"));
}

TEST(RenderTest, ProgressLine) {
  v1::SweepStatus s;
  s.set_state("RUNNING");
  s.set_total(36);
  s.set_succeeded(9);
  s.set_leased(1);
  s.set_queued(26);
  EXPECT_EQ(ProgressLine(s, 65, 0),
            "9/36 done  1 running  26 queued  0 failed  ETA 1m05s");
  EXPECT_THAT(ProgressLine(s, 65, 8), ::testing::StartsWith("[##......] 9/36"));
}

}  // namespace
}  // namespace forgetlab
