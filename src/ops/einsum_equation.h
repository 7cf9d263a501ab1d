// Einsum equations ("bij,bjk->bik", "...ii->...i", implicit output) parsed into one label per operand axis, shared
// by shape inference and the CPU kernel so the two always agree.
#pragma once

#include <string>
#include <vector>

#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::ops {

struct EinsumPlan {
  int labelCount = 0;                           // distinct labels (letters plus one per ellipsis dim)
  std::vector<int64_t> labelSize;               // size of each label
  std::vector<std::vector<int>> operandLabels;  // per operand, per axis: its label
  std::vector<int> outputLabels;                // per output axis: its label
  Dims outputDims;
};

/// Validates `equation` against the operand shapes; errors start with `where`.
Expected<EinsumPlan> planEinsum(const std::string& equation, const std::vector<Dims>& shapes, const std::string& where);

}  // namespace kiln::ops
