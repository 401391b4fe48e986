// The listen-address policy.
#include "server/listen_policy.h"

#include <glog/logging.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace forgetlab {

bool IsLoopbackAddress(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  std::string host =
      colon == std::string::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

absl::Status CheckListenAddress(const std::string& listen,
                                const std::string& flag) {
  const size_t colon = listen.rfind(':');
  const std::string port =
      colon == std::string::npos ? "" : listen.substr(colon + 1);
  int value = -1;
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(port, &value) || value > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, "=", listen,
        ": expected HOST:PORT with a port from 1 to 65535 (0 picks a free "
        "one), e.g. 127.0.0.1:50051"));
  }
  return absl::OkStatus();
}

absl::Status CheckListenPolicy(const std::string& listen, bool tls, bool tokens,
                               bool allow_insecure) {
  if (IsLoopbackAddress(listen)) return absl::OkStatus();
  const bool secured = tls && tokens;
  if (!secured && !allow_insecure) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--listen=", listen,
        " is not a loopback address, and the server has no ",
        !tls && !tokens ? "TLS and no tokens"
        : !tls          ? "TLS"
                        : "tokens",
        ". Anyone on the network could submit, read and cancel work. Add "
        "TLS (--tls_cert/--tls_key; deploy/make-certs.sh makes them) and "
        "--tokens_file=FILE ('forgetlab-server tokens add' makes "
        "tokens), or listen on 127.0.0.1"));
  }
  if (!secured) {
    LOG(WARNING) << "*** --allow_insecure: serving " << listen
                 << (tls ? "" : ", WITHOUT TLS")
                 << (tokens ? "" : ", WITHOUT TOKENS")
                 << ". Anyone who can reach this port can submit, read, "
                    "cancel and fake results. ***";
  }
  return absl::OkStatus();
}

}  // namespace forgetlab
