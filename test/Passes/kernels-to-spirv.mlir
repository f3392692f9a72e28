// RUN: chimera-opt %s --pass-pipeline="builtin.module(chimera-kernels-to-spirv,spirv.module(spirv-lower-abi-attrs,spirv-update-vce))" | FileCheck %s
// RUN: chimera-opt %s --pass-pipeline="builtin.module(chimera-kernels-to-spirv,spirv.module(spirv-lower-abi-attrs,spirv-update-vce),chimera-embed-gpu-binary)" | FileCheck %s --check-prefix=EMBED

// Math ops become GLSL.std.450 instructions; buffers become storage buffers
// bound in argument order; the entry point keeps its workgroup size.
// CHECK: spirv.module @__spv__chimera_kernels Logical GLSL450
// CHECK: spirv.GlobalVariable @{{.*}} bind(0, 0) : !spirv.ptr<!spirv.struct<(!spirv.rtarray<f32, stride=4> [0])>, StorageBuffer>
// CHECK: spirv.GlobalVariable @{{.*}} bind(0, 1) : !spirv.ptr<!spirv.struct<(!spirv.rtarray<i32, stride=4> [0])>, StorageBuffer>
// CHECK: spirv.func @k(
// CHECK: spirv.GL.InverseSqrt
// CHECK: spirv.GL.Exp
// CHECK: spirv.EntryPoint "GLCompute" @k
// CHECK: spirv.ExecutionMode @k "LocalSize", 64, 1, 1
// CHECK-NOT: gpu.module

// The module is serialised into the globals the runtime reads.
// EMBED-NOT: spirv.module
// EMBED-NOT: gpu.module
// EMBED: llvm.mlir.global external constant @chimera_gpu_binary("\03\02#\07
// EMBED: llvm.mlir.global external constant @chimera_gpu_target("vulkan\00")
// EMBED: llvm.mlir.global external constant @chimera_gpu_binary_size({{[0-9]+}} : i64)
// EMBED: llvm.mlir.global external constant @chimera_gpu_workgroup_size(64 : i64)
module attributes {chimera.workgroup_size = 64 : i64, gpu.container_module} {
  gpu.module @chimera_kernels [#spirv.target_env<#spirv.vce<v1.3, [Shader], [SPV_KHR_storage_buffer_storage_class]>, api=Vulkan, #spirv.resource_limits<>>] {
    gpu.func @k(%x: memref<?xf32>, %params: memref<?xi32>) kernel attributes {spirv.entry_point_abi = #spirv.entry_point_abi<workgroup_size = [64, 1, 1]>} {
      %tid = gpu.thread_id x
      %v = memref.load %x[%tid] : memref<?xf32>
      %r = math.rsqrt %v : f32
      %e = math.exp %r : f32
      memref.store %e, %x[%tid] : memref<?xf32>
      gpu.return
    }
  }
}
