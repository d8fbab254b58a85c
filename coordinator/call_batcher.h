#ifndef TCC_COORDINATOR_CALL_BATCHER_H_
#define TCC_COORDINATOR_CALL_BATCHER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/branch_call.h"
#include "grpcpp/grpcpp.h"
#include "tcc/v1/participant.grpc.pb.h"

namespace tcc::coordinator {

struct CallBatcherOptions {
  // Calls (single or Batch) in flight at once before further calls queue.
  // Default 4.
  int max_in_flight = 4;
  // Items per Batch call; at most 1,024 (what the SDK accepts). Default 128.
  int max_items = 128;
  // Serialized request bytes per Batch call; one item larger than this goes
  // alone. Default 1 MiB, well under gRPC's 4 MiB receive limit.
  size_t max_bytes = size_t{1} << 20;
};

// Sends the participant calls of one kind (the Tries, or the Confirms and
// Cancels) of every transaction to one participant. While fewer than
// max_in_flight are out, a call leaves at once on its own (`send_one`): no
// delay, and a light load puts on the wire exactly what it would without
// batching. Calls that arrive meanwhile queue, and when a call returns the
// queue leaves as one Participant.Batch call: under load gRPC's per-call
// cost, at both ends, is paid once per batch instead of once per branch.
//
// Every item's `done` gets what its own call would have answered: the
// item's result, or the Batch call's status when the call failed as a whole
// (outcome unknown for every item), or INTERNAL when the participant's
// answer does not fit the request (wrong number of results, a status code
// that does not exist). A participant that answers the Batch call
// UNIMPLEMENTED does not have the method: its items, and every call after
// them, go through `send_one`.
//
// Thread-safe; no method blocks. `done` runs on a gRPC thread (or inline
// for a call that fails at once), never under the batcher's lock.
class CallBatcher {
 public:
  // Sends one call of its own; `done` runs exactly once.
  using SendOne = std::function<void(
      BranchPhase phase, v1::BranchRequest request, const Metadata& metadata,
      absl::Duration deadline, BranchCallDone done)>;
  // The stub for the next Batch call (round robin over a participant's
  // channels, say).
  using PickStub = std::function<v1::Participant::Stub*()>;

  CallBatcher(std::string participant, CallBatcherOptions options,
              PickStub pick_stub, SendOne send_one);
  // Every call must have ended (ParticipantPool::WaitIdle).
  ~CallBatcher();
  CallBatcher(const CallBatcher&) = delete;
  CallBatcher& operator=(const CallBatcher&) = delete;

  // Sends `phase` of `request`. `deadline` counts from when the call leaves,
  // not from when it queued.
  void Add(BranchPhase phase, v1::BranchRequest request,
           const Metadata& metadata, absl::Duration deadline,
           BranchCallDone done);

  struct Counters {
    int64_t single_calls = 0;   // calls of their own
    int64_t batch_calls = 0;    // Batch calls
    int64_t batched_items = 0;  // items those carried
  };
  Counters counters() const;

 private:
  struct Batch;

  // Sends a call of its own in a slot already taken; its end frees the
  // slot.
  void SendSingle(BranchPhase phase, v1::BranchRequest request,
                  const Metadata& metadata, absl::Duration deadline,
                  BranchCallDone done);
  void SendBatch(std::unique_ptr<Batch> batch);
  void OnBatchDone(std::unique_ptr<Batch> batch, const grpc::Status& status);
  // A call ended: frees its slot and sends the next queued batch, if any.
  void CallEnded();
  // The participant lacks Batch: every item of `batch` goes on its own.
  void Unbatch(std::unique_ptr<Batch> batch);

  const std::string participant_;
  const CallBatcherOptions options_;
  const PickStub pick_stub_;
  const SendOne send_one_;

  std::atomic<bool> batch_supported_{true};
  mutable absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // The back batch is the one still filling.
  std::deque<std::unique_ptr<Batch>> queue_ ABSL_GUARDED_BY(mu_);
  // Counters (relaxed: statistics only).
  std::atomic<int64_t> single_calls_{0};
  std::atomic<int64_t> batch_calls_{0};
  std::atomic<int64_t> batched_items_{0};
};

}  // namespace tcc::coordinator

#endif  // TCC_COORDINATOR_CALL_BATCHER_H_
