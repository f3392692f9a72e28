// RUN: chimera-opt %s --chimera-add-packed-entry | FileCheck %s

// CHECK: llvm.func @chimera_model_forward(%[[ARGS:.*]]: !llvm.ptr) {
// CHECK: %[[P0:.*]] = llvm.getelementptr %[[ARGS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[A0:.*]] = llvm.load %[[P0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[P1:.*]] = llvm.getelementptr %[[ARGS]][1]
// CHECK: %[[A1:.*]] = llvm.load %[[P1]]
// CHECK: llvm.call @_mlir_ciface_forward(%[[A0]], %[[A1]]) : (!llvm.ptr, !llvm.ptr) -> ()
module {
  llvm.func @_mlir_ciface_forward(%a: !llvm.ptr, %b: !llvm.ptr) {
    llvm.return
  }
}
