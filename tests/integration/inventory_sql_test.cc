// Real tccd and two inventory_sql_server processes whose stock lives in
// PostgreSQL (the real server of the ctest fixture "postgres"), each in a
// schema of its own. Concurrent orders reserve stock at both warehouses;
// some are refused for lack of stock; tccd is killed with SIGKILL in the
// middle and restarted, and so is one warehouse. Every transaction ends, each
// branch's effect is applied exactly once, no unit is created or lost
// (available + reserved + sold stays the initial stock), nothing stays
// reserved, and the sold units are exactly those of the committed orders.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "inventory.pb.h"
#include "pqxx/connection"
#include "pqxx/result"
#include "pqxx/transaction"
#include "support/cluster.h"
#include "support/postgres_test_server.h"

namespace tcc::testing {
namespace {

constexpr int64_t kInitialApples = 400;
constexpr int64_t kInitialPears = 300;

struct Order {
  std::string gid;
  int64_t apples = 0;  // At warehouse A.
  int64_t pears = 0;   // At warehouse B.
  bool told = false;   // The client received an outcome.
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
};

std::string ReservationPayload(const std::string& sku, int64_t quantity) {
  examples::inventory::Reservation reservation;
  reservation.set_sku(sku);
  reservation.set_quantity(quantity);
  return reservation.SerializeAsString();
}

v1::ExecuteRequest OrderRequest(const Order& order) {
  v1::ExecuteRequest request;
  request.set_gid(order.gid);
  v1::BranchSpec* a = request.add_branches();
  a->set_participant("warehouse-a");
  a->set_action("reserve");
  a->set_payload(ReservationPayload("apple", order.apples));
  v1::BranchSpec* b = request.add_branches();
  b->set_participant("warehouse-b");
  b->set_action("reserve");
  b->set_payload(ReservationPayload("pear", order.pears));
  return request;
}

// Sends orders from several client threads. Each order is re-sent with the
// same gid until the coordinator answers (it is down at times).
class OrderLoad {
 public:
  OrderLoad(Cluster* cluster, int clients, int per_client)
      : cluster_(cluster), clients_(clients), per_client_(per_client) {}

  void Run() {
    std::vector<std::thread> threads;
    for (int c = 0; c < clients_; ++c) {
      threads.emplace_back([this, c] { Client(c); });
    }
    for (std::thread& t : threads) t.join();
  }
  int completed() const { return completed_.load(); }
  std::vector<Order> orders() {
    std::lock_guard<std::mutex> lock(mu_);
    return orders_;
  }

 private:
  void Client(int c) {
    std::mt19937 rng(7 + c);
    for (int i = 0; i < per_client_; ++i) {
      Order order;
      order.gid = absl::StrCat("inv-c", c, "-", i);
      // Mostly small orders (stock runs out part way through, so later ones
      // are refused), now and then one larger than any stock.
      order.apples = rng() % 12 == 0 ? 100000 : 1 + rng() % 9;
      order.pears = 1 + rng() % 9;
      const v1::ExecuteRequest request = OrderRequest(order);
      for (int attempt = 0; attempt < 600; ++attempt) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(10));
        v1::ExecuteResponse response;
        grpc::Status status =
            cluster_->coordinator()->Execute(&context, request, &response);
        if (status.ok()) {
          order.told = true;
          order.outcome = response.outcome();
          break;
        }
        ASSERT_TRUE(status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                    status.error_code() ==
                        grpc::StatusCode::DEADLINE_EXCEEDED ||
                    status.error_code() == grpc::StatusCode::CANCELLED)
            << order.gid << ": " << status.error_message();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        orders_.push_back(order);
      }
      completed_.fetch_add(1);
    }
  }

  Cluster* const cluster_;
  const int clients_, per_client_;
  std::atomic<int> completed_{0};
  std::mutex mu_;
  std::vector<Order> orders_;
};

struct Warehouse {
  int64_t available = 0, reserved = 0, sold = 0;
  // gid -> state of its reservation.
  std::map<std::string, std::string> reservations;
};

// Reads a warehouse's tables directly.
Warehouse ReadWarehouse(const std::string& conninfo, const std::string& schema,
                        const std::string& sku) {
  Warehouse w;
  pqxx::connection connection(conninfo);
  pqxx::work txn(connection);
  const std::string prefix = txn.quote_name(schema) + ".";
  pqxx::row stock = txn.exec_params1("SELECT available, reserved, sold FROM " +
                                         prefix + "stock WHERE sku = $1",
                                     sku);
  w.available = stock[0].as<int64_t>();
  w.reserved = stock[1].as<int64_t>();
  w.sold = stock[2].as<int64_t>();
  for (const pqxx::row& row :
       txn.exec("SELECT gid, state FROM " + prefix + "reservations")) {
    w.reservations[row[0].as<std::string>()] = row[1].as<std::string>();
  }
  return w;
}

TEST(InventorySqlTest, OrdersEndConsistentAcrossKill9OfTccdAndAWarehouse) {
  absl::StatusOr<std::string> conninfo = TestPostgresConninfo();
  ASSERT_TRUE(conninfo.ok()) << conninfo.status();
  // Schemas with fresh names; the servers create their tables in them.
  auto schema_a = ScopedPostgresSchema::Create();
  auto schema_b = ScopedPostgresSchema::Create();
  ASSERT_TRUE(schema_a.ok() && schema_b.ok());
  auto warehouse = [&](const std::string& schema, const std::string& stock) {
    return std::vector<std::string>{TCC_INVENTORY_SQL_SERVER_PATH,
                                    "--postgres=" + *conninfo,
                                    "--schema=" + schema, "--stock=" + stock};
  };
  Cluster cluster(
      {{"warehouse-a",
        warehouse((*schema_a)->name(), absl::StrCat("apple:", kInitialApples))},
       {"warehouse-b",
        warehouse((*schema_b)->name(), absl::StrCat("pear:", kInitialPears))}});
  ASSERT_TRUE(cluster.Start().ok());

  OrderLoad load(&cluster, /*clients=*/6, /*per_client=*/25);
  std::thread chaos([&] {
    while (load.completed() < 40) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    cluster.KillTccd();
    ASSERT_TRUE(cluster.StartTccd().ok());
    while (load.completed() < 80) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    // Its open PostgreSQL transactions die with it; Tries in flight roll
    // back, Confirms and Cancels are retried until it is back.
    cluster.KillParticipant("warehouse-b");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_TRUE(cluster.StartParticipant("warehouse-b").ok());
  });
  load.Run();
  chaos.join();

  const std::vector<Order> orders = load.orders();
  std::vector<std::string> gids;
  for (const Order& order : orders) gids.push_back(order.gid);
  auto final_txns = cluster.WaitAllFinal(gids);
  ASSERT_TRUE(final_txns.ok()) << final_txns.status();

  const Warehouse a = ReadWarehouse(*conninfo, (*schema_a)->name(), "apple");
  const Warehouse b = ReadWarehouse(*conninfo, (*schema_b)->name(), "pear");
  int64_t apples_sold = 0, pears_sold = 0;
  int committed = 0, rolled_back = 0;
  for (const Order& order : orders) {
    const v1::Transaction& t = final_txns->at(order.gid);
    if (order.told) {
      EXPECT_EQ(order.outcome, t.outcome()) << order.gid;
    }
    auto state_at = [&](const Warehouse& w) {
      auto it = w.reservations.find(order.gid);
      return it == w.reservations.end() ? std::string("none") : it->second;
    };
    if (t.state() == v1::CONFIRMED) {
      ++committed;
      apples_sold += order.apples;
      pears_sold += order.pears;
      EXPECT_EQ(state_at(a), "sold") << order.gid;
      EXPECT_EQ(state_at(b), "sold") << order.gid;
    } else {
      ++rolled_back;
      // Refused or never tried at a warehouse: no reservation; tried, then
      // cancelled: released.
      EXPECT_NE(state_at(a), "sold") << order.gid;
      EXPECT_NE(state_at(a), "reserved") << order.gid;
      EXPECT_NE(state_at(b), "sold") << order.gid;
      EXPECT_NE(state_at(b), "reserved") << order.gid;
    }
  }
  EXPECT_GT(committed, 0);
  EXPECT_GT(rolled_back, 0);
  std::printf(
      "%d orders committed, %d rolled back; sold %lld apples, %lld "
      "pears\n",
      committed, rolled_back, static_cast<long long>(apples_sold),
      static_cast<long long>(pears_sold));

  EXPECT_EQ(a.available + a.reserved + a.sold, kInitialApples);
  EXPECT_EQ(b.available + b.reserved + b.sold, kInitialPears);
  EXPECT_EQ(a.reserved, 0);
  EXPECT_EQ(b.reserved, 0);
  EXPECT_EQ(a.sold, apples_sold);
  EXPECT_EQ(b.sold, pears_sold);
}

}  // namespace
}  // namespace tcc::testing
