#ifndef TCC_PARTICIPANT_INTERNAL_SERVICE_SUPPORT_H_
#define TCC_PARTICIPANT_INTERNAL_SERVICE_SUPPORT_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "tcc/participant/barrier.h"
#include "tcc/v1/participant.pb.h"

// The non-template parts of ParticipantService. Not API.
namespace tcc::participant::internal {

// Copies `request` and the call's client metadata (transport keys dropped)
// into a BranchCall.
BranchCall MakeBranchCall(const grpc::CallbackServerContext& context,
                          const tcc::v1::BranchRequest& request);

// Copies a Batch item and its metadata into a BranchCall.
BranchCall MakeBranchCall(const tcc::v1::BatchItem& item);

// The most items one Batch call may carry.
inline constexpr int kMaxBatchItems = 1024;

// The SDK's Phase of a wire phase; INVALID_ARGUMENT for PHASE_UNSPECIFIED
// or an unknown value.
absl::StatusOr<Phase> ToPhase(tcc::v1::Phase phase);

// INVALID_ARGUMENT naming the first empty field among gid, branch_id, action.
absl::Status ValidateBranchCall(const BranchCall& call);

// The wire status of a served call: OK for kApplied, kDuplicate and
// kEmptyCancel; ABORTED for kRefusedAfterCancel; errors unchanged.
grpc::Status ToWireStatus(const absl::StatusOr<BarrierResult>& result);

}  // namespace tcc::participant::internal

#endif  // TCC_PARTICIPANT_INTERNAL_SERVICE_SUPPORT_H_
