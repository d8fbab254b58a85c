#ifndef TCC_PARTICIPANT_BARRIER_CODEC_H_
#define TCC_PARTICIPANT_BARRIER_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "barrier_rules.h"
#include "tcc/participant/barrier.h"

// Layout of the "tcc_barrier" column family, format 3. Keys are told apart
// by their first byte:
//   branch: 'b' be32(len gid) gid be32(len branch_id) branch_id
//           -> phase bits (1 try, 2 confirm, 4 cancel)
//              be64(last write time, unix micros) try reply
//   format: 'v' -> be32(format)
// One record per branch, rewritten by each phase, so that a phase locks and
// reads one key and a branch leaves one key behind. Records expire in
// compaction: a compaction filter drops a record whose last write time is
// older than the store's retention (rocksdb_barrier_store.cc).
//
// Format 2 (SDK 0.1.0 from 2026-12-02) had, besides, one index key per
// branch, written with its first record,
//   index:  'w' be64(time, unix micros) branch_key -> ""
// which a purge scanned in time order. Open() of a format 2 store only
// rewrites the format key: format 2 records are format 3 records, and the
// compaction filter drops the index keys wherever it meets them.
//
// Format 1 (SDK 0.1.0 before format 2), migrated by Open(): one record per
// phase,
//   'r' be32(len gid) gid be32(len branch_id) branch_id phase ('T'|'C'|'X')
//       -> be64(write time, unix micros) reply (the Try's)
// each with an index key 'w' be64(write time) record_key. A format 1 record
// key is its branch key with 'r' for 'b' and the phase byte appended.
// Lengths make both key kinds unambiguous for any gid/branch id bytes.
namespace tcc::participant::internal {

inline constexpr char kBranchPrefix = 'b';
inline constexpr char kIndexPrefix = 'w';
inline constexpr char kFormatKey[] = "v";
inline constexpr uint32_t kFormat = 3;
// The oldest format Open() takes as it is, rewriting only the format key.
inline constexpr uint32_t kFormatWithIndex = 2;
inline constexpr char kLegacyRecordPrefix = 'r';

std::string BranchKey(std::string_view gid, std::string_view branch_id);

std::string BranchValue(const BranchRecords& records, absl::Time written,
                        std::string_view try_reply);
// False when `value` is malformed. Any output may be null.
bool ParseBranchValue(std::string_view value, BranchRecords* records,
                      absl::Time* written, std::string* try_reply);

// Formats 1 and 2: the index key of the record `key` written at `written`.
std::string IndexKey(absl::Time written, std::string_view key);

std::string FormatValue(uint32_t format);
// False when `value` is malformed.
bool ParseFormatValue(std::string_view value, uint32_t* format);

// Format 1. For a legacy record key, its branch key and phase; false if
// `key` is not one.
bool ParseLegacyRecordKey(std::string_view key, std::string* branch_key,
                          Phase* phase);
// The write time at the head of a legacy record value, and the rest (the
// reply); false when `value` is too short.
bool ParseLegacyRecordValue(std::string_view value, absl::Time* written,
                            std::string* reply);

}  // namespace tcc::participant::internal

#endif  // TCC_PARTICIPANT_BARRIER_CODEC_H_
