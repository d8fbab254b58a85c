#include "tcc/participant/rocksdb_status.h"

#include "absl/strings/str_cat.h"

namespace tcc::participant {

absl::Status FromRocksDbStatus(const rocksdb::Status& status,
                               absl::string_view context) {
  if (status.ok()) return absl::OkStatus();
  const std::string detail = status.ToString();
  if (status.IsTimedOut() || status.IsBusy() || status.IsTryAgain() ||
      status.IsLockLimit()) {
    return absl::UnavailableError(
        absl::StrCat("branch busy, retry: ", context, ": ", detail));
  }
  if (status.IsIOError() || status.IsShutdownInProgress()) {
    return absl::UnavailableError(absl::StrCat(context, ": ", detail));
  }
  if (status.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat(context, ": ", detail));
  }
  return absl::InternalError(absl::StrCat(context, ": ", detail));
}

}  // namespace tcc::participant
