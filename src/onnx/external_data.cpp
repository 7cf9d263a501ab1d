#include "onnx/external_data.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>

namespace kiln::onnx {
namespace {

namespace fs = std::filesystem;

Expected<int64_t> parseNonNegative(const std::string& text, const std::string& key, const std::string& what) {
  int64_t value = -1;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < 0)
    return invalidModel(what + ": external_data '" + key + "' must be a non-negative integer, found '" + text + "'");
  return value;
}

// True when `path` is `base` or lies below it (both already canonical).
bool isInside(const fs::path& path, const fs::path& base) {
  auto p = path.begin();
  for (auto b = base.begin(); b != base.end(); ++b, ++p) {
    if (b->empty()) continue;  // a trailing separator of base
    if (p == path.end() || *p != *b) return false;
  }
  return true;
}

}  // namespace

Status readExternalData(const ::onnx::TensorProto& tensor, const std::string& baseDir, size_t byteCount,
                        void* destination, const std::string& what) {
  std::optional<std::string> location;
  std::optional<int64_t> offset, length;
  for (const auto& entry : tensor.external_data()) {
    if (entry.key() == "location") {
      location = entry.value();
    } else if (entry.key() == "offset") {
      KILN_ASSIGN_OR_RETURN(offset, parseNonNegative(entry.value(), "offset", what));
    } else if (entry.key() == "length") {
      KILN_ASSIGN_OR_RETURN(length, parseNonNegative(entry.value(), "length", what));
    }  // "checksum" and unknown keys carry nothing kiln needs
  }
  if (!location || location->empty()) return invalidModel(what + ": external data has no 'location'");
  if (location->find('\0') != std::string::npos) return invalidModel(what + ": external data location contains a NUL byte");
  if (baseDir.empty())
    return invalidModel(what + ": external data '" + *location +
                        "' cannot be read: no model folder was given (load the model from a file)");

  std::error_code ec;
  const fs::path base = fs::weakly_canonical(fs::path(baseDir), ec);
  if (ec) return ioError(what + ": cannot resolve the model folder '" + baseDir + "': " + ec.message());
  const fs::path resolved = fs::weakly_canonical(base / fs::path(*location), ec);
  if (ec) return invalidModel(what + ": cannot resolve external data path '" + *location + "': " + ec.message());
  if (!isInside(resolved, base))
    return invalidModel(what + ": external data path '" + *location + "' resolves to '" + resolved.string() +
                        "', outside the model folder '" + base.string() + "'");
  if (!fs::is_regular_file(resolved, ec))
    return invalidModel(what + ": external data file '" + resolved.string() + "' does not exist or is not a file");
  const auto fileSize = fs::file_size(resolved, ec);
  if (ec) return ioError(what + ": cannot read the size of '" + resolved.string() + "': " + ec.message());

  const uint64_t start = static_cast<uint64_t>(offset.value_or(0));
  if (start > fileSize)
    return invalidModel(what + ": external data offset " + std::to_string(start) + " is past the end of '" +
                        resolved.string() + "' (" + std::to_string(fileSize) + " bytes)");
  const uint64_t count = length ? static_cast<uint64_t>(*length) : fileSize - start;
  if (count > fileSize - start)
    return invalidModel(what + ": external data offset " + std::to_string(start) + " + length " +
                        std::to_string(count) + " runs past the end of '" + resolved.string() + "' (" +
                        std::to_string(fileSize) + " bytes)");
  if (count != byteCount)
    return invalidModel(what + ": external data length is " + std::to_string(count) + " bytes but the tensor's dims " +
                        "and type need " + std::to_string(byteCount) + " bytes");

  std::ifstream file(resolved, std::ios::binary);
  if (!file) return ioError(what + ": cannot open external data file '" + resolved.string() + "'");
  file.seekg(static_cast<std::streamoff>(start));
  if (byteCount) file.read(static_cast<char*>(destination), static_cast<std::streamsize>(byteCount));
  if (!file || static_cast<size_t>(file.gcount()) != byteCount)
    return ioError(what + ": reading " + std::to_string(byteCount) + " bytes at offset " + std::to_string(start) +
                   " of '" + resolved.string() + "' failed");
  return Status::ok();
}

}  // namespace kiln::onnx
