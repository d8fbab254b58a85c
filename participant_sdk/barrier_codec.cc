#include "barrier_codec.h"

#include <cstdint>

namespace tcc::participant::internal {
namespace {

constexpr char kTried = 1;
constexpr char kConfirmed = 2;
constexpr char kCancelled = 4;

void AppendBigEndian(uint64_t v, int bytes, std::string* out) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint64_t ReadBigEndian(std::string_view in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

// Unix microseconds; times before the epoch sort as the epoch.
uint64_t ToMicros(absl::Time t) {
  int64_t micros = absl::ToUnixMicros(t);
  return micros < 0 ? 0 : static_cast<uint64_t>(micros);
}

absl::Time FromMicros(std::string_view eight_bytes) {
  return absl::FromUnixMicros(
      static_cast<int64_t>(ReadBigEndian(eight_bytes, 8)));
}

// Whether `key` (past its first byte) is be32(len) gid be32(len) branch_id
// followed by exactly `tail` bytes.
bool WellFormedBranch(std::string_view key, size_t tail) {
  size_t pos = 1;
  for (int part = 0; part < 2; ++part) {
    if (key.size() < pos + 4) return false;
    const uint64_t len = ReadBigEndian(key.substr(pos, 4), 4);
    pos += 4;
    if (key.size() - pos < len) return false;
    pos += len;
  }
  return key.size() == pos + tail;
}

}  // namespace

std::string BranchKey(std::string_view gid, std::string_view branch_id) {
  std::string key;
  key.reserve(1 + 4 + gid.size() + 4 + branch_id.size());
  key.push_back(kBranchPrefix);
  AppendBigEndian(gid.size(), 4, &key);
  key.append(gid);
  AppendBigEndian(branch_id.size(), 4, &key);
  key.append(branch_id);
  return key;
}

std::string BranchValue(const BranchRecords& records, absl::Time written,
                        std::string_view try_reply) {
  std::string value;
  value.reserve(1 + 8 + try_reply.size());
  value.push_back(static_cast<char>((records.tried ? kTried : 0) |
                                    (records.confirmed ? kConfirmed : 0) |
                                    (records.cancelled ? kCancelled : 0)));
  AppendBigEndian(ToMicros(written), 8, &value);
  value.append(try_reply);
  return value;
}

bool ParseBranchValue(std::string_view value, BranchRecords* records,
                      absl::Time* written, std::string* try_reply) {
  if (value.size() < 9) return false;
  const char bits = value[0];
  if ((bits & ~(kTried | kConfirmed | kCancelled)) != 0 || bits == 0) {
    return false;
  }
  if (records != nullptr) {
    records->tried = (bits & kTried) != 0;
    records->confirmed = (bits & kConfirmed) != 0;
    records->cancelled = (bits & kCancelled) != 0;
  }
  if (written != nullptr) *written = FromMicros(value.substr(1, 8));
  if (try_reply != nullptr) try_reply->assign(value.substr(9));
  return true;
}

std::string IndexKey(absl::Time written, std::string_view key) {
  std::string index_key;
  index_key.push_back(kIndexPrefix);
  AppendBigEndian(ToMicros(written), 8, &index_key);
  index_key.append(key);
  return index_key;
}

std::string FormatValue(uint32_t format) {
  std::string value;
  AppendBigEndian(format, 4, &value);
  return value;
}

bool ParseFormatValue(std::string_view value, uint32_t* format) {
  if (value.size() != 4) return false;
  *format = static_cast<uint32_t>(ReadBigEndian(value, 4));
  return true;
}

bool ParseLegacyRecordKey(std::string_view key, std::string* branch_key,
                          Phase* phase) {
  if (key.empty() || key[0] != kLegacyRecordPrefix ||
      !WellFormedBranch(key, 1)) {
    return false;
  }
  switch (key.back()) {
    case 'T':
      *phase = Phase::kTry;
      break;
    case 'C':
      *phase = Phase::kConfirm;
      break;
    case 'X':
      *phase = Phase::kCancel;
      break;
    default:
      return false;
  }
  branch_key->assign(key.substr(0, key.size() - 1));
  (*branch_key)[0] = kBranchPrefix;
  return true;
}

bool ParseLegacyRecordValue(std::string_view value, absl::Time* written,
                            std::string* reply) {
  if (value.size() < 8) return false;
  *written = FromMicros(value.substr(0, 8));
  reply->assign(value.substr(8));
  return true;
}

}  // namespace tcc::participant::internal
