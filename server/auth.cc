// Tokens files and TLS credentials.
#include "server/auth.h"

#include <fcntl.h>
#include <grpcpp/security/server_credentials.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "proto/net/channel.h"

namespace forgetlab {
namespace {

constexpr absl::string_view kHashPrefix = "sha256:";
constexpr absl::string_view kTokenPrefix = "flt_";

std::string Sha256Digest(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '_' && c != '@' && c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kWorker:
      return "worker";
    case Role::kClient:
      return "client";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

std::optional<Role> ParseRole(absl::string_view name) {
  if (name == "worker") return Role::kWorker;
  if (name == "client") return Role::kClient;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

absl::StatusOr<TokenSet> TokenSet::Load(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "--tokens_file: %s can be read by other users (mode %04o); the token "
        "names and roles are for the server alone: run  chmod 600 %s",
        path, info.st_mode & 07777, path));
  }
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        "--tokens_file: cannot read ", path,
        "; create it with 'forgetlab-server tokens add --tokens_file=", path,
        " --role=admin --name=NAME'"));
  }
  TokenSet set;
  std::set<std::string> names;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    const std::string where = absl::StrCat(path, ":", number, ": ");
    std::vector<absl::string_view> fields =
        absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "expected 'sha256:<hex> <role> <name>', got ",
                       fields.size(), " fields"));
    }
    if (!absl::StartsWith(fields[0], kHashPrefix) ||
        fields[0].size() != kHashPrefix.size() + 64) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "the first field must be sha256: and 64 hex digits"));
    }
    absl::string_view hex = fields[0].substr(kHashPrefix.size());
    for (char c : hex) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "the hash has a character that is not hex"));
      }
    }
    std::optional<Role> role = ParseRole(fields[1]);
    if (!role) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "role '", fields[1],
                       "' is unknown; use worker, client or admin"));
    }
    if (!ValidName(fields[2])) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "name '", fields[2],
          "' must be 1-64 characters of letters, digits and ._@-"));
    }
    if (!names.insert(std::string(fields[2])).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "name '", fields[2], "' appears twice"));
    }
    set.entries_.push_back(
        {absl::HexStringToBytes(hex), {std::string(fields[2]), *role}});
  }
  return set;
}

std::optional<Principal> TokenSet::Find(absl::string_view token) const {
  const std::string hash = Sha256Digest(token);
  std::optional<Principal> found;
  for (const Entry& entry : entries_) {
    // No early exit: the time taken does not depend on which entry matched.
    const bool match =
        entry.hash.size() == hash.size() &&
        CRYPTO_memcmp(entry.hash.data(), hash.data(), hash.size()) == 0;
    if (match) found = entry.principal;
  }
  return found;
}

absl::StatusOr<std::string> AddToken(const std::string& path, Role role,
                                     const std::string& name) {
  if (!ValidName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--name='", name,
                     "' must be 1-64 characters of letters, digits and ._@-"));
  }
  if (access(path.c_str(), F_OK) == 0) {
    absl::StatusOr<TokenSet> existing = TokenSet::Load(path);
    if (!existing.ok()) return existing.status();
    for (const TokenSet::Entry& entry : existing->entries_) {
      if (entry.principal.name == name) {
        return absl::AlreadyExistsError(
            absl::StrCat(path, " already has a token named '", name,
                         "'; pick another --name, or delete its line first"));
      }
    }
  }

  unsigned char random[32];
  size_t filled = 0;
  while (filled < sizeof(random)) {
    const ssize_t n = getrandom(random + filled, sizeof(random) - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InternalError(
          absl::StrCat("getrandom failed: ", std::strerror(errno)));
    }
    filled += static_cast<size_t>(n);
  }
  const std::string token =
      absl::StrCat(kTokenPrefix,
                   absl::BytesToHexString(absl::string_view(
                       reinterpret_cast<const char*>(random), sizeof(random))));
  const std::string line =
      absl::StrCat(kHashPrefix, absl::BytesToHexString(Sha256Digest(token)),
                   " ", RoleName(role), " ", name, "\n");
  const int fd =
      open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "--tokens_file: cannot open ", path, ": ", std::strerror(errno)));
  }
  const bool written =
      write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const bool synced = written && fsync(fd) == 0;
  close(fd);
  if (!synced) {
    return absl::InternalError(absl::StrCat("--tokens_file: writing ", path,
                                            " failed: ", std::strerror(errno)));
  }
  return token;
}

absl::StatusOr<std::string> ReadPemFile(const std::string& flag,
                                        const std::string& path) {
  absl::StatusOr<std::string> text = ReadFlagFile(flag, path);
  if (!text.ok()) {
    return absl::NotFoundError(
        absl::StrCat(text.status().message(),
                     " (deploy/make-certs.sh makes a CA, a server "
                     "certificate and a client certificate)"));
  }
  if (text->find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": ", path, " is not a PEM file"));
  }
  return text;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsServerCredentials(
    const std::string& cert_path, const std::string& key_path,
    const std::string& client_ca_path) {
  absl::StatusOr<std::string> cert = ReadPemFile("tls_cert", cert_path);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemFile("tls_key", key_path);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!client_ca_path.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile("client_ca", client_ca_path);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace forgetlab
