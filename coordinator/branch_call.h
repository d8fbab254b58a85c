#ifndef TCC_COORDINATOR_BRANCH_CALL_H_
#define TCC_COORDINATOR_BRANCH_CALL_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "grpcpp/support/status.h"
#include "tcc/v1/participant.pb.h"

namespace tcc::coordinator {

enum class BranchPhase { kTry, kConfirm, kCancel };
const char* BranchPhaseName(BranchPhase phase);

// The transaction's metadata, sent with every participant call.
using Metadata = std::vector<std::pair<std::string, std::string>>;

// Called on a gRPC thread when a participant call ends: must not block.
using BranchCallDone =
    absl::AnyInvocable<void(const grpc::Status&, v1::BranchResponse&&) &&>;

}  // namespace tcc::coordinator

#endif  // TCC_COORDINATOR_BRANCH_CALL_H_
