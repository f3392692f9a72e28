//===- KernelsToGpu.cpp - chimera kernels -> gpu.func over flat buffers ---===//
//
// The kernels `chimera-outline-kernels` forms for x86 are the GPU kernels
// too (DESIGN.md: one kernel abstraction). Each `chimera.kernel` function
// becomes a `gpu.func` in `gpu.module @chimera_kernels` in which one
// invocation runs one grid item. Its arguments are one flat buffer per
// memref operand and one `i32` parameter buffer; the memref operands'
// offsets, sizes and strides and the scalar operands travel in the
// parameter buffer, so the kernel works for any layout the host passes and
// the runtime binds whole device allocations.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/GpuItems.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVDialect.h"
#include "mlir/Dialect/SPIRV/IR/TargetAndABI.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_KERNELSTOGPU
#include "passes/Passes.h.inc"

namespace {

constexpr llvm::StringLiteral kGpuModule = "chimera_kernels";

/// The strides of a memref operand that its type fixes for every launch
/// (a unit innermost stride, the inner strides of static dims), dynamic
/// where it does not.
SmallVector<int64_t> knownStrides(MemRefType type) {
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    strides.assign(type.getRank(), ShapedType::kDynamic);
  return strides;
}

/// The view the kernel rebuilds from its parameters: the operand's known
/// strides, the offset always dynamic (the runtime moves it to where it
/// binds the buffer).
MemRefType viewLayout(MemRefType type) {
  auto layout = StridedLayoutAttr::get(type.getContext(), ShapedType::kDynamic,
                                       knownStrides(type));
  return MemRefType::get(type.getShape(), type.getElementType(), layout,
                         type.getMemorySpace());
}

struct KernelsToGpuPass : public impl::KernelsToGpuBase<KernelsToGpuPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    if (workgroupSize < 1 || workgroupSize > 1024) {
      module.emitError("chimera-kernels-to-gpu: workgroup-size must be in "
                       "[1, 1024], got ")
          << static_cast<int64_t>(workgroupSize);
      return signalPassFailure();
    }
    SmallVector<func::FuncOp> kernels;
    for (auto func : module.getOps<func::FuncOp>())
      if (func->hasAttr("chimera.kernel"))
        kernels.push_back(func);
    if (kernels.empty())
      return;

    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    UnitAttr::get(ctx));
    // For the runtime, which computes the workgroup counts.
    module->setAttr("chimera.workgroup_size",
                    IntegerAttr::get(IntegerType::get(ctx, 64), workgroupSize));
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    auto gpuModule = gpu::GPUModuleOp::create(mb, module.getLoc(), kGpuModule);
    SymbolTable gpuSymbols(gpuModule);
    for (func::FuncOp kernel : kernels) {
      if (failed(convert(kernel, gpuModule, gpuSymbols)))
        return signalPassFailure();
    }
    auto gpuRef = [&](StringRef name) {
      return SymbolRefAttr::get(ctx, kGpuModule,
                                {FlatSymbolRefAttr::get(ctx, name)});
    };
    WalkResult result = module.walk([&](LaunchOp launch) {
      if (launch.getKernelAttr().getNestedReferences().empty())
        launch.setKernelAttr(gpuRef(launch.getKernelAttr().getRootReference()));
      copyConstantsToDevice(launch);
      return checkBufferSizes(launch);
    });
    if (result.wasInterrupted())
      return signalPassFailure();
    for (func::FuncOp kernel : kernels)
      kernel.erase();
  }

  /// A buffer the device cannot bind in one piece (the profile's
  /// maxStorageBufferRange) is an error where its shape is static (weights).
  WalkResult checkBufferSizes(LaunchOp launch) {
    if (maxBufferBytes <= 0)
      return WalkResult::advance();
    for (Value operand : launch.getKernelOperands()) {
      auto type = dyn_cast<MemRefType>(operand.getType());
      if (!type || !type.hasStaticShape() ||
          !type.getElementType().isIntOrFloat())
        continue;
      int64_t bytes = type.getNumElements() *
                      llvm::divideCeil(type.getElementTypeBitWidth(), 8);
      if (bytes <= maxBufferBytes)
        continue;
      Operation *def = operand.getDefiningOp();
      InFlightDiagnostic diag =
          (def ? def->emitError() : launch.emitError())
          << "buffer " << type << " of " << bytes << " bytes exceeds the "
          << "target's storage-buffer limit of " << int64_t(maxBufferBytes)
          << " bytes (kernel " << launch.getKernelAttr() << ")";
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  }

  /// Constant tables (RoPE frequencies, ...) live in the host binary, which
  /// the device cannot read: the launch gets a copy in a buffer the runtime
  /// allocates in device memory. They are small.
  void copyConstantsToDevice(LaunchOp launch) {
    for (OpOperand &operand : launch->getOpOperands()) {
      auto global = operand.get().getDefiningOp<memref::GetGlobalOp>();
      if (!global)
        continue;
      OpBuilder b(launch);
      Location loc = launch.getLoc();
      auto type = global.getType();
      Value copy = memref::AllocOp::create(b, loc, type, b.getI64IntegerAttr(64));
      memref::CopyOp::create(b, loc, global, copy);
      operand.set(copy);
      b.setInsertionPointAfter(launch);
      memref::DeallocOp::create(b, loc, copy);
    }
  }

  LogicalResult convert(func::FuncOp kernel, gpu::GPUModuleOp gpuModule,
                        SymbolTable &gpuSymbols) {
    MLIRContext *ctx = &getContext();
    Location loc = kernel.getLoc();
    Block &body = kernel.getBody().front();
    if (!kernel.getBody().hasOneBlock())
      return kernel.emitError("kernel has more than one block; run "
                              "chimera-kernels-to-gpu before scf-to-cf");
    auto i32 = IntegerType::get(ctx, 32);
    auto index = IndexType::get(ctx);
    auto flatOf = [&](Type element) {
      return MemRefType::get({ShapedType::kDynamic}, element);
    };

    // Signature: one flat buffer per memref operand, then the parameters.
    SmallVector<Type> argTypes;
    for (Type t : kernel.getArgumentTypes().drop_front(2)) {
      if (auto memref = dyn_cast<MemRefType>(t)) {
        argTypes.push_back(flatOf(memref.getElementType()));
        continue;
      }
      if (!t.isIndex() && !t.isInteger(32) && !t.isF32() && !t.isInteger(1))
        return kernel.emitError("kernel operand of type ")
               << t << " cannot be passed to a GPU kernel (index, i32, i1, "
               << "f32 and memrefs can)";
    }
    argTypes.push_back(flatOf(i32));
    OpBuilder mb = OpBuilder::atBlockEnd(gpuModule.getBody());
    auto func = gpu::GPUFuncOp::create(mb, loc, kernel.getName(),
                                       FunctionType::get(ctx, argTypes, {}));
    func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), UnitAttr::get(ctx));
    func.setKnownBlockSizeAttr(DenseI32ArrayAttr::get(
        ctx, {int32_t(workgroupSize), 1, 1}));
    func->setAttr(spirv::getEntryPointABIAttrName(),
                  spirv::getEntryPointABIAttr(ctx, {int32_t(workgroupSize), 1, 1}));
    gpuSymbols.insert(func);

    Block &entry = func.getBody().front();
    OpBuilder b = OpBuilder::atBlockBegin(&entry);
    Value params = entry.getArguments().back();
    // The words are laid out as passes/GpuItems.h says.
    auto param = [&](int64_t word) -> Value {
      Value at = arith::ConstantIndexOp::create(b, loc, word);
      Value v = memref::LoadOp::create(b, loc, params, at);
      return arith::IndexCastOp::create(b, loc, index, v);
    };

    // The grid item of this invocation: groups may be spread over y when
    // there are more than a dimension's limit.
    Value n = param(0);
    Value group = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
    Value groupsX = gpu::GridDimOp::create(b, loc, gpu::Dimension::x);
    group = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, group, groupsX),
        gpu::BlockIdOp::create(b, loc, gpu::Dimension::x));
    Value wg = arith::ConstantIndexOp::create(b, loc, workgroupSize);
    Value item = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, group, wg),
        gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x));
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value end = arith::MinUIOp::create(
        b, loc, arith::AddIOp::create(b, loc, item, one), n);

    IRMapping map;
    map.map(body.getArgument(0), item);
    map.map(body.getArgument(1), end);
    unsigned buffer = 0;
    int64_t word = 1;
    for (BlockArgument arg : body.getArguments().drop_front(2)) {
      Type t = arg.getType();
      int64_t first = word;
      word += parameterWords(t);
      if (auto memref = dyn_cast<MemRefType>(t)) {
        Value flat = entry.getArgument(buffer++);
        int64_t rank = memref.getRank();
        Value offset = param(offsetWord(first));
        SmallVector<OpFoldResult> sizes, strides;
        for (int64_t d = 0; d < rank; ++d) {
          Value size = param(sizeWord(first, d));
          sizes.push_back(memref.isDynamicDim(d)
                              ? OpFoldResult(size)
                              : OpFoldResult(b.getIndexAttr(memref.getDimSize(d))));
        }
        // Static strides let the linearised addresses fold (a unit
        // innermost stride makes a row's elements adjacent); the words are
        // passed either way.
        SmallVector<int64_t> known = knownStrides(memref);
        for (int64_t d = 0; d < rank; ++d) {
          Value stride = param(strideWord(first, rank, d));
          strides.push_back(ShapedType::isDynamic(known[d])
                                ? OpFoldResult(stride)
                                : OpFoldResult(b.getIndexAttr(known[d])));
        }
        Value view = memref::ReinterpretCastOp::create(
            b, loc, viewLayout(memref), flat, OpFoldResult(offset), sizes,
            strides);
        map.map(arg, memref::CastOp::create(b, loc, memref, view));
        continue;
      }
      Value v = param(first);
      if (t.isIndex())
        map.map(arg, v);
      else if (t.isF32())
        map.map(arg, arith::BitcastOp::create(
                         b, loc, t, arith::IndexCastOp::create(b, loc, i32, v)));
      else
        map.map(arg, arith::IndexCastOp::create(b, loc, t, v));
    }
    for (Operation &op : body.without_terminator())
      b.clone(op, map);
    gpu::ReturnOp::create(b, loc);
    return success();
  }
};

} // namespace
} // namespace mlir::chimera
