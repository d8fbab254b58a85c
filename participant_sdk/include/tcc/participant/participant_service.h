#ifndef TCC_PARTICIPANT_PARTICIPANT_SERVICE_H_
#define TCC_PARTICIPANT_PARTICIPANT_SERVICE_H_

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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
// A Batch item gets, in its BatchResult, exactly the status its own call
// would have answered (an item without a phase: INVALID_ARGUMENT).
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

  // Serves every item as the call of its own phase would be served, one
  // local transaction each. The items are shared out among up to
  // executor->Parallelism() tasks, each taking the next item not yet
  // taken, so that an item waiting for a lock holds up only its own task;
  // with group commit one sync covers them all. Each item's wire status and
  // reply go to response->results, in order. The call fails as a whole only
  // when it is malformed (INVALID_ARGUMENT: more than
  // internal::kMaxBatchItems items), cancelled before it was served
  // (CANCELLED), or the store's sync failed (that error).
  grpc::ServerUnaryReactor* Batch(grpc::CallbackServerContext* context,
                                  const tcc::v1::BatchRequest* request,
                                  tcc::v1::BatchResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (request->items_size() > internal::kMaxBatchItems) {
      reactor->Finish(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("batch of ", request->items_size(), " items; at most ",
                       internal::kMaxBatchItems, " allowed")));
      return reactor;
    }
    auto batch = std::make_shared<BatchState>();
    batch->context = context;
    batch->response = response;
    batch->reactor = reactor;
    batch->items.reserve(request->items_size());
    for (const tcc::v1::BatchItem& item : request->items()) {
      Work work;
      absl::StatusOr<Phase> phase = internal::ToPhase(item.phase());
      work.call = internal::MakeBranchCall(item);
      if (!phase.ok()) {
        work.early = phase.status();
      } else {
        work.phase = *phase;
        Prepare(&work);
      }
      batch->items.push_back(std::move(work));
    }
    batch->outcomes.resize(batch->items.size());
    const int tasks = std::max(
        1, std::min<int>(executor_->Parallelism(), batch->items.size()));
    batch->tasks_left.store(tasks);
    for (int i = 0; i < tasks; ++i) {
      executor_->Schedule([this, batch] { ServeBatchItems(batch); });
    }
    return reactor;
  }

 private:
  using Handlers = ResourceHandlers<LocalTransaction>;
  using Handler = typename Handlers::Handler;

  // One call (or batch item): what the gRPC thread prepared for the
  // executor.
  struct Work {
    BranchCall call;
    Phase phase = Phase::kTry;
    const Handler* handler = nullptr;
    // Set when the call is answered without running anything.
    absl::Status early;
  };
  struct Outcome {
    absl::StatusOr<BarrierResult> result;
    std::string reply;
  };
  // One Batch call, shared by the tasks that serve its items.
  struct BatchState {
    grpc::CallbackServerContext* context = nullptr;
    tcc::v1::BatchResponse* response = nullptr;
    grpc::ServerUnaryReactor* reactor = nullptr;
    std::vector<Work> items;
    std::vector<Outcome> outcomes;  // outcomes[i] belongs to items[i]
    std::atomic<size_t> next{0};    // the next item no task took yet
    std::atomic<int> tasks_left{0};
    std::atomic<bool> cancelled{false};
  };

  // One task of a Batch call: serves items until none is left; the last
  // task to finish answers the call once the outcomes are on disk.
  void ServeBatchItems(std::shared_ptr<BatchState> batch) {
    if (batch->context->IsCancelled()) batch->cancelled.store(true);
    for (size_t i = batch->next.fetch_add(1); i < batch->items.size();
         i = batch->next.fetch_add(1)) {
      if (batch->cancelled.load()) break;
      batch->outcomes[i] = Serve(batch->items[i]);
    }
    if (batch->tasks_left.fetch_sub(1) != 1) return;
    if (batch->cancelled.load()) {
      batch->reactor->Finish(grpc::Status(
          grpc::StatusCode::CANCELLED, "call cancelled before it was served"));
      return;
    }
    auto answer = [batch](absl::Status synced) {
      if (!synced.ok()) {
        batch->reactor->Finish(ToGrpcStatus(synced));
        return;
      }
      for (Outcome& outcome : batch->outcomes) {
        tcc::v1::BatchResult* result = batch->response->add_results();
        grpc::Status status = internal::ToWireStatus(outcome.result);
        result->set_code(status.error_code());
        result->set_message(status.error_message());
        if (status.ok()) result->set_payload(std::move(outcome.reply));
      }
      batch->reactor->Finish(grpc::Status::OK);
    };
    if constexpr (kGroupSync) {
      const bool any_try = std::any_of(
          batch->items.begin(), batch->items.end(),
          [](const Work& work) { return work.phase == Phase::kTry; });
      AnswerAfterSync(/*awaited=*/any_try, std::move(answer));
    } else {
      answer(absl::OkStatus());
    }
  }

  // Entries are never removed, so the returned pointer stays valid.
  const Handlers* Find(const std::string& action) const {
    absl::ReaderMutexLock lock(&mu_);
    auto it = handlers_.find(action);
    return it == handlers_.end() ? nullptr : &it->second;
  }

  // Validates work->call and finds its handler, or sets work->early.
  void Prepare(Work* work) const {
    work->early = internal::ValidateBranchCall(work->call);
    if (!work->early.ok()) return;
    const Handlers* handlers = Find(work->call.action);
    if (handlers == nullptr) {
      work->early = absl::UnimplementedError(absl::StrCat(
          "no handlers registered for action ", work->call.action));
      return;
    }
    work->handler = work->phase == Phase::kTry       ? &handlers->try_fn
                    : work->phase == Phase::kConfirm ? &handlers->confirm_fn
                                                     : &handlers->cancel_fn;
  }

  // Applies `work` through the barrier, on an executor thread. With group
  // commit the outcome may rest on writes not yet synced: it must not be
  // reported before the store's AfterSync() calls back OK.
  Outcome Serve(const Work& work) {
    Outcome outcome;
    if (!work.early.ok()) {
      outcome.result = work.early;
      return outcome;
    }
    auto body = [&](LocalTransaction& txn, std::string* out) {
      return (*work.handler)(work.call, txn, out);
    };
    if constexpr (kGroupSync) {
      outcome.result =
          store_->RunDeferred(work.call, work.phase, body, &outcome.reply);
    } else {
      outcome.result = store_->Run(work.call, work.phase, body, &outcome.reply);
    }
    return outcome;
  }

  grpc::ServerUnaryReactor* Handle(Phase phase,
                                   grpc::CallbackServerContext* context,
                                   const tcc::v1::BranchRequest* request,
                                   tcc::v1::BranchResponse* response) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    Work work;
    work.call = internal::MakeBranchCall(*context, *request);
    work.phase = phase;
    Prepare(&work);
    if (!work.early.ok()) {
      reactor->Finish(ToGrpcStatus(work.early));
      return reactor;
    }
    executor_->Schedule([this, context, response, reactor,
                         work = std::move(work)] {
      if (context->IsCancelled()) {
        reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                     "call cancelled before it was served"));
        return;
      }
      Outcome outcome = Serve(work);
      if constexpr (kGroupSync) {
        // Under load the executor thread moves on and the store's sync
        // thread answers once the outcome is on disk, together with every
        // other call that committed meanwhile; when no sync is running or
        // queued and the executor can spare this thread (another one serves
        // the queue, or nothing waits), this thread syncs and answers itself
        // (no hand-off). At most one thread per store syncs at a time. A
        // Confirm or Cancel, which the application is not waiting for,
        // rides the next sync someone else needs (see
        // RocksDbBarrierStoreOptions::deferred_sync_delay).
        auto answer = [response, reactor, outcome = std::move(outcome)](
                          absl::Status synced) mutable {
          if (!synced.ok()) outcome.result = std::move(synced);
          Finish(outcome, response, reactor);
        };
        AnswerAfterSync(/*awaited=*/work.phase == Phase::kTry,
                        std::move(answer));
      } else {
        Finish(outcome, response, reactor);
      }
    });
    return reactor;
  }

  // Whether `Store` separates applying a call from waiting for the disk
  // (RocksDbBarrierStore::RunDeferred, AfterSync and AfterSyncDeferred).
  static constexpr bool kGroupSync =
      requires(Store & store, absl::AnyInvocable<void(absl::Status) &&> done) {
    store.AfterSync(std::move(done), true);
    store.AfterSyncDeferred(std::move(done));
  };

  // Runs `answer` once what this executor thread committed is on disk:
  // `awaited` (a Try, which the application waits for) through AfterSync(),
  // syncing on this thread when it may; otherwise (a Confirm or Cancel)
  // with the next sync someone needs, AfterSyncDeferred().
  void AnswerAfterSync(
      bool awaited,
      absl::AnyInvocable<void(absl::Status) &&> answer) requires kGroupSync {
    if (awaited) {
      store_->AfterSync(std::move(answer),
                        /*caller_may_sync=*/executor_->MayBlockOneThread());
    } else {
      store_->AfterSyncDeferred(std::move(answer));
    }
  }

  static void Finish(Outcome& outcome, tcc::v1::BranchResponse* response,
                     grpc::ServerUnaryReactor* reactor) {
    if (outcome.result.ok()) response->set_payload(std::move(outcome.reply));
    reactor->Finish(internal::ToWireStatus(outcome.result));
  }

  Store* const store_;
  Executor* const executor_;
  mutable absl::Mutex mu_;
  std::map<std::string, Handlers, std::less<>> handlers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tcc::participant

#endif  // TCC_PARTICIPANT_PARTICIPANT_SERVICE_H_
