// Dotted field paths over ExperimentSpec, through protobuf reflection.
#include "proto/spec/field_path.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"

namespace forgetlab {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// Walks `path` to the message holding its last field. Fails when a segment
// is unknown, repeated, or not a message where one is needed.
absl::StatusOr<std::pair<const Message*, const FieldDescriptor*>> Resolve(
    const Message& root, absl::string_view path) {
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  const Message* message = &root;
  for (size_t i = 0; i < parts.size(); ++i) {
    const FieldDescriptor* field =
        message->GetDescriptor()->FindFieldByName(parts[i]);
    if (field == nullptr || field->is_repeated()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", path, "' is not a numeric field of ExperimentSpec (no field '",
          parts[i], "' in ", message->GetDescriptor()->name(),
          "); examples: model.width, model.depth, pretrain.examples, "
          "finetune.lr, seed"));
    }
    if (i + 1 == parts.size()) {
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
        case FieldDescriptor::CPPTYPE_INT64:
        case FieldDescriptor::CPPTYPE_UINT32:
        case FieldDescriptor::CPPTYPE_UINT64:
        case FieldDescriptor::CPPTYPE_DOUBLE:
        case FieldDescriptor::CPPTYPE_FLOAT:
        case FieldDescriptor::CPPTYPE_ENUM:
          return std::make_pair(message, field);
        default:
          return absl::InvalidArgumentError(
              absl::StrCat("'", path, "' is not a numeric field"));
      }
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", path, "': '", parts[i], "' is not a message field"));
    }
    message = &message->GetReflection()->GetMessage(*message, field);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("empty field path '", path, "'"));
}

// The text of a singular (or one element of a repeated, `index` >= 0)
// scalar field.
std::string ScalarText(const Message& m, const FieldDescriptor* f, int index) {
  const auto* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(rep ? r->GetRepeatedInt32(m, f, index)
                              : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(rep ? r->GetRepeatedInt64(m, f, index)
                              : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(rep ? r->GetRepeatedUInt32(m, f, index)
                              : r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? r->GetRepeatedUInt64(m, f, index)
                              : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return FieldText(rep ? r->GetRepeatedDouble(m, f, index)
                           : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return FieldText(rep ? r->GetRepeatedFloat(m, f, index)
                           : r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f))
                 ? "true"
                 : "false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return (rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f))->name();
    case FieldDescriptor::CPPTYPE_STRING:
      return rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return "";
}

void Flatten(const Message& m, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>* out) {
  const auto* r = m.GetReflection();
  const auto* d = m.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const std::string path = prefix + f->name();
    const bool message = f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (f->is_repeated()) {
      const int n = r->FieldSize(m, f);
      if (n == 0) continue;
      if (message) {
        for (int k = 0; k < n; ++k) {
          Flatten(r->GetRepeatedMessage(m, f, k),
                  absl::StrCat(path, "[", k, "]."), out);
        }
        continue;
      }
      std::string joined;
      for (int k = 0; k < n; ++k) {
        absl::StrAppend(&joined, k ? " " : "", ScalarText(m, f, k));
      }
      out->emplace_back(path, joined);
    } else if (message) {
      if (r->HasField(m, f)) Flatten(r->GetMessage(m, f), path + ".", out);
    } else if (!f->has_presence() || r->HasField(m, f)) {
      std::string text = ScalarText(m, f, -1);
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING && text.empty()) {
        continue;
      }
      out->emplace_back(path, std::move(text));
    }
  }
}

}  // namespace

std::string FieldText(double value) {
  if (std::isfinite(value) && value == std::floor(value) &&
      std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.10g", value);
  return buffer;
}

std::vector<std::pair<std::string, std::string>> FlattenFields(
    const Message& message) {
  std::vector<std::pair<std::string, std::string>> out;
  Flatten(message, "", &out);
  return out;
}

absl::Status SetNumericField(absl::string_view path, double value,
                             v1::ExperimentSpec* spec) {
  // Resolve on the const view first, then walk again mutably.
  absl::StatusOr<std::pair<const Message*, const FieldDescriptor*>> found =
      Resolve(*spec, path);
  if (!found.ok()) return found.status();
  if (!std::isfinite(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' value ", value, " is not finite"));
  }
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  Message* message = spec;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const FieldDescriptor* f =
        message->GetDescriptor()->FindFieldByName(parts[i]);
    message = message->GetReflection()->MutableMessage(message, f);
  }
  const FieldDescriptor* field = found->second;
  const auto* reflection = message->GetReflection();
  const bool integral = field->cpp_type() != FieldDescriptor::CPPTYPE_DOUBLE &&
                        field->cpp_type() != FieldDescriptor::CPPTYPE_FLOAT;
  if (integral && (value != std::floor(value) || std::fabs(value) > 9.0e15)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", path, "' is an integer field; ", value, " is not an integer"));
  }
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      if (value < INT32_MIN || value > INT32_MAX) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", path, "' value ", value, " is out of range"));
      }
      reflection->SetInt32(message, field, static_cast<int32_t>(value));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      reflection->SetInt64(message, field, static_cast<int64_t>(value));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      if (value < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", path, "' must not be negative"));
      }
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32) {
        reflection->SetUInt32(message, field, static_cast<uint32_t>(value));
      } else {
        reflection->SetUInt64(message, field, static_cast<uint64_t>(value));
      }
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      reflection->SetDouble(message, field, value);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      reflection->SetFloat(message, field, static_cast<float>(value));
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      if (field->enum_type()->FindValueByNumber(static_cast<int>(value)) ==
          nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", path, "' has no enum value ", value));
      }
      reflection->SetEnumValue(message, field, static_cast<int>(value));
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("'", path, "' is not a numeric field"));
  }
  return absl::OkStatus();
}

absl::StatusOr<double> GetNumericField(const v1::ExperimentSpec& spec,
                                       absl::string_view path) {
  absl::StatusOr<std::pair<const Message*, const FieldDescriptor*>> found =
      Resolve(spec, path);
  if (!found.ok()) return found.status();
  const Message& m = *found->first;
  const FieldDescriptor* f = found->second;
  const auto* reflection = m.GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return reflection->GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64:
      return static_cast<double>(reflection->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return reflection->GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64:
      return static_cast<double>(reflection->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return reflection->GetDouble(m, f);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return reflection->GetFloat(m, f);
    case FieldDescriptor::CPPTYPE_ENUM:
      return reflection->GetEnumValue(m, f);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("'", path, "' is not a numeric field"));
  }
}

}  // namespace forgetlab
