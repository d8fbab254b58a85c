// shop_server: one participant service of the order example.
//
//   shop_server --role=inventory --stock=widget:10,gadget:2 ...
//   shop_server --role=orders ...
//   shop_server --role=payment --wallets=alice:100,bob:20 ...
//
// Common flags: --listen=127.0.0.1:0 --data_dir=DIR --port_file=FILE.
// Every effect is journaled in the service's own RocksDB, in the same local
// transaction as the effect, and logged to stderr.

#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "order.grpc.pb.h"
#include "shop_state.h"
#include "tcc/common/logging.h"
#include "tcc/common/server_process.h"
#include "tcc/common/thread_pool.h"
#include "tcc/participant/participant_server.h"

ABSL_FLAG(std::string, role, "", "inventory, orders or payment.");
ABSL_FLAG(std::string, listen, "127.0.0.1:0", "Address to serve on.");
ABSL_FLAG(std::string, data_dir, "", "RocksDB directory. Required.");
ABSL_FLAG(std::string, port_file, "", "Where to write the bound port.");
ABSL_FLAG(std::string, stock, "widget:10,gadget:2",
          "inventory: sku:quantity,... created if absent.");
ABSL_FLAG(std::string, wallets, "alice:100,bob:20",
          "payment: name:balance,... created if absent.");
ABSL_FLAG(int32_t, executor_threads, 8, "Threads running handlers.");

namespace {

using namespace tcc::examples::order;

// Serves Shop.Inspect from the executor (a RocksDB scan may block).
class InspectService final : public Shop::CallbackService {
 public:
  InspectService(rocksdb::TransactionDB* db, tcc::Executor* executor)
      : db_(db), executor_(executor) {}
  grpc::ServerUnaryReactor* Inspect(grpc::CallbackServerContext* context,
                                    const InspectRequest*,
                                    InspectResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    executor_->Schedule([this, reactor, response] {
      absl::StatusOr<InspectResponse> state =
          tcc::examples::order::Inspect(db_);
      if (state.ok()) *response = *std::move(state);
      reactor->Finish(tcc::ToGrpcStatus(state.status()));
    });
    return reactor;
  }

 private:
  rocksdb::TransactionDB* const db_;
  tcc::Executor* const executor_;
};

// "a:1,b:2" -> pairs; false on a malformed list.
bool ParsePairs(const std::string& text,
                std::vector<std::pair<std::string, int64_t>>* out) {
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<std::string> kv = absl::StrSplit(item, ':');
    int64_t n;
    if (kv.size() != 2 || kv[0].empty() || !absl::SimpleAtoi(kv[1], &n)) {
      return false;
    }
    out->emplace_back(kv[0], n);
  }
  return true;
}

absl::Status Seed(const std::string& role, rocksdb::TransactionDB* db) {
  std::vector<std::pair<std::string, int64_t>> items;
  if (role == "inventory") {
    if (!ParsePairs(absl::GetFlag(FLAGS_stock), &items)) {
      return absl::InvalidArgumentError("bad --stock");
    }
    for (const auto& [sku, qty] : items) {
      Stock s;
      s.set_sku(sku);
      s.set_available(qty);
      if (auto st = SeedIfAbsent(db, StockKey(sku), s); !st.ok()) return st;
    }
  } else if (role == "payment") {
    if (!ParsePairs(absl::GetFlag(FLAGS_wallets), &items)) {
      return absl::InvalidArgumentError("bad --wallets");
    }
    for (const auto& [name, balance] : items) {
      Wallet w;
      w.set_name(name);
      w.set_balance(balance);
      if (auto st = SeedIfAbsent(db, WalletKey(name), w); !st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

int Run(const tcc::StopSignals& stop) {
  const std::string role = absl::GetFlag(FLAGS_role);
  if (role != "inventory" && role != "orders" && role != "payment") {
    tcc::LogError("--role must be inventory, orders or payment");
    return 2;
  }
  if (absl::GetFlag(FLAGS_data_dir).empty()) {
    tcc::LogError("--data_dir is required");
    return 2;
  }
  tcc::participant::RocksDbBarrierStoreOptions store_options;
  store_options.path = absl::GetFlag(FLAGS_data_dir);
  auto store = tcc::participant::RocksDbBarrierStore::Open(store_options);
  if (!store.ok()) {
    tcc::LogError(store.status().message());
    return 1;
  }
  if (absl::Status s = Seed(role, (*store)->db()); !s.ok()) {
    tcc::LogError(s.message());
    return 1;
  }
  tcc::ThreadPool executor("shop", absl::GetFlag(FLAGS_executor_threads));
  ShopService service(store->get(), &executor);
  absl::Status registered = role == "inventory" ? RegisterInventory(service)
                            : role == "orders"  ? RegisterOrders(service)
                                                : RegisterPayment(service);
  if (!registered.ok()) {
    tcc::LogError(registered.message());
    return 1;
  }
  InspectService inspect((*store)->db(), &executor);
  tcc::participant::ParticipantServerOptions server_options;
  server_options.listen_address = absl::GetFlag(FLAGS_listen);
  auto server = tcc::participant::ParticipantServer::Start(
      server_options, {&service, &inspect});
  if (!server.ok()) {
    tcc::LogError(server.status().message());
    return 1;
  }
  tcc::LogInfo(role, " serving on ", (*server)->address());
  absl::StatusOr<int> signal_number =
      stop.AnnounceAndWait(absl::GetFlag(FLAGS_port_file), (*server)->port());
  if (!signal_number.ok()) tcc::LogError(signal_number.status().message());
  (*server)->Shutdown();
  executor.Shutdown();
  return signal_number.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // Before any thread starts (see StopSignals).
  const tcc::StopSignals stop = tcc::StopSignals::Block();
  return Run(stop);
}
