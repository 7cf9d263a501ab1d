#include <filesystem>
#include <fstream>

#include "kiln/builder.h"
#include "onnx/importer.h"

namespace kiln {

Expected<Network> parseOnnxFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return ioError("'" + path + "' is not a readable file");
  std::ifstream f(path, std::ios::binary);
  if (!f) return ioError("cannot open '" + path + "'");
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto base = std::filesystem::absolute(path, ec).parent_path().string();
  auto net = parseOnnxBytes(bytes.data(), bytes.size(), base);
  if (!net) return net.status().withContext("'" + path + "'");
  return net;
}

Expected<Network> parseOnnxBytes(const void* data, size_t size, const std::string& baseDir) {
  KILN_ASSIGN_OR_RETURN(auto graph, onnx::importModel(data, size, baseDir));
  return Network(std::move(graph));
}

}  // namespace kiln
