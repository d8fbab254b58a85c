#ifndef TCC_EXAMPLES_INVENTORY_SQL_INVENTORY_HANDLERS_H_
#define TCC_EXAMPLES_INVENTORY_SQL_INVENTORY_HANDLERS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "inventory.pb.h"
#include "pqxx/transaction"
#include "tcc/participant/participant_service.h"
#include "tcc/participant/postgres_barrier_store.h"

// The inventory's TCC action and its tables, in a PostgreSQL schema of its
// own (which also holds the SDK's barrier table):
//   stock(sku, available, reserved, sold): available + reserved + sold only
//     changes when stock is added;
//   reservations(gid, branch_id, sku, quantity, state): one row per tried
//     branch, "reserved", then "sold" or "released"; kept as the record of
//     what happened.
namespace tcc::examples::inventory {

using InventoryHandlers = participant::ResourceHandlers<pqxx::work>;

// The quoted, schema-qualified names of the tables.
struct InventoryTables {
  std::string schema;
  std::string stock;
  std::string reservations;
};

// Creates `schema` and the tables if absent. Idempotent, and safe when
// several servers start at once (an advisory lock serialises them).
// Errors: INVALID_ARGUMENT for an empty schema name; UNAVAILABLE when the
// server cannot be reached; INTERNAL for other database errors.
absl::StatusOr<InventoryTables> CreateInventorySchema(
    const std::string& conninfo, const std::string& schema);

// "reserve" (payload: Reservation):
//   Try moves the quantity from available to reserved and records the
//     reservation; ABORTED "insufficient stock: ..." when less is available,
//     ABORTED for an unknown sku;
//   Confirm moves it from reserved to sold;
//   Cancel moves it back to available.
// Every handler answers INVALID_ARGUMENT for a payload that is not a
// Reservation with a sku and a positive quantity; Confirm and Cancel answer
// INTERNAL if the reservation their Try made is missing (the coordinator
// keeps retrying; nothing is changed). Database errors follow
// participant::FromPqxxException (the store maps exceptions that escape).
InventoryHandlers ReserveHandlers(const InventoryTables& tables);

// Registers "reserve" on `service`.
absl::Status RegisterInventoryActions(
    participant::ParticipantService<participant::PostgresBarrierStore>* service,
    const InventoryTables& tables);

// Adds `sku` with `available` units unless it exists; returns whether it was
// added. Errors: INVALID_ARGUMENT for an empty sku or a negative quantity;
// database errors as PostgresBarrierStore::Transact.
absl::StatusOr<bool> AddItemIfAbsent(participant::PostgresBarrierStore* store,
                                     const InventoryTables& tables,
                                     const std::string& sku, int64_t available);

// One row of the stock table.
struct StockLevel {
  std::string sku;
  int64_t available = 0;
  int64_t reserved = 0;
  int64_t sold = 0;
};

// Every item, ordered by sku, from one snapshot.
absl::StatusOr<std::vector<StockLevel>> ListStock(
    participant::PostgresBarrierStore* store, const InventoryTables& tables);

// Parses "apple:100,pear:50" (empty string: no items).
// Errors: INVALID_ARGUMENT naming the malformed entry.
absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> ParseStockList(
    absl::string_view spec);

}  // namespace tcc::examples::inventory

#endif  // TCC_EXAMPLES_INVENTORY_SQL_INVENTORY_HANDLERS_H_
