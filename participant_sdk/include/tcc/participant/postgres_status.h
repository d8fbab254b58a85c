#ifndef TCC_PARTICIPANT_POSTGRES_STATUS_H_
#define TCC_PARTICIPANT_POSTGRES_STATUS_H_

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tcc::participant {

// Maps an exception thrown by libpqxx (or anything else) to the SDK's error
// contract, so that handlers that catch exceptions themselves report them
// the way PostgresBarrierStore does. `context` names the operation ("reserve
// apple") and prefixes the message.
//   pqxx::in_doubt_error (commit outcome unknown)     -> UNAVAILABLE
//   pqxx::broken_connection (incl. too many clients)  -> UNAVAILABLE
//   pqxx::deadlock_detected, serialization_failure    -> UNAVAILABLE
//                                                        "branch busy, retry"
//   other pqxx::transaction_rollback (class 40)       -> UNAVAILABLE
//   pqxx::sql_error by SQLSTATE:
//     40001 serialization failure, 40P01 deadlock,
//     55P03 lock not available (lock_timeout)         -> UNAVAILABLE
//                                                        "branch busy, retry"
//     40003, 57014 (statement timeout), classes 08
//     (connection), 53 (resources), 57P (shutdown)    -> UNAVAILABLE
//     anything else                                   -> INTERNAL
//   any other exception                               -> INTERNAL
// All of these mean "outcome unknown" to the coordinator, which retries
// Confirm/Cancel and rolls back a Try; a handler that wants to refuse a Try
// checks its condition and returns ABORTED instead of relying on a
// constraint violation.
absl::Status FromPqxxException(const std::exception& e,
                               absl::string_view context);

}  // namespace tcc::participant

#endif  // TCC_PARTICIPANT_POSTGRES_STATUS_H_
