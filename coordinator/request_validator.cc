#include "coordinator/request_validator.h"

#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tcc::coordinator {
namespace {

constexpr size_t kMaxNameBytes = 128;
constexpr int kMaxMetadataEntries = 16;
constexpr size_t kMaxMetadataValueBytes = 256;

bool IsGidChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-';
}

bool IsMetadataKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

absl::Status ValidateGid(const std::string& gid) {
  if (gid.empty()) return absl::InvalidArgumentError("gid is empty");
  if (gid.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gid is ", gid.size(), " bytes; at most ", kMaxNameBytes, " allowed"));
  }
  for (char c : gid) {
    if (!IsGidChar(c)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "gid contains the character 0x%02x; only [A-Za-z0-9._:-] allowed",
          static_cast<unsigned char>(c)));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateExecuteRequest(const v1::ExecuteRequest& request,
                                    const RequestLimits& limits,
                                    const ParticipantPool& pool) {
  if (!request.gid().empty()) {
    absl::Status s = ValidateGid(request.gid());
    if (!s.ok()) return s;
  }
  if (request.branches().empty()) {
    return absl::InvalidArgumentError("branches is empty; at least 1 needed");
  }
  if (request.branches_size() > limits.max_branches) {
    return absl::InvalidArgumentError(
        absl::StrCat("branches has ", request.branches_size(),
                     " entries; at most ", limits.max_branches, " allowed"));
  }
  for (int i = 0; i < request.branches_size(); ++i) {
    const v1::BranchSpec& b = request.branches(i);
    const std::string where = absl::StrCat("branches[", i, "]");
    if (b.participant().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".participant is empty"));
    }
    if (b.participant().size() > kMaxNameBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".participant is longer than ", kMaxNameBytes, " bytes"));
    }
    if (!pool.Contains(b.participant())) {
      return absl::NotFoundError(
          absl::StrCat(where, ".participant \"", b.participant(),
                       "\" is not a configured participant"));
    }
    if (b.action().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".action is empty"));
    }
    if (b.action().size() > kMaxNameBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".action is longer than ", kMaxNameBytes, " bytes"));
    }
    if (b.payload().size() > limits.max_payload_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".payload is ", b.payload().size(), " bytes; at most ",
          limits.max_payload_bytes, " allowed"));
    }
  }
  if (request.timeout_ms() < 0) {
    return absl::InvalidArgumentError("timeout_ms is negative");
  }
  if (request.timeout_ms() > limits.max_timeout_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeout_ms ", request.timeout_ms(), " exceeds the ",
                     limits.max_timeout_ms, " ms maximum"));
  }
  if (request.metadata_size() > kMaxMetadataEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata has ", request.metadata_size(),
                     " entries; at most ", kMaxMetadataEntries, " allowed"));
  }
  for (const auto& [key, value] : request.metadata()) {
    if (key.empty() || key.size() > kMaxNameBytes) {
      return absl::InvalidArgumentError(
          "metadata keys must be 1-128 bytes long");
    }
    for (char c : key) {
      if (!IsMetadataKeyChar(c)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "metadata key \"", key, "\" may only contain [a-z0-9._-]"));
      }
    }
    if (absl::StartsWith(key, "grpc-") || absl::EndsWith(key, "-bin")) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata key \"", key,
                       "\" is reserved (grpc- prefix or -bin suffix)"));
    }
    if (value.size() > kMaxMetadataValueBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata value for \"", key, "\" is longer than ",
                       kMaxMetadataValueBytes, " bytes"));
    }
    for (char c : value) {
      if (c < 0x20 || c > 0x7e) {
        return absl::InvalidArgumentError(absl::StrCat(
            "metadata value for \"", key, "\" must be printable ASCII"));
      }
    }
  }
  return absl::OkStatus();
}

std::string GenerateGid() {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen = new absl::BitGen();
  uint64_t hi, lo;
  {
    absl::MutexLock lock(&mu);
    hi = absl::Uniform<uint64_t>(*gen);
    lo = absl::Uniform<uint64_t>(*gen);
  }
  return absl::StrFormat("%016x%016x", hi, lo);
}

}  // namespace tcc::coordinator
