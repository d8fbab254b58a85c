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

namespace {

absl::Status ValidateName(const std::string& where, const std::string& value) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, " is empty"));
  }
  if (value.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " is longer than ", kMaxNameBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status ValidateBranch(const std::string& where,
                            const std::string& participant,
                            const std::string& action,
                            const std::string& payload,
                            const RequestLimits& limits,
                            const ParticipantPool& pool) {
  absl::Status s = ValidateName(where + ".participant", participant);
  if (!s.ok()) return s;
  if (!pool.Contains(participant)) {
    return absl::NotFoundError(
        absl::StrCat(where, ".participant \"", participant,
                     "\" is not a configured participant"));
  }
  s = ValidateName(where + ".action", action);
  if (!s.ok()) return s;
  if (payload.size() > limits.max_payload_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".payload is ", payload.size(), " bytes; at most ",
                     limits.max_payload_bytes, " allowed"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCount(const char* field, int count,
                           const RequestLimits& limits) {
  if (count == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is empty; at least 1 needed"));
  }
  if (count > limits.max_branches) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has ", count, " entries; at most ",
                     limits.max_branches, " allowed"));
  }
  return absl::OkStatus();
}

// The fields every creating call shares.
absl::Status ValidateCommon(
    const std::string& gid, int64_t timeout_ms,
    const google::protobuf::Map<std::string, std::string>& metadata,
    const RequestLimits& limits) {
  if (!gid.empty()) {
    absl::Status s = ValidateGid(gid);
    if (!s.ok()) return s;
  }
  if (timeout_ms < 0) {
    return absl::InvalidArgumentError("timeout_ms is negative");
  }
  if (timeout_ms > limits.max_timeout_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeout_ms ", timeout_ms, " exceeds the ",
                     limits.max_timeout_ms, " ms maximum"));
  }
  if (metadata.size() > kMaxMetadataEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata has ", metadata.size(), " entries; at most ",
                     kMaxMetadataEntries, " allowed"));
  }
  for (const auto& [key, value] : metadata) {
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

}  // namespace

absl::Status ValidateExecuteRequest(const v1::ExecuteRequest& request,
                                    const RequestLimits& limits,
                                    const ParticipantPool& pool) {
  absl::Status s = ValidateCommon(request.gid(), request.timeout_ms(),
                                  request.metadata(), limits);
  if (!s.ok()) return s;
  s = ValidateCount("branches", request.branches_size(), limits);
  if (!s.ok()) return s;
  for (int i = 0; i < request.branches_size(); ++i) {
    const v1::BranchSpec& b = request.branches(i);
    s = ValidateBranch(absl::StrCat("branches[", i, "]"), b.participant(),
                       b.action(), b.payload(), limits, pool);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ValidateBeginRequest(const v1::BeginRequest& request,
                                  const RequestLimits& limits) {
  return ValidateCommon(request.gid(), request.timeout_ms(), request.metadata(),
                        limits);
}

absl::Status ValidateTryRequest(const v1::TryRequest& request,
                                const RequestLimits& limits,
                                const ParticipantPool& pool) {
  absl::Status s = ValidateGid(request.gid());
  if (!s.ok()) return s;
  if (!request.has_branch()) {
    return absl::InvalidArgumentError("branch is missing");
  }
  const v1::BranchSpec& b = request.branch();
  return ValidateBranch("branch", b.participant(), b.action(), b.payload(),
                        limits, pool);
}

absl::Status ValidateSagaRequest(const v1::SagaRequest& request,
                                 const RequestLimits& limits,
                                 const ParticipantPool& pool) {
  absl::Status s = ValidateCommon(request.gid(), request.timeout_ms(),
                                  request.metadata(), limits);
  if (!s.ok()) return s;
  s = ValidateCount("steps", request.steps_size(), limits);
  if (!s.ok()) return s;
  for (int i = 0; i < request.steps_size(); ++i) {
    const v1::SagaStep& step = request.steps(i);
    const std::string where = absl::StrCat("steps[", i, "]");
    s = ValidateBranch(where, step.participant(), step.action(), step.payload(),
                       limits, pool);
    if (!s.ok()) return s;
    if (step.compensation().size() > kMaxNameBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".compensation is longer than ", kMaxNameBytes, " bytes"));
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
