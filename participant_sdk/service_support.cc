#include "tcc/participant/internal/service_support.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "tcc/common/grpc_status.h"

namespace tcc::participant::internal {
namespace {

absl::string_view View(grpc::string_ref s) { return {s.data(), s.size()}; }

// Keys the transport adds on its own; they are not the transaction's
// metadata.
bool IsTransportKey(absl::string_view key) {
  return absl::StartsWith(key, "grpc-") || absl::StartsWith(key, ":") ||
         key == "user-agent" || key == "content-type" || key == "te";
}

}  // namespace

BranchCall MakeBranchCall(const grpc::CallbackServerContext& context,
                          const tcc::v1::BranchRequest& request) {
  BranchCall call;
  call.gid = request.gid();
  call.branch_id = request.branch_id();
  call.action = request.action();
  call.payload = request.payload();
  for (const auto& [key, value] : context.client_metadata()) {
    if (IsTransportKey(View(key))) continue;
    call.metadata.emplace_back(std::string(View(key)),
                               std::string(View(value)));
  }
  return call;
}

BranchCall MakeBranchCall(const tcc::v1::BatchItem& item) {
  const tcc::v1::BranchRequest& request = item.request();
  BranchCall call;
  call.gid = request.gid();
  call.branch_id = request.branch_id();
  call.action = request.action();
  call.payload = request.payload();
  call.metadata.reserve(item.metadata_size());
  for (const auto& [key, value] : item.metadata()) {
    call.metadata.emplace_back(key, value);
  }
  return call;
}

absl::StatusOr<Phase> ToPhase(tcc::v1::Phase phase) {
  switch (phase) {
    case tcc::v1::PHASE_TRY:
      return Phase::kTry;
    case tcc::v1::PHASE_CONFIRM:
      return Phase::kConfirm;
    case tcc::v1::PHASE_CANCEL:
      return Phase::kCancel;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "batch item without a phase (", static_cast<int>(phase), ")"));
  }
}

absl::Status ValidateBranchCall(const BranchCall& call) {
  if (call.gid.empty()) return absl::InvalidArgumentError("empty gid");
  if (call.branch_id.empty()) {
    return absl::InvalidArgumentError("empty branch_id");
  }
  if (call.action.empty()) return absl::InvalidArgumentError("empty action");
  return absl::OkStatus();
}

grpc::Status ToWireStatus(const absl::StatusOr<BarrierResult>& result) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  if (*result == BarrierResult::kRefusedAfterCancel) {
    return grpc::Status(grpc::StatusCode::ABORTED,
                        "try refused: branch already cancelled");
  }
  return grpc::Status::OK;
}

}  // namespace tcc::participant::internal
