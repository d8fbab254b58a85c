#ifndef TCC_PARTICIPANT_ROCKSDB_STATUS_H_
#define TCC_PARTICIPANT_ROCKSDB_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rocksdb/status.h"

namespace tcc::participant {

// Maps a RocksDB status to the SDK's error contract, so that handlers report
// storage failures the way RocksDbBarrierStore does. `context` names the
// operation ("read account alice") and prefixes the message.
//   OK                                      -> OK
//   TimedOut, Busy (lock conflict, deadlock),
//   TryAgain, lock limit                    -> UNAVAILABLE "branch busy, retry"
//   IOError, ShutdownInProgress             -> UNAVAILABLE
//   NotFound                                -> NOT_FOUND
//   anything else (Corruption, ...)         -> INTERNAL
// All of these except OK mean "outcome unknown" to the coordinator, which
// retries Confirm/Cancel and rolls back a Try.
absl::Status FromRocksDbStatus(const rocksdb::Status& status,
                               absl::string_view context);

}  // namespace tcc::participant

#endif  // TCC_PARTICIPANT_ROCKSDB_STATUS_H_
