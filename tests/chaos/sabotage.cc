#include "chaos/sabotage.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bank.pb.h"
#include "grpcpp/grpcpp.h"
#include "order.pb.h"
#include "tcc/v1/participant.grpc.pb.h"
#include "transfer.h"

namespace tcc::chaos {
namespace {

grpc::Status CallParticipant(const std::string& address, const char* phase,
                             const v1::BranchRequest& request) {
  auto stub = v1::Participant::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  context.set_wait_for_ready(true);
  v1::BranchResponse response;
  const std::string p = phase;
  if (p == "Try") return stub->Try(&context, request, &response);
  return stub->Confirm(&context, request, &response);
}

}  // namespace

std::vector<std::string> PlantViolations(ChaosCluster& cluster,
                                         std::vector<Submitted>* submitted) {
  std::vector<std::string> planted;

  // The lie.
  for (Submitted& s : *submitted) {
    if (s.kind == TxnKind::kTransfer && s.told) {
      s.outcome = s.outcome == v1::COMMITTED ? v1::ROLLED_BACK : v1::COMMITTED;
      planted.push_back(absl::StrCat(s.gid, ": client was told"));
      break;
    }
  }

  // The phantom.
  auto coordinator = v1::Coordinator::NewStub(grpc::CreateChannel(
      cluster.coordinator_address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  context.set_wait_for_ready(true);
  v1::ExecuteResponse response;
  const grpc::Status phantom = coordinator->Execute(
      &context,
      examples::bank::MakeTransferRequest("phantom", {"bank-a", "a0"},
                                          {"bank-b", "b0"}, 1),
      &response);
  if (phantom.ok() && response.outcome() == v1::COMMITTED) {
    planted.push_back("tccd lists phantom");
    planted.push_back("bank-a/a0: balance");
  } else {
    planted.push_back("(phantom transfer could not be planted)");
  }

  // The bypass, at a bank.
  v1::BranchRequest credit;
  credit.set_gid("bypass");
  credit.set_branch_id("1");
  credit.set_action("credit");
  examples::bank::TransferLeg leg;
  leg.set_account("b1");
  leg.set_amount(5);
  credit.set_payload(leg.SerializeAsString());
  const std::string bank = cluster.participant_address("bank-b");
  if (CallParticipant(bank, "Try", credit).ok() &&
      CallParticipant(bank, "Confirm", credit).ok()) {
    planted.push_back("bank-b/b1: balance");
  } else {
    planted.push_back("(bypass credit could not be planted)");
  }

  // The bypass, at the shop: a branch the saga never had.
  for (const Submitted& s : *submitted) {
    if (s.kind != TxnKind::kSaga) continue;
    examples::order::OrderDraft draft;
    draft.set_order_id("order-bypass");
    draft.set_customer("c0");
    draft.set_sku("widget");
    draft.set_quantity(1);
    draft.set_amount(1);
    v1::BranchRequest place;
    place.set_gid(s.gid);
    place.set_branch_id("7");
    place.set_action("place");
    place.set_payload(draft.SerializeAsString());
    if (CallParticipant(cluster.participant_address("orders"), "Try", place)
            .ok()) {
      planted.push_back(absl::StrCat(s.gid, ": try:7 applied by orders"));
      planted.push_back("order order-bypass is PLACED, expected no such order");
    } else {
      planted.push_back("(bypass order could not be planted)");
    }
    break;
  }
  return planted;
}

}  // namespace tcc::chaos
