// Text domains: Debian's files, document rules, the held-out split.
#include "worker/train/text_data.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <utility>

#include "worker/train/gunzip.h"
#include "worker/train/sha256.h"

namespace forgetlab::train {
namespace {

namespace fs = std::filesystem;

struct DebianSource {
  const char* domain;
  const char* location;  // a file, or a folder of files
  const char* packages;  // what to install when it is missing
  const char* suffix;    // only files with this suffix ("" = any)
};

// Where Debian 12's packages put each domain.
constexpr DebianSource kDebian[] = {
    {"dictionary", "/usr/share/dictd/gcide.dict.dz", "dict-gcide", ""},
    {"prose", "/usr/share/games/fortunes", "fortunes fortunes-min", ""},
    {"german", "/usr/share/games/fortunes/de", "fortunes-de", ""},
    {"code", "/usr/lib/python3.11", "libpython3.11-stdlib", ".py"},
};

constexpr int kHeldOutEvery = 10;  // documents 10, 20, ... are held out

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The regular files directly in `folder` (symbolic links and fortune's .dat
// index files left out), in sorted path order.
std::vector<std::string> FilesIn(const std::string& folder,
                                 const std::string& suffix) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string path = entry.path().string();
    if (entry.is_symlink() || !entry.is_regular_file()) continue;
    if (EndsWith(path, ".dat")) continue;
    if (!suffix.empty() && !EndsWith(path, suffix)) continue;
    files.push_back(path);
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool ReadWhole(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *out = buffer.str();
  return static_cast<bool>(in) || in.eof();
}

bool IsBlankLine(const std::string& text, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) {
    if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' &&
        text[i] != '\n') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string DocumentRule(const std::string& domain) {
  if (domain == "dictionary") return "blank";
  if (domain == "prose" || domain == "german") return "percent";
  if (domain == "code") return "file";
  return "";
}

std::vector<std::string> SplitDocuments(const std::string& rule,
                                        const std::string& text) {
  std::vector<std::string> documents;
  std::string current;
  auto flush = [&] {
    if (!current.empty() && !IsBlankLine(current, 0, current.size())) {
      documents.push_back(std::move(current));
    }
    current.clear();
  };
  if (rule == "file") {
    current = text;
    if (!current.empty() && current.back() != '\n') current.push_back('\n');
    flush();
    return documents;
  }
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const bool separator = rule == "percent"
                               ? (end - begin == 1 && text[begin] == '%') ||
                                     (end - begin == 2 && text[begin] == '%' &&
                                      text[begin + 1] == '\r')
                               : IsBlankLine(text, begin, end);
    if (separator) {
      flush();
    } else {
      current.append(text, begin, end - begin);
      current.push_back('\n');
    }
    begin = end + 1;
  }
  flush();
  return documents;
}

TrainStatus LoadTextDomain(const std::string& folder, const std::string& domain,
                           TextDomain* out) {
  const std::string rule = DocumentRule(domain);
  if (rule.empty()) {
    return {TrainCode::kInvalidArgument,
            "text domain '" + domain +
                "' is not one of dictionary, prose, code, german"};
  }
  std::vector<std::string> files;
  std::string missing;
  if (folder.empty()) {
    for (const DebianSource& source : kDebian) {
      if (domain != source.domain) continue;
      std::error_code ec;
      if (fs::is_regular_file(source.location, ec)) {
        files.push_back(source.location);
      } else {
        files = FilesIn(source.location, source.suffix);
      }
      if (files.empty()) {
        missing = std::string(source.location) + " is missing: install " +
                  "Debian's " + source.packages + " (apt-get install " +
                  source.packages + "; deploy/install-deps.sh does)";
      }
    }
  } else {
    const std::string dir = folder + "/" + domain;
    files = FilesIn(dir, "");
    if (files.empty()) {
      missing = dir + " holds no text files; put the " + domain +
                " domain's files there, or leave data.path empty for "
                "Debian's packages";
    }
  }
  if (!missing.empty()) {
    return {TrainCode::kNotFound, "text domain '" + domain + "': " + missing};
  }
  TextDomain domain_text;
  domain_text.name = domain;
  std::string all;
  int64_t index = 0;
  for (const std::string& path : files) {
    std::string text, error;
    if (!ReadWhole(path, &text)) {
      return {TrainCode::kNotFound, "cannot read " + path};
    }
    if (!InflateIfGzip(&text, &error)) {
      return {TrainCode::kInvalidArgument, path + ": " + error};
    }
    for (std::string& document : SplitDocuments(rule, text)) {
      ++index;
      all += document;
      std::string& split =
          index % kHeldOutEvery == 0 ? domain_text.heldout : domain_text.train;
      split += document;
    }
  }
  domain_text.documents = index;
  domain_text.sha256 = Sha256Hex(all);
  *out = std::move(domain_text);
  return {};
}

TrainStatus GetTextDomain(const std::string& folder, const std::string& domain,
                          std::shared_ptr<const TextDomain>* out) {
  static std::mutex mutex;
  static auto* cache = new std::map<std::pair<std::string, std::string>,
                                    std::shared_ptr<const TextDomain>>();
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache->find({folder, domain});
  if (it != cache->end()) {
    *out = it->second;
    return {};
  }
  auto loaded = std::make_shared<TextDomain>();
  TrainStatus s = LoadTextDomain(folder, domain, loaded.get());
  if (!s.ok()) return s;
  (*cache)[{folder, domain}] = loaded;
  *out = loaded;
  return {};
}

std::vector<std::string> TextDomainsPresent() {
  std::vector<std::string> present;
  for (const DebianSource& source : kDebian) {
    std::error_code ec;
    if (fs::is_regular_file(source.location, ec) ||
        !FilesIn(source.location, source.suffix).empty()) {
      present.push_back(source.domain);
    }
  }
  return present;
}

}  // namespace forgetlab::train
