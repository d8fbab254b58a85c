#ifndef TCC_TESTS_SUPPORT_BANK_CLUSTER_H_
#define TCC_TESTS_SUPPORT_BANK_CLUSTER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bank.grpc.pb.h"
#include "support/cluster.h"

namespace tcc::testing {

// tccd and two bank_server participants, "bank-a" and "bank-b".
class BankCluster : public Cluster {
 public:
  struct Options {
    // "name:balance,..." per bank.
    std::string bank_a_accounts = "alice:5000,carol:5000";
    std::string bank_b_accounts = "bob:5000,dave:5000";
    // Extra tccd flags.
    std::vector<std::string> tccd_flags;
    // Extra fields of both banks' entries in tccd's configuration.
    std::string bank_config_fields;
  };

  explicit BankCluster(Options options);

  void KillBank(const std::string& name) { KillParticipant(name); }
  absl::Status StartBank(const std::string& name) {
    return StartParticipant(name);
  }

  // Every account of a bank, read through the bank's own API.
  absl::StatusOr<std::map<std::string, examples::bank::Account>> Accounts(
      const std::string& bank);
};

}  // namespace tcc::testing

#endif  // TCC_TESTS_SUPPORT_BANK_CLUSTER_H_
