#ifndef TCC_BENCH_RESERVATION_HANDLERS_H_
#define TCC_BENCH_RESERVATION_HANDLERS_H_

#include "tcc/participant/participant_service.h"
#include "tcc/participant/rocksdb_barrier_store.h"

namespace tcc::bench {

// The benchmark participant's business logic: a small durable write per
// phase, in the same RocksDB transaction as the barrier record.
//   Try:     "hold/<gid>/<branch>" = payload; "reserved/<slot>" += 1
//   Confirm: delete the hold;                 "confirmed/<slot>" += 1
//   Cancel:  delete the hold;                 "reserved/<slot>" -= 1
// A branch's slot (one of 1024 counters) is a hash of gid and branch id, so
// concurrent branches rarely wait for each other's row locks.
participant::ResourceHandlers<rocksdb::Transaction> ReservationHandlers();

}  // namespace tcc::bench

#endif  // TCC_BENCH_RESERVATION_HANDLERS_H_
