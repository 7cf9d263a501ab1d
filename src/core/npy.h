// NumPy .npy files <-> kiln::Tensor (format versions 1.0, 2.0 and 3.0; little-endian, C order).
// Used by the CLI (--loadInputs, --saveOutputs) and by tests. Every header field is validated: a truncated,
// malformed or hostile file gives a Status naming the file and the field, never a crash or a huge allocation.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln {

/// Reads a whole .npy file. Supported dtypes: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1 ('<' or '|' byte order).
/// Refuses big-endian data, fortran_order True, structured/object dtypes, trailing or missing bytes, and bool
/// bytes other than 0/1.
Expected<Tensor> readNpyFile(const std::string& path);
/// Parses .npy bytes already in memory; `source` names them in messages (a path, "<memory>").
Expected<Tensor> parseNpy(const void* data, size_t size, const std::string& source = "<memory>");

/// Encodes a tensor as a .npy file image (version 1.0, or 2.0 when the header needs more than 64 KiB).
Expected<std::vector<std::byte>> encodeNpy(const Tensor& tensor);
/// Writes a tensor to `path` as .npy.
Status writeNpyFile(const std::string& path, const Tensor& tensor);

/// The NumPy dtype string kiln writes for `type` ("<f4", "|b1", ...); "" when .npy cannot hold it.
std::string npyDescr(DataType type);

}  // namespace kiln
