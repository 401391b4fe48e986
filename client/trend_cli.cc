// CLI11 wiring of the trend subcommands.
#include "client/trend_cli.h"

#include <CLI/CLI.hpp>

namespace forgetlab {

void AddTrendSubcommands(CLI::App& app, const ConnectionOptions& g,
                         TrendOptions* o, int* code) {
  CLI::App* fit = app.add_subcommand(
      "fit",
      "Fit METRIC = c + a*x^alpha for each value of --by, and the joint law "
      "c + a*x^alpha*y^beta, with 95% CIs from a seeded bootstrap over the "
      "seeds of each cell, R2, n and the plain slope per tenfold x. A trend "
      "whose CI holds 0 is reported as not resolved.\nExample: forgetlab fit "
      "sw-1a2b3c4d5e --metric=forgetting --x=parameter_count "
      "--by=pretrain.examples");
  fit->add_option("SWEEP", o->fit.ids, "one or more sweep ids")->required();
  fit->add_option("--metric", o->fit.metric, "metric to fit")
      ->capture_default_str();
  fit->add_option("--x", o->fit.x,
                  "parameter_count (each model size's parameters) or an "
                  "axis path, e.g. pretrain.examples")
      ->capture_default_str();
  fit->add_option("--by", o->fit.by,
                  "one law per value of this axis (default: pretrain.examples; "
                  "with --x=pretrain.examples, the model sizes)");
  fit->add_option("--where", o->fit.where,
                  "only results with PATH=VALUE (repeatable)");
  fit->add_option("--format", o->fit.format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  fit->add_option("--resamples", o->fit.resamples, "bootstrap resamples")
      ->check(CLI::Range(100, 100000))
      ->capture_default_str();
  fit->add_option("--seed", o->fit.seed,
                  "bootstrap seed: the same seed gives the same intervals")
      ->capture_default_str();
  fit->callback([&g, o, code] {
    *code = WithConnection(g, [&](Connection& c) { return RunFit(c, o->fit); });
  });

  CLI::App* compare = app.add_subcommand(
      "compare",
      "The mean difference of METRIC between two values of one axis, over "
      "results paired by seed and every other axis, with a 95% CI (Student "
      "t) and the effect size d_z.\nExample: forgetlab compare sw-1a2b3c4d5e "
      "--metric=forgetting --axis=pretrain.examples --a=0 --b=50000");
  compare->add_option("SWEEP", o->compare_id, "sweep id")->required();
  compare->add_option("--metric", o->compare_metric, "metric to compare")
      ->capture_default_str();
  compare->add_option("--axis", o->axis, "the axis that differs")->required();
  compare->add_option("--a", o->a, "first value (the difference is b - a)")
      ->required();
  compare->add_option("--b", o->b, "second value")->required();
  compare->add_option("--format", o->compare_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  compare->callback([&g, o, code] {
    *code = WithConnection(g, [&](Connection& c) {
      return RunCompare(c, o->compare_id, o->compare_metric, o->axis, o->a,
                        o->b, o->compare_format);
    });
  });

  ExtendQuery& e = o->extend;
  CLI::App* extend = app.add_subcommand(
      "extend",
      "Add seeds or axis values to a sweep; jobs it has are never added "
      "twice, and the cache serves what it can. With --until_ci, add seeds in "
      "rounds to the cells whose 95% CI half-width is wider than the target, "
      "as results arrive.\nExamples:\n  forgetlab extend sw-1a2b3c4d5e "
      "--seeds=3-9\n  forgetlab extend sw-1a2b3c4d5e --add "
      "finetune.lr=0.3,1\n  forgetlab extend sw-1a2b3c4d5e --until_ci=0.02 "
      "--max_seeds=20");
  extend->add_option("SWEEP", e.id, "sweep id")->required();
  extend->add_option("--seeds", e.seeds, "seeds to add: 3-9, or 3,4,7");
  extend->add_option("--add", e.add,
                     "AXIS=V1,V2: values to add to an axis, or a new axis "
                     "(repeatable)");
  extend->add_flag("--dry-run", e.dry_run,
                   "count the jobs that would be added; add nothing");
  extend
      ->add_option("--until_ci", e.until_ci,
                   "target 95% CI half-width of --metric in every cell of "
                   "the table (--rows, --cols, --where)")
      ->check(CLI::PositiveNumber);
  extend->add_option("--max_seeds", e.max_seeds, "most seeds a cell gets")
      ->check(CLI::Range(2, 1000))
      ->capture_default_str();
  extend->add_option("--batch", e.batch, "seeds added per round")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  extend->add_option("--metric", e.table.metric, "metric for --until_ci")
      ->capture_default_str();
  extend->add_option("--rows", e.table.rows,
                     "row axis of the cells (default: the model axis)");
  extend->add_option("--cols", e.table.cols, "column axis of the cells")
      ->capture_default_str();
  extend->add_option("--where", e.table.where,
                     "only cells with PATH=VALUE (repeatable)");
  extend->callback([&g, o, code] {
    o->extend.table.ids = {o->extend.id};
    *code = WithConnection(
        g, [&](Connection& c) { return RunExtend(c, o->extend); });
  });
}

}  // namespace forgetlab
