#include "ops/einsum_equation.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace kiln::ops {
namespace {

/// One operand's term: letters, with at most one "..." recorded as position `ellipsisAt` (-1 if none).
struct Term {
  std::vector<char> letters;
  int ellipsisAt = -1;
};

Expected<Term> parseTerm(const std::string& text, const std::string& where) {
  Term t;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ') continue;
    if (c == '.') {
      if (text.compare(i, 3, "...") != 0 || t.ellipsisAt != -1)
        return invalidModel(where + "attribute 'equation' has a malformed ellipsis in '" + text + "'");
      t.ellipsisAt = static_cast<int>(t.letters.size());
      i += 2;
      continue;
    }
    if (!std::isalpha(static_cast<unsigned char>(c)))
      return invalidModel(where + "attribute 'equation' has the character '" + std::string(1, c) +
                          "'; only letters, '...', ',' and '->' are allowed");
    t.letters.push_back(c);
  }
  return t;
}

}  // namespace

Expected<EinsumPlan> planEinsum(const std::string& equation, const std::vector<Dims>& shapes, const std::string& where) {
  const size_t arrow = equation.find("->");
  const std::string lhs = equation.substr(0, arrow);
  std::vector<Term> terms;
  size_t start = 0;
  while (true) {
    const size_t comma = lhs.find(',', start);
    KILN_ASSIGN_OR_RETURN(Term t, parseTerm(lhs.substr(start, comma - start), where));
    terms.push_back(std::move(t));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != shapes.size())
    return invalidModel(where + "attribute 'equation' '" + equation + "' has " + std::to_string(terms.size()) +
                        " operand terms but the node has " + std::to_string(shapes.size()) + " inputs");
  EinsumPlan plan;
  std::map<char, int> letterLabel;
  int64_t ellipsisRank = -1;
  std::vector<int> ellipsisLabels;  // labels of the broadcast "..." dims, right-aligned
  std::vector<int64_t> ellipsisDims;
  auto labelFor = [&](char c) {
    auto it = letterLabel.find(c);
    if (it != letterLabel.end()) return it->second;
    letterLabel[c] = plan.labelCount;
    plan.labelSize.push_back(-1);
    return plan.labelCount++;
  };
  auto bind = [&](int label, int64_t size, size_t operand) -> Status {
    int64_t& known = plan.labelSize[static_cast<size_t>(label)];
    if (known == -1 || known == 1) known = size;
    else if (size != known && size != 1)
      return invalidModel(where + "input " + std::to_string(operand) + ": a label has size " + std::to_string(size) +
                          " here but " + std::to_string(known) + " elsewhere");
    return Status::ok();
  };
  for (size_t k = 0; k < terms.size(); ++k) {
    const Term& t = terms[k];
    const int64_t rank = static_cast<int64_t>(shapes[k].size());
    const int64_t named = static_cast<int64_t>(t.letters.size());
    const int64_t ell = t.ellipsisAt >= 0 ? rank - named : 0;
    if (ell < 0 || (t.ellipsisAt < 0 && named != rank))
      return invalidModel(where + "input " + std::to_string(k) + " has rank " + std::to_string(rank) +
                          " but its equation term names " + std::to_string(named) + " axes");
    if (ell > ellipsisRank) {
      // Grow the ellipsis label list on the left (right-aligned broadcasting).
      std::vector<int> grown;
      for (int64_t i = 0; i < ell - std::max<int64_t>(ellipsisRank, 0); ++i) {
        grown.push_back(plan.labelCount++);
        plan.labelSize.push_back(-1);
      }
      grown.insert(grown.end(), ellipsisLabels.begin(), ellipsisLabels.end());
      ellipsisLabels = grown;
      ellipsisRank = ell;
    }
    std::vector<int> labels;
    size_t axis = 0;
    for (int64_t i = 0; i <= named; ++i) {
      if (i == t.ellipsisAt)
        for (int64_t e = 0; e < ell; ++e, ++axis) {
          const int label = ellipsisLabels[static_cast<size_t>(ellipsisRank - ell + e)];
          KILN_RETURN_IF_ERROR(bind(label, shapes[k][axis], k));
          labels.push_back(label);
        }
      if (i == named) break;
      const int label = labelFor(t.letters[static_cast<size_t>(i)]);
      KILN_RETURN_IF_ERROR(bind(label, shapes[k][axis], k));
      labels.push_back(label);
      ++axis;
    }
    plan.operandLabels.push_back(std::move(labels));
  }
  if (arrow != std::string::npos) {
    KILN_ASSIGN_OR_RETURN(Term out, parseTerm(equation.substr(arrow + 2), where));
    for (size_t i = 0; i <= out.letters.size(); ++i) {
      if (static_cast<int>(i) == out.ellipsisAt)
        plan.outputLabels.insert(plan.outputLabels.end(), ellipsisLabels.begin(), ellipsisLabels.end());
      if (i == out.letters.size()) break;
      auto it = letterLabel.find(out.letters[i]);
      if (it == letterLabel.end())
        return invalidModel(where + "output label '" + std::string(1, out.letters[i]) + "' is in no input term");
      plan.outputLabels.push_back(it->second);
    }
  } else {
    // Implicit output: the ellipsis dims, then the letters used exactly once, in alphabetical order.
    plan.outputLabels = ellipsisLabels;
    std::map<char, int> uses;
    for (const Term& t : terms)
      for (char c : t.letters) ++uses[c];
    for (const auto& [c, n] : uses)
      if (n == 1) plan.outputLabels.push_back(letterLabel[c]);
  }
  for (int64_t& s : plan.labelSize)
    if (s == -1) s = 1;
  for (int label : plan.outputLabels) plan.outputDims.push_back(plan.labelSize[static_cast<size_t>(label)]);
  return plan;
}

}  // namespace kiln::ops
