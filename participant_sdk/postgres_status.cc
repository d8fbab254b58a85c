#include "tcc/participant/postgres_status.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "pqxx/except"

namespace tcc::participant {
namespace {

// Whether a failed statement may succeed when the whole call is retried.
bool IsTransient(const std::string& sqlstate) {
  return sqlstate == "40003" || sqlstate == "57014" ||
         absl::StartsWith(sqlstate, "08") || absl::StartsWith(sqlstate, "53") ||
         absl::StartsWith(sqlstate, "57P");
}

// A lost race with another transaction: retrying is the cure.
bool IsContention(const std::string& sqlstate) {
  return sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03";
}

}  // namespace

absl::Status FromPqxxException(const std::exception& e,
                               absl::string_view context) {
  // PostgreSQL messages end with a newline.
  const absl::string_view detail =
      absl::StripTrailingAsciiWhitespace(absl::string_view(e.what()));
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return absl::UnavailableError(
        absl::StrCat(context, ": commit outcome unknown: ", detail));
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat(context, ": ", detail));
  }
  // libpqxx 6 throws these for SQLSTATE class 40 without keeping the code.
  if (dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "branch busy, retry: ", context, ": ", detail, " (SQLSTATE 40P01)"));
  }
  if (dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "branch busy, retry: ", context, ": ", detail, " (SQLSTATE 40001)"));
  }
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr) {
    return absl::UnavailableError(
        absl::StrCat(context, ": ", detail, " (transaction rolled back)"));
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    if (IsContention(sql->sqlstate())) {
      return absl::UnavailableError(
          absl::StrCat("branch busy, retry: ", context, ": ", detail,
                       " (SQLSTATE ", sql->sqlstate(), ")"));
    }
    if (IsTransient(sql->sqlstate())) {
      return absl::UnavailableError(absl::StrCat(
          context, ": ", detail, " (SQLSTATE ", sql->sqlstate(), ")"));
    }
    return absl::InternalError(absl::StrCat(
        context, ": ", detail, " (SQLSTATE ", sql->sqlstate(), ")"));
  }
  return absl::InternalError(absl::StrCat(context, ": ", detail));
}

}  // namespace tcc::participant
