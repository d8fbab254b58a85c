#include "inventory_handlers.h"

#include <exception>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pqxx/connection"
#include "pqxx/result"
#include "tcc/common/status_macros.h"
#include "tcc/participant/postgres_status.h"

namespace tcc::examples::inventory {
namespace {

using participant::BranchCall;

absl::StatusOr<Reservation> ParseReservation(const std::string& payload) {
  Reservation reservation;
  if (!reservation.ParseFromString(payload)) {
    return absl::InvalidArgumentError("payload is not a Reservation");
  }
  if (reservation.sku().empty()) {
    return absl::InvalidArgumentError("Reservation has no sku");
  }
  if (reservation.quantity() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quantity must be positive, got ", reservation.quantity()));
  }
  return reservation;
}

absl::Status TryReserve(const InventoryTables& tables, const BranchCall& call,
                        pqxx::work& txn, std::string* reply) {
  TCC_ASSIGN_OR_RETURN(Reservation reservation, ParseReservation(call.payload));
  // The conditional update both checks and takes the row lock, so two
  // reservations of the last units cannot both succeed.
  const pqxx::result taken =
      txn.exec_params(absl::StrCat("UPDATE ", tables.stock,
                                   " SET available = available - $2,"
                                   " reserved = reserved + $2"
                                   " WHERE sku = $1 AND available >= $2"),
                      reservation.sku(), reservation.quantity());
  if (taken.affected_rows() == 0) {
    const pqxx::result item = txn.exec_params(
        absl::StrCat("SELECT available FROM ", tables.stock, " WHERE sku = $1"),
        reservation.sku());
    if (item.empty()) {
      return absl::AbortedError(
          absl::StrCat("unknown sku ", reservation.sku()));
    }
    return absl::AbortedError(
        absl::StrCat("insufficient stock: ", reservation.sku(), " has ",
                     item[0][0].as<int64_t>(), " available, needs ",
                     reservation.quantity()));
  }
  txn.exec_params0(absl::StrCat("INSERT INTO ", tables.reservations,
                                " (gid, branch_id, sku, quantity, state)"
                                " VALUES ($1, $2, $3, $4, 'reserved')"),
                   call.gid, call.branch_id, reservation.sku(),
                   reservation.quantity());
  *reply =
      absl::StrCat("reserved ", reservation.quantity(), " ", reservation.sku());
  return absl::OkStatus();
}

// Settles the branch's reservation: marks it `state` and moves its quantity
// from reserved to `destination` ("sold" or "available").
absl::Status Settle(const InventoryTables& tables, const BranchCall& call,
                    pqxx::work& txn, const char* state,
                    const char* destination) {
  TCC_ASSIGN_OR_RETURN(Reservation reservation, ParseReservation(call.payload));
  const pqxx::result settled = txn.exec_params(
      absl::StrCat("UPDATE ", tables.reservations,
                   " SET state = $3 WHERE gid = $1 AND branch_id = $2"
                   " AND state = 'reserved' RETURNING sku, quantity"),
      call.gid, call.branch_id, state);
  if (settled.empty()) {
    return absl::InternalError(absl::StrCat("no open reservation for ",
                                            call.gid, "/", call.branch_id));
  }
  // The row, not the payload, says what Try reserved.
  const std::string sku = settled[0][0].as<std::string>();
  const int64_t quantity = settled[0][1].as<int64_t>();
  txn.exec_params0(
      absl::StrCat("UPDATE ", tables.stock, " SET reserved = reserved - $2, ",
                   destination, " = ", destination, " + $2 WHERE sku = $1"),
      sku, quantity);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<InventoryTables> CreateInventorySchema(
    const std::string& conninfo, const std::string& schema) {
  if (schema.empty()) return absl::InvalidArgumentError("empty schema name");
  try {
    pqxx::connection connection(conninfo);
    InventoryTables tables;
    tables.schema = connection.quote_name(schema);
    tables.stock = tables.schema + "." + connection.quote_name("stock");
    tables.reservations =
        tables.schema + "." + connection.quote_name("reservations");
    pqxx::work txn(connection);
    txn.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))",
                    "inventory_sql schema " + schema);
    txn.exec0("CREATE SCHEMA IF NOT EXISTS " + tables.schema);
    txn.exec0(absl::StrCat(
        "CREATE TABLE IF NOT EXISTS ", tables.stock,
        " (sku text PRIMARY KEY,"
        " available bigint NOT NULL CHECK (available >= 0),"
        " reserved bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),"
        " sold bigint NOT NULL DEFAULT 0 CHECK (sold >= 0))"));
    txn.exec0(absl::StrCat("CREATE TABLE IF NOT EXISTS ", tables.reservations,
                           " (gid text NOT NULL, branch_id text NOT NULL,"
                           " sku text NOT NULL REFERENCES ",
                           tables.stock,
                           ","
                           " quantity bigint NOT NULL CHECK (quantity > 0),"
                           " state text NOT NULL"
                           " CHECK (state IN ('reserved', 'sold', 'released')),"
                           " PRIMARY KEY (gid, branch_id))"));
    txn.commit();
    return tables;
  } catch (const std::exception& e) {
    return participant::FromPqxxException(e, "create inventory schema");
  }
}

InventoryHandlers ReserveHandlers(const InventoryTables& tables) {
  InventoryHandlers handlers;
  handlers.try_fn = [tables](const BranchCall& call, pqxx::work& txn,
                             std::string* reply) {
    return TryReserve(tables, call, txn, reply);
  };
  handlers.confirm_fn = [tables](const BranchCall& call, pqxx::work& txn,
                                 std::string*) {
    return Settle(tables, call, txn, "sold", "sold");
  };
  handlers.cancel_fn = [tables](const BranchCall& call, pqxx::work& txn,
                                std::string*) {
    return Settle(tables, call, txn, "released", "available");
  };
  return handlers;
}

absl::Status RegisterInventoryActions(
    participant::ParticipantService<participant::PostgresBarrierStore>* service,
    const InventoryTables& tables) {
  return service->Register("reserve", ReserveHandlers(tables));
}

absl::StatusOr<bool> AddItemIfAbsent(participant::PostgresBarrierStore* store,
                                     const InventoryTables& tables,
                                     const std::string& sku,
                                     int64_t available) {
  if (sku.empty()) return absl::InvalidArgumentError("empty sku");
  if (available < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("negative quantity for ", sku));
  }
  bool added = false;
  TCC_RETURN_IF_ERROR(store->Transact([&](pqxx::work& txn) {
    added = txn.exec_params(absl::StrCat("INSERT INTO ", tables.stock,
                                         " (sku, available) VALUES ($1, $2)"
                                         " ON CONFLICT (sku) DO NOTHING"),
                            sku, available)
                .affected_rows() == 1;
    return absl::OkStatus();
  }));
  return added;
}

absl::StatusOr<std::vector<StockLevel>> ListStock(
    participant::PostgresBarrierStore* store, const InventoryTables& tables) {
  std::vector<StockLevel> levels;
  TCC_RETURN_IF_ERROR(store->Transact([&](pqxx::work& txn) {
    for (const pqxx::row& row :
         txn.exec(absl::StrCat("SELECT sku, available, reserved, sold FROM ",
                               tables.stock, " ORDER BY sku"))) {
      levels.push_back({row[0].as<std::string>(), row[1].as<int64_t>(),
                        row[2].as<int64_t>(), row[3].as<int64_t>()});
    }
    return absl::OkStatus();
  }));
  return levels;
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> ParseStockList(
    absl::string_view spec) {
  std::vector<std::pair<std::string, int64_t>> items;
  if (spec.empty()) return items;
  for (absl::string_view entry : absl::StrSplit(spec, ',')) {
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(entry, absl::MaxSplits(':', 1));
    int64_t quantity = 0;
    if (parts.first.empty() || !absl::SimpleAtoi(parts.second, &quantity) ||
        quantity < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad stock entry \"", entry, "\" (want sku:quantity)"));
    }
    items.emplace_back(std::string(parts.first), quantity);
  }
  return items;
}

}  // namespace tcc::examples::inventory
