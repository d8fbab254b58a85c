#include "support/cluster.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tcc::testing {

Cluster::Cluster(std::vector<Participant> participants,
                 std::vector<std::string> tccd_flags)
    : tccd_flags_(std::move(tccd_flags)) {
  for (auto& p : participants) {
    std::string name = p.name;
    participants_[name].spec = std::move(p);
  }
}

Cluster::~Cluster() {
  tccd_.Kill();
  for (auto& [name, p] : participants_) p.process.Kill();
  if (::testing::Test::HasFailure()) {
    // The temp dir goes away with the test: show what tccd said.
    std::ifstream log(dir_.Child("tccd.log"));
    std::string line;
    std::fprintf(stderr, "---- tccd.log ----\n");
    while (std::getline(log, line)) std::fprintf(stderr, "%s\n", line.c_str());
  }
}

absl::Status Cluster::StartParticipant(const std::string& name) {
  Process& p = participants_.at(name);
  std::string port_file = dir_.Child(name + ".port");
  unlink(port_file.c_str());
  std::vector<std::string> argv = p.spec.argv;
  argv.push_back(p.port == 0 ? "--listen=127.0.0.1:0"
                             : absl::StrCat("--listen=127.0.0.1:", p.port));
  argv.push_back("--data_dir=" + dir_.Child(name + "-data"));
  argv.push_back("--port_file=" + port_file);
  absl::Status s = p.process.Start(argv, dir_.Child(name + ".log"));
  if (!s.ok()) return s;
  absl::StatusOr<int> port = ReadPortFile(port_file);
  if (!port.ok()) return port.status();
  p.port = *port;
  return absl::OkStatus();
}

void Cluster::KillParticipant(const std::string& name) {
  participants_.at(name).process.Kill();
}

std::string Cluster::ParticipantAddress(const std::string& name) const {
  return absl::StrCat("127.0.0.1:", participants_.at(name).port);
}

absl::Status Cluster::Start() {
  absl::Status s = StartParticipants();
  if (!s.ok()) return s;
  return StartCoordinator();
}

absl::Status Cluster::StartParticipants() {
  for (auto& [name, p] : participants_) {
    absl::Status s = StartParticipant(name);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

void Cluster::SetConfigTarget(const std::string& name, std::string target) {
  participants_.at(name).config_target = std::move(target);
}

void Cluster::SetConfigFields(const std::string& name, std::string fields) {
  participants_.at(name).config_fields = std::move(fields);
}

absl::Status Cluster::StartCoordinator() {
  std::ofstream config(dir_.Child("participants.textproto"));
  for (auto& [name, p] : participants_) {
    const std::string target = p.config_target.empty()
                                   ? absl::StrCat("127.0.0.1:", p.port)
                                   : p.config_target;
    config << "participant { name: \"" << name << "\" target: \"" << target
           << "\" " << p.config_fields << " }\n";
  }
  config.close();
  if (!config) {
    return absl::InternalError("cannot write tccd's participants config");
  }
  return StartTccd();
}

absl::Status Cluster::StartTccd(const std::vector<std::string>& env) {
  std::string port_file = dir_.Child("tccd.port");
  unlink(port_file.c_str());
  std::string listen =
      tccd_port_ == 0 ? "127.0.0.1:0" : absl::StrCat("127.0.0.1:", tccd_port_);
  std::vector<std::string> argv = {
      TCC_TCCD_PATH,
      "--listen=" + listen,
      "--data_dir=" + dir_.Child("tccd-data"),
      "--config=" + dir_.Child("participants.textproto"),
      "--port_file=" + port_file,
      "--call_timeout_ms=2000",
      "--retry_initial_ms=20",
      "--retry_max_ms=300"};
  argv.insert(argv.end(), tccd_flags_.begin(), tccd_flags_.end());
  absl::Status s = tccd_.Start(argv, dir_.Child("tccd.log"), env);
  if (!s.ok()) return s;
  absl::StatusOr<int> port = ReadPortFile(port_file);
  if (!port.ok()) return port.status();
  if (tccd_port_ == 0) {
    tccd_port_ = *port;
    coordinator_ = v1::Coordinator::NewStub(grpc::CreateChannel(
        coordinator_address(), grpc::InsecureChannelCredentials()));
  }
  return absl::OkStatus();
}

void Cluster::KillTccd() { tccd_.Kill(); }

int Cluster::TerminateTccd() { return tccd_.Terminate(); }

std::string Cluster::coordinator_address() const {
  return absl::StrCat("127.0.0.1:", tccd_port_);
}

absl::StatusOr<std::map<std::string, v1::Transaction>> Cluster::WaitAllFinal(
    const std::vector<std::string>& gids, absl::Duration limit) {
  std::map<std::string, v1::Transaction> out;
  std::string last_problem;
  bool done = WaitFor(
      [&] {
        for (const std::string& gid : gids) {
          if (out.contains(gid)) continue;
          v1::GetRequest request;
          request.set_gid(gid);
          v1::GetResponse response;
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(5));
          grpc::Status s = coordinator_->Get(&context, request, &response);
          if (!s.ok()) {
            last_problem = absl::StrCat(gid, ": Get: ", s.error_message());
            return false;
          }
          auto state = response.transaction().state();
          if (state != v1::CONFIRMED && state != v1::CANCELLED &&
              state != v1::SUCCEEDED && state != v1::COMPENSATED) {
            last_problem = absl::StrCat(gid, " is still ",
                                        v1::TransactionState_Name(state));
            return false;
          }
          out[gid] = response.transaction();
        }
        return true;
      },
      limit);
  if (!done) return absl::DeadlineExceededError(last_problem);
  return out;
}

}  // namespace tcc::testing
