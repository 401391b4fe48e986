// The gRPC log filter and the open-file limit.
#include "server/listener_watch.h"

#include <grpc/support/log.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <cstring>

namespace forgetlab {
namespace {

std::atomic<bool> listener_failed{false};

void FilterLog(gpr_log_func_args* args) {
  if (args->message != nullptr &&
      std::strstr(args->message, "Failed accept4") != nullptr &&
      !listener_failed.exchange(true)) {
    std::fprintf(stderr,
                 "E forgetlab: the gRPC listener stopped accepting "
                 "connections (%s); health now answers NOT_SERVING. Restart "
                 "forgetlab-server, and raise its open-file limit "
                 "(LimitNOFILE) if connections used it up.\n",
                 args->message);
  }
  const char* severity = args->severity == GPR_LOG_SEVERITY_ERROR  ? "E"
                         : args->severity == GPR_LOG_SEVERITY_INFO ? "I"
                                                                   : "D";
  std::fprintf(stderr, "%s grpc %s:%d] %s\n", severity,
               args->file != nullptr ? args->file : "?", args->line,
               args->message != nullptr ? args->message : "");
}

}  // namespace

void WatchGrpcListener() {
  static const bool installed = [] {
    gpr_set_log_function(FilterLog);
    return true;
  }();
  (void)installed;
}

bool GrpcListenerFailed() { return listener_failed.load(); }

long RaiseOpenFileLimit() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return static_cast<long>(limit.rlim_cur);
}

}  // namespace forgetlab
