#include "chaos/workload.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"

namespace tcc::chaos {
namespace {

using examples::bank::AccountRef;
using examples::order::Purchase;

// Codes after which a client re-sends the same request: the coordinator is
// down, slow or busy, and the outcome is unknown.
bool Retryable(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
      return true;
    default:
      return false;
  }
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    default:
      return "OTHER";
  }
}

// A channel that reconnects quickly after tccd restarts (gRPC's default
// backoff grows to two minutes).
std::shared_ptr<grpc::Channel> CoordinatorChannel(const std::string& address,
                                                  int index) {
  grpc::ChannelArguments args;
  args.SetInt("tcc.chaos_client", index);  // one connection per client
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

}  // namespace

const char* TxnKindName(TxnKind kind) {
  switch (kind) {
    case TxnKind::kTransfer:
      return "transfer";
    case TxnKind::kSaga:
      return "saga";
    case TxnKind::kTccPurchase:
      return "tcc-purchase";
    case TxnKind::kInteractive:
      return "interactive";
  }
  return "?";
}

Workload::Workload(const World& world, WorkloadOptions options)
    : world_(world), options_(std::move(options)) {}

Workload::~Workload() { Join(); }

void Workload::Start() {
  for (int i = 0; i < options_.bank_clients; ++i) {
    threads_.emplace_back([this, i] { RunClient(i, /*bank=*/true); });
  }
  for (int i = 0; i < options_.shop_clients; ++i) {
    threads_.emplace_back([this, i] { RunClient(i, /*bank=*/false); });
  }
}

void Workload::Join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::vector<Submitted> Workload::Results() const {
  absl::MutexLock lock(&mu_);
  return results_;
}

std::map<std::string, int64_t> Workload::StatusCounts() const {
  absl::MutexLock lock(&mu_);
  return status_counts_;
}

std::map<std::string, std::string> Workload::StatusExamples() const {
  absl::MutexLock lock(&mu_);
  return status_examples_;
}

void Workload::RunClient(int index, bool bank) {
  const int channel_index = bank ? index : options_.bank_clients + index;
  auto stub = v1::Coordinator::NewStub(
      CoordinatorChannel(options_.coordinator_address, channel_index));
  // Content depends on the seed and the client only.
  std::mt19937_64 rng(options_.seed * 1000003 + channel_index);
  std::vector<AccountRef> accounts;
  for (const auto& [bank_name, balances] : world_.banks) {
    for (const auto& [account, balance] : balances) {
      accounts.push_back({bank_name, account});
    }
  }
  std::vector<std::string> customers, skus;
  for (const auto& [name, balance] : world_.wallets) {
    if (name != kBrokeWallet) customers.push_back(name);
  }
  for (const auto& [sku, stock] : world_.stock) {
    if (sku != kRareSku) skus.push_back(sku);
  }

  for (int i = 0; i < options_.max_per_client; ++i) {
    if (absl::Now() >= options_.stop_at) break;
    Submitted s;
    s.gid = absl::StrCat(bank ? "t" : "o", options_.seed, "-", channel_index,
                         "-", i);
    if (bank) {
      s.kind = TxnKind::kTransfer;
      const size_t from = rng() % accounts.size();
      const size_t to =
          (from + 1 + rng() % (accounts.size() - 1)) % accounts.size();
      s.from = accounts[from];
      s.to = accounts[to];
      // One in twenty cannot be afforded: the debit's Try refuses.
      s.amount = rng() % 20 == 0 ? 1000000000 : 1 + rng() % 1000;
    } else {
      const uint64_t kind = rng() % 20;
      s.kind = kind < 11   ? TxnKind::kSaga
               : kind < 16 ? TxnKind::kTccPurchase
                           : TxnKind::kInteractive;
      Purchase& p = s.purchase;
      p.order_id = "order-" + s.gid;
      // One in ten from the empty wallet (payment refuses), one in ten of
      // the SKU out of stock (inventory refuses).
      p.customer =
          rng() % 10 == 0 ? kBrokeWallet : customers[rng() % customers.size()];
      p.sku = rng() % 10 == 0 ? kRareSku : skus[rng() % skus.size()];
      p.quantity = 1 + static_cast<int64_t>(rng() % 5);
      p.amount = 1 + static_cast<int64_t>(rng() % 500);
    }
    Send(*stub, s);
    {
      absl::MutexLock lock(&mu_);
      results_.push_back(std::move(s));
    }
    absl::SleepFor(options_.think);
  }
}

void Workload::Count(const grpc::Status& status) {
  absl::MutexLock lock(&mu_);
  ++status_counts_[CodeName(status.error_code())];
  if (status.ok()) return;
  // A few distinct messages per code.
  std::string& examples = status_examples_[CodeName(status.error_code())];
  if (examples.find(status.error_message()) == std::string::npos &&
      examples.size() < 300) {
    absl::StrAppend(&examples, examples.empty() ? "" : " | ",
                    status.error_message());
  }
}

template <class Call>
bool Workload::CallUntilAnswered(Submitted& s, Call call,
                                 grpc::Status* status) {
  *status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "gave up");
  while (absl::Now() < options_.give_up_at) {
    ++s.sends;
    grpc::ClientContext context;
    context.set_deadline(
        absl::ToChronoTime(absl::Now() + options_.call_deadline));
    // Waits out a reconnection to a restarted tccd instead of failing at
    // once: with fail-fast calls nothing drives the new connection's
    // handshake on a client whose every call fails, and it stalls for
    // seconds (observed: 2-22 s after a kill -9 of tccd).
    context.set_wait_for_ready(true);
    *status = call(&context);
    Count(*status);
    if (status->ok()) return true;
    if (!Retryable(status->error_code())) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

namespace {

std::string Describe(const grpc::Status& status) {
  return absl::StrCat(CodeName(status.error_code()), ": ",
                      status.error_message());
}

}  // namespace

void Workload::Send(v1::Coordinator::Stub& stub, Submitted& s) {
  if (s.kind == TxnKind::kInteractive) {
    SendInteractive(stub, s);
    return;
  }
  v1::ExecuteRequest execute;
  v1::SagaRequest saga;
  switch (s.kind) {
    case TxnKind::kTransfer:
      execute =
          examples::bank::MakeTransferRequest(s.gid, s.from, s.to, s.amount);
      break;
    case TxnKind::kTccPurchase:
      execute = examples::order::TccPurchase(s.gid, s.purchase);
      break;
    case TxnKind::kSaga:
      saga = examples::order::SagaPurchase(s.gid, s.purchase);
      saga.set_timeout_ms(absl::ToInt64Milliseconds(options_.saga_timeout));
      break;
    case TxnKind::kInteractive:
      break;
  }
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
  grpc::Status status;
  const bool answered = CallUntilAnswered(
      s,
      [&](grpc::ClientContext* context) {
        if (s.kind == TxnKind::kSaga) {
          v1::SagaResponse response;
          grpc::Status st = stub.Saga(context, saga, &response);
          outcome = response.outcome();
          return st;
        }
        v1::ExecuteResponse response;
        grpc::Status st = stub.Execute(context, execute, &response);
        outcome = response.outcome();
        return st;
      },
      &status);
  if (answered) {
    s.told = true;
    s.outcome = outcome;
  } else if (!Retryable(status.error_code())) {
    s.forbidden_status = Describe(status);
  }
}

void Workload::SendInteractive(v1::Coordinator::Stub& stub, Submitted& s) {
  const examples::order::Purchase& p = s.purchase;
  v1::BeginRequest begin;
  begin.set_gid(s.gid);
  begin.set_timeout_ms(absl::ToInt64Milliseconds(options_.saga_timeout));
  grpc::Status status;
  if (!CallUntilAnswered(
          s,
          [&](grpc::ClientContext* context) {
            v1::BeginResponse response;
            return stub.Begin(context, begin, &response);
          },
          &status)) {
    if (!Retryable(status.error_code())) {
      s.forbidden_status = "Begin: " + Describe(status);
    }
    return;
  }
  // Each Try once: after an error its outcome is unknown, and the
  // application rolls back.
  bool all_tried = true;
  for (const v1::BranchSpec& branch :
       {examples::order::InventoryBranch(p, "reserve"),
        examples::order::OrderBranch(p, "create"),
        examples::order::PaymentBranch(p, "charge")}) {
    v1::TryRequest request;
    request.set_gid(s.gid);
    *request.mutable_branch() = branch;
    v1::TryResponse response;
    grpc::ClientContext context;
    context.set_deadline(
        absl::ToChronoTime(absl::Now() + options_.call_deadline));
    context.set_wait_for_ready(true);
    ++s.sends;
    status = stub.Try(&context, request, &response);
    Count(status);
    if (status.error_code() == grpc::StatusCode::NOT_FOUND ||
        status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
        status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
      s.forbidden_status = "Try after Begin: " + Describe(status);
    }
    if (!status.ok() || response.state() != v1::BRANCH_TRIED) {
      all_tried = false;
      break;
    }
  }
  // Commit or Rollback, re-sent until answered. A Commit refused with
  // FAILED_PRECONDITION is an answer: tccd rolled the transaction back
  // (timeout, or a restart during the Try phase) and a decision never flips.
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
  const bool answered = CallUntilAnswered(
      s,
      [&](grpc::ClientContext* context) {
        if (all_tried) {
          v1::CommitRequest request;
          request.set_gid(s.gid);
          v1::CommitResponse response;
          grpc::Status st = stub.Commit(context, request, &response);
          outcome = response.outcome();
          return st;
        }
        v1::RollbackRequest request;
        request.set_gid(s.gid);
        v1::RollbackResponse response;
        grpc::Status st = stub.Rollback(context, request, &response);
        outcome = response.outcome();
        return st;
      },
      &status);
  if (answered) {
    s.told = true;
    s.outcome = outcome;
  } else if (all_tried &&
             status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    s.told = true;
    s.outcome = v1::ROLLED_BACK;
  } else if (!Retryable(status.error_code())) {
    s.forbidden_status =
        absl::StrCat(all_tried ? "Commit: " : "Rollback: ", Describe(status));
  }
}

}  // namespace tcc::chaos
