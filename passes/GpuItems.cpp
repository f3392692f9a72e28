//===- GpuItems.cpp - the grid-item shape of chimera's GPU kernels --------===//
#include "passes/GpuItems.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

namespace mlir::chimera {

std::optional<ItemLoop> matchItemLoop(gpu::GPUFuncOp func, int64_t width) {
  scf::ForOp item;
  for (Operation &op : func.getBody().front())
    if (auto f = dyn_cast<scf::ForOp>(op)) {
      if (item)
        return std::nullopt;
      item = f;
    }
  if (!item)
    return std::nullopt;
  auto id = item.getLowerBound().getDefiningOp<arith::AddIOp>();
  auto upper = item.getUpperBound().getDefiningOp<arith::MinUIOp>();
  if (!id || !upper)
    return std::nullopt;
  auto scaled = id.getLhs().getDefiningOp<arith::MulIOp>();
  auto tid = id.getRhs().getDefiningOp<gpu::ThreadIdOp>();
  if (!scaled || !tid || tid.getDimension() != gpu::Dimension::x)
    return std::nullopt;
  std::optional<int64_t> w = getConstantIntValue(scaled.getRhs());
  if (!w || *w != width)
    return std::nullopt;
  auto next = upper.getLhs().getDefiningOp<arith::AddIOp>();
  if (!next || next.getLhs() != id.getResult() ||
      getConstantIntValue(next.getRhs()) != 1)
    return std::nullopt;
  return ItemLoop{item, scaled.getLhs(), upper.getRhs()};
}

int64_t parameterWords(Type t) {
  if (auto memref = dyn_cast<MemRefType>(t))
    return 1 + 2 * memref.getRank();
  return 1;
}

std::optional<int64_t> parameterWordOf(Value v, gpu::GPUFuncOp func) {
  auto cast = v.getDefiningOp<arith::IndexCastOp>();
  if (!cast)
    return std::nullopt;
  auto load = cast.getIn().getDefiningOp<memref::LoadOp>();
  if (!load || load.getMemRef() != func.getArguments().back() ||
      load.getIndices().size() != 1)
    return std::nullopt;
  return getConstantIntValue(load.getIndices().front());
}

Value workgroupBuffer(gpu::GPUFuncOp func, MemRefType type, bool alloc,
                      Location loc) {
  auto space = gpu::AddressSpaceAttr::get(func.getContext(),
                                          gpu::AddressSpace::Workgroup);
  auto shared = MemRefType::get(type.getShape(), type.getElementType(),
                                MemRefLayoutAttrInterface(), space);
  if (alloc) {
    OpBuilder entry = OpBuilder::atBlockBegin(&func.getBody().front());
    return memref::AllocOp::create(entry, loc, shared);
  }
  return func.addWorkgroupAttribution(shared, loc);
}

} // namespace mlir::chimera
