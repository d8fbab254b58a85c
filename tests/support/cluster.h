#ifndef TCC_TESTS_SUPPORT_CLUSTER_H_
#define TCC_TESTS_SUPPORT_CLUSTER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "support/scoped_temp_dir.h"
#include "support/subprocess.h"
#include "tcc/v1/coordinator.grpc.pb.h"

namespace tcc::testing {

// Real processes on loopback: tccd and named participant processes, each
// with its own data directory under one temp dir. Participants keep their
// port across restarts, so tccd's configuration stays valid.
class Cluster {
 public:
  struct Participant {
    std::string name;
    // Binary and flags; the cluster adds --listen, --data_dir, --port_file.
    std::vector<std::string> argv;
  };

  Cluster(std::vector<Participant> participants,
          std::vector<std::string> tccd_flags = {});
  ~Cluster();

  // Starts every participant, writes tccd's configuration, starts tccd.
  // Equivalent to StartParticipants() then StartCoordinator().
  absl::Status Start();
  // The two halves of Start(), for a caller that needs the participants'
  // ports before tccd is configured (e.g. to put a proxy in between).
  absl::Status StartParticipants();
  absl::Status StartCoordinator();
  // The target tccd's configuration gives for participant `name` instead of
  // its own address (e.g. a FaultProxy in front of it). Call before
  // StartCoordinator().
  void SetConfigTarget(const std::string& name, std::string target);
  // Extra fields of participant `name`'s entry in tccd's configuration
  // (text format, e.g. "batch { max_in_flight: 1 }"). Call before
  // StartCoordinator().
  void SetConfigFields(const std::string& name, std::string fields);
  // Keeps the directory (data and logs) after the cluster is destroyed.
  void KeepFiles() { dir_.Keep(); }

  // tccd control. StartTccd reuses the first run's port. `env` entries
  // ("NAME=value") are added to tccd's environment (e.g. TCC_CRASH_AT).
  absl::Status StartTccd(const std::vector<std::string>& env = {});
  void KillTccd();
  int TerminateTccd();
  Subprocess& tccd() { return tccd_; }

  absl::Status StartParticipant(const std::string& name);
  void KillParticipant(const std::string& name);
  // The participant's process (e.g. to Signal() it).
  Subprocess& participant(const std::string& name) {
    return participants_.at(name).process;
  }
  std::string ParticipantAddress(const std::string& name) const;

  v1::Coordinator::Stub* coordinator() { return coordinator_.get(); }
  std::string coordinator_address() const;
  const ScopedTempDir& dir() const { return dir_; }

  // Waits until every gid in `gids` is in a final state; returns the final
  // transactions, or an error naming one that did not end.
  absl::StatusOr<std::map<std::string, v1::Transaction>> WaitAllFinal(
      const std::vector<std::string>& gids,
      absl::Duration limit = absl::Seconds(60));

 private:
  struct Process {
    Participant spec;
    int port = 0;
    // What tccd's configuration names as its target; empty: 127.0.0.1:port.
    std::string config_target;
    std::string config_fields;
    Subprocess process;
  };

  std::vector<std::string> tccd_flags_;
  ScopedTempDir dir_;
  std::map<std::string, Process> participants_;
  Subprocess tccd_;
  int tccd_port_ = 0;
  std::unique_ptr<v1::Coordinator::Stub> coordinator_;
};

}  // namespace tcc::testing

#endif  // TCC_TESTS_SUPPORT_CLUSTER_H_
