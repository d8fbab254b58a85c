#ifndef TCC_COMMON_THREAD_NAME_H_
#define TCC_COMMON_THREAD_NAME_H_

#include <string>

#include "absl/strings/string_view.h"

namespace tcc {

// Names the calling thread, as `top -H`, `ps -L`, perf and gdb show it.
// Linux keeps 15 bytes; a longer name loses its end.
void NameCurrentThread(absl::string_view name);

// `name` with `-<index>` appended, shortened from the end of `name` so the
// index survives the 15-byte limit: ("bench-participant", 1) gives
// "bench-partici-1".
std::string IndexedThreadName(absl::string_view name, int index);

// The inverse, for grouping threads by name: "tccd-exec-1" gives
// "tccd-exec"; a name without a "-<digits>" end is returned unchanged.
std::string ThreadNameWithoutIndex(absl::string_view name);

// The calling thread's name ("" if it cannot be read).
std::string CurrentThreadName();

}  // namespace tcc

#endif  // TCC_COMMON_THREAD_NAME_H_
