// The language-model track's text domains (DESIGN.md, "Language-model
// track"): documents read from Debian's packages or from a folder, split,
// every 10th held out, fingerprinted. Standard library only.
#ifndef FORGETLAB_WORKER_TRAIN_TEXT_DATA_H_
#define FORGETLAB_WORKER_TRAIN_TEXT_DATA_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "worker/train/experiment.h"

namespace forgetlab::train {

// One domain's text after extraction.
struct TextDomain {
  std::string name;
  std::string train;    // the train documents, concatenated in order
  std::string heldout;  // every 10th document, concatenated in order
  std::string sha256;   // of every document, concatenated in order
  int64_t documents = 0;
};

// How a domain's files split into documents: "blank" (entries separated by
// blank lines: dictionary), "percent" (entries separated by lines holding
// "%": fortunes) or "file" (one document per file: code). "" for a name
// that is not a domain.
std::string DocumentRule(const std::string& domain);

// Splits one file's text into documents by `rule`. Each document keeps its
// lines with their newlines and ends with a newline; empty ones are dropped.
std::vector<std::string> SplitDocuments(const std::string& rule,
                                        const std::string& text);

// Reads `domain` from `folder`/<domain>/ (every regular file, in sorted path
// order, gunzipped when gzip), or from Debian's packages when `folder` is
// "". A missing package is kNotFound naming the package to install.
TrainStatus LoadTextDomain(const std::string& folder, const std::string& domain,
                           TextDomain* out);

// LoadTextDomain once per process for each (folder, domain).
TrainStatus GetTextDomain(const std::string& folder, const std::string& domain,
                          std::shared_ptr<const TextDomain>* out);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_TEXT_DATA_H_
