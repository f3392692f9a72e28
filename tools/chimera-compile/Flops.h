//===- Flops.h - the arithmetic a model does per prefill -------*- C++ -*-===//
//
// `chimera-compile --flops=S` counts, from the imported chimera IR, the
// floating-point operations of one prefill of S tokens (batch 1): matmuls
// (linear layers, expert FFNs at their top-k, attention's QKᵀ and PV), the
// selective scan and the causal conv. Inside a `chimera.depth_route` the
// block runs on the selected tokens: max(1, ⌊capacity · S⌋) of them. The
// count is what the model's ops specify, whatever kernels run them. For an
// image generator (VAR, static shapes but the batch) S is ignored and the
// count is per image: the transformer's ops on the guidance's two rows per
// image (marked `chimera.batch_multiple = 2` by the importer), the
// convolutions of the residual and the decoder.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_TOOLS_CHIMERA_COMPILE_FLOPS_H
#define CHIMERA_TOOLS_CHIMERA_COMPILE_FLOPS_H

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>

namespace chimera {

struct FlopCount {
  double total = 0;
  double routed = 0;     // inside depth-routed blocks
  double capacity = 0;   // of the depth routes (0: none)
  bool thresholdRouting = false; // causal routes: capacity is an estimate
};

FlopCount countFlops(mlir::ModuleOp module, int64_t tokens);

} // namespace chimera

#endif // CHIMERA_TOOLS_CHIMERA_COMPILE_FLOPS_H
