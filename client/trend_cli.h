// CLI11 wiring of `fit`, `compare` and `extend` (client/trend_commands.h).
#ifndef FORGETLAB_CLIENT_TREND_CLI_H_
#define FORGETLAB_CLIENT_TREND_CLI_H_

#include <string>

#include "client/connection.h"
#include "client/trend_commands.h"

namespace CLI {
class App;
}  // namespace CLI

namespace forgetlab {

// The options the subcommands parse into; must outlive the parse.
struct TrendOptions {
  FitQuery fit;
  std::string compare_id, compare_metric = "forgetting", axis;
  double a = 0, b = 0;
  std::string compare_format = "text";
  ExtendQuery extend;
};

// Adds the subcommands to `app`; the one that runs sets *code.
void AddTrendSubcommands(CLI::App& app, const ConnectionOptions& connection,
                         TrendOptions* options, int* code);

}  // namespace forgetlab

#endif  // FORGETLAB_CLIENT_TREND_CLI_H_
