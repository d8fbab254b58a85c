#ifndef TCC_PARTICIPANT_PARTICIPANT_SERVICE_H_
#define TCC_PARTICIPANT_PARTICIPANT_SERVICE_H_

#include <functional>
#include <map>
#include <string>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "tcc/common/grpc_status.h"
#include "tcc/common/thread_pool.h"
#include "tcc/participant/barrier.h"
#include "tcc/participant/internal/service_support.h"
#include "tcc/v1/participant.grpc.pb.h"

namespace tcc::participant {

// The three handlers of one action (resource). Each runs inside the local
// transaction `txn` of the store (a rocksdb::Transaction for
// RocksDbBarrierStore, a pqxx::work for PostgresBarrierStore), which also
// writes the barrier record; the barrier (rules in barrier.h) guarantees
// each runs at most once per branch, that confirm_fn and cancel_fn only run
// after a try_fn that committed (and never both), and that try_fn never runs
// after a cancel.
//
// A handler returns:
//   OK: its writes in `txn` are committed with the barrier record. try_fn
//       may set *reply (returned to the application, also to duplicates).
//   ABORTED or FAILED_PRECONDITION: a business refusal (try_fn only).
//   anything else: outcome unknown; the coordinator retries Confirm/Cancel.
// Any non-OK status (or an exception, reported as INTERNAL) rolls back
// every write of the call. Handlers run on the service's executor and may
// block; they must not commit or roll back `txn` themselves.
template <class Txn>
struct ResourceHandlers {
  using Handler = std::function<absl::Status(const BranchCall& call, Txn& txn,
                                             std::string* reply)>;
  Handler try_fn;
  Handler confirm_fn;
  Handler cancel_fn;
};

// The gRPC Participant service of the SDK: decodes each Try/Confirm/Cancel,
// finds the handlers registered for its action and runs them through the
// store's barrier.
//
// `Store` provides `LocalTransaction` and
//   absl::StatusOr<BarrierResult> Run(const BranchCall&, Phase,
//       absl::FunctionRef<absl::Status(LocalTransaction&, std::string*)>,
//       std::string* reply);
// with the contract of RocksDbBarrierStore::Run (PostgresBarrierStore has
// the same).
//
// Threading: the gRPC callback thread only validates and copies the request;
// the barrier and the handler run on `executor`, so no callback thread ever
// waits for a lock or an fsync. A store with group commit (RocksDB) answers
// from its sync thread once the outcome is on disk, so executor threads
// never wait for the disk either; otherwise (PostgreSQL) the executor
// thread answers after its commit.
//
// Wire status of each call:
//   OK                  applied, duplicate or empty cancel (Try: with the
//                       handler's reply, or the stored one for a duplicate);
//   ABORTED             "try refused: branch already cancelled";
//   FAILED_PRECONDITION a Confirm without a Try or after a Cancel, or a
//                       Cancel after a Confirm (the coordinator never sends
//                       these; it retries them, visibly, if it does);
//   INVALID_ARGUMENT    empty gid, branch_id or action;
//   UNIMPLEMENTED       no handlers registered for the action;
//   CANCELLED           the caller gave up before the work started (nothing
//                       was done);
//   anything else       the handler's status as is, or the store's error
//                       (UNAVAILABLE "branch busy, retry", INTERNAL, ...).
template <class Store>
class ParticipantService final : public tcc::v1::Participant::CallbackService {
 public:
  using LocalTransaction = typename Store::LocalTransaction;

  // `store` and `executor` are not owned and must outlive every call the
  // service serves (shut the server down before either).
  ParticipantService(Store* store, Executor* executor)
      : store_(store), executor_(executor) {}

  // Registers the handlers of `action`. Call before the server starts
  // serving. Thread-safe.
  // Errors: INVALID_ARGUMENT for an empty action or a missing handler;
  // ALREADY_EXISTS if `action` is already registered.
  absl::Status Register(std::string action,
                        ResourceHandlers<LocalTransaction> handlers) {
    if (action.empty()) return absl::InvalidArgumentError("empty action");
    if (!handlers.try_fn || !handlers.confirm_fn || !handlers.cancel_fn) {
      return absl::InvalidArgumentError(absl::StrCat(
          "action ", action, " needs try, confirm and cancel handlers"));
    }
    absl::MutexLock lock(&mu_);
    auto [it, inserted] =
        handlers_.try_emplace(std::move(action), std::move(handlers));
    if (!inserted) {
      return absl::AlreadyExistsError(
          absl::StrCat("action ", it->first, " is already registered"));
    }
    return absl::OkStatus();
  }

  grpc::ServerUnaryReactor* Try(grpc::CallbackServerContext* context,
                                const tcc::v1::BranchRequest* request,
                                tcc::v1::BranchResponse* response) override {
    return Handle(Phase::kTry, context, request, response);
  }
  grpc::ServerUnaryReactor* Confirm(
      grpc::CallbackServerContext* context,
      const tcc::v1::BranchRequest* request,
      tcc::v1::BranchResponse* response) override {
    return Handle(Phase::kConfirm, context, request, response);
  }
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* context,
                                   const tcc::v1::BranchRequest* request,
                                   tcc::v1::BranchResponse* response) override {
    return Handle(Phase::kCancel, context, request, response);
  }

 private:
  using Handlers = ResourceHandlers<LocalTransaction>;

  // Entries are never removed, so the returned pointer stays valid.
  const Handlers* Find(const std::string& action) const {
    absl::ReaderMutexLock lock(&mu_);
    auto it = handlers_.find(action);
    return it == handlers_.end() ? nullptr : &it->second;
  }

  grpc::ServerUnaryReactor* Handle(Phase phase,
                                   grpc::CallbackServerContext* context,
                                   const tcc::v1::BranchRequest* request,
                                   tcc::v1::BranchResponse* response) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    BranchCall call = internal::MakeBranchCall(*context, *request);
    if (absl::Status valid = internal::ValidateBranchCall(call); !valid.ok()) {
      reactor->Finish(ToGrpcStatus(valid));
      return reactor;
    }
    const Handlers* handlers = Find(call.action);
    if (handlers == nullptr) {
      reactor->Finish(grpc::Status(
          grpc::StatusCode::UNIMPLEMENTED,
          absl::StrCat("no handlers registered for action ", call.action)));
      return reactor;
    }
    const typename Handlers::Handler* handler =
        phase == Phase::kTry       ? &handlers->try_fn
        : phase == Phase::kConfirm ? &handlers->confirm_fn
                                   : &handlers->cancel_fn;
    executor_->Schedule([this, phase, handler, context, response, reactor,
                         call = std::move(call)] {
      if (context->IsCancelled()) {
        reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                     "call cancelled before it was served"));
        return;
      }
      std::string reply;
      auto body = [&](LocalTransaction& txn, std::string* out) {
        return (*handler)(call, txn, out);
      };
      if constexpr (kGroupSync) {
        // Under load the executor thread moves on and the store's sync
        // thread answers once the outcome is on disk, together with every
        // other call that committed meanwhile; when no sync is running or
        // queued and the executor can spare this thread (another one serves
        // the queue, or nothing waits), this thread syncs and answers itself
        // (no hand-off). At most one thread per store syncs at a time.
        absl::StatusOr<BarrierResult> result =
            store_->RunDeferred(call, phase, body, &reply);
        store_->AfterSync(
            [response, reactor, result = std::move(result),
             reply = std::move(reply)](absl::Status synced) mutable {
              if (!synced.ok()) result = std::move(synced);
              Finish(result, std::move(reply), response, reactor);
            },
            /*caller_may_sync=*/executor_->MayBlockOneThread());
      } else {
        absl::StatusOr<BarrierResult> result =
            store_->Run(call, phase, body, &reply);
        Finish(result, std::move(reply), response, reactor);
      }
    });
    return reactor;
  }

  // Whether `Store` separates applying a call from waiting for the disk
  // (RocksDbBarrierStore::RunDeferred and AfterSync).
  static constexpr bool kGroupSync =
      requires(Store & store, absl::AnyInvocable<void(absl::Status) &&> done) {
    store.AfterSync(std::move(done), true);
  };

  static void Finish(const absl::StatusOr<BarrierResult>& result,
                     std::string reply, tcc::v1::BranchResponse* response,
                     grpc::ServerUnaryReactor* reactor) {
    if (result.ok()) response->set_payload(std::move(reply));
    reactor->Finish(internal::ToWireStatus(result));
  }

  Store* const store_;
  Executor* const executor_;
  mutable absl::Mutex mu_;
  std::map<std::string, Handlers, std::less<>> handlers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tcc::participant

#endif  // TCC_PARTICIPANT_PARTICIPANT_SERVICE_H_
