#ifndef TCC_TESTS_CHAOS_CHAOS_CLUSTER_H_
#define TCC_TESTS_CHAOS_CHAOS_CLUSTER_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bank.grpc.pb.h"
#include "chaos/chaos_world.h"
#include "chaos/fault_schedule.h"
#include "order.grpc.pb.h"
#include "support/cluster.h"
#include "support/fault_proxy.h"

namespace tcc::chaos {

// tccd, the two banks and the three shop services on loopback, with a
// FaultProxy between tccd and each participant (tccd's configuration names
// the proxies), and the means to apply a Fault and undo it.
//
// Not thread-safe: one thread applies faults; the read-only accessors
// (Accounts, Inspect, coordinator) may be used once faults have stopped.
class ChaosCluster {
 public:
  struct Options {
    uint64_t seed = 1;
    // tccd's --call_timeout_ms.
    absl::Duration call_timeout = absl::Seconds(1);
    // batch { max_in_flight } for every participant in tccd's
    // configuration; 0: batching off (batch { disabled: true }).
    int batch_max_in_flight = 1;
  };

  static absl::StatusOr<std::unique_ptr<ChaosCluster>> Start(
      const World& world, const Options& options);
  ~ChaosCluster();

  // Applies the start of `fault` (kill, SIGSTOP, proxy mode), or its end
  // (restart, SIGCONT, proxy back to passing). A restart that fails is
  // returned as an error.
  absl::Status Begin(const Fault& fault);
  absl::Status End(const Fault& fault);

  // Processes that exited although no fault had stopped them, each restarted
  // (a crash is a finding, and the run goes on). Empty if none.
  std::vector<std::string> RestartCrashed();

  std::string coordinator_address() const {
    return cluster_.coordinator_address();
  }
  // A participant's own address (not its proxy's).
  std::string participant_address(const std::string& name) const {
    return cluster_.ParticipantAddress(name);
  }
  // Every account of a bank, read through its Bank service.
  absl::StatusOr<std::map<std::string, examples::bank::Account>> Accounts(
      const std::string& bank);
  // Everything a shop service holds.
  absl::StatusOr<examples::order::InspectResponse> Inspect(
      const std::string& service);
  // SIGTERM to tccd; the exit status as from waitpid, -1 if it had to be
  // killed.
  int TerminateTccd() { return cluster_.TerminateTccd(); }
  // Keeps data and logs after exit; returns where they are.
  std::string KeepFiles();
  std::string dir() const { return cluster_.dir().path(); }

  tcc::testing::ProxyStats proxy_stats(const std::string& participant) const {
    return proxies_.at(participant)->stats();
  }

 private:
  ChaosCluster(const World& world, const Options& options);
  absl::Status Init();
  tcc::testing::Subprocess& Process(const std::string& target);
  absl::Status Restart(const std::string& target);

  const Options options_;
  const std::vector<std::string> participants_;
  tcc::testing::Cluster cluster_;
  std::map<std::string, std::unique_ptr<tcc::testing::FaultProxy>> proxies_;
  // Processes a fault has killed and not yet restarted.
  std::set<std::string> down_;
};

}  // namespace tcc::chaos

#endif  // TCC_TESTS_CHAOS_CHAOS_CLUSTER_H_
