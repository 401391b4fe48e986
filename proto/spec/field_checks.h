// The shape of a spec error: `prefix` + field + what is wrong, as
// INVALID_ARGUMENT. Shared by the vision and LM validation.
#ifndef FORGETLAB_PROTO_SPEC_FIELD_CHECKS_H_
#define FORGETLAB_PROTO_SPEC_FIELD_CHECKS_H_

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace forgetlab {

inline absl::Status Invalid(absl::string_view prefix, absl::string_view field,
                            absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(prefix, field, " ", what));
}

template <typename T>
absl::Status CheckRange(absl::string_view prefix, absl::string_view field,
                        T value, T low, T high) {
  if (value >= low && value <= high) return absl::OkStatus();
  return Invalid(prefix, field,
                 absl::StrCat("must be between ", low, " and ", high, " (got ",
                              value, ")"));
}

inline absl::Status CheckRate(absl::string_view prefix, absl::string_view field,
                              double value) {
  if (std::isfinite(value) && value > 0 && value <= 10) return absl::OkStatus();
  return Invalid(
      prefix, field,
      absl::StrCat("must be a learning rate in (0, 10] (got ", value, ")"));
}

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_SPEC_FIELD_CHECKS_H_
