#include "coordinator/coordinator.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/saga_driver.h"
#include "tcc/common/logging.h"
#include "tcc/common/thread_name.h"

namespace tcc::coordinator {

using internal::StoredTransaction;

namespace {

// Fills the outcome fields every decision-bearing response shares.
template <typename Response>
Response OutcomeResponse(StoredTransaction stored) {
  Response response;
  response.set_gid(stored.txn().gid());
  response.set_outcome(stored.txn().outcome());
  response.set_reason(stored.txn().reason());
  *response.mutable_transaction() = std::move(*stored.mutable_txn());
  return response;
}

// Adapts a typed `done` to a DecisionCallback answering with Response.
template <typename Response, typename Done>
DecisionCallback AnswerWith(Done done) {
  return [done = std::move(done)](const absl::Status& status,
                                  StoredTransaction stored) mutable {
    std::move(done)(status, status.ok()
                                ? OutcomeResponse<Response>(std::move(stored))
                                : Response());
  };
}

}  // namespace

Coordinator::Coordinator(CoordinatorOptions options, TransactionLog* log,
                         ParticipantPool* pool, Clock* clock,
                         Executor* executor, Scheduler* scheduler)
    : options_(std::move(options)),
      log_(log),
      pool_(pool),
      clock_(clock),
      executor_(executor),
      scheduler_(scheduler),
      retry_(options_.retry) {
  context_.log = log_;
  context_.pool = pool_;
  context_.scheduler = scheduler_;
  context_.clock = clock_;
  context_.retry = &retry_;
  context_.executor = executor_;
  context_.call_deadline = options_.call_deadline;
  context_.stopping = &stopping_;
  context_.on_done = [this](const DriverBase* d) { OnDriverDone(d); };
}

Coordinator::~Coordinator() { Stop(); }

size_t Coordinator::InFlight() const {
  absl::MutexLock lock(&mu_);
  return drivers_.size();
}

void Coordinator::OnDriverDone(const DriverBase* driver) {
  absl::MutexLock lock(&mu_);
  auto it = drivers_.find(driver->gid());
  if (it != drivers_.end() && it->second.get() == driver) drivers_.erase(it);
  auto r = recovered_.find(driver);
  if (r != recovered_.end()) {
    recovered_.erase(r);
    --recovering_;
  }
}

std::shared_ptr<DriverBase> Coordinator::MakeDriver(StoredTransaction record) {
  // Not make_shared: a deadline timer holds a weak_ptr until it fires, and
  // with make_shared that would keep the whole (finished) driver allocated.
  if (record.txn().mode() == v1::MODE_SAGA) {
    return std::shared_ptr<DriverBase>(
        new SagaDriver(&context_, std::move(record)));
  }
  return std::shared_ptr<DriverBase>(
      new TccDriver(&context_, std::move(record)));
}

StoredTransaction Coordinator::NewRecord(
    const std::string& gid, v1::TransactionMode mode, int64_t timeout_ms,
    const google::protobuf::Map<std::string, std::string>& md) {
  const absl::Time now = clock_->Now();
  StoredTransaction record;
  v1::Transaction* txn = record.mutable_txn();
  txn->set_gid(gid.empty() ? GenerateGid() : gid);
  txn->set_mode(mode);
  txn->set_outcome(v1::OUTCOME_PENDING);
  txn->mutable_metadata()->insert(md.begin(), md.end());
  txn->set_create_unix_ms(ToUnixMs(now));
  absl::Duration timeout = timeout_ms > 0 ? absl::Milliseconds(timeout_ms)
                                          : options_.default_timeout;
  txn->set_deadline_unix_ms(ToUnixMs(now + timeout));
  return record;
}

void Coordinator::StartOrAttach(StoredTransaction record,
                                DecisionCallback done) {
  if (stopping_.load()) {
    std::move(done)(absl::UnavailableError("coordinator is shutting down"),
                    record);
    return;
  }
  const std::string gid = record.txn().gid();
  std::shared_ptr<DriverBase> driver;
  bool created = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = drivers_.find(gid);
    if (it != drivers_.end()) {
      driver = it->second;
    } else if (drivers_.size() >= static_cast<size_t>(options_.max_in_flight)) {
      std::move(done)(absl::ResourceExhaustedError(absl::StrCat(
                          "coordinator is driving ", drivers_.size(),
                          " transactions (limit ", options_.max_in_flight,
                          "); retry later")),
                      record);
      return;
    } else {
      driver = MakeDriver(record);
      drivers_.emplace(gid, driver);
      created = true;
    }
  }
  if (created) {
    driver->Create(std::move(done));
    return;
  }
  driver->WhenResumed(
      [driver, record = std::move(record),
       done = std::move(done)](const absl::Status& status) mutable {
        if (!status.ok()) {
          std::move(done)(status, std::move(record));
          return;
        }
        driver->Attach(record, std::move(done));
      });
}

void Coordinator::Execute(const v1::ExecuteRequest& request, ExecuteDone done) {
  absl::Status valid = ValidateExecuteRequest(request, options_.limits, *pool_);
  if (!valid.ok()) {
    std::move(done)(valid, v1::ExecuteResponse());
    return;
  }
  StoredTransaction record =
      NewRecord(request.gid(), v1::MODE_EXECUTE, request.timeout_ms(),
                request.metadata());
  v1::Transaction* txn = record.mutable_txn();
  txn->set_state(v1::TRYING);
  for (int i = 0; i < request.branches_size(); ++i) {
    const v1::BranchSpec& spec = request.branches(i);
    v1::Branch* b = txn->add_branches();
    b->set_branch_id(absl::StrCat(i + 1));
    b->set_participant(spec.participant());
    b->set_action(spec.action());
    b->set_payload(spec.payload());
    b->set_state(v1::BRANCH_PENDING);
  }
  StartOrAttach(std::move(record),
                AnswerWith<v1::ExecuteResponse>(std::move(done)));
}

void Coordinator::Saga(const v1::SagaRequest& request, SagaDone done) {
  absl::Status valid = ValidateSagaRequest(request, options_.limits, *pool_);
  if (!valid.ok()) {
    std::move(done)(valid, v1::SagaResponse());
    return;
  }
  StoredTransaction record = NewRecord(
      request.gid(), v1::MODE_SAGA, request.timeout_ms(), request.metadata());
  v1::Transaction* txn = record.mutable_txn();
  txn->set_state(v1::RUNNING);
  for (int i = 0; i < request.steps_size(); ++i) {
    const v1::SagaStep& step = request.steps(i);
    v1::Branch* b = txn->add_branches();
    b->set_branch_id(absl::StrCat(i + 1));
    b->set_participant(step.participant());
    b->set_action(step.action());
    b->set_compensation(step.compensation().empty() ? step.action()
                                                    : step.compensation());
    b->set_payload(step.payload());
    // Step 1 is durably marked started by the creating write.
    b->set_state(i == 0 ? v1::BRANCH_PENDING : v1::BRANCH_WAITING);
    b->set_attempts(i == 0 ? 1 : 0);
  }
  StartOrAttach(std::move(record),
                AnswerWith<v1::SagaResponse>(std::move(done)));
}

void Coordinator::Begin(const v1::BeginRequest& request, BeginDone done) {
  absl::Status valid = ValidateBeginRequest(request, options_.limits);
  if (!valid.ok()) {
    std::move(done)(valid, v1::BeginResponse());
    return;
  }
  StoredTransaction record =
      NewRecord(request.gid(), v1::MODE_INTERACTIVE, request.timeout_ms(),
                request.metadata());
  record.mutable_txn()->set_state(v1::TRYING);
  StartOrAttach(std::move(record), [done = std::move(done)](
                                       const absl::Status& status,
                                       StoredTransaction stored) mutable {
    v1::BeginResponse response;
    if (status.ok()) {
      response.set_gid(stored.txn().gid());
      *response.mutable_transaction() = std::move(*stored.mutable_txn());
    }
    std::move(done)(status, std::move(response));
  });
}

absl::StatusOr<std::shared_ptr<DriverBase>> Coordinator::Adopt(
    const std::string& gid, bool recovering, StoredTransaction* final_record,
    bool* adopted) {
  if (adopted != nullptr) *adopted = false;
  std::shared_ptr<DriverBase> driver;
  {
    absl::MutexLock lock(&mu_);
    auto it = drivers_.find(gid);
    if (it != drivers_.end()) return it->second;
  }
  absl::StatusOr<StoredTransaction> stored = log_->Get(gid);
  if (!stored.ok()) return stored.status();
  if (IsFinalState(stored->txn().state())) {
    *final_record = *std::move(stored);
    return std::shared_ptr<DriverBase>();
  }
  // Made outside the registry's lock: the driver's lock is never taken
  // under it.
  driver = MakeDriver(*stored);
  driver->MarkAdopting();
  {
    absl::MutexLock lock(&mu_);
    auto it = drivers_.find(gid);
    if (it != drivers_.end()) return it->second;
    drivers_.emplace(gid, driver);
    if (recovering) {
      recovered_.emplace(driver.get(), true);
      ++recovering_;
    }
  }
  // Re-read now that the driver is registered: a driver that ran meanwhile
  // may have moved the transaction on since the first read.
  absl::StatusOr<StoredTransaction> fresh = log_->Get(gid);
  if (!fresh.ok()) {
    OnDriverDone(driver.get());
    driver->AbandonAdoption(fresh.status());
    return fresh.status();
  }
  if (options_.adoption_hook) options_.adoption_hook(gid);
  driver->ResumeFrom(*std::move(fresh));
  if (adopted != nullptr) *adopted = true;
  return driver;
}

void Coordinator::FindDriver(const std::string& gid, DriverLookup done) {
  std::shared_ptr<DriverBase> found;
  {
    absl::MutexLock lock(&mu_);
    auto it = drivers_.find(gid);
    if (it != drivers_.end()) found = it->second;
  }
  if (found != nullptr) {
    GiveWhenResumed(std::move(found), std::move(done));
    return;
  }
  executor_->Schedule([this, gid, done = std::move(done)]() mutable {
    StoredTransaction final_record;
    absl::StatusOr<std::shared_ptr<DriverBase>> driver =
        Adopt(gid, /*recovering=*/false, &final_record);
    if (!driver.ok()) {
      std::move(done)(driver.status(), nullptr, nullptr);
    } else if (*driver == nullptr) {
      std::move(done)(absl::OkStatus(), nullptr, &final_record);
    } else {
      // Another thread may still be adopting the driver Adopt() found.
      GiveWhenResumed(*std::move(driver), std::move(done));
    }
  });
}

void Coordinator::GiveWhenResumed(std::shared_ptr<DriverBase> driver,
                                  DriverLookup done) {
  DriverBase* d = driver.get();
  d->WhenResumed([driver = std::move(driver),
                  done = std::move(done)](const absl::Status& status) mutable {
    if (!status.ok()) {
      std::move(done)(status, nullptr, nullptr);
    } else {
      std::move(done)(absl::OkStatus(), std::move(driver), nullptr);
    }
  });
}

namespace {

absl::Status NotInteractive(const std::string& gid, v1::TransactionMode mode) {
  return absl::InvalidArgumentError(
      absl::StrCat("transaction ", gid, " is not interactive (",
                   v1::TransactionMode_Name(mode), ")"));
}

}  // namespace

void Coordinator::Try(const v1::TryRequest& request, TryDone done) {
  absl::Status valid = ValidateTryRequest(request, options_.limits, *pool_);
  if (!valid.ok()) {
    std::move(done)(valid, v1::TryResponse());
    return;
  }
  FindDriver(request.gid(), [this, request, done = std::move(done)](
                                const absl::Status& status,
                                std::shared_ptr<DriverBase> driver,
                                const StoredTransaction* final_record) mutable {
    if (!status.ok()) {
      std::move(done)(status, v1::TryResponse());
    } else if (final_record != nullptr) {
      std::move(done)(
          final_record->txn().mode() != v1::MODE_INTERACTIVE
              ? NotInteractive(request.gid(), final_record->txn().mode())
              : absl::FailedPreconditionError(absl::StrCat(
                    "transaction ", request.gid(), " is already ",
                    v1::TransactionState_Name(final_record->txn().state()))),
          v1::TryResponse());
    } else if (driver->mode() != v1::MODE_INTERACTIVE) {
      std::move(done)(NotInteractive(request.gid(), driver->mode()),
                      v1::TryResponse());
    } else {
      static_cast<TccDriver*>(driver.get())
          ->AddBranch(request.branch(), options_.limits.max_branches,
                      std::move(done));
    }
  });
}

void Coordinator::DecideInteractive(const std::string& gid, bool commit,
                                    DecisionCallback done) {
  absl::Status valid = ValidateGid(gid);
  if (!valid.ok()) {
    std::move(done)(valid, StoredTransaction());
    return;
  }
  FindDriver(gid, [gid, commit, done = std::move(done)](
                      const absl::Status& status,
                      std::shared_ptr<DriverBase> driver,
                      const StoredTransaction* final_record) mutable {
    if (!status.ok()) {
      std::move(done)(status, StoredTransaction());
    } else if (final_record != nullptr) {
      const v1::Transaction& txn = final_record->txn();
      const v1::Outcome wanted = commit ? v1::COMMITTED : v1::ROLLED_BACK;
      if (txn.mode() != v1::MODE_INTERACTIVE) {
        std::move(done)(NotInteractive(gid, txn.mode()), StoredTransaction());
      } else if (txn.outcome() == wanted) {
        std::move(done)(absl::OkStatus(), *final_record);
      } else {
        std::move(done)(
            absl::FailedPreconditionError(
                commit ? absl::StrCat("transaction ", gid, " was rolled back (",
                                      txn.reason(), "); it cannot commit")
                       : absl::StrCat("transaction ", gid,
                                      " is committed; it cannot roll back")),
            StoredTransaction());
      }
    } else if (driver->mode() != v1::MODE_INTERACTIVE) {
      std::move(done)(NotInteractive(gid, driver->mode()), StoredTransaction());
    } else if (commit) {
      static_cast<TccDriver*>(driver.get())->Commit(std::move(done));
    } else {
      static_cast<TccDriver*>(driver.get())->Rollback(std::move(done));
    }
  });
}

void Coordinator::Commit(const v1::CommitRequest& request, CommitDone done) {
  DecideInteractive(request.gid(), /*commit=*/true,
                    AnswerWith<v1::CommitResponse>(std::move(done)));
}

void Coordinator::Rollback(const v1::RollbackRequest& request,
                           RollbackDone done) {
  DecideInteractive(request.gid(), /*commit=*/false,
                    AnswerWith<v1::RollbackResponse>(std::move(done)));
}

void Coordinator::Get(const v1::GetRequest& request, GetDone done) {
  absl::Status valid = ValidateGid(request.gid());
  if (!valid.ok()) {
    std::move(done)(valid, v1::GetResponse());
    return;
  }
  executor_->Schedule(
      [this, gid = request.gid(), done = std::move(done)]() mutable {
        absl::StatusOr<StoredTransaction> record = log_->Get(gid);
        v1::GetResponse response;
        if (!record.ok()) {
          std::move(done)(record.status(), std::move(response));
          return;
        }
        *response.mutable_transaction() = std::move(*record->mutable_txn());
        std::move(done)(absl::OkStatus(), std::move(response));
      });
}

void Coordinator::List(const v1::ListRequest& request, ListDone done) {
  if (request.page_size() < 0 || request.page_size() > 1000) {
    std::move(done)(
        absl::InvalidArgumentError("page_size must be between 0 and 1000"),
        v1::ListResponse());
    return;
  }
  if (request.min_age_ms() < 0) {
    std::move(done)(absl::InvalidArgumentError("min_age_ms is negative"),
                    v1::ListResponse());
    return;
  }
  std::vector<int> states;
  for (int s : request.states()) {
    if (!v1::TransactionState_IsValid(s) ||
        s == v1::TRANSACTION_STATE_UNSPECIFIED) {
      std::move(done)(absl::InvalidArgumentError(
                          absl::StrCat("states has unknown state ", s)),
                      v1::ListResponse());
      return;
    }
    states.push_back(s);
  }
  if (!request.page_token().empty() &&
      !ValidateGid(request.page_token()).ok()) {
    std::move(done)(absl::InvalidArgumentError("page_token is malformed"),
                    v1::ListResponse());
    return;
  }
  executor_->Schedule(
      [this, states = std::move(states),
       created_before =
           clock_->Now() - absl::Milliseconds(request.min_age_ms()),
       page_size = request.page_size() == 0 ? 100 : request.page_size(),
       token = request.page_token(), done = std::move(done)]() mutable {
        absl::StatusOr<ListPage> page =
            log_->List(states, created_before, page_size, token);
        v1::ListResponse response;
        if (!page.ok()) {
          std::move(done)(page.status(), std::move(response));
          return;
        }
        for (StoredTransaction& r : page->transactions) {
          *response.add_transactions() = std::move(*r.mutable_txn());
        }
        response.set_next_page_token(page->next_page_token);
        std::move(done)(absl::OkStatus(), std::move(response));
      });
}

void Coordinator::Start() {
  recovery_thread_ = std::thread([this] {
    NameCurrentThread("tccd-recovery");
    RecoveryLoop();
  });
  scheduler_->RunAfter(options_.purge_interval, [this] { PurgeOnce(); });
}

void Coordinator::RecoveryLoop() {
  constexpr int kBatch = 256;
  std::string after;
  int64_t resumed = 0;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto room = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stopping_.load() || recovering_ < options_.max_recovering;
      };
      mu_.Await(absl::Condition(&room));
      if (stopping_.load()) return;
    }
    std::vector<StoredTransaction> batch;
    std::string next;
    absl::Status s = log_->ScanActive(after, kBatch, &batch, &next);
    if (!s.ok()) {
      LogError("recovery scan failed: ", s.message());
      return;
    }
    for (const StoredTransaction& record : batch) {
      StoredTransaction final_record;
      bool adopted;
      absl::StatusOr<std::shared_ptr<DriverBase>> driver = Adopt(
          record.txn().gid(), /*recovering=*/true, &final_record, &adopted);
      // Not a transaction found already driven (begun since the start).
      if (driver.ok() && adopted) ++resumed;
    }
    if (next.empty()) break;
    after = next;
  }
  recovery_scanned_.store(true);
  if (resumed > 0) LogInfo("recovery: resumed ", resumed, " transactions");
}

void Coordinator::PurgeOnce() {
  if (stopping_.load()) return;
  absl::Time cutoff = clock_->Now() - options_.retention;
  int total = 0;
  for (;;) {
    absl::StatusOr<int> n = log_->PurgeFinishedBefore(cutoff, 1000);
    if (!n.ok()) {
      LogWarning("retention purge failed: ", n.status().message());
      break;
    }
    total += *n;
    if (*n < 1000 || stopping_.load()) break;
  }
  if (total > 0) LogInfo("retention purge: removed ", total, " transactions");
  scheduler_->RunAfter(options_.purge_interval, [this] { PurgeOnce(); });
}

void Coordinator::Stop() {
  if (stopping_.exchange(true)) return;
  {
    absl::MutexLock lock(&mu_);  // wakes the recovery thread
  }
  if (recovery_thread_.joinable()) recovery_thread_.join();
  pool_->WaitIdle();
  for (bool tries : {true, false}) {
    CallBatcher::Counters c = pool_->BatchCounters(tries);
    if (c.batch_calls == 0) continue;
    LogInfo(tries ? "tries: " : "confirms and cancels: ", c.single_calls,
            " calls of their own, ", c.batch_calls, " Batch calls carrying ",
            c.batched_items, " items");
  }
}

}  // namespace tcc::coordinator
