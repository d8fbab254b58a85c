#ifndef TCC_BENCH_WORKLOADS_H_
#define TCC_BENCH_WORKLOADS_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "closed_loop.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "tcc/v1/coordinator.grpc.pb.h"
#include "tcc/v1/participant.grpc.pb.h"

namespace tcc::bench {

// The client side shared by both workloads: `channels` independent HTTP/2
// connections to one loopback target, client i using connection
// i % channels.
struct ClientOptions {
  std::string target;
  int channels = 1;
  int concurrency = 1;
  // Deadline of every call.
  absl::Duration call_deadline = absl::Seconds(30);
  // Bytes of opaque payload per branch (TCC) or per request (echo).
  int payload_bytes = 0;
  // gRPC's own retries (GRPC_ARG_ENABLE_RETRIES) on the client's channels.
  // The same for transactions and the echo, so the ceiling is measured with
  // the client the transactions use. Default true, as gRPC's.
  bool grpc_retries = true;
};

// Channels with distinct arguments, so that gRPC does not share one
// subchannel (connection) between them; gRPC retries as `grpc_retries`.
std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(
    const std::string& target, int count, bool grpc_retries);

// How transactions are submitted to the coordinator.
enum class TransactionMode {
  kTcc,   // Coordinator.Execute: Try on every branch, then Confirm.
  kSaga,  // Coordinator.Saga: one action per step, in order.
};

// Unary RPCs one committed transaction costs, the client's call included:
// TCC 1 + 2 per branch (Try, Confirm), saga 1 + 1 per step.
int RpcsPerTransaction(TransactionMode mode, int branches);

// Transactions of `branches` branches (saga: steps), each "reserve" on
// participant names[i % names.size()], each with a fresh gid
// "<gid_prefix>-<client>-<n>". Uses the callback API: no thread per client.
// Must outlive every call it issued (see ClosedLoop::StopAndDrain).
class TransactionWorkload {
 public:
  TransactionWorkload(const ClientOptions& options, TransactionMode mode,
                      int branches,
                      const std::vector<std::string>& participant_names,
                      std::string gid_prefix);
  void Issue(int client, CallDone done);

 private:
  struct Slot {
    std::optional<grpc::ClientContext> context;
    v1::ExecuteRequest execute;
    v1::ExecuteResponse execute_response;
    v1::SagaRequest saga;
    v1::SagaResponse saga_response;
    CallDone done;
    uint64_t next_seq = 0;
  };
  // Ends the call of `slot` with `status` and the response's outcome.
  static void Complete(Slot* slot, const grpc::Status& status,
                       v1::Outcome outcome);

  const ClientOptions options_;
  const TransactionMode mode_;
  const std::string gid_prefix_;
  std::vector<std::unique_ptr<v1::Coordinator::Stub>> stubs_;
  std::vector<std::unique_ptr<Slot>> slots_;
};

// The ceiling: a unary Participant.Try to an echo server (which answers
// inline with the request's payload), the same message shape as a branch
// call. Must outlive every call it issued.
class EchoWorkload {
 public:
  explicit EchoWorkload(const ClientOptions& options);
  void Issue(int client, CallDone done);

 private:
  struct Slot {
    std::optional<grpc::ClientContext> context;
    v1::BranchRequest request;
    v1::BranchResponse response;
    CallDone done;
  };

  const ClientOptions options_;
  std::vector<std::unique_ptr<v1::Participant::Stub>> stubs_;
  std::vector<std::unique_ptr<Slot>> slots_;
};

}  // namespace tcc::bench

#endif  // TCC_BENCH_WORKLOADS_H_
