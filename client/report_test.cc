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
        in.results.push_back(e);
      }
    }
  }
  return in;
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
  EXPECT_THAT(html, HasSubstr("N = 1k"));
  EXPECT_THAT(html, HasSubstr("task-A test accuracy (fraction)"));
  // Names are escaped; nothing is loaded from elsewhere.
  EXPECT_THAT(html, HasSubstr("test &lt;sweep&gt;"));
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
}

TEST(ReportTest, PaperFigurePlotsParametersOnALogAxis) {
  const std::string svg = PaperFigureSvg(SampleInput().table, true);
  EXPECT_THAT(svg, HasSubstr("xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_EQ(Count(svg, "<polyline"), 2);  // one line per pretraining size
  EXPECT_EQ(Count(svg, "<circle"), 4);
  EXPECT_THAT(svg, HasSubstr(">10k<"));  // decade ticks
  EXPECT_THAT(svg, HasSubstr(">100k<"));
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
