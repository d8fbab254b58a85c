// shop_client: places orders through tccd as sagas, as one-shot TCC and as
// interactive TCC, then shows what each service holds and did.
//
//   shop_client --coordinator=127.0.0.1:7000 --inventory=127.0.0.1:7101
//       --orders=127.0.0.1:7102 --payment=127.0.0.1:7103 --demo

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "order.grpc.pb.h"
#include "shop_requests.h"
#include "tcc/v1/coordinator.grpc.pb.h"
#include "tcc/v1/participant.grpc.pb.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7000", "tccd address.");
ABSL_FLAG(std::string, inventory, "", "inventory service address.");
ABSL_FLAG(std::string, orders, "", "orders service address.");
ABSL_FLAG(std::string, payment, "", "payment service address.");
ABSL_FLAG(bool, demo, false, "Run the demo scenario.");

namespace {

using namespace tcc::examples::order;
namespace v1 = tcc::v1;

std::shared_ptr<grpc::Channel> Dial(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

template <typename T>
void WithDeadline(T& context) {
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
}

class Shop {
 public:
  Shop()
      : coordinator_(
            v1::Coordinator::NewStub(Dial(absl::GetFlag(FLAGS_coordinator)))) {
    for (const auto& [name, address] :
         {std::pair<std::string, std::string>{"inventory",
                                              absl::GetFlag(FLAGS_inventory)},
          {"orders", absl::GetFlag(FLAGS_orders)},
          {"payment", absl::GetFlag(FLAGS_payment)}}) {
      services_.push_back({name,
                           tcc::examples::order::Shop::NewStub(Dial(address)),
                           v1::Participant::NewStub(Dial(address))});
    }
  }

  void Print(const std::string& what, const grpc::Status& status,
             v1::Outcome outcome, const std::string& reason) {
    if (!status.ok()) {
      std::printf("  %-46s ERROR %s\n", what.c_str(),
                  status.error_message().c_str());
      return;
    }
    std::printf("  %-46s %s\n", what.c_str(),
                v1::Outcome_Name(outcome).c_str());
    if (!reason.empty()) std::printf("      reason: %s\n", reason.c_str());
  }

  void PlaceSaga(const std::string& gid, const Purchase& p) {
    grpc::ClientContext ctx;
    WithDeadline(ctx);
    v1::SagaResponse r;
    grpc::Status s = coordinator_->Saga(&ctx, SagaPurchase(gid, p), &r);
    Print(absl::StrCat("saga ", gid, ": ", p.customer, " buys ", p.quantity,
                       " ", p.sku, " for ", p.amount),
          s, r.outcome(), r.reason());
  }

  void PlaceTcc(const std::string& gid, const Purchase& p) {
    grpc::ClientContext ctx;
    WithDeadline(ctx);
    v1::ExecuteResponse r;
    grpc::Status s = coordinator_->Execute(&ctx, TccPurchase(gid, p), &r);
    Print(absl::StrCat("tcc  ", gid, ": ", p.customer, " buys ", p.quantity,
                       " ", p.sku, " for ", p.amount),
          s, r.outcome(), r.reason());
  }

  void PlaceInteractive(const std::string& gid, const Purchase& p) {
    {
      grpc::ClientContext ctx;
      WithDeadline(ctx);
      v1::BeginRequest req;
      req.set_gid(gid);
      (*req.mutable_metadata())["trace-id"] = "trace-" + gid;
      v1::BeginResponse r;
      grpc::Status s = coordinator_->Begin(&ctx, req, &r);
      if (!s.ok()) {
        Print("interactive " + gid, s, v1::OUTCOME_UNSPECIFIED, "");
        return;
      }
    }
    for (const v1::BranchSpec& b :
         {InventoryBranch(p, "reserve"), OrderBranch(p, "create"),
          PaymentBranch(p, "charge")}) {
      grpc::ClientContext ctx;
      WithDeadline(ctx);
      v1::TryRequest req;
      req.set_gid(gid);
      *req.mutable_branch() = b;
      v1::TryResponse r;
      grpc::Status s = coordinator_->Try(&ctx, req, &r);
      std::printf("      Try %-10s -> %s%s\n", b.participant().c_str(),
                  s.ok() ? v1::BranchState_Name(r.state()).c_str()
                         : s.error_message().c_str(),
                  r.error().empty() ? "" : (" " + r.error()).c_str());
      // The application's own logic would run here, between Tries.
    }
    grpc::ClientContext ctx;
    WithDeadline(ctx);
    v1::CommitRequest req;
    req.set_gid(gid);
    v1::CommitResponse r;
    grpc::Status s = coordinator_->Commit(&ctx, req, &r);
    Print(absl::StrCat("interactive ", gid, ": ", p.customer, " buys ",
                       p.quantity, " ", p.sku, " for ", p.amount),
          s, r.outcome(), r.reason());
  }

  // Sends payment's compensation of `gid` once more, as a duplicate
  // delivery would: the barrier answers OK and refunds nothing.
  void RepeatRefund(const std::string& gid, const Purchase& p) {
    WaitFinal({gid}, /*quiet=*/true);
    const int64_t before = Balance(p.customer);
    v1::BranchRequest req;
    req.set_gid(gid);
    req.set_branch_id("2");
    req.set_action("pay");
    req.set_payload(PaymentBranch(p, "pay").payload());
    v1::BranchResponse resp;
    grpc::ClientContext ctx;
    WithDeadline(ctx);
    grpc::Status s = services_[2].participant->Cancel(&ctx, req, &resp);
    const int64_t after = Balance(p.customer);
    std::printf(
        "  %s's refund delivered again -> %s; %s's balance %lld before, "
        "%lld after\n",
        gid.c_str(), s.ok() ? "OK" : s.error_message().c_str(),
        p.customer.c_str(), static_cast<long long>(before),
        static_cast<long long>(after));
  }

  int64_t Balance(const std::string& wallet) {
    grpc::ClientContext ctx;
    WithDeadline(ctx);
    InspectResponse r;
    if (!services_[2].shop->Inspect(&ctx, InspectRequest(), &r).ok()) return -1;
    for (const auto& w : r.wallets()) {
      if (w.name() == wallet) return w.balance();
    }
    return -1;
  }

  void WaitFinal(const std::vector<std::string>& gids, bool quiet = false) {
    for (const auto& gid : gids) {
      for (int i = 0; i < 1000; ++i) {
        grpc::ClientContext ctx;
        WithDeadline(ctx);
        v1::GetRequest req;
        req.set_gid(gid);
        v1::GetResponse r;
        if (coordinator_->Get(&ctx, req, &r).ok()) {
          auto st = r.transaction().state();
          if (st == v1::CONFIRMED || st == v1::CANCELLED ||
              st == v1::SUCCEEDED || st == v1::COMPENSATED) {
            if (quiet) break;
            std::printf("  %-5s %s\n", gid.c_str(),
                        v1::TransactionState_Name(st).c_str());
            break;
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }

  void PrintState() {
    std::vector<JournalEntry> journal;
    for (auto& svc : services_) {
      grpc::ClientContext ctx;
      WithDeadline(ctx);
      InspectResponse r;
      grpc::Status s = svc.shop->Inspect(&ctx, InspectRequest(), &r);
      if (!s.ok()) {
        std::printf("  %s: %s\n", svc.name.c_str(), s.error_message().c_str());
        continue;
      }
      for (const auto& x : r.stock()) {
        std::printf(
            "  inventory  %-7s available=%lld reserved=%lld sold=%lld\n",
            x.sku().c_str(), static_cast<long long>(x.available()),
            static_cast<long long>(x.reserved()),
            static_cast<long long>(x.sold()));
      }
      for (const auto& o : r.orders()) {
        std::printf("  orders     %-7s %-9s %s x%lld %s, amount %lld\n",
                    o.order_id().c_str(), o.state().c_str(),
                    o.customer().c_str(), static_cast<long long>(o.quantity()),
                    o.sku().c_str(), static_cast<long long>(o.amount()));
      }
      for (const auto& w : r.wallets()) {
        std::printf("  payment    %-7s balance=%lld frozen=%lld\n",
                    w.name().c_str(), static_cast<long long>(w.balance()),
                    static_cast<long long>(w.frozen()));
      }
      journal.insert(journal.end(), r.journal().begin(), r.journal().end());
    }
    std::sort(journal.begin(), journal.end(),
              [](const JournalEntry& a, const JournalEntry& b) {
                return a.monotonic_ns() < b.monotonic_ns();
              });
    std::printf("\nWhat each service did, in order (its own journal):\n");
    for (const auto& e : journal) {
      std::printf("  %-5s step %s %-9s %-7s %-7s %s\n", e.gid().c_str(),
                  e.branch_id().c_str(), e.service().c_str(), e.phase().c_str(),
                  e.action().c_str(), e.note().c_str());
    }
  }

 private:
  struct Service {
    std::string name;
    std::unique_ptr<tcc::examples::order::Shop::Stub> shop;
    std::unique_ptr<v1::Participant::Stub> participant;
  };
  std::unique_ptr<v1::Coordinator::Stub> coordinator_;
  std::vector<Service> services_;
};

int RunDemo() {
  Shop shop;
  std::printf("Orders:\n");
  Purchase o1{"o-1", "alice", "widget", 2, 30};
  Purchase o2{"o-2", "alice", "gadget", 5, 10};
  Purchase o3{"o-3", "bob", "widget", 1, 50};
  Purchase o4{"o-4", "alice", "widget", 1, 10};
  Purchase o5{"o-5", "bob", "gadget", 1, 100};
  Purchase o6{"o-6", "alice", "gadget", 1, 20};
  shop.PlaceSaga("o-1", o1);
  std::printf(
      "  (o-2: not enough gadgets; step 3 refuses: payment refunded, "
      "order cancelled)\n");
  shop.PlaceSaga("o-2", o2);
  std::printf("  (o-3: bob cannot pay; step 2 refuses: order cancelled)\n");
  shop.PlaceSaga("o-3", o3);
  shop.PlaceTcc("o-4", o4);
  std::printf("  (o-5: bob cannot pay; every branch is cancelled)\n");
  shop.PlaceTcc("o-5", o5);
  std::printf("  (o-6: interactive TCC, one Try at a time, then Commit)\n");
  shop.PlaceInteractive("o-6", o6);
  std::printf(
      "  (o-3 again with the same gid: its stored outcome, nothing "
      "re-run)\n");
  shop.PlaceSaga("o-3", o3);
  shop.RepeatRefund("o-2", o2);
  std::printf("\nFinal states:\n");
  shop.WaitFinal({"o-1", "o-2", "o-3", "o-4", "o-5", "o-6"});
  std::printf("\nWhat each service holds:\n");
  shop.PrintState();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_demo)) {
    std::fprintf(stderr,
                 "usage: shop_client --coordinator=... "
                 "--inventory=... --orders=... --payment=... --demo\n");
    return 2;
  }
  return RunDemo();
}
