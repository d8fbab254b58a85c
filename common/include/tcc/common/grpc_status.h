#ifndef TCC_COMMON_GRPC_STATUS_H_
#define TCC_COMMON_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace tcc {

// What a participant's answer means, per the protocol's status contract. This
// is the one place that maps gRPC status codes to outcomes.
enum class CallOutcome {
  kOk,       // OK: done (duplicates included).
  kRefused,  // ABORTED or FAILED_PRECONDITION: definitive business refusal.
  kUnknown,  // anything else: the effect may or may not have been applied.
};

CallOutcome ClassifyStatus(grpc::StatusCode code);
const char* CallOutcomeName(CallOutcome outcome);

// Conversions between the two status types (codes share numeric values).
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status ToAbslStatus(const grpc::Status& status);

// "UNAVAILABLE: connection refused", for logs and last_error fields.
std::string DescribeStatus(const grpc::Status& status);

}  // namespace tcc

#endif  // TCC_COMMON_GRPC_STATUS_H_
