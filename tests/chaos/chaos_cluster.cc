#include "chaos/chaos_cluster.h"

#include <signal.h>
#include <sys/wait.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"

namespace tcc::chaos {
namespace {

using tcc::testing::Cluster;
using tcc::testing::FaultProxy;
using tcc::testing::ProxyMode;

std::vector<Cluster::Participant> ParticipantSpecs(const World& world) {
  std::vector<Cluster::Participant> out;
  for (const auto& [bank, accounts] : world.banks) {
    out.push_back(
        {bank,
         {TCC_BANK_SERVER_PATH, "--accounts=" + world.AccountsFlag(bank)}});
  }
  for (const char* role : {"inventory", "orders", "payment"}) {
    out.push_back(
        {role,
         {TCC_SHOP_SERVER_PATH, std::string("--role=") + role,
          "--stock=" + world.StockFlag(), "--wallets=" + world.WalletsFlag()}});
  }
  return out;
}

std::string DescribeExit(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    return absl::StrCat("killed by signal ", WTERMSIG(wait_status));
  }
  if (WIFEXITED(wait_status)) {
    return absl::StrCat("exited with status ", WEXITSTATUS(wait_status));
  }
  return absl::StrCat("ended with wait status ", wait_status);
}

ProxyMode ModeOf(FaultKind kind) {
  switch (kind) {
    case FaultKind::kRefuse:
      return ProxyMode::kRefuse;
    case FaultKind::kCutMidCall:
      return ProxyMode::kCutMidCall;
    case FaultKind::kDropReplies:
      return ProxyMode::kDropReplies;
    default:
      return ProxyMode::kPass;
  }
}

// Reads go straight to the participant, not through its proxy, and wait for
// it to be up. A long run's journals outgrow gRPC's default 4 MiB.
std::shared_ptr<grpc::Channel> ReadChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

grpc::ClientContext* ReadContext(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(20));
  context->set_wait_for_ready(true);
  return context;
}

}  // namespace

ChaosCluster::ChaosCluster(const World& world, const Options& options)
    : options_(options),
      participants_(world.Participants()),
      cluster_(
          ParticipantSpecs(world),
          {absl::StrCat("--call_timeout_ms=",
                        absl::ToInt64Milliseconds(options.call_timeout))}) {}

ChaosCluster::~ChaosCluster() {
  // Nothing may stay stopped: a stopped process ignores SIGTERM.
  Process("tccd").Signal(SIGCONT);
  for (const std::string& name : participants_) {
    cluster_.participant(name).Signal(SIGCONT);
  }
}

absl::StatusOr<std::unique_ptr<ChaosCluster>> ChaosCluster::Start(
    const World& world, const Options& options) {
  std::unique_ptr<ChaosCluster> cluster(new ChaosCluster(world, options));
  absl::Status s = cluster->Init();
  if (!s.ok()) return s;
  return cluster;
}

absl::Status ChaosCluster::Init() {
  absl::Status s = cluster_.StartParticipants();
  if (!s.ok()) return s;
  uint32_t proxy_seed = static_cast<uint32_t>(options_.seed);
  for (const std::string& name : participants_) {
    absl::StatusOr<std::unique_ptr<FaultProxy>> proxy =
        FaultProxy::Start(proxy_seed++);
    if (!proxy.ok()) return proxy.status();
    const std::string address = cluster_.ParticipantAddress(name);
    int port = 0;
    if (!absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port)) {
      return absl::InternalError("bad participant address " + address);
    }
    (*proxy)->SetTarget(port);
    cluster_.SetConfigTarget(name, (*proxy)->address());
    cluster_.SetConfigFields(
        name, options_.batch_max_in_flight > 0
                  ? absl::StrCat("batch { max_in_flight: ",
                                 options_.batch_max_in_flight, " }")
                  : std::string("batch { disabled: true }"));
    proxies_[name] = *std::move(proxy);
  }
  return cluster_.StartCoordinator();
}

tcc::testing::Subprocess& ChaosCluster::Process(const std::string& target) {
  return target == "tccd" ? cluster_.tccd() : cluster_.participant(target);
}

absl::Status ChaosCluster::Restart(const std::string& target) {
  absl::Status s = target == "tccd" ? cluster_.StartTccd()
                                    : cluster_.StartParticipant(target);
  if (s.ok()) down_.erase(target);
  return s;
}

absl::Status ChaosCluster::Begin(const Fault& fault) {
  switch (fault.kind) {
    case FaultKind::kKill:
      Process(fault.target).Kill();
      down_.insert(fault.target);
      return absl::OkStatus();
    case FaultKind::kPause:
      Process(fault.target).Signal(SIGSTOP);
      return absl::OkStatus();
    case FaultKind::kDelay:
      proxies_.at(fault.target)->SetDelay(fault.delay);
      return absl::OkStatus();
    case FaultKind::kRefuse:
    case FaultKind::kCutMidCall:
    case FaultKind::kDropReplies:
      proxies_.at(fault.target)->SetMode(ModeOf(fault.kind));
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status ChaosCluster::End(const Fault& fault) {
  switch (fault.kind) {
    case FaultKind::kKill:
      return Restart(fault.target);
    case FaultKind::kPause:
      Process(fault.target).Signal(SIGCONT);
      return absl::OkStatus();
    case FaultKind::kDelay:
      proxies_.at(fault.target)->SetDelay(absl::ZeroDuration());
      return absl::OkStatus();
    case FaultKind::kRefuse:
    case FaultKind::kCutMidCall:
    case FaultKind::kDropReplies:
      proxies_.at(fault.target)->SetMode(ProxyMode::kPass);
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

std::vector<std::string> ChaosCluster::RestartCrashed() {
  std::vector<std::string> crashed;
  std::vector<std::string> targets = {"tccd"};
  targets.insert(targets.end(), participants_.begin(), participants_.end());
  for (const std::string& target : targets) {
    if (down_.contains(target)) continue;
    int wait_status = 0;
    if (!Process(target).Exited(&wait_status)) continue;
    std::string what =
        absl::StrCat(target, " ", DescribeExit(wait_status), " by itself");
    absl::Status s = Restart(target);
    if (!s.ok()) absl::StrAppend(&what, "; restart failed: ", s.ToString());
    crashed.push_back(std::move(what));
  }
  return crashed;
}

absl::StatusOr<std::map<std::string, examples::bank::Account>>
ChaosCluster::Accounts(const std::string& bank) {
  auto stub = examples::bank::Bank::NewStub(
      ReadChannel(cluster_.ParticipantAddress(bank)));
  grpc::ClientContext context;
  examples::bank::ListAccountsResponse response;
  grpc::Status status = stub->ListAccounts(
      ReadContext(&context), examples::bank::ListAccountsRequest(), &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat(bank, ": ListAccounts: ", status.error_message()));
  }
  std::map<std::string, examples::bank::Account> out;
  for (const auto& a : response.accounts()) out[a.name()] = a;
  return out;
}

absl::StatusOr<examples::order::InspectResponse> ChaosCluster::Inspect(
    const std::string& service) {
  auto stub = examples::order::Shop::NewStub(
      ReadChannel(cluster_.ParticipantAddress(service)));
  grpc::ClientContext context;
  examples::order::InspectResponse response;
  grpc::Status status = stub->Inspect(
      ReadContext(&context), examples::order::InspectRequest(), &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat(service, ": Inspect: ", status.error_message()));
  }
  return response;
}

std::string ChaosCluster::KeepFiles() {
  cluster_.KeepFiles();
  return cluster_.dir().path();
}

}  // namespace tcc::chaos
