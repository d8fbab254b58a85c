#ifndef TCC_COORDINATOR_PARTICIPANT_POOL_H_
#define TCC_COORDINATOR_PARTICIPANT_POOL_H_

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/branch_call.h"
#include "coordinator/call_batcher.h"
#include "coordinator/proto/config.pb.h"
#include "grpcpp/grpcpp.h"
#include "tcc/v1/participant.grpc.pb.h"

namespace tcc::coordinator {

// The configured participants and one set of long-lived channels to each.
// The only place the coordinator dials anything: targets come from the
// configuration, never from requests. Thread-safe.
class ParticipantPool {
 public:
  // Builds channels for every configured participant. INVALID_ARGUMENT for a
  // bad configuration (duplicate or malformed name, missing target, unreadable
  // TLS files).
  static absl::StatusOr<std::unique_ptr<ParticipantPool>> Create(
      const config::CoordinatorConfig& config);

  bool Contains(const std::string& name) const;

  // Sends one phase of one branch asynchronously with the given deadline and
  // request metadata. `done` runs exactly once, on a gRPC callback thread.
  // An unknown participant answers NOT_FOUND through `done`. Unless the
  // participant's configuration disables batching, Tries go through one
  // CallBatcher of the participant and Confirms and Cancels through another
  // (so neither kind waits behind the other): under load a call may wait
  // for an earlier one of its kind to return and then leave in one Batch
  // call with the others that waited; `deadline` counts from when the call
  // leaves.
  void Call(const std::string& participant, BranchPhase phase,
            v1::BranchRequest request, const Metadata& metadata,
            absl::Duration deadline, BranchCallDone done);

  // Calls started and not yet finished (queued ones included).
  int64_t InFlight() const { return in_flight_.load(); }
  // The batchers' counters, summed over every participant; `tries` for the
  // Tries, else for the Confirms and Cancels.
  CallBatcher::Counters BatchCounters(bool tries) const;
  // Blocks until no call is in flight. Not on a gRPC thread.
  void WaitIdle();

 private:
  struct Endpoint {
    std::vector<std::unique_ptr<v1::Participant::Stub>> stubs;
    std::atomic<uint64_t> next{0};
    // Null when the configuration disables batching.
    std::unique_ptr<CallBatcher> tries;
    std::unique_ptr<CallBatcher> second_phase;

    v1::Participant::Stub* PickStub();
  };
  ParticipantPool() = default;
  // One call of its own.
  static void CallOne(Endpoint& endpoint, BranchPhase phase,
                      v1::BranchRequest request, const Metadata& metadata,
                      absl::Duration deadline, BranchCallDone done);
  void CallFinished();

  absl::flat_hash_map<std::string, std::unique_ptr<Endpoint>> endpoints_;
  std::atomic<int64_t> in_flight_{0};
  absl::Mutex idle_mu_;
};

// Loads a CoordinatorConfig from a protobuf text-format file.
absl::StatusOr<config::CoordinatorConfig> LoadConfigFile(
    const std::string& path);

}  // namespace tcc::coordinator

#endif  // TCC_COORDINATOR_PARTICIPANT_POOL_H_
