#ifndef TCC_COORDINATOR_REQUEST_VALIDATOR_H_
#define TCC_COORDINATOR_REQUEST_VALIDATOR_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "coordinator/participant_pool.h"
#include "tcc/v1/coordinator.pb.h"

namespace tcc::coordinator {

// Limits on what a request may carry. Each is a tccd flag.
struct RequestLimits {
  // Branches per transaction. Default 64.
  int max_branches = 64;
  // Bytes of one branch payload. Default 64 KiB.
  size_t max_payload_bytes = 64 << 10;
  // Longest timeout a request may ask for. Default 1 hour.
  int64_t max_timeout_ms = 3600 * 1000;
};

// Checks a gid: 1-128 characters from [A-Za-z0-9._:-]. INVALID_ARGUMENT
// naming the problem otherwise.
absl::Status ValidateGid(const std::string& gid);

// Checks an Execute request against the limits and the configured
// participants. INVALID_ARGUMENT for malformed or oversized fields, NOT_FOUND
// for a participant that is not configured; the message names the field.
// An empty gid is allowed (the coordinator generates one).
absl::Status ValidateExecuteRequest(const v1::ExecuteRequest& request,
                                    const RequestLimits& limits,
                                    const ParticipantPool& pool);

// Begin: gid (optional), timeout, metadata.
absl::Status ValidateBeginRequest(const v1::BeginRequest& request,
                                  const RequestLimits& limits);

// Interactive Try: gid (required) and one branch.
absl::Status ValidateTryRequest(const v1::TryRequest& request,
                                const RequestLimits& limits,
                                const ParticipantPool& pool);

// Saga: as Execute, with steps (and their optional compensation names).
absl::Status ValidateSagaRequest(const v1::SagaRequest& request,
                                 const RequestLimits& limits,
                                 const ParticipantPool& pool);

// A fresh random gid (32 hex characters).
std::string GenerateGid();

}  // namespace tcc::coordinator

#endif  // TCC_COORDINATOR_REQUEST_VALIDATOR_H_
