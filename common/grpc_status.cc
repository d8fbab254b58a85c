#include "tcc/common/grpc_status.h"

#include "absl/strings/str_cat.h"

namespace tcc {

CallOutcome ClassifyStatus(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return CallOutcome::kOk;
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return CallOutcome::kRefused;
    default:
      return CallOutcome::kUnknown;
  }
}

const char* CallOutcomeName(CallOutcome outcome) {
  switch (outcome) {
    case CallOutcome::kOk:
      return "ok";
    case CallOutcome::kRefused:
      return "refused";
    case CallOutcome::kUnknown:
      return "unknown";
  }
  return "?";
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

absl::Status ToAbslStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

std::string DescribeStatus(const grpc::Status& status) {
  absl::Status s = ToAbslStatus(status);
  return std::string(absl::StatusCodeToString(s.code())) + ": " +
         std::string(s.message());
}

}  // namespace tcc
