// Cutting and escaping clients' strings.
#include "server/request_limits.h"

#include <glog/logging.h>
#include <google/protobuf/stubs/logging.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"

namespace forgetlab {

std::string TruncateUtf8(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t end = max_bytes;
  // Back up over continuation bytes (10xxxxxx) to the start of the
  // character that would be cut, and drop it.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  return std::string(text.substr(0, end));
}

std::string LogSafe(absl::string_view text, size_t max_bytes) {
  const bool cut = text.size() > max_bytes;
  std::string out = absl::CHexEscape(text.substr(0, max_bytes));
  if (cut) out += "...";
  return out;
}

void RouteProtobufLogs() {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel level,
                                     const char* file, int line,
                                     const std::string& message) {
    if (absl::StrContains(message, "invalid UTF-8")) {
      LOG_EVERY_N(WARNING, 100)
          << "a request with a string that is not UTF-8 was refused ("
          << google::COUNTER << " so far): " << message;
      return;
    }
    const bool serious = level >= google::protobuf::LOGLEVEL_ERROR;
    google::LogMessage(file, line,
                       serious ? google::GLOG_ERROR : google::GLOG_INFO)
            .stream()
        << message;
  });
}

}  // namespace forgetlab
