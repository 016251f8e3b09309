// `lowbit inspect`: a human-readable or JSON description of a model file or
// folder: architecture and hyper-parameters, parameter count, every tensor
// (shape, type, bytes, bits per weight), totals per type, and the memory the
// weights would need at each precision next to what the file uses.
#pragma once

#include <string>

#include "io/model_source.h"

namespace lowbit::eval {

std::string inspect_text(const ModelSource& model, bool list_tensors = true);
std::string inspect_json(const ModelSource& model);

}  // namespace lowbit::eval
