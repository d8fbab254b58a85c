// Micro-benchmarks of the pieces on a transaction's critical path:
//   - the coordinator's durable log append (group commit, synced), with
//     1, 16 and 64 writes in flight;
//   - the participant barrier insert (RocksDbBarrierStore::Run of a Try
//     with a trivial body, synced), from 1 and 16 threads;
//   - validation of a 2-branch Execute request.
//
//   micro_bench --benchmark_filter=Log
//
// Data goes to fresh directories under $TMPDIR (or /tmp), removed after.

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "coordinator/participant_pool.h"
#include "coordinator/proto/config.pb.h"
#include "coordinator/request_validator.h"
#include "coordinator/transaction_log.h"
#include "tcc/common/thread_pool.h"
#include "tcc/participant/rocksdb_barrier_store.h"

namespace tcc::bench {
namespace {

// A fresh directory, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    const char* tmp = getenv("TMPDIR");
    path_ = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp",
                         "/tcc_micro.XXXXXX");
    if (mkdtemp(path_.data()) == nullptr) path_.clear();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A TRYING transaction with two branches, as the coordinator first writes
// it.
tcc::internal::StoredTransaction SampleRecord(const std::string& gid) {
  tcc::internal::StoredTransaction record;
  v1::Transaction* txn = record.mutable_txn();
  txn->set_mode(v1::MODE_EXECUTE);
  txn->set_gid(gid);
  txn->set_state(v1::TRYING);
  txn->set_outcome(v1::OUTCOME_PENDING);
  txn->set_create_unix_ms(1700000000000);
  txn->set_deadline_unix_ms(1700000010000);
  for (int i = 1; i <= 2; ++i) {
    v1::Branch* b = txn->add_branches();
    b->set_branch_id(absl::StrCat(i));
    b->set_participant(absl::StrCat("p", i));
    b->set_action("reserve");
    b->set_payload(std::string(64, 'x'));
    b->set_state(v1::BRANCH_PENDING);
  }
  return record;
}

// Appends (synced) with state.range(0) writes kept in flight through the
// asynchronous API, as concurrent transactions do; one iteration is one
// append. Reports appends/s and appends per RocksDB write group.
void BM_TransactionLogAppend(benchmark::State& state) {
  const int in_flight = static_cast<int>(state.range(0));
  TempDir dir;
  ThreadPool callbacks("log-callbacks", 2);
  coordinator::TransactionLogOptions options;
  options.path = dir.path();
  options.callback_executor = &callbacks;
  auto log = coordinator::TransactionLog::Open(options);
  if (!log.ok()) {
    state.SkipWithError(std::string(log.status().message()).c_str());
    return;
  }
  absl::Mutex mu;
  int64_t completed = 0;  // Guarded by mu.
  int64_t failed = 0;     // Guarded by mu.
  int64_t issued = 0;
  auto issue = [&] {
    tcc::internal::StoredTransaction record =
        SampleRecord(absl::StrCat("micro-", issued++));
    (*log)->Write(coordinator::LogWrite::Of(&record, 0, /*sync=*/true),
                  [&](absl::Status s, const tcc::internal::StoredTransaction*) {
                    absl::MutexLock lock(&mu);
                    ++completed;
                    if (!s.ok()) ++failed;
                  });
  };
  int64_t consumed = 0;
  auto one_more_done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return completed > consumed;
  };
  auto all_done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return completed == issued;
  };
  for (int i = 0; i < in_flight; ++i) issue();
  const uint64_t groups_before = (*log)->groups_committed();
  for (auto _ : state) {
    {
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(&one_more_done));
    }
    ++consumed;
    issue();
  }
  const uint64_t groups = (*log)->groups_committed() - groups_before;
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&all_done));
    if (failed > 0) state.SkipWithError("log writes failed");
  }
  (*log)->Close();
  callbacks.Shutdown();
  state.SetItemsProcessed(state.iterations());
  state.counters["appends_per_group"] =
      groups > 0 ? static_cast<double>(state.iterations()) / groups : 0;
}
BENCHMARK(BM_TransactionLogAppend)
    ->Arg(1)
    ->Arg(16)
    ->Arg(64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// One barrier store shared by the threads of a run.
participant::RocksDbBarrierStore* g_store = nullptr;
TempDir* g_store_dir = nullptr;
std::atomic<int64_t> g_next_gid{0};

// RocksDbBarrierStore::Run of a Try whose body does nothing: the barrier's
// own cost (locks, reads, a synced commit). Threads share the store, so
// concurrent commits share fsyncs as they do in a participant's executor.
void BM_BarrierInsertTry(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_store_dir = new TempDir();
    participant::RocksDbBarrierStoreOptions options;
    options.path = g_store_dir->path();
    options.sync = true;
    auto store = participant::RocksDbBarrierStore::Open(options);
    g_store = store.ok() ? store->release() : nullptr;
  }
  participant::BranchCall call;
  call.branch_id = "1";
  call.action = "reserve";
  call.payload = std::string(64, 'x');
  int64_t failures = 0;
  for (auto _ : state) {
    if (g_store == nullptr) {
      state.SkipWithError("cannot open the barrier store");
      break;
    }
    call.gid = absl::StrCat("micro-", g_next_gid.fetch_add(1));
    auto result = g_store->Run(
        call, participant::Phase::kTry,
        [](rocksdb::Transaction&, std::string*) { return absl::OkStatus(); },
        nullptr);
    if (!result.ok()) ++failures;
  }
  if (failures > 0) state.SkipWithError("barrier inserts failed");
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete g_store;
    g_store = nullptr;
    delete g_store_dir;
    g_store_dir = nullptr;
  }
}
BENCHMARK(BM_BarrierInsertTry)
    ->Threads(1)
    ->Threads(16)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// ValidateExecuteRequest of a typical 2-branch request.
void BM_ValidateExecuteRequest(benchmark::State& state) {
  tcc::config::CoordinatorConfig config;
  for (int i = 1; i <= 2; ++i) {
    auto* p = config.add_participant();
    p->set_name(absl::StrCat("p", i));
    // Never dialled: channels connect on the first call only.
    p->set_target("127.0.0.1:1");
  }
  auto pool = coordinator::ParticipantPool::Create(config);
  if (!pool.ok()) {
    state.SkipWithError(std::string(pool.status().message()).c_str());
    return;
  }
  v1::ExecuteRequest request;
  request.set_gid("order-2024-000123");
  request.set_timeout_ms(5000);
  (*request.mutable_metadata())["trace-id"] =
      "4bf92f3577b34da6a3ce929d0e0e4736";
  for (int i = 1; i <= 2; ++i) {
    v1::BranchSpec* b = request.add_branches();
    b->set_participant(absl::StrCat("p", i));
    b->set_action("reserve");
    b->set_payload(std::string(64, 'x'));
  }
  coordinator::RequestLimits limits;
  for (auto _ : state) {
    absl::Status s =
        coordinator::ValidateExecuteRequest(request, limits, **pool);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ValidateExecuteRequest);

}  // namespace
}  // namespace tcc::bench

BENCHMARK_MAIN();
