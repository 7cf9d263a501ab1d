// Which axes a ReduceX node reduces, shared by shape inference and the CPU kernel so the two always agree.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::ops {

/// One flag per input axis. `axes` holds the axes input's contents (or the legacy attribute); `axesGiven` is false
/// when neither exists. Empty axes reduce everything unless noop_with_empty_axes=1, which reduces nothing.
Expected<std::vector<bool>> reducedAxes(const ir::Node& node, int64_t rank, std::span<const int64_t> axes,
                                        bool axesGiven, const std::string& where);

}  // namespace kiln::ops
