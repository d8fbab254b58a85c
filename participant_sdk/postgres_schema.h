#ifndef TCC_PARTICIPANT_POSTGRES_SCHEMA_H_
#define TCC_PARTICIPANT_POSTGRES_SCHEMA_H_

#include <string>

#include "absl/status/statusor.h"
#include "pqxx/connection"

// The barrier table's schema and its versioned migrations. Not API.
namespace tcc::participant::internal {

// The quoted names a store's SQL uses.
struct BarrierTableNames {
  std::string table;       // "schema"."table", or "table" without a schema.
  std::string migrations;  // Same, for "<table>_migrations".
  std::string index;       // Unqualified, for "<table>_written_us_idx".
  std::string lock_key;    // Keys the advisory lock serialising migrations.
};

BarrierTableNames MakeBarrierTableNames(pqxx::connection& connection,
                                        const std::string& schema,
                                        const std::string& table);

// Brings the barrier table to `target_version`, applying every migration
// above the recorded version in one transaction, under an advisory lock so
// that processes starting together migrate once. Returns the version found
// before migrating (0 for a new table). May throw pqxx exceptions.
// Errors: FAILED_PRECONDITION when the recorded version is above
// `target_version`.
absl::StatusOr<int> MigrateBarrierTable(pqxx::connection& connection,
                                        const BarrierTableNames& names,
                                        int target_version);

}  // namespace tcc::participant::internal

#endif  // TCC_PARTICIPANT_POSTGRES_SCHEMA_H_
