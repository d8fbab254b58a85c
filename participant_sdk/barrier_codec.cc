#include "barrier_codec.h"

#include <cstdint>

namespace tcc::participant::internal {
namespace {

void AppendBigEndian(uint64_t v, int bytes, std::string* out) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint64_t ReadBigEndian64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

// Unix microseconds; times before the epoch sort as the epoch.
uint64_t ToMicros(absl::Time t) {
  int64_t micros = absl::ToUnixMicros(t);
  return micros < 0 ? 0 : static_cast<uint64_t>(micros);
}

char PhaseByte(Phase phase) {
  switch (phase) {
    case Phase::kTry:
      return 'T';
    case Phase::kConfirm:
      return 'C';
    case Phase::kCancel:
      return 'X';
  }
  return '?';
}

}  // namespace

std::string RecordKey(std::string_view gid, std::string_view branch_id,
                      Phase phase) {
  std::string key;
  key.reserve(1 + 4 + gid.size() + 4 + branch_id.size() + 1);
  key.push_back(kRecordPrefix);
  AppendBigEndian(gid.size(), 4, &key);
  key.append(gid);
  AppendBigEndian(branch_id.size(), 4, &key);
  key.append(branch_id);
  key.push_back(PhaseByte(phase));
  return key;
}

std::string RecordValue(absl::Time written, std::string_view reply) {
  std::string value;
  value.reserve(8 + reply.size());
  AppendBigEndian(ToMicros(written), 8, &value);
  value.append(reply);
  return value;
}

bool ParseRecordValue(std::string_view value, absl::Time* written,
                      std::string* reply) {
  if (value.size() < 8) return false;
  if (written != nullptr) {
    *written = absl::FromUnixMicros(
        static_cast<int64_t>(ReadBigEndian64(value.substr(0, 8))));
  }
  if (reply != nullptr) reply->assign(value.substr(8));
  return true;
}

std::string IndexKey(absl::Time written, std::string_view record_key) {
  std::string key = IndexKeyBound(written);
  key.append(record_key);
  return key;
}

std::string IndexKeyBound(absl::Time t) {
  std::string key;
  key.push_back(kIndexPrefix);
  AppendBigEndian(ToMicros(t), 8, &key);
  return key;
}

std::string_view RecordKeyOfIndexKey(std::string_view index_key) {
  if (index_key.size() <= 9 || index_key[0] != kIndexPrefix) return {};
  return index_key.substr(9);
}

}  // namespace tcc::participant::internal
