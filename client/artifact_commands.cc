// `forgetlab artifacts`.
#include "client/artifact_commands.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/render.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "proto/net/json_writer.h"

namespace forgetlab {
namespace {

std::string Bytes(int64_t n) {
  if (n >= (int64_t{1} << 30))
    return absl::StrFormat("%.1f GiB", n / 1073741824.0);
  if (n >= (int64_t{1} << 20))
    return absl::StrFormat("%.1f MiB", n / 1048576.0);
  if (n >= 1024) return absl::StrFormat("%.1f KiB", n / 1024.0);
  return absl::StrCat(n, " B");
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string ArtifactsText(const v1::ListArtifactsResponse& list,
                          int64_t now_ms) {
  std::string out = absl::StrCat(
      list.artifacts_size(), " shared pretraining artifact",
      list.artifacts_size() == 1 ? "" : "s", ", ", Bytes(list.total_bytes()),
      " of the server's ", Bytes(list.quota_bytes()), " quota\n");
  if (list.artifacts_size() == 0) return out;
  std::vector<std::vector<std::string>> rows = {
      {"KEY", "SIZE", "LAST USED", "NEEDED BY", "MADE ON", "SWEEPS"}};
  for (const v1::Artifact& a : list.artifacts()) {
    const int64_t idle_s =
        std::max<int64_t>(0, (now_ms - a.last_used_ms()) / 1000);
    rows.push_back(
        {a.key().substr(0, 16), Bytes(a.size_bytes()),
         absl::StrCat(LocalTime(a.last_used_ms()), " (", idle_s, " s ago)"),
         absl::StrCat(a.needed_by(), " job", a.needed_by() == 1 ? "" : "s"),
         absl::StrCat(a.device(), " x", a.threads()),
         absl::StrJoin(a.sweep_ids(), ",")});
  }
  absl::StrAppend(&out, Columns(rows, {false, true, false, true}));
  absl::StrAppend(&out,
                  "keys are cut to 16 digits here; --format=json gives them "
                  "whole, and --delete takes either\n");
  return out;
}

std::string ArtifactsJson(const v1::ListArtifactsResponse& list) {
  std::vector<std::string> items;
  for (const v1::Artifact& a : list.artifacts()) {
    std::vector<std::string> sweeps;
    for (const std::string& id : a.sweep_ids())
      sweeps.push_back(JsonString(id));
    items.push_back(absl::StrCat(
        "{\"key\": ", JsonString(a.key()), ", \"sha256\": ",
        JsonString(a.sha256()), ", \"size_bytes\": ", a.size_bytes(),
        ", \"created_ms\": ", a.created_ms(), ", \"last_used_ms\": ",
        a.last_used_ms(), ", \"device\": ", JsonString(a.device()),
        ", \"threads\": ", a.threads(), ", \"worker_token_name\": ",
        JsonString(a.worker_token_name()), ", \"needed_by\": ", a.needed_by(),
        ", \"sweeps\": [", absl::StrJoin(sweeps, ", "), "]}"));
  }
  return absl::StrCat("{\"artifacts\": [", absl::StrJoin(items, ",\n "),
                      "], \"total_bytes\": ", list.total_bytes(),
                      ", \"quota_bytes\": ", list.quota_bytes(), "}\n");
}

namespace {

int RunArtifacts(Connection& c, const std::string& remove,
                 const std::string& format) {
  auto stub = v1::ArtifactService::NewStub(c.channel());
  v1::ListArtifactsResponse list;
  auto ctx = c.Context();
  grpc::Status s = stub->ListArtifacts(ctx.get(), {}, &list);
  if (!s.ok()) return c.Fail(s);
  if (remove.empty()) {
    const std::string out =
        format == "json" ? ArtifactsJson(list) : ArtifactsText(list, NowMs());
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  // A key prefix as the table shows it names one artifact, or none.
  std::vector<std::string> matches;
  for (const v1::Artifact& a : list.artifacts()) {
    if (a.key().rfind(remove, 0) == 0) matches.push_back(a.key());
  }
  if (matches.size() != 1 || remove.size() < 8) {
    std::fprintf(stderr,
                 "forgetlab: --delete=%s matches %zu artifacts; give at least "
                 "8 digits of one key (`forgetlab artifacts` lists them)\n",
                 remove.c_str(), matches.size());
    return 2;
  }
  v1::DeleteArtifactRequest request;
  request.set_key(matches.front());
  v1::DeleteArtifactResponse response;
  auto del = c.Context();
  s = stub->DeleteArtifact(del.get(), request, &response);
  if (!s.ok()) return c.Fail(s);
  std::printf(
      "deleted artifact %s (%s); %d job(s) wait for its pretraining "
      "to run again\n",
      matches.front().c_str(), Bytes(response.size_bytes()).c_str(),
      response.waiting());
  return 0;
}

}  // namespace

void AddArtifactsSubcommand(CLI::App& app, const ConnectionOptions& g,
                            int* code) {
  static std::string remove, format = "text";
  CLI::App* artifacts = app.add_subcommand(
      "artifacts",
      "List the shared pretraining artifacts the server keeps: size, key, "
      "last use, the jobs that still need them and the sweeps that use "
      "them. An admin can delete one (jobs that need it wait for its "
      "pretraining to run again).\nExample: forgetlab artifacts; forgetlab "
      "artifacts --delete=3f2a9c1e");
  artifacts->add_option("--delete", remove,
                        "admin: delete the artifact with this key (or a "
                        "unique prefix of at least 8 digits)");
  artifacts->add_option("--format", format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  artifacts->callback([&g, code] {
    *code = WithConnection(
        g, [&](Connection& c) { return RunArtifacts(c, remove, format); });
  });
}

}  // namespace forgetlab
