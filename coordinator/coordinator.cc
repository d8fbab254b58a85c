#include "coordinator/coordinator.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tcc/common/logging.h"

namespace tcc::coordinator {

using internal::StoredTransaction;

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
  context_.on_done = [this](const TransactionDriver* d) { OnDriverDone(d); };
}

Coordinator::~Coordinator() { Stop(); }

size_t Coordinator::InFlight() const {
  absl::MutexLock lock(&mu_);
  return drivers_.size();
}

void Coordinator::OnDriverDone(const TransactionDriver* driver) {
  absl::MutexLock lock(&mu_);
  auto it = drivers_.find(driver->gid());
  if (it != drivers_.end() && it->second.get() == driver) drivers_.erase(it);
  auto r = recovered_.find(driver);
  if (r != recovered_.end()) {
    recovered_.erase(r);
    --recovering_;
  }
}

void Coordinator::Execute(const v1::ExecuteRequest& request, ExecuteDone done) {
  absl::Status valid = ValidateExecuteRequest(request, options_.limits, *pool_);
  if (!valid.ok()) {
    std::move(done)(valid, v1::ExecuteResponse());
    return;
  }
  if (stopping_.load()) {
    std::move(done)(absl::UnavailableError("coordinator is shutting down"),
                    v1::ExecuteResponse());
    return;
  }
  const absl::Time now = clock_->Now();
  StoredTransaction record;
  record.set_mode(internal::MODE_EXECUTE);
  v1::Transaction* txn = record.mutable_txn();
  txn->set_gid(request.gid().empty() ? GenerateGid() : request.gid());
  txn->set_state(v1::TRYING);
  txn->set_outcome(v1::OUTCOME_PENDING);
  txn->mutable_metadata()->insert(request.metadata().begin(),
                                  request.metadata().end());
  txn->set_create_unix_ms(ToUnixMs(now));
  absl::Duration timeout = request.timeout_ms() > 0
                               ? absl::Milliseconds(request.timeout_ms())
                               : options_.default_timeout;
  txn->set_deadline_unix_ms(ToUnixMs(now + timeout));
  for (int i = 0; i < request.branches_size(); ++i) {
    const v1::BranchSpec& spec = request.branches(i);
    v1::Branch* b = txn->add_branches();
    b->set_branch_id(absl::StrCat(i + 1));
    b->set_participant(spec.participant());
    b->set_action(spec.action());
    b->set_payload(spec.payload());
    b->set_state(v1::BRANCH_PENDING);
  }

  auto respond = [done = std::move(done)](
                     const absl::Status& status,
                     const StoredTransaction& stored) mutable {
    v1::ExecuteResponse response;
    if (status.ok()) {
      response.set_gid(stored.txn().gid());
      response.set_outcome(stored.txn().outcome());
      response.set_reason(stored.txn().reason());
      *response.mutable_transaction() = stored.txn();
    }
    std::move(done)(status, std::move(response));
  };

  std::shared_ptr<TransactionDriver> driver;
  bool created = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = drivers_.find(txn->gid());
    if (it != drivers_.end()) {
      driver = it->second;
    } else if (drivers_.size() >= static_cast<size_t>(options_.max_in_flight)) {
      std::move(respond)(absl::ResourceExhaustedError(absl::StrCat(
                             "coordinator is driving ", drivers_.size(),
                             " transactions (limit ", options_.max_in_flight,
                             "); retry later")),
                         record);
      return;
    } else {
      driver = std::make_shared<TransactionDriver>(&context_, record);
      drivers_.emplace(txn->gid(), driver);
      created = true;
    }
  }
  if (created) {
    driver->Create(std::move(respond));
  } else {
    driver->Attach(record, std::move(respond));
  }
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
  if (!request.page_token().empty()) {
    absl::Status valid = ValidateGid(request.page_token());
    if (!valid.ok()) {
      std::move(done)(absl::InvalidArgumentError("page_token is malformed"),
                      v1::ListResponse());
      return;
    }
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
  recovery_thread_ = std::thread([this] { RecoveryLoop(); });
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
    for (StoredTransaction& record : batch) {
      std::shared_ptr<TransactionDriver> driver;
      {
        absl::MutexLock lock(&mu_);
        if (drivers_.contains(record.txn().gid())) continue;
        driver = std::make_shared<TransactionDriver>(&context_, record);
        drivers_.emplace(record.txn().gid(), driver);
        recovered_.emplace(driver.get(), true);
        ++recovering_;
      }
      // Re-read now that the driver is registered: a driver that ran
      // meanwhile may have moved the transaction on since the scan.
      absl::StatusOr<StoredTransaction> fresh = log_->Get(record.txn().gid());
      if (!fresh.ok()) {
        OnDriverDone(driver.get());
        continue;
      }
      driver->ResumeFrom(*std::move(fresh));
      ++resumed;
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
}

}  // namespace tcc::coordinator
