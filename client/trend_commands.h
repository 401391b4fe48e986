// The subcommands about trends: `fit` (scaling laws with bootstrap
// intervals), `compare` (a paired difference) and `extend` (growing a sweep,
// optionally until every cell's interval is narrow enough). Exit codes as in
// client/commands.h.
#ifndef FORGETLAB_CLIENT_TREND_COMMANDS_H_
#define FORGETLAB_CLIENT_TREND_COMMANDS_H_

#include <string>
#include <vector>

#include "client/connection.h"
#include "client/fetch.h"

namespace forgetlab {

struct FitQuery {
  std::vector<std::string> ids;
  std::string metric = "forgetting";
  std::string x = "parameter_count";  // or an axis path
  std::string by;                     // "": pretrain.examples (see RunFit)
  std::vector<std::string> where;
  std::string format = "text";
  int resamples = 1000;
  uint64_t seed = 1;
};

inline constexpr int kMaxSeedsAtOnce = 1000;

struct ExtendQuery {
  std::string id;
  std::string seeds;             // "3-9" or "3,4,7"
  std::vector<std::string> add;  // "AXIS=V1,V2"
  bool dry_run = false;
  // --until_ci: rounds of `batch` new seeds for the cells of `table` whose
  // 95% CI half-width is wider than `until_ci`, up to `max_seeds` seeds.
  double until_ci = 0;
  int max_seeds = 20;
  int batch = 3;
  TableQuery table;
  int poll_ms = 2000;
};

// With --x=parameter_count the rows are the model sizes and the groups the
// --by axis (default pretrain.examples); with --x=pretrain.examples and no
// --by, the groups are the model sizes.
int RunFit(Connection& c, const FitQuery& q);
int RunCompare(Connection& c, const std::string& id, const std::string& metric,
               const std::string& axis, double a, double b,
               const std::string& format);
// Exit 0 when done (with --until_ci: every cell narrow enough), 1 when a call
// failed or --until_ci stopped at --max_seeds with cells still wide.
int RunExtend(Connection& c, const ExtendQuery& q);

}  // namespace forgetlab

#endif  // FORGETLAB_CLIENT_TREND_COMMANDS_H_
