#ifndef TCC_TESTS_CHAOS_WORKLOAD_H_
#define TCC_TESTS_CHAOS_WORKLOAD_H_

#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chaos/chaos_world.h"
#include "shop_requests.h"
#include "tcc/v1/coordinator.grpc.pb.h"
#include "transfer.h"

namespace tcc::chaos {

enum class TxnKind {
  kTransfer,     // bank transfer, one-shot TCC (Execute)
  kSaga,         // shop order as a saga
  kTccPurchase,  // shop order as one-shot TCC (Execute)
  kInteractive,  // shop order as interactive TCC (Begin, Try x3, Commit)
};

const char* TxnKindName(TxnKind kind);

// One transaction a client submitted, and what it was told.
struct Submitted {
  TxnKind kind = TxnKind::kTransfer;
  std::string gid;
  // kTransfer.
  examples::bank::AccountRef from, to;
  int64_t amount = 0;
  // kSaga, kTccPurchase, kInteractive.
  examples::order::Purchase purchase;

  int sends = 0;
  // The coordinator answered OK; `outcome` is what it said.
  bool told = false;
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
  // A status the contract forbids for a re-sent request ("CODE: message"),
  // empty if none.
  std::string forbidden_status;
};

struct WorkloadOptions {
  uint64_t seed = 1;
  std::string coordinator_address;
  int bank_clients = 3;
  int shop_clients = 2;
  // No transaction starts after `stop_at`; an unanswered one is re-sent
  // until `give_up_at`.
  absl::Time stop_at;
  absl::Time give_up_at;
  // Bound on transactions per client, whatever the duration.
  int max_per_client = 200000;
  // Pause between two transactions of one client.
  absl::Duration think = absl::Milliseconds(2);
  // Deadline of one Execute/Saga call, and the saga timeout it asks for.
  absl::Duration call_deadline = absl::Seconds(5);
  absl::Duration saga_timeout = absl::Seconds(4);
};

// Concurrent clients, each a thread: bank clients send transfers, shop
// clients send orders (55% sagas, 25% one-shot TCC, 20% interactive TCC).
// Every transaction has a gid derived from the seed and is re-sent with the
// same gid after any error, until it is answered. Interactive TCC is driven
// as an application would: Begin (re-sent until answered), each Try once
// (a Try is not idempotent: re-sending it adds a branch), then Commit if
// every Try succeeded, else Rollback, re-sent until answered. The transactions'
// content is drawn from the seed; their interleaving is whatever the system
// makes of it.
class Workload {
 public:
  Workload(const World& world, WorkloadOptions options);
  ~Workload();

  void Start();
  // Waits for every client to stop.
  void Join();

  // Every transaction submitted, once joined.
  std::vector<Submitted> Results() const;
  // How many calls ended with each status code (OK included).
  std::map<std::string, int64_t> StatusCounts() const;
  // The first few distinct error messages seen for each status code other
  // than OK, joined by " | ".
  std::map<std::string, std::string> StatusExamples() const;

 private:
  void RunClient(int index, bool bank);
  // Sends `s` until answered, forbidden, or given up.
  void Send(v1::Coordinator::Stub& stub, Submitted& s);
  void SendInteractive(v1::Coordinator::Stub& stub, Submitted& s);
  // Makes `call` with a fresh context until it answers OK (true), answers
  // a code that is not retryable (false, `*status` set), or the run gives
  // up (false, `*status` not OK).
  template <class Call>
  bool CallUntilAnswered(Submitted& s, Call call, grpc::Status* status);
  void Count(const grpc::Status& status);

  const World world_;
  const WorkloadOptions options_;
  std::vector<std::thread> threads_;
  mutable absl::Mutex mu_;
  std::vector<Submitted> results_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> status_counts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> status_examples_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tcc::chaos

#endif  // TCC_TESTS_CHAOS_WORKLOAD_H_
