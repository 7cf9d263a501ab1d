// The metadata (string map), profiles (shape ranges per input) and tactics (one string per node) sections.
#include <set>

#include "engine/sections.h"

namespace kiln::engine {

Status writeMetadataSection(const std::map<std::string, std::string>& metadata, ByteWriter& out) {
  KILN_RETURN_IF_ERROR(checkFitsU32(metadata.size(), "the metadata"));
  out.u32(static_cast<uint32_t>(metadata.size()));
  for (const auto& [key, value] : metadata) {
    KILN_RETURN_IF_ERROR(checkFitsU32(key.size(), "metadata key"));
    KILN_RETURN_IF_ERROR(checkFitsU32(value.size(), "metadata value of '" + key + "'"));
    out.string(key);
    out.string(value);
  }
  return Status::ok();
}

Status readMetadataSection(ByteReader& in, std::map<std::string, std::string>& metadata) {
  KILN_ASSIGN_OR_RETURN(uint32_t count, in.count("metadata entry count", 8));
  for (uint32_t i = 0; i < count; ++i) {
    in.setItem("entry " + std::to_string(i));
    const size_t at = in.offset();
    KILN_ASSIGN_OR_RETURN(std::string key, in.string("metadata key"));
    // Keys come in std::map order; strictly increasing rules out duplicates that a map would silently merge.
    if (!metadata.empty() && !(metadata.rbegin()->first < key))
      return in.failAt(at, "key '" + key + "' is out of order or repeated");
    KILN_ASSIGN_OR_RETURN(std::string value, in.string("metadata value"));
    metadata.emplace_hint(metadata.end(), std::move(key), std::move(value));
  }
  in.setItem("");
  return in.expectEnd();
}

Status writeProfilesSection(const std::vector<OptimizationProfile>& profiles, ByteWriter& out) {
  if (profiles.empty())
    return invalidArgument("cannot write the engine: it needs at least one optimization profile "
                           "(an empty one for a model without dynamic dims)");
  KILN_RETURN_IF_ERROR(checkFitsU32(profiles.size(), "the profile list"));
  out.u32(static_cast<uint32_t>(profiles.size()));
  for (size_t p = 0; p < profiles.size(); ++p) {
    const auto& inputs = profiles[p].inputs;
    KILN_RETURN_IF_ERROR(checkFitsU32(inputs.size(), "profile " + std::to_string(p)));
    out.u32(static_cast<uint32_t>(inputs.size()));
    for (const InputShapeRange& r : inputs) {
      const std::string where = "profile " + std::to_string(p) + " input '" + r.name + "'";
      if (r.min.size() != r.opt.size() || r.min.size() != r.max.size())
        return invalidArgument("cannot write the engine: " + where + " has min, opt and max of different ranks");
      for (size_t i = 0; i < r.min.size(); ++i)
        if (r.min[i] < 0 || r.min[i] > r.opt[i] || r.opt[i] > r.max[i])
          return invalidArgument("cannot write the engine: " + where + " dimension " + std::to_string(i) +
                                 " is not 0 <= min <= opt <= max");
      KILN_RETURN_IF_ERROR(checkFitsU32(r.name.size(), where + " name"));
      KILN_RETURN_IF_ERROR(checkFitsU32(r.min.size(), where + " rank"));
      out.string(r.name);
      out.u32(static_cast<uint32_t>(r.min.size()));
      for (const Dims* dims : {&r.min, &r.opt, &r.max})
        for (int64_t d : *dims) out.i64(d);
    }
  }
  return Status::ok();
}

Status readProfilesSection(ByteReader& in, std::vector<OptimizationProfile>& profiles) {
  const size_t countAt = in.offset();
  KILN_ASSIGN_OR_RETURN(uint32_t count, in.count("profile count", 4));
  if (count == 0) return in.failAt(countAt, "the engine has no optimization profile (at least one is required)");
  profiles.resize(count);
  for (uint32_t p = 0; p < count; ++p) {
    in.setItem("profile " + std::to_string(p));
    KILN_ASSIGN_OR_RETURN(uint32_t inputCount, in.count("profile input count", 8));
    auto& inputs = profiles[p].inputs;
    inputs.resize(inputCount);
    std::set<std::string> seen;
    for (InputShapeRange& r : inputs) {
      const size_t at = in.offset();
      KILN_ASSIGN_OR_RETURN(r.name, in.string("profile input name"));
      if (!seen.insert(r.name).second) return in.failAt(at, "input '" + r.name + "' appears twice");
      KILN_ASSIGN_OR_RETURN(uint32_t rank, in.count("profile input rank", 24));
      for (Dims* dims : {&r.min, &r.opt, &r.max}) {
        dims->resize(rank);
        for (auto& d : *dims) {
          KILN_ASSIGN_OR_RETURN(d, in.i64("profile dimension"));
        }
      }
      for (uint32_t i = 0; i < rank; ++i) {
        if (r.min[i] < 0 || r.min[i] > r.opt[i] || r.opt[i] > r.max[i])
          return in.failAt(at, "input '" + r.name + "' dimension " + std::to_string(i) + " has min " +
                                   std::to_string(r.min[i]) + ", opt " + std::to_string(r.opt[i]) + ", max " +
                                   std::to_string(r.max[i]) + " (expected 0 <= min <= opt <= max)");
      }
    }
  }
  in.setItem("");
  return in.expectEnd();
}

Status writeTacticsSection(const std::vector<std::string>& tactics, ByteWriter& out) {
  KILN_RETURN_IF_ERROR(checkFitsU32(tactics.size(), "the tactic list"));
  out.u32(static_cast<uint32_t>(tactics.size()));
  for (const auto& t : tactics) {
    KILN_RETURN_IF_ERROR(checkFitsU32(t.size(), "tactic name"));
    out.string(t);
  }
  return Status::ok();
}

Status readTacticsSection(ByteReader& in, std::vector<std::string>& tactics) {
  KILN_ASSIGN_OR_RETURN(uint32_t count, in.count("tactic count", 4));
  tactics.resize(count);
  for (uint32_t i = 0; i < count; ++i) {
    in.setItem("tactic of node " + std::to_string(i));
    KILN_ASSIGN_OR_RETURN(tactics[i], in.string("tactic name"));
  }
  in.setItem("");
  return in.expectEnd();
}

}  // namespace kiln::engine
