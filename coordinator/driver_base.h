#ifndef TCC_COORDINATOR_DRIVER_BASE_H_
#define TCC_COORDINATOR_DRIVER_BASE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/participant_pool.h"
#include "coordinator/proto/log_record.pb.h"
#include "coordinator/transaction_log.h"
#include "tcc/common/clock.h"
#include "tcc/common/retry_policy.h"
#include "tcc/common/scheduler.h"
#include "tcc/common/thread_pool.h"

namespace tcc::coordinator {

class DriverBase;

// Everything a driver needs from the coordinator. Owned by the Coordinator,
// outlives every driver.
struct DriverContext {
  TransactionLog* log = nullptr;
  ParticipantPool* pool = nullptr;
  Scheduler* scheduler = nullptr;
  Clock* clock = nullptr;
  RetryPolicy* retry = nullptr;
  // Runs answers to callers, outside every driver lock.
  Executor* executor = nullptr;
  // Deadline of every participant call.
  absl::Duration call_deadline = absl::Seconds(3);
  // Set when the coordinator stops: drivers send no new Confirm/Cancel and
  // leave unfinished work to recovery on the next start.
  std::atomic<bool>* stopping = nullptr;
  // Called when a driver is done with its transaction (final and recorded,
  // or abandoned because its gid belongs to another transaction): the
  // registry forgets it.
  std::function<void(const DriverBase* driver)> on_done;
};

// An answer to a caller waiting on a transaction: OK with the stored record
// (the caller's own copy, to move into its response), or the error that
// prevented an answer.
using DecisionCallback =
    absl::AnyInvocable<void(const absl::Status&,
                            internal::StoredTransaction) &&>;

// What every driver shares: the transaction's record and the discipline of
// writing it. The in-memory record is only a copy of what the driver writes;
// every state change goes to the TransactionLog first (a check-and-set on
// the version the driver last wrote). At most one write per transaction is in
// flight; writes asked for meanwhile are coalesced into the next one, which
// carries the latest record.
//
// Drivers are owned (through shared_ptr) by the Coordinator's registry;
// every callback keeps its driver alive. Thread-safe; no method blocks.
class DriverBase : public std::enable_shared_from_this<DriverBase> {
 public:
  DriverBase(DriverContext* context, internal::StoredTransaction record);
  virtual ~DriverBase() = default;

  const std::string& gid() const { return gid_; }
  v1::TransactionMode mode() const { return mode_; }

  // Writes the new transaction (version 0 -> 1), then starts it.
  // `on_answer` runs once the creating call can be answered. If the gid
  // already exists, the stored transaction is adopted when it has the same
  // content (and resumed if unfinished), otherwise ALREADY_EXISTS.
  void Create(DecisionCallback on_answer);

  // Takes over `fresh`, the record as read from the log after this driver
  // was registered (so no other driver can move it meanwhile), and drives it
  // on (recovery, or a call about a transaction not in memory). Then runs
  // what WhenResumed() held back.
  void ResumeFrom(internal::StoredTransaction fresh);

  // For a driver being adopted: called once, before it is registered. Until
  // ResumeFrom() (or AbandonAdoption()) its record is only the first read of
  // the log, which a call must not act on: ResumeFrom() would replace it.
  void MarkAdopting();
  // The adoption failed (`why`): what WhenResumed() held back gets `why`.
  void AbandonAdoption(const absl::Status& why);
  // Runs `fn` with OK (no lock held) once the driver drives its record: at
  // once, unless it is still being adopted. Every call that found the
  // driver in the registry goes through this.
  void WhenResumed(absl::AnyInvocable<void(const absl::Status&) &&> fn);

  // Another creating call for the same gid: ALREADY_EXISTS if `request`
  // differs from this transaction, otherwise the answer once it is ready.
  void Attach(const internal::StoredTransaction& request,
              DecisionCallback on_answer);

 protected:
  // A participant call decided under the lock and sent after releasing it
  // (a call may complete inline).
  struct Outgoing {
    int index;
    BranchPhase phase;
    v1::BranchRequest request;
    std::string participant;
  };
  using WriteDone =
      absl::AnyInvocable<void(const absl::Status&,
                              const internal::StoredTransaction*) &&>;

  // Hooks, called with mu_ held. Start: the new record is durable. Resume:
  // an adopted or recovered record that is not final.
  virtual void StartLocked(std::vector<Outgoing>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;
  virtual void ResumeLocked(std::vector<Outgoing>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;
  // Whether creating calls can be answered now.
  virtual bool AnswerReadyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;
  // A participant call ended. Called without the lock, on a gRPC thread.
  virtual void OnReply(int index, BranchPhase phase, const grpc::Status& status,
                       v1::BranchResponse&& response) = 0;

  // Holds mu_. On release it runs, on the releasing thread and outside the
  // lock, the answers NotifyWaiters() queued meanwhile: no executor hand-off
  // per answer, and never a callback under the lock. Every method that
  // takes mu_ takes it through this.
  class ABSL_SCOPED_LOCKABLE Lock {
   public:
    explicit Lock(DriverBase* driver) ABSL_EXCLUSIVE_LOCK_FUNCTION(driver->mu_);
    ~Lock() ABSL_UNLOCK_FUNCTION();
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

   private:
    DriverBase* const driver_;
  };

  // The transaction's deadline passed (scheduler thread's executor; no lock
  // held). Not called once the driver is Done().
  virtual void OnDeadline() = 0;
  // Arms the deadline timer for Deadline(), replacing an earlier one. Done()
  // cancels it, so a finished transaction costs no timer task later.
  void ScheduleDeadline() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void Persist(bool sync, WriteDone done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends `calls` (no lock held). Confirm/Cancel are skipped while stopping.
  void Send(std::vector<Outgoing> calls);
  // Send() from an executor task, for calls nobody is waiting on (the second
  // phase, compensations) that follow an answer. The thread that wrote the
  // decision is often the log's writer, running the callbacks itself: it
  // goes back to the next write (at one client, the next transaction's
  // record) instead of creating these calls first, and under load a group's
  // answers all leave before any of its Confirms.
  void SendAfterAnswers(std::vector<Outgoing> calls);
  // Answers every creating call waiting, with `status` and the record as it
  // is now, once the Lock is released.
  void NotifyWaiters(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forget this driver (registry). Safe with or without the lock.
  void Done();
  // Persists the final record (not synced: a lost final write is repaired by
  // recovery repeating idempotent calls), then Done().
  void WriteFinal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Outgoing MakeCall(int index, BranchPhase phase,
                    const std::string& action) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t NowMs() const;
  absl::Time Deadline() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<DriverBase> self() { return shared_from_this(); }

  DriverContext* const context_;
  const std::string gid_;
  const v1::TransactionMode mode_;

  absl::Mutex mu_;
  internal::StoredTransaction record_ ABSL_GUARDED_BY(mu_);

 private:
  void OnCreated(const absl::Status& status,
                 const internal::StoredTransaction* current);
  void ResumeAny(std::vector<Outgoing>* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void IssueWrite(bool sync, std::vector<WriteDone> dones)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `written`: the version the write stores on success.
  void OnWriteDone(const absl::Status& status, uint64_t written,
                   const internal::StoredTransaction* current,
                   std::vector<WriteDone> dones);
  Metadata CallMetadata() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Answers decided under the lock, run by ~Lock().
  struct Answers {
    std::vector<DecisionCallback> callbacks;
    absl::Status status;
    internal::StoredTransaction record;
  };

  std::vector<DecisionCallback> waiters_ ABSL_GUARDED_BY(mu_);
  std::vector<Answers> answers_ ABSL_GUARDED_BY(mu_);
  // Done() may run with or without mu_, hence a lock of its own.
  absl::Mutex timer_mu_;
  std::optional<Scheduler::TaskId> deadline_task_ ABSL_GUARDED_BY(timer_mu_);
  bool done_ ABSL_GUARDED_BY(timer_mu_) = false;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool write_queued_ ABSL_GUARDED_BY(mu_) = false;
  bool queued_sync_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<WriteDone> queued_dones_ ABSL_GUARDED_BY(mu_);
  bool adopting_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<absl::AnyInvocable<void(const absl::Status&) &&>> when_resumed_
      ABSL_GUARDED_BY(mu_);
  Metadata metadata_;  // set once, before any call is sent
};

// True when `a` and `b` describe the same transaction content (mode,
// branches, metadata): what a resubmitted gid must match.
bool SameContent(const internal::StoredTransaction& a,
                 const internal::StoredTransaction& b);

}  // namespace tcc::coordinator

#endif  // TCC_COORDINATOR_DRIVER_BASE_H_
