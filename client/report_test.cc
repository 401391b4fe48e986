#include "client/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/svg.h"

namespace forgetlab {
namespace {

using ::testing::HasSubstr;

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

// Two widths x two pretraining sizes, two seeds each.
ReportInput SampleInput() {
  ReportInput in;
  in.sweep.set_sweep_id("sw-test");
  in.sweep.set_name("test <sweep>");
  in.sweep.set_total(8);
  in.sweep.set_succeeded(8);
  in.sweep.set_state("DONE");
  in.sweep.mutable_spec()->set_name("test <sweep>");
  in.sweep.mutable_spec()->set_request_id("cli-123456789");
  v1::Table& t = in.table;
  t.set_metric("forgetting");
  t.set_row_axis("model.width");
  t.set_col_axis("pretrain.examples");
  for (double w : {32.0, 128.0}) {
    v1::TableRow* row = t.add_rows();
    row->set_value(w);
    row->set_parameter_count(w == 32 ? 26506 : 118282);
  }
  t.add_cols(0);
  t.add_cols(1000);
  for (double w : {32.0, 128.0}) {
    for (double n : {0.0, 1000.0}) {
      v1::TableCell* c = t.add_cells();
      c->set_row(w);
      c->set_col(n);
      c->set_n(2);
      c->set_mean(0.3 - w / 1000 - n / 10000);
      c->set_ci95_low(c->mean() - 0.05);
      c->set_ci95_high(c->mean() + 0.05);
      c->add_values(c->mean() - 0.01);
      c->add_values(c->mean() + 0.01);
      for (int seed = 0; seed < 2; ++seed) {
        v1::JobResultEntry e;
        (*e.mutable_axis_values())["model.width"] = w;
        (*e.mutable_axis_values())["pretrain.examples"] = n;
        (*e.mutable_axis_values())["seed"] = seed;
        auto* r0 = e.mutable_result()->add_accuracy_matrix();
        r0->add_accuracy(0.9);
        r0->add_accuracy(0.1);
        auto* r1 = e.mutable_result()->add_accuracy_matrix();
        r1->add_accuracy(0.9 - c->mean());
        r1->add_accuracy(0.95);
        for (int step : {100, 200, 300}) {
          v1::CurvePoint* p = e.mutable_result()->add_curves();
          p->set_stage(1);
          p->set_step(step);
          p->add_accuracy(0.9 - c->mean() * step / 300);
          p->add_accuracy(0.9);
        }
        v1::Provenance* p = e.mutable_result()->mutable_provenance();
        p->set_forgetlab_version("0.5.0");
        p->set_forgetlab_commit("abc123");
        p->set_torch_version("1.13.0");
        p->set_blas("/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3");
        p->set_device("cpu");
        p->set_threads(2);
        in.results.push_back(e);
      }
    }
  }
  return in;
}

TEST(ReportTest, TitlesFollowTheMetricAndTheAggregation) {
  ReportInput in = SampleInput();
  in.table.set_metric("acc");
  in.agg = Aggregation::kMedian;
  const std::string html = ReportHtml(in);
  EXPECT_THAT(html, HasSubstr("<h2>Acc: heatmap</h2>"));
  EXPECT_THAT(html, HasSubstr("<h2>Acc against model size</h2>"));
  EXPECT_THAT(html, HasSubstr("acc: median over seeds"));
  EXPECT_EQ(Count(html, "class=\"errorbar\""), 0);  // medians carry none
  in.table.add_pooled_over()->set_path("model.depth");
  in.table.set_duplicates_dropped(3);
  const std::string pooled = ReportHtml(in);
  EXPECT_THAT(pooled, HasSubstr("Pooled over <code>model.depth</code>"));
  EXPECT_THAT(pooled, HasSubstr("3 duplicate results dropped"));
}

TEST(ReportTest, HasEveryChartAndNothingExternal) {
  const std::string html = ReportHtml(SampleInput());
  EXPECT_THAT(html, HasSubstr("<!DOCTYPE html>"));
  // Heatmap, paper figure, one frontier panel per pretraining size.
  EXPECT_EQ(Count(html, "<svg "), 1 + 1 + 2);
  EXPECT_EQ(Count(html, "class=\"cell\""), 4);
  EXPECT_EQ(Count(html, "class=\"errorbar\""), 4);
  EXPECT_EQ(Count(html, "class=\"legend\""), 2 + 2 * 2);
  EXPECT_EQ(Count(html, "<table class=\"matrix\">"), 4);
  EXPECT_THAT(html, HasSubstr("parameters (count, log scale)"));
  EXPECT_THAT(html, HasSubstr("pretrain.examples = 1k"));
  // Legends are titled with what their labels are values of.
  EXPECT_EQ(Count(html, "class=\"legend-title\">pretrain.examples<"), 1);
  EXPECT_EQ(Count(html, "class=\"legend-title\">model.width<"), 2);
  // Each point of the figure says its n and shows its seeds.
  EXPECT_EQ(Count(html, ">n=2<"), 4);
  EXPECT_EQ(Count(html, "class=\"single\""), 8);
  // Both frontier panels share one y range: the same top tick.
  EXPECT_EQ(Count(html, ">0.9</text>"), 2);
  EXPECT_THAT(html, HasSubstr("<h2>Forgetting against model size</h2>"));
  // The provenance block and the resolved hyperparameters.
  EXPECT_THAT(html, HasSubstr("0.5.0 (commit abc123) <small>(8 results)"));
  EXPECT_THAT(html, HasSubstr("openblas-openmp"));
  EXPECT_THAT(html, HasSubstr("<th>finetune.lr</th><td>0.01</td>"));
  EXPECT_THAT(html, HasSubstr("bit-identical"));
  EXPECT_EQ(html.find("request_id"), std::string::npos);
  EXPECT_EQ(html.find("cli-123456789"), std::string::npos);
  EXPECT_THAT(html, HasSubstr("task-A test accuracy (fraction)"));
  // Names are escaped; nothing is loaded from elsewhere.
  EXPECT_THAT(html, HasSubstr("test &lt;sweep&gt;"));
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
}

// LM results add a second frontier: task A's loss while task B trains,
// from the loss matrix and the curves' losses. Vision results have none.
TEST(ReportTest, LanguageModelResultsGetLossFrontiers) {
  EXPECT_EQ(ReportHtml(SampleInput()).find("Task-A loss while task B trains"),
            std::string::npos);
  ReportInput in = SampleInput();
  for (v1::JobResultEntry& e : in.results) {
    for (double start : {3.0, 4.0}) {
      v1::LossRow* row = e.mutable_result()->add_loss_matrix();
      row->add_loss(start);
      row->add_loss(5.0);
    }
    for (v1::CurvePoint& p : *e.mutable_result()->mutable_curves()) {
      p.add_loss(3.0 + p.step() / 300.0);  // task A's loss rises to 4
      p.add_loss(4.5);
    }
  }
  const std::string html = ReportHtml(in);
  EXPECT_THAT(html, HasSubstr("<h2>Task-A loss while task B trains"));
  EXPECT_THAT(html, HasSubstr("task-A held-out loss (bits per byte)"));
  // Heatmap, paper figure, two accuracy and two loss frontier panels.
  EXPECT_EQ(Count(html, "<svg "), 1 + 1 + 2 + 2);
  EXPECT_THAT(html, HasSubstr("task-A loss while task B trains, "
                              "pretrain.examples = 1k"));
  // An LM metric is labelled with its unit, not as a fraction.
  in.table.set_metric("pretrain_forgetting");
  const std::string lm = ReportHtml(in);
  EXPECT_THAT(lm, HasSubstr("pretrain_forgetting (bits per byte)"));
  EXPECT_THAT(lm, HasSubstr("in bits per byte. Accuracies are fractions"));
  EXPECT_EQ(lm.find("pretrain_forgetting (fraction)"), std::string::npos);
}

TEST(ReportTest, PaperFigurePlotsParametersOnALogAxis) {
  const std::string svg = PaperFigureSvg(SampleInput().table, true);
  EXPECT_THAT(svg, HasSubstr("xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_EQ(Count(svg, "<polyline"), 2);  // one line per pretraining size
  EXPECT_EQ(Count(svg, "r=\"3.5\""), 4);  // one marker per cell
  // The x axis fits 26.5k..118k parameters: no empty decades around them.
  EXPECT_THAT(svg, HasSubstr(">50k<"));
  EXPECT_THAT(svg, HasSubstr(">100k<"));
  EXPECT_THAT(svg, ::testing::Not(HasSubstr(">10k<")));
  EXPECT_THAT(svg, ::testing::Not(HasSubstr(">1M<")));
  EXPECT_GE(Count(svg, "class=\"tick\" x1=\"70.00\""), 4);  // y ticks
  EXPECT_THAT(svg, HasSubstr("forgetting (task-A accuracy lost, fraction)"));
}

TEST(SvgTest, ShortNumbers) {
  EXPECT_EQ(svg::ShortNumber(26506), "26.5k");
  EXPECT_EQ(svg::ShortNumber(669706), "670k");
  EXPECT_EQ(svg::ShortNumber(50000), "50k");
  EXPECT_EQ(svg::ShortNumber(2e6), "2M");
  EXPECT_EQ(svg::ShortNumber(0.05), "0.05");
  EXPECT_EQ(svg::Escape("a<b&\"c\""), "a&lt;b&amp;&quot;c&quot;");
}

}  // namespace
}  // namespace forgetlab
