// Parsing text-format and JSON spec files with located errors.
#include "proto/spec/spec_io.h"

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace forgetlab {
namespace {

// Keeps the first error as "file:line:column: message" (1-based).
class FirstErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  explicit FirstErrorCollector(absl::string_view filename)
      : filename_(filename) {}

  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (!error_.empty()) return;
    error_ =
        absl::StrCat(filename_, ":", line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber,
                  const std::string&) override {}

  const std::string& error() const { return error_; }

 private:
  std::string filename_;
  std::string error_;
};

}  // namespace

absl::Status ParseSpecText(absl::string_view filename, absl::string_view text,
                           google::protobuf::Message* message) {
  message->Clear();
  if (absl::EndsWith(filename, ".json")) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    auto status = google::protobuf::util::JsonStringToMessage(std::string(text),
                                                              message, options);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(filename, ": ", status.message().as_string()));
    }
    return absl::OkStatus();
  }
  FirstErrorCollector errors(filename);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), message)) {
    return absl::InvalidArgumentError(
        errors.error().empty() ? absl::StrCat(filename, ": cannot parse")
                               : errors.error());
  }
  return absl::OkStatus();
}

absl::Status ParseSpecFile(const std::string& path,
                           google::protobuf::Message* message) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseSpecText(path, buffer.str(), message);
}

}  // namespace forgetlab
