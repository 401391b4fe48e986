#include "client/fits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace forgetlab {
namespace {

using ::testing::HasSubstr;

// A table of m = 0.1 + 2 * params^-0.3 (+ seed noise) for three model
// sizes and pretraining sizes 0 and 1000 (halved there).
v1::Table LawTable(bool pooled_sizes = false) {
  v1::Table t;
  t.set_metric("forgetting");
  t.set_row_axis("model.width");
  t.set_col_axis("pretrain.examples");
  const double widths[] = {32, 128, 512};
  const int64_t params[] = {25000, 110000, 480000};
  for (int r = 0; r < 3; ++r) {
    v1::TableRow* row = t.add_rows();
    row->set_value(widths[r]);
    row->set_parameter_count(params[r]);
    row->set_parameter_count_min(params[r]);
    row->set_parameter_count_max(pooled_sizes && r == 1 ? 2 * params[r]
                                                        : params[r]);
  }
  t.add_cols(0);
  t.add_cols(1000);
  const double noise[] = {-0.002, 0.0, 0.002};
  for (int r = 0; r < 3; ++r) {
    for (double col : {0.0, 1000.0}) {
      v1::TableCell* c = t.add_cells();
      c->set_row(widths[r]);
      c->set_col(col);
      const double m =
          (0.1 + 2 * std::pow(params[r], -0.3)) * (col > 0 ? 0.5 : 1.0);
      double sum = 0;
      for (double e : noise) {
        c->add_values(m + e);
        sum += m + e;
      }
      c->set_n(3);
      c->set_mean(sum / 3);
    }
  }
  return t;
}

TEST(FitTableTest, OneLawPerColumnOnParameterCounts) {
  FitLayout layout;
  layout.bootstrap = {200, 1};
  absl::StatusOr<FitReport> r = FitTable(LawTable(), layout);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->x, "parameter_count");
  EXPECT_EQ(r->by, "pretrain.examples");
  ASSERT_EQ(r->groups.size(), 2u);
  EXPECT_EQ(r->groups[0].value, 0);
  ASSERT_TRUE(r->groups[0].trend.has_value()) << r->groups[0].skipped;
  const stats::Trend& t = *r->groups[0].trend;
  // x is each row's parameter count, in row order.
  ASSERT_EQ(t.points.size(), 3u);
  EXPECT_EQ(t.points[0].x, 25000);
  EXPECT_EQ(t.points[2].x, 480000);
  EXPECT_EQ(t.results, 9);
  EXPECT_NEAR(t.law.alpha, -0.3, 0.05);
  EXPECT_EQ(t.Direction(), "falls");
  // The joint law leaves out pretrain.examples = 0 and has too few cells.
  EXPECT_FALSE(r->joint.has_value());
  EXPECT_THAT(r->joint_skipped, HasSubstr("5 cells"));
  ASSERT_EQ(r->left_out.size(), 1u);
  EXPECT_THAT(r->left_out[0], HasSubstr("pretrain.examples = 0"));

  const std::string text = FitText(*r);
  EXPECT_THAT(text, HasSubstr("pretrain.examples = 1000"));
  EXPECT_THAT(text, HasSubstr("alpha"));
  EXPECT_THAT(text, HasSubstr("falls"));

  google::protobuf::Value json;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(FitJson(*r), &json).ok());
  const auto& f = json.struct_value().fields();
  EXPECT_EQ(f.at("x").string_value(), "parameter_count");
  EXPECT_EQ(
      f.at("bootstrap").struct_value().fields().at("resamples").number_value(),
      200);
  const auto& g0 =
      f.at("groups").list_value().values(0).struct_value().fields();
  EXPECT_EQ(g0.at("n").number_value(), 9);
  EXPECT_EQ(g0.at("trend").string_value(), "falls");
  const auto& ci =
      g0.at("law").struct_value().fields().at("alpha_ci95").list_value();
  EXPECT_LE(ci.values(0).number_value(), ci.values(1).number_value());
  EXPECT_EQ(g0.at("fitted").list_value().values_size(), 3);
  EXPECT_TRUE(f.at("joint").has_null_value());
  EXPECT_TRUE(f.contains("joint_skipped"));
}

TEST(FitTableTest, TheSameSeedGivesTheSameReport) {
  FitLayout layout;
  layout.bootstrap = {300, 9};
  absl::StatusOr<FitReport> a = FitTable(LawTable(), layout);
  absl::StatusOr<FitReport> b = FitTable(LawTable(), layout);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(FitJson(*a), FitJson(*b));
}

TEST(FitTableTest, RowsThatPoolModelSizesAreRefusedForParameterCount) {
  absl::StatusOr<FitReport> r = FitTable(LawTable(true), FitLayout{});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("model.width = 128 holds models of"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("--where"));
  // Against the axis value instead, the same table fits.
  FitLayout by_width;
  by_width.x = "model.width";
  by_width.bootstrap = {100, 1};
  EXPECT_TRUE(FitTable(LawTable(true), by_width).ok());
}

TEST(FitTableTest, GroupsByModelSizeWhenXIsOnTheColumns) {
  // x = pretrain.examples (0 is left out), one group per model size: two
  // x values per group are too few for a law, and the message says so.
  FitLayout layout;
  layout.x = "pretrain.examples";
  layout.x_on_cols = true;
  layout.bootstrap = {100, 1};
  absl::StatusOr<FitReport> r = FitTable(LawTable(), layout);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->by, "model.width");
  EXPECT_EQ(r->y, "parameter_count");
  ASSERT_EQ(r->groups.size(), 3u);
  EXPECT_EQ(r->groups[1].parameter_count, 110000);
  EXPECT_FALSE(r->groups[1].trend.has_value());
  EXPECT_THAT(r->groups[1].skipped, HasSubstr("3 distinct x"));
}

}  // namespace
}  // namespace forgetlab
