// Flag parsing with a help that exits 0.
#include "proto/net/usage.h"

#include <cstdio>
#include <cstdlib>
#include <map>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "proto/net/build_info.h"

namespace forgetlab {
namespace {

// Flags defined in forgetlab's own sources (not Abseil's or gRPC's).
bool IsOurs(const absl::CommandLineFlag& flag) {
  return !absl::StrContains(flag.Filename(), "absl/") &&
         !absl::StrContains(flag.Filename(), "/usr/");
}

void PrintHelp(const char* usage) {
  std::printf("%s\nFlags:\n", usage);
  std::map<std::string, const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (IsOurs(*flag)) flags[std::string(name)] = flag;
  }
  for (const auto& [name, flag] : flags) {
    const std::string value = flag->DefaultValue();
    std::printf("  --%s  %s\n      default: %s\n", name.c_str(),
                flag->Help().c_str(), value.empty() ? "\"\"" : value.c_str());
  }
  std::printf("  --version  print the version and exit\n");
}

}  // namespace

std::string VersionString() {
  const std::string commit = ForgetlabCommit();
  return commit.empty()
             ? std::string(ForgetlabVersion())
             : absl::StrCat(ForgetlabVersion(), " (commit ", commit, ")");
}

std::vector<char*> ParseFlagsOrExit(int argc, char** argv, const char* usage) {
  absl::SetProgramUsageMessage(usage);
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "--help" || arg == "-help" || arg == "-h" ||
        arg == "--helpfull" || arg == "--helpshort") {
      PrintHelp(usage);
      std::exit(0);
    }
    if (arg == "--version" || arg == "-version") {
      std::printf("%s %s\n", argv[0], VersionString().c_str());
      std::exit(0);
    }
    if (!absl::StartsWith(arg, "-")) continue;
    absl::string_view name = arg.substr(arg[1] == '-' ? 2 : 1);
    name = name.substr(0, name.find('='));
    const bool known = absl::FindCommandLineFlag(name) != nullptr ||
                       (absl::StartsWith(name, "no") &&
                        absl::FindCommandLineFlag(name.substr(2)) != nullptr);
    if (!known) {
      std::fprintf(stderr, "%s: unknown flag --%s; --help lists the flags\n",
                   argv[0], std::string(name).c_str());
      std::exit(2);
    }
  }
  return absl::ParseCommandLine(argc, argv);
}

}  // namespace forgetlab
