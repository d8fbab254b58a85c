#ifndef TCC_COMMON_STATUS_MACROS_H_
#define TCC_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Abseil 20220623 ships no status macros; these are the two the project uses.

#define TCC_STATUS_CONCAT_INNER_(a, b) a##b
#define TCC_STATUS_CONCAT_(a, b) TCC_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` yields a non-OK status.
#define TCC_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::absl::Status tcc_status_ = (expr);       \
    if (!tcc_status_.ok()) return tcc_status_; \
  } while (0)

// `lhs` = value of the StatusOr `rexpr`, or return its status.
#define TCC_ASSIGN_OR_RETURN(lhs, rexpr)                                       \
  TCC_ASSIGN_OR_RETURN_IMPL_(TCC_STATUS_CONCAT_(tcc_statusor_, __LINE__), lhs, \
                             rexpr)
#define TCC_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                               \
  if (!statusor.ok()) return statusor.status();          \
  lhs = std::move(statusor).value()

#endif  // TCC_COMMON_STATUS_MACROS_H_
