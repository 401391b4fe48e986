// Parsing text-format and JSON spec files with located errors.
#include "proto/spec/spec_io.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace forgetlab {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;

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

// "line:column" (1-based) of byte `offset` of `text`.
std::string Location(absl::string_view text, size_t offset) {
  int line = 1, column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return absl::StrCat(line, ":", column);
}

// A JSON syntax check that finds where the text stops being JSON, which
// protobuf's parser does not say.
class JsonSyntax {
 public:
  explicit JsonSyntax(absl::string_view text) : text_(text) {}

  // The offset of the first syntax error, or npos when the text is JSON.
  size_t FirstError() {
    Space();
    if (!Value()) return at_;
    Space();
    return at_ == text_.size() ? absl::string_view::npos : at_;
  }

 private:
  void Space() {
    while (at_ < text_.size() && absl::ascii_isspace(text_[at_])) ++at_;
  }
  bool Eat(char c) {
    Space();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  bool String() {
    if (!Eat('"')) return false;
    while (at_ < text_.size() && text_[at_] != '"') {
      if (text_[at_] == '\n') return false;
      at_ += text_[at_] == '\\' ? 2 : 1;
    }
    return Eat('"');
  }
  bool Value() {
    Space();
    if (at_ >= text_.size()) return false;
    const char c = text_[at_];
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++at_;
      if (Eat(close)) return true;
      for (;;) {
        if (c == '{') {
          Space();
          if (!String() || !Eat(':')) return false;
        }
        if (!Value()) return false;
        if (Eat(close)) return true;
        if (!Eat(',')) return false;
        Space();
        // protobuf accepts one trailing comma.
        if (at_ < text_.size() && text_[at_] == close) {
          ++at_;
          return true;
        }
      }
    }
    if (c == '"') return String();
    const size_t start = at_;
    while (at_ < text_.size() &&
           (absl::ascii_isalnum(text_[at_]) || text_[at_] == '-' ||
            text_[at_] == '+' || text_[at_] == '.')) {
      ++at_;
    }
    return at_ > start;
  }

  absl::string_view text_;
  size_t at_ = 0;
};

// The enum field named `name` anywhere under `message` (breadth first).
const EnumDescriptor* FindEnum(const Descriptor* message,
                               absl::string_view name) {
  std::vector<const Descriptor*> queue = {message};
  for (size_t i = 0; i < queue.size() && i < 64; ++i) {
    for (int f = 0; f < queue[i]->field_count(); ++f) {
      const FieldDescriptor* field = queue[i]->field(f);
      if (field->name() == name && field->enum_type() != nullptr) {
        return field->enum_type();
      }
      if (field->message_type() != nullptr) {
        queue.push_back(field->message_type());
      }
    }
  }
  return nullptr;
}

std::string ValidValues(const EnumDescriptor* e) {
  std::vector<std::string> names;
  for (int i = 0; i < e->value_count(); ++i) {
    if (e->value(i)->number() != 0) names.push_back(e->value(i)->name());
  }
  return absl::StrJoin(names, ", ");
}

// Where in JSON `text` the key `name` first appears, or npos.
size_t FindKey(absl::string_view text, absl::string_view name) {
  return text.find(absl::StrCat("\"", name, "\""));
}

// Turns protobuf's JSON error into "file:line:column: field: problem".
std::string JsonError(absl::string_view filename, absl::string_view text,
                      const Descriptor* message, std::string error) {
  const size_t syntax = JsonSyntax(text).FirstError();
  if (syntax != absl::string_view::npos) {
    return absl::StrCat(filename, ":", Location(text, syntax),
                        ": not valid JSON here");
  }
  // "(model) widht: Cannot find field." or
  // "(model.family): invalid value "CNN" for type ...".
  std::string path, field;
  if (absl::StartsWith(error, "(")) {
    const size_t close = error.find(')');
    if (close != std::string::npos) {
      path = error.substr(1, close - 1);
      error = std::string(absl::StripAsciiWhitespace(error.substr(close + 1)));
    }
  }
  if (absl::StrContains(error, "Cannot find field")) {
    field = error.substr(0, error.find(':'));
    const std::string where = path.empty() ? field : path + "." + field;
    const size_t at = FindKey(text, field);
    return absl::StrCat(filename,
                        at == absl::string_view::npos
                            ? ""
                            : absl::StrCat(":", Location(text, at)),
                        ": ", where, ": no such field");
  }
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  field = parts.empty() ? "" : parts.back();
  const size_t at =
      field.empty() ? absl::string_view::npos : FindKey(text, field);
  const std::string prefix =
      absl::StrCat(filename, at == absl::string_view::npos ? "" : ":",
                   at == absl::string_view::npos ? "" : Location(text, at),
                   ": ", path.empty() ? "" : path + ": ");
  if (absl::StartsWith(error, ":")) error = error.substr(1);
  error = std::string(absl::StripAsciiWhitespace(error));
  if (const EnumDescriptor* e =
          field.empty() ? nullptr : FindEnum(message, field);
      e != nullptr && absl::StrContains(error, "invalid value")) {
    const size_t q1 = error.find('"'), q2 = error.find('"', q1 + 1);
    const std::string value = q1 != std::string::npos && q2 != std::string::npos
                                  ? error.substr(q1, q2 - q1 + 1)
                                  : "the value";
    return absl::StrCat(prefix, value, " is not one of ", ValidValues(e));
  }
  return absl::StrCat(prefix, error);
}

// Adds the valid values to text format's "Unknown enumeration value of
// "CNN" for field "family"."
std::string TextError(const Descriptor* message, std::string error) {
  const std::string marker = "for field \"";
  const size_t at = error.find(marker);
  if (!absl::StrContains(error, "Unknown enumeration value") ||
      at == std::string::npos) {
    return error;
  }
  const size_t start = at + marker.size();
  const std::string field = error.substr(start, error.find('"', start) - start);
  if (const EnumDescriptor* e = FindEnum(message, field); e != nullptr) {
    if (absl::EndsWith(error, ".")) error.pop_back();
    absl::StrAppend(&error, "; valid values: ", ValidValues(e));
  }
  return error;
}

}  // namespace

absl::Status ParseSpecText(absl::string_view filename, absl::string_view text,
                           google::protobuf::Message* message) {
  message->Clear();
  const bool sweep = message->GetDescriptor()->name() == "SweepSpec";
  if (absl::StripAsciiWhitespace(text).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ": ", sweep ? "sweep" : "spec",
        " file is empty; deploy/sweeps/ and deploy/examples/ have examples"));
  }
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0 || (c < 0x20 && c != '\n' && c != '\r' && c != '\t')) {
      return absl::InvalidArgumentError(
          absl::StrCat(filename, ": not a text or JSON ",
                       sweep ? "sweep" : "spec", " (binary data at byte ", i,
                       "); write a .textproto or .json file like deploy/sweeps/"
                       "default.textproto"));
    }
  }
  if (absl::EndsWith(filename, ".json")) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    auto status = google::protobuf::util::JsonStringToMessage(std::string(text),
                                                              message, options);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          JsonError(filename, text, message->GetDescriptor(),
                    status.message().as_string()));
    }
    return absl::OkStatus();
  }
  FirstErrorCollector errors(filename);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), message)) {
    return absl::InvalidArgumentError(
        errors.error().empty()
            ? absl::StrCat(filename, ": cannot parse")
            : TextError(message->GetDescriptor(), errors.error()));
  }
  return absl::OkStatus();
}

absl::Status ParseSpecFile(const std::string& path,
                           google::protobuf::Message* message) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(EISDIR)));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    return absl::NotFoundError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(error)));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    const int error = errno;
    return absl::NotFoundError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(error)));
  }
  return ParseSpecText(path, buffer.str(), message);
}

}  // namespace forgetlab
