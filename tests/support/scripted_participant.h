#ifndef TCC_TESTS_SUPPORT_SCRIPTED_PARTICIPANT_H_
#define TCC_TESTS_SUPPORT_SCRIPTED_PARTICIPANT_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "tcc/v1/participant.grpc.pb.h"

namespace tcc::testing {

// What a ScriptedParticipant saw.
struct ParticipantCall {
  std::string phase;  // "Try", "Confirm" or "Cancel"
  std::string gid;
  std::string branch_id;
  std::string action;
  std::string payload;
  std::map<std::string, std::string> metadata;
  // Items of the Batch call that carried it; 0 for a call of its own.
  int batch_size = 0;
};

// An in-process participant whose answers a test scripts, for testing the
// coordinator's state machine against real gRPC calls. It records every call
// and answers with whatever the responder returns; std::nullopt means "never
// answer" (the call hangs until the caller's deadline or Shutdown()).
// Thread-safe.
class ScriptedParticipant final : public v1::Participant::CallbackService {
 public:
  using Responder =
      std::function<std::optional<grpc::Status>(const ParticipantCall&)>;

  // Starts serving on 127.0.0.1 with a free port. Answers OK to everything
  // until SetResponder is called. Without `implements_batch` it answers
  // Batch as a server without the method would (UNIMPLEMENTED).
  explicit ScriptedParticipant(bool implements_batch = true);
  ~ScriptedParticipant() override;

  std::string address() const;
  void SetResponder(Responder responder);
  std::vector<ParticipantCall> Calls() const;
  // Calls of `phase` ("Try"...) for `gid` (any gid if empty).
  int CountCalls(const std::string& phase, const std::string& gid = "") const;
  // Blocks until `count` calls of `phase` for `gid` arrived, or ~10 s passed
  // (then returns false). A wait, not a timing assertion.
  bool WaitForCalls(const std::string& phase, const std::string& gid,
                    int count) const;
  // Answers every hanging call (a whole Batch call for one that held any
  // item) with `status`: a Batch call answered OK gets OK for every item.
  void AnswerHanging(const grpc::Status& status);
  // Answers every hanging call with UNAVAILABLE and stops the server.
  void Shutdown();

  grpc::ServerUnaryReactor* Try(grpc::CallbackServerContext* ctx,
                                const v1::BranchRequest* request,
                                v1::BranchResponse* response) override;
  grpc::ServerUnaryReactor* Confirm(grpc::CallbackServerContext* ctx,
                                    const v1::BranchRequest* request,
                                    v1::BranchResponse* response) override;
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* ctx,
                                   const v1::BranchRequest* request,
                                   v1::BranchResponse* response) override;
  // Each item goes to the responder as a call of its own would; if it
  // answers std::nullopt for any item the whole call hangs.
  grpc::ServerUnaryReactor* Batch(grpc::CallbackServerContext* ctx,
                                  const v1::BatchRequest* request,
                                  v1::BatchResponse* response) override;

 private:
  // A call not answered yet; `batch` is set for a Batch call.
  struct Hanging {
    grpc::ServerUnaryReactor* reactor;
    v1::BatchResponse* batch = nullptr;
    int items = 0;
  };

  grpc::ServerUnaryReactor* Handle(const char* phase,
                                   grpc::CallbackServerContext* ctx,
                                   const v1::BranchRequest* request);

  mutable absl::Mutex mu_;
  Responder responder_ ABSL_GUARDED_BY(mu_);
  std::vector<ParticipantCall> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<Hanging> hanging_ ABSL_GUARDED_BY(mu_);
  const bool implements_batch_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace tcc::testing

#endif  // TCC_TESTS_SUPPORT_SCRIPTED_PARTICIPANT_H_
