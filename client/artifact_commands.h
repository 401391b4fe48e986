// `forgetlab artifacts`: the shared pretraining artifacts the server keeps,
// and, for an admin, deleting one.
#ifndef FORGETLAB_CLIENT_ARTIFACT_COMMANDS_H_
#define FORGETLAB_CLIENT_ARTIFACT_COMMANDS_H_

#include <string>

#include "client/connection.h"
#include "forgetlab/v1/forgetlab.pb.h"

namespace CLI {
class App;
}  // namespace CLI

namespace forgetlab {

// The listing as a table, and as JSON (one object: artifacts, total_bytes,
// quota_bytes), `now_ms` for the ages.
std::string ArtifactsText(const v1::ListArtifactsResponse& list,
                          int64_t now_ms);
std::string ArtifactsJson(const v1::ListArtifactsResponse& list);

// Adds `forgetlab artifacts [--delete=KEY] [--format=text|json]`.
void AddArtifactsSubcommand(CLI::App& app, const ConnectionOptions& connection,
                            int* code);

}  // namespace forgetlab

#endif  // FORGETLAB_CLIENT_ARTIFACT_COMMANDS_H_
