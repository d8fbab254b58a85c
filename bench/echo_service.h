#ifndef TCC_BENCH_ECHO_SERVICE_H_
#define TCC_BENCH_ECHO_SERVICE_H_

#include "absl/time/time.h"
#include "tcc/common/scheduler.h"
#include "tcc/v1/participant.grpc.pb.h"

namespace tcc::bench {

// The ceiling's server: the Participant service answering every call with
// the request's payload, at once, on the gRPC callback thread. No storage,
// no executor hop: what unary gRPC over loopback costs and nothing else.
//
// With a `try_delay`, Try is answered that much later (from `scheduler`,
// without blocking any thread) while Confirm and Cancel stay immediate: a
// participant that keeps transactions in flight, for measuring what an
// in-flight transaction costs the coordinator. Thread-safe.
class EchoService final : public v1::Participant::CallbackService {
 public:
  EchoService() = default;
  // `scheduler` must outlive every call (shut the server down first).
  EchoService(absl::Duration try_delay, Scheduler* scheduler)
      : try_delay_(try_delay), scheduler_(scheduler) {}

  grpc::ServerUnaryReactor* Try(grpc::CallbackServerContext* context,
                                const v1::BranchRequest* request,
                                v1::BranchResponse* response) override;
  grpc::ServerUnaryReactor* Confirm(grpc::CallbackServerContext* context,
                                    const v1::BranchRequest* request,
                                    v1::BranchResponse* response) override;
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* context,
                                   const v1::BranchRequest* request,
                                   v1::BranchResponse* response) override;

 private:
  const absl::Duration try_delay_ = absl::ZeroDuration();
  Scheduler* const scheduler_ = nullptr;
};

}  // namespace tcc::bench

#endif  // TCC_BENCH_ECHO_SERVICE_H_
