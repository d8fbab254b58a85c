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

// Column family options for the data above, which is only ever read and
// written one key at a time: a hash memtable (one bucket per key, RocksDB's
// hash linked list) instead of the default skip list, whose searches for
// keys inserted in random order were ~17 % of a participant's CPU, and a
// 16 MiB memtable, which a flush sorts faster. A service that scans its data
// keeps the skip list.
rocksdb::ColumnFamilyOptions ReservationColumnFamilyOptions();

}  // namespace tcc::bench

#endif  // TCC_BENCH_RESERVATION_HANDLERS_H_
