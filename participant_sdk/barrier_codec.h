#ifndef TCC_PARTICIPANT_BARRIER_CODEC_H_
#define TCC_PARTICIPANT_BARRIER_CODEC_H_

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "tcc/participant/barrier.h"

// Layout of the "tcc_barrier" column family. Two kinds of keys, told apart by
// their first byte:
//   record: 'r' be32(len gid) gid be32(len branch_id) branch_id phase_byte
//           -> be64(write time, unix micros) reply
//   index:  'w' be64(write time, unix micros) record_key -> ""
// Lengths make the record key unambiguous for any gid/branch id bytes; the
// index orders records by write time so that a purge reads only what it
// deletes.
namespace tcc::participant::internal {

inline constexpr char kRecordPrefix = 'r';
inline constexpr char kIndexPrefix = 'w';

std::string RecordKey(std::string_view gid, std::string_view branch_id,
                      Phase phase);

std::string RecordValue(absl::Time written, std::string_view reply);
// False when `value` is too short to be a record value.
bool ParseRecordValue(std::string_view value, absl::Time* written,
                      std::string* reply);

std::string IndexKey(absl::Time written, std::string_view record_key);
// The first index key of records written at or after `t`.
std::string IndexKeyBound(absl::Time t);
// The record key an index key points to; empty if `index_key` is malformed.
std::string_view RecordKeyOfIndexKey(std::string_view index_key);

}  // namespace tcc::participant::internal

#endif  // TCC_PARTICIPANT_BARRIER_CODEC_H_
