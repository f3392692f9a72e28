//===- Passes.td - chimera passes --------------------------*- tablegen -*-===//

#ifndef CHIMERA_PASSES_TD
#define CHIMERA_PASSES_TD

include "mlir/Pass/PassBase.td"

def LowerToReference : Pass<"chimera-lower-to-reference"> {
  let summary = "Lower every chimera op to its reference formula in "
                "linalg/tensor/arith/math/scf";
  let description = [{
    Implements the formula in each op's description with upstream ops, as
    simply as possible: one `linalg.generic` per step of the formula, `scf`
    loops for recurrences (selective scan, top-k, token selection) and
    constant interpolation matrices for `scale_interp`. Region ops are
    inlined (`depth_route` per batch row over the selected tokens,
    `next_scale_generate` unrolled over its static schedule).

    This is the semantics every faster lowering is checked against; it is
    not meant to be fast. The patterns live one op family per file under
    `passes/Reference/`.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect",
    "::mlir::linalg::LinalgDialect"
  ];
}

def BindWeights : Pass<"chimera-bind-weights", "::mlir::ModuleOp"> {
  let summary = "Bind every chimera.param to a view of one weight buffer";
  let description = [{
    Gives each entry function that uses weights a leading `memref<?xi8>`
    argument (`chimera.name = "weights"`): the weight archive, mapped by the
    runtime. Every distinct `chimera.param` / `chimera.param_stack` gets an
    offset in it (aligned to `alignment` bytes, in order of first use) and
    becomes a read-only tensor over a `memref.view` at that offset.

    The layout is recorded on the module as `chimera.weights`: an array of
    `{names, offset, shape, element_type}` dictionaries (`names` lists one
    checkpoint tensor, or the members of a stack in order), plus
    `chimera.weights_size`. A param with `chimera.quant` and
    `chimera.quant_part` ("codes", "scales", "offsets") adds `quant` and
    `quant_part` to its entry: the writer quantises the checkpoint tensor
    the name (before any `:scales`/`:offsets`) gives. A param with
    `chimera.panel` (chimera-pack-weights) adds `panel`: the writer stores
    the checkpoint's `[N, K]` as `[N/panel, K, panel]`. The weight archive
    writer follows the layout byte for byte; the IR still holds no weight
    data.
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t", /*default=*/"64",
           "Byte alignment of every weight in the archive">
  ];
  let dependentDialects = [
    "::mlir::memref::MemRefDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::arith::ArithDialect"
  ];
}

def PackWeights : Pass<"chimera-pack-weights", "::mlir::ModuleOp"> {
  let summary = "Store float linear and expert weights in K-major panels of output rows";
  let description = [{
    A checkpoint stores a linear weight `[N, K]` row by row. The x86 kernel
    that reuses a weight vector over several tokens wants it the other way:
    per panel of `panel` output rows, K-major (`[N/panel, K, panel]`), so
    that one weight vector holds the panel's outputs at one k and is
    multiplied by one broadcast x element. Until this pass the kernel
    transposed every panel at run time, per 256 K, per prefill.

    Every `chimera.param` all of whose uses (across the module's functions)
    are the float weight of a `chimera.linear` without `quant` becomes a
    `[ceil(N/panel), K, panel]` param tagged `chimera.panel = panel`, and
    its linears get `panel = panel` (and `rows = N` when N is not a
    multiple of `panel`: the last panel is padded with zero rows). The
    archive writer transposes the checkpoint tensor into that layout
    (BindWeights records `panel` in the weight's layout entry).

    A weight also read by another op (an LM head tied to the embedding
    table, which gathers rows) keeps its layout for that op, and its
    linears read a packed copy, the param `<tensor>:panel`: the archive
    holds the table twice, as a quantised format holds a tied LM head's
    codes beside the table. Quantised weights keep their layout.

    A `chimera.expert_ffn` without `quant` whose intermediate and hidden
    sizes are whole panels gets `panel = panel`, and its stacks (a
    `chimera.param_stack` of one checkpoint tensor per expert, or one
    `[E, N, K]` param) become `[E, N/panel, K, panel]`, each expert's
    matrix packed as a linear's. A stack is packed only where every op
    that reads it (by its list of names, across functions) is such an
    expert op whose other stacks are packed too; the rest keep their
    layout.
  }];
  let options = [
    Option<"panel", "panel", "int64_t", /*default=*/"32",
           "Output rows per panel (chimera-vectorize-matmuls' grid item: "
           "2 x vector-width)">
  ];
}

def ResultsToDestinations : Pass<"chimera-results-to-destinations", "::mlir::ModuleOp"> {
  let summary = "Make an entry function write its results into caller buffers";
  let description = [{
    The runtime owns every buffer that outlives a call: logits and the
    caches/states. For each public function, a result that is not already
    an argument updated in place gets a new trailing argument (its
    `chimera.name` copied from the result), and the function writes into it
    with `bufferization.materialize_in_destination`. A result named like an
    argument (a cache or state) is materialised into that argument instead,
    unless it is that argument after `chimera.cache_write`s (already in
    place). After
    one-shot bufferization, `drop-equivalent-buffer-results` removes every
    result, leaving `void f(buffers...)` — and a cache written with
    `chimera.cache_write` is updated where it lies, never copied.
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect"];
}

def DuplicateSharedFills : Pass<"chimera-duplicate-shared-fills"> {
  let summary = "Give each consumer of a shared linalg.fill its own fill";
  let description = [{
    CSE merges equal `linalg.fill`s (the zero init of every linear layer of
    one output shape). One-shot bufferization then copies the filled buffer
    for each consumer that writes into it, a whole-output memcpy per layer.
    Each use after the first of a tensor `linalg.fill` of a `tensor.empty`
    gets its own copy of both, right before the user: a fill only writes,
    and the consumer bufferizes in place.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def ExpandShapeToReshape : Pass<"chimera-expand-shape-to-reshape"> {
  let summary = "Rewrite expand_shapes that split a dim into several dynamic "
                "dims as tensor.reshape";
  let description = [{
    MLIR 22's `expand-strided-metadata` crashes (in
    `memref::ReinterpretCastOp::build`) on a `memref.expand_shape` that
    splits one dynamic dim into two dynamic dims — what `[B·S, H] -> [B, S, H]`
    becomes after bufferization. `tensor.reshape` with a shape tensor has the
    same row-major meaning and lowers without that pass. Only such
    expand_shapes are rewritten; the rest keep their (better) form.
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect", "::mlir::arith::ArithDialect"];
}

def DropInPlaceResults : Pass<"chimera-drop-in-place-results", "::mlir::ModuleOp"> {
  let summary = "After bufferization, drop results that are arguments";
  let description = [{
    The entry functions' ABI is `void f(buffers...)`: after
    `chimera-results-to-destinations` and one-shot bufferization every result
    is one of the function's own memref arguments, written in place. This
    pass removes those results from public functions (upstream
    `drop-equivalent-buffer-results` leaves public functions alone) and
    reports any result that is not an argument: that would be a buffer the
    runtime does not own, or a cache that was copied.
  }];
}

def AddPackedEntry : Pass<"chimera-add-packed-entry", "::mlir::ModuleOp"> {
  let summary = "Give an LLVM-dialect entry function a packed C entry point";
  let description = [{
    For `function` (which must carry `llvm.emit_c_interface`, so that
    `_mlir_ciface_<function>` takes one pointer per memref descriptor), adds
    `void <symbol>(void **args)` that calls it with `args[0..n)`. The
    runtime builds the descriptors from the manifest and calls this one
    symbol whatever the model's number of caches.
  }];
  let options = [
    Option<"function", "function", "std::string", /*default=*/"\"forward\"",
           "The function to wrap">,
    Option<"symbol", "symbol", "std::string",
           /*default=*/"\"chimera_model_forward\"",
           "The name of the packed entry point">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def ForallToParallelLoops : Pass<"chimera-forall-to-parallel-loops"> {
  let summary = "Turn scf.forall into scf.parallel, keeping its attributes";
  let description = [{
    Upstream's `scf-forall-to-parallel`, except that the loop keeps the
    forall's discardable attributes: `chimera.kernel_tag` on the grids of
    FlashAttention and ChannelScan names the kernels chimera-outline-kernels
    makes of them.
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect"];
}

def StridedCopiesToLinalg : Pass<"chimera-strided-copies-to-linalg"> {
  let summary = "Turn memref.copy of strided views into linalg.copy";
  let description = [{
    `memref.copy` between identity-layout buffers lowers to a memcpy; any
    other copy (a cache row, a slice of a state) lowers to a call to
    `memrefCopy` from MLIR's C runner utils — a library an artifact must not
    need. As `linalg.copy` those copies become plain loops. With `all`,
    every copy does (GPU targets: a copy becomes a kernel on the device
    instead of a memcpy on the host).
  }];
  let options = [
    Option<"all", "all", "bool", /*default=*/"false",
           "Also copies between identity-layout buffers">
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def OutlineKernels : Pass<"chimera-outline-kernels", "::mlir::ModuleOp"> {
  let summary = "Form kernels from parallel loops and launch them on a grid";
  let description = [{
    Every `scf.parallel` at the top level of a function (one per bufferized
    linalg op: its parallel dims; reductions stay inner loops) becomes a
    private kernel function and a `chimera.launch` over a 1-D grid. The grid
    linearises the outer parallel dims and splits the innermost one into
    blocks of `block-size` iterations, so that a decode step's single row
    still spreads over the threads and each grid item keeps a contiguous,
    vectorisable inner loop:

      kernel(begin, end, counts..., captures...):
        for item in [begin, end):
          (outer dims..., block) = delinearise(item)
          for j in block: body(ivs)

    A loop with a `chimera.block_size` attribute is blocked by that instead
    (1: each iteration is already a work item, as for matmul tiles); one
    with a `chimera.kernel_tag` string names its kernel
    `<func>_kernel_<i>_<tag>` (what it computes, e.g. `matmul`, for the
    runtime's kernel profile). Static
    `memref.alloca`s at the top of a loop body (one item's scratch) are
    allocated once per kernel call, and those of loops left on the host move
    to the function entry, so no stack grows per iteration.

    Constants are cloned into the kernel; every other value the loop uses is
    passed as a launch operand. Parallel loops under the host's own
    sequential control flow (`scf.for`, `scf.if`: a depth route's per-row
    loop and its branch on "any token selected") become kernels launched
    from there; loops nested in a parallel loop are its body. With
    `gpu-buffers` (GPU targets, whose kernels take only buffers of
    whole-byte ints and floats and index/i32/i1/f32 scalars), such a nested
    loop that uses anything else (an `i1` mask, an `index` list, an `i64`
    count) stays on the host.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"64",
           "Iterations of the innermost parallel dim per grid item">,
    Option<"gpuBuffers", "gpu-buffers", "bool", /*default=*/"false",
           "Leave loops nested in host control flow on the host when a GPU "
           "kernel could not take their buffers">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::chimera::ChimeraDialect"];
}

def ApproximateMath : Pass<"chimera-approximate-math"> {
  let summary = "Expand exp, log, tanh and erf into vectorisable polynomials";
  let description = [{
    Applies upstream's polynomial approximations (`math-polynomial-
    approximation`) to `math.exp`, `math.expm1`, `math.log`, `math.log1p`,
    `math.tanh` and `math.erf` only: each becomes arith/math ops that LLVM
    vectorises with the surrounding loop, instead of a scalar libm call per
    element. `math.sin`/`math.cos` keep libm, whose range reduction is
    exact for the large angles RoPE produces. The approximations are within
    a few ulp; the fixtures' goldens are checked through them.

    With `scalef` (AVX-512), `math.exp` on `vector<16xf32>` is instead
    e^r · 2^n: n = roundeven(x · log2 e), r = x − n · ln 2 in two parts,
    e^r by its degree-7 Taylor polynomial and 2^n by `vscalefps`, which
    overflows to inf, underflows gradually to 0 and passes NaN, so the
    compares and selects upstream's form needs for them go away (15 ops
    instead of 25).
  }];
  let options = [
    Option<"scalef", "scalef", "bool", /*default=*/"false",
           "exp on vector<16xf32> applies 2^n with AVX-512's vscalefps "
           "(the target must have avx512f)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect", "::mlir::LLVM::LLVMDialect"];
}

def ChannelScan : Pass<"chimera-channel-scan"> {
  let summary = "The selective scan as a grid over (batch, channel)";
  let description = [{
    Rewrites an f32 `chimera.selective_scan` with a static state size N into
    an `scf.forall` over (batch, channel) whose body runs the whole time
    loop with the channel's state in one `vector<N>`: per step one vector
    exp, two FMAs and one horizontal sum, no host round trip. The reference
    lowering is a host-side time loop of whole-tensor steps; this is the
    same recurrence reordered (the recurrence is independent per channel).

    The blocked form prefetches each step's Δ, u and z a few steps ahead
    (`memref.prefetch` on a read-only `bufferization.to_buffer` of each).
    The state is read from and written back to the initial state in place;
    `lengths` freezes a row's state past its length as the op specifies.
    Runs on tensors before `chimera-lower-to-reference`.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
                           "::mlir::math::MathDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::bufferization::BufferizationDialect"];
}

def FlashAttention : Pass<"chimera-flash-attention"> {
  let summary = "Attention as one online-softmax sweep over the visible keys";
  let description = [{
    Rewrites `chimera.attention` with a causal, sliding-window or no mask
    (f32, static head counts and head dims) into an `scf.forall` over
    (batch, query head, query) whose body walks only the keys the query can
    see, with the online softmax: one dot product of `vector<D>`, two
    exponentials and one `vector<Dv>` FMA per key, no score tensor. Block-
    causal attention (VAR) keeps the reference lowering.

    Whole tiles of 16 queries (a prefill's) go first, through a grid over
    (batch, query head, tile) whose sweep holds a lane per query: each K and
    V row is read once per tile, not once per query, and the softmax needs
    no horizontal sums. The remaining queries (all of a decode step's) take
    the per-query grid.

    Runs on tensors, before `chimera-lower-to-reference`; one-shot
    bufferization writes each output row in place and
    `chimera-forall-to-parallel-loops` turns the loop into a kernel grid.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
                           "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::vector::VectorDialect"];
}

def VectorizeMatmuls : Pass<"chimera-vectorize-matmuls"> {
  let summary = "Register-blocked vector kernels for x·Wᵀ on buffers";
  let description = [{
    Replaces each bufferized `linalg.generic` of the form
    `out[..., n] += x[..., k] * w[n, k]` (a linear layer with the weight in
    its checkpoint layout, f32 or upcast from bf16/f16) by an
    `scf.parallel` over blocks of `rows` weight rows. Each block walks K in
    chunks of `k-chunk` (so its weight rows stay in L1) and, per chunk, all
    x rows in tiles of `cols`: `rows × cols` accumulators of
    `vector<vector-width x f32>`, FMAs per K vector, one horizontal sum each
    at the end (grid items hold 2 × vector-width weight rows). Decode (one x row) streams the weights with `rows`
    independent accumulators; prefill reuses each loaded weight vector
    `cols` times and each x vector `rows` times.

    Prefills of 256 rows or more take a broadcast-form kernel instead: each
    grid item (a panel of 2 × vector-width weight rows) packs its panel
    K-major into a stack buffer per 256-wide K chunk (square blocks of
    vector-width rows transposed by a shuffle network) and keeps 6 x rows ×
    2 vector accumulators over output columns, so no horizontal sums are
    needed and each loaded weight vector serves 6 rows.

    A float weight chimera-pack-weights stored in panels (the generic
    `out[..., p, j] += x[..., k] * w[p, k, j]`, w `[N/32, K, 32]`) is read
    in place: each grid item runs the broadcast-form kernel on its panel
    from 6 x rows, and below that streams the panel once per x row over
    all of K, split into 8 runs read side by side (two accumulators
    each).

    int8 codes (f32 activations) against one x row (decode) are read one
    weight row after another over all of K, four accumulator chains each:
    the item's rows are one contiguous run of the codes, where a tile's
    rows read side by side are as many short streams.

    A dense matmul whose output is zero-filled right before it drops the
    fill: each item's first K chunk stores its sums instead of adding them.

    4-bit weights (the generic the reference lowering tags with its
    `#chimera.quant<int4|fp4_m0e4|mxfp4>`, groups a multiple of 2 ×
    vector-width) take panel items too: below 64 x rows, dot-product tiles
    that unpack each code vector into the even and odd elements; from 64
    rows, the panel is decoded into the packing buffer and the
    broadcast-form kernel runs on it. The routed expert matmuls (int8 and
    4-bit stacks) are a grid over (expert, panel) whose items run these
    kernels on the slots routed to their expert. With `table-lookups`,
    mxfp4 codes decode by one `vpermps` over E2M1's 16 values.

    With `int8-activations`, int4 matmuls (groups of 32 or multiples of 64;
    dense, and the routed experts' grouped GEMM) and dense int8 ones (K a
    multiple of 32) quantise x first, in blocks of 32 as llama.cpp's Q8_0
    does, and multiply codes by codes with AVX512-VNNI's `vpdpbusd`
    (passes/VectorizeVnniMatmuls.cpp); one x row reads the grid item's
    weight rows one after the other, each prefetching the row 4 further
    on. The other formats are unchanged.

    The loop carries `chimera.block_size = 1`: each iteration is one grid
    item for `chimera-outline-kernels`. Ragged M and N use 1-wide tiles, a
    K that is not a multiple of the vector a masked load. Matmuls whose
    buffers are not row-major with a unit inner stride are left alone.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"16",
           "f32 lanes per vector (16: AVX-512)">,
    Option<"rows", "rows", "int64_t", /*default=*/"8",
           "Weight rows per grid item and tile">,
    Option<"cols", "cols", "int64_t", /*default=*/"2",
           "x rows per tile (8 x 2: 16 accumulators and 10 loads fit the 32 "
           "AVX-512 registers; 3 x 8 spilled)">,
    Option<"kChunk", "k-chunk", "int64_t", /*default=*/"1024",
           "K elements per pass over the x rows (rounded down to the vector)">,
    Option<"int8Activations", "int8-activations", "bool", /*default=*/"false",
           "int4 and int8 matmuls quantise x to int8 in blocks of 32 and sum "
           "with AVX512-VNNI's vpdpbusd (the target must have avx512vnni)">,
    Option<"tableLookups", "table-lookups", "bool", /*default=*/"false",
           "mxfp4 codes decode through their 16 values with AVX-512's "
           "vpermps (the target must have avx512f; needs vector-width=16)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::vector::VectorDialect"];
}

def LaunchToRuntime : Pass<"chimera-launch-to-runtime", "::mlir::ModuleOp"> {
  let summary = "Lower chimera.launch to the runtime's launch call";
  let description = [{
    Runs after the conversion to the LLVM dialect (which leaves
    `chimera.launch` in place with its operands cast back from LLVM types).
    Each launch packs its operands into a stack struct.

    On x86 it calls the runtime's `chimera_parallel_for(n, task, ctx)`; a
    generated `<kernel>_task(begin, end, ctx)` unpacks them and calls the
    kernel's C interface. The global `chimera_cpu_kernels` lists
    {task, kernel name} per kernel, ending in nulls, for the runtime's
    kernel profile (`chimera_profile`).

    With `gpu`, the kernels live in the embedded GPU binary: each launch
    calls `chimera_gpu_launch(kernel, n, ctx)` with the kernel's index in
    the global `chimera_gpu_kernels`, the table "name(fields);..." that
    tells the runtime how to read each kernel's struct: `m<bytes>.<rank>`
    for a memref descriptor of elements of that size, `x` for an index
    (i64), `i` for an i32, `f` for an f32, `b` for an i1.
  }];
  let options = [
    Option<"gpu", "gpu", "bool", /*default=*/"false",
           "Launch kernels of the embedded GPU binary (chimera_gpu_launch)">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def CooperativeReductions
    : Pass<"chimera-gpu-cooperative-reductions", "::mlir::ModuleOp"> {
  let summary = "Give a reducing grid item a whole workgroup";
  let description = [{
    After `chimera-kernels-to-gpu` (one grid item per invocation), a kernel
    whose item is a reduction, `out[idx] = combine(out[idx], v)` over an
    `scf.for` (combine: addf, maximumf, minimumf, maxnumf, minnumf; the
    item's only store), runs one item per workgroup instead: invocation
    `lane` takes iterations `lane, lane + W, ...` into a register, the `W`
    partials are combined in workgroup memory by a tree (a barrier per
    level), and lane 0 folds the total into `out[idx]`. Launches of such a
    kernel count `items × W` invocations, so the runtime launches one
    workgroup per item. With `subgroup-reduce`, a sum is instead reduced
    within each subgroup in registers (`gpu.subgroup_reduce`), the
    subgroups' sums left in workgroup memory, and invocation 0 adds them:
    any subgroup size works. A chain `combine(combine(out[idx], a), b)`
    (two nibbles of a 4-bit weight byte) is one reduction, and a nest of
    two static loops (a quantised layer's groups and the bytes within a
    group) is made one loop over both when neither alone is long enough.
    Only reductions with a static trip count of at least `2·W` are
    rewritten (a linear layer's or a norm's over the hidden
    size): a short one keeps one invocation per item, and so does one of
    data-dependent length unless `data-dependent` is set.
  }];
  let options = [
    Option<"workgroupSize", "workgroup-size", "int64_t", /*default=*/"64",
           "Invocations per workgroup (what chimera-kernels-to-gpu used)">,
    Option<"workgroupAllocs", "workgroup-allocs", "bool", /*default=*/"false",
           "Workgroup memory as a static memref.alloc in the workgroup "
           "address space (SPIR-V) instead of a gpu.func attribution (NVVM)">,
    Option<"subgroupReduce", "subgroup-reduce", "bool", /*default=*/"false",
           "Sum within each subgroup with gpu.subgroup_reduce, then across "
           "subgroups in workgroup memory (2 barriers instead of log2 W + "
           "2); for targets with subgroup arithmetic">,
    Option<"subgroupSize", "subgroup-size", "int64_t", /*default=*/"0",
           "With subgroup-reduce: the subgroups' size where the target fixes "
           "it (CUDA: 32), making subgroup g lanes [g·size, (g+1)·size) and "
           "every reduction uniform; 0: whatever the device's is">,
    Option<"dataDependent", "data-dependent", "bool", /*default=*/"false",
           "Also reductions whose trip count only the data knows "
           "(attention's softmax and weighted sum over the keys so far)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

def TileMatmuls : Pass<"chimera-gpu-tile-matmuls", "::mlir::ModuleOp"> {
  let summary = "Give GEMM kernels a workgroup-tiled twin for many-row grids";
  let description = [{
    After `chimera-kernels-to-gpu` (one grid item per invocation), a kernel
    whose item `i` is the dot product of row `i div N` and column `i mod N`
    (its one store is `out[idx] = out[idx] + v` in a reduction loop of
    static length; `idx` depends on the row and the column only; `v` is a
    product whose factors each depend on the row or on the column, with the
    reduction index) gets a twin, `<kernel>_tiled`, in which a workgroup of
    `W` invocations computes a `W/2 × 32` tile of the output. For each slice
    of 16 reduction steps the invocations compute the tile's row-side and
    column-side factors once into workgroup memory (a dequantisation or a
    fused producer runs once per element, not once per output), then each
    accumulates a 4×4 block of outputs in registers; two barriers per slice.
    Each launch becomes a choice on the host: the twin, with the row count
    as an extra parameter and one workgroup per tile, when the grid has at
    least `min-rows` rows (prefill), else the original launch (decode, whose
    item `chimera-gpu-cooperative-reductions` may then give a workgroup).
  }];
  let options = [
    Option<"workgroupSize", "workgroup-size", "int64_t", /*default=*/"64",
           "Invocations per workgroup (what chimera-kernels-to-gpu used)">,
    Option<"minRows", "min-rows", "int64_t", /*default=*/"8",
           "Fewest rows (grid / N) for which a launch takes the tiled twin">,
    Option<"workgroupAllocs", "workgroup-allocs", "bool", /*default=*/"false",
           "Workgroup memory as a static memref.alloc in the workgroup "
           "address space (SPIR-V) instead of a gpu.func attribution (NVVM)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

def SubgroupShuffles : Pass<"chimera-gpu-subgroup-shuffles"> {
  let summary = "Lower subgroup reductions to butterflies of shuffles";
  let description = [{
    Rewrites each uniform `gpu.subgroup_reduce` into `gpu.shuffle xor`
    steps over a subgroup of `subgroup-size` lanes (upstream's
    `populateGpuLowerSubgroupReduceToShufflePatterns`), which
    `convert-gpu-to-nvvm` turns into `shfl.sync.bfly`: NVVM has no f32
    subgroup reduction of its own.
  }];
  let options = [
    Option<"subgroupSize", "subgroup-size", "int64_t", /*default=*/"32",
           "Lanes per subgroup (NVIDIA warps: 32)">
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::arith::ArithDialect"];
}

def VectorizeLaneLoads : Pass<"chimera-gpu-vectorize-lane-loads"> {
  let summary = "Deal a workgroup reduction's iterations to lanes in runs of "
                "four, read by vector loads";
  let description = [{
    `chimera-gpu-cooperative-reductions` deals a reduction's iterations to
    the lanes of a workgroup round robin (`k = lane, lane + W, ...`): a
    warp's loads coalesce, but each is one element, and a decode GEMV needs
    more bytes in flight per lane to reach the memory's bandwidth. After
    `chimera-linearize-kernel-buffers`, this pass deals them in runs of four
    (`k = 4·lane .. 4·lane + 3, then + 4W, ...`) and, with `vector-loads`,
    reads every flat operand indexed `x + k` (x fixed over the loop) with
    one `vector.load` of four elements aligned to their size (16 bytes for
    f32: `ld.global.v4.f32` on NVPTX). Whether each such address is aligned
    is tested at run time, once per item (uniform over the workgroup); an
    item whose addresses are not takes the original loop. The runs go to
    the lanes round robin, and the at most three iterations past the last
    whole run one to a lane. With `alias-bindings` (SPIR-V, whose logical
    addressing has no pointer casts) an operand that is a kernel argument of
    32-bit elements is read instead through one more argument, a
    `memref<?xvector<4xT>>` marked `chimera.alias_of = <its index>`, which
    `chimera-kernels-to-spirv` binds to the same descriptor; the test is then
    that the offset is a multiple of four elements. Without `vector-loads`
    the runs are unrolled with scalar loads.
  }];
  let options = [
    Option<"vectorLoads", "vector-loads", "bool", /*default=*/"true",
           "Read contiguous operands four elements at a time">,
    Option<"aliasBindings", "alias-bindings", "bool", /*default=*/"false",
           "Read them through a vector-typed alias of the kernel argument "
           "(`chimera.alias_of`: SPIR-V, whose logical addressing has no "
           "pointer casts, binds both to one descriptor) instead of "
           "aligned vector.loads (NVVM); 32-bit elements only">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
}

def KernelsToGpu : Pass<"chimera-kernels-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Move kernels into a gpu.module, one grid item per invocation";
  let description = [{
    Every `chimera.kernel` function becomes a `gpu.func` of
    `gpu.module @chimera_kernels`, and its launches refer to it as
    `@chimera_kernels::@name`. Invocation `i` (workgroups of
    `workgroup-size` along x, spread over y past the x limit) runs grid item
    `i`; items past the grid size do nothing.

    The kernel takes one flat buffer (`memref<?xT>`) per memref operand and
    a last `memref<?xi32>` of parameters: the grid size, then per operand in
    order either a scalar (index, i32, i1 or the bits of an f32) or, for a
    memref, its element offset in the flat buffer, its sizes and its
    strides. The runtime binds whole device allocations and fills the
    parameters from the host's memref descriptors, so any layout the host
    passes works; the body rebuilds each operand as a
    `memref.reinterpret_cast` of its flat buffer, whose strides are static
    where the operand's type fixes them (a unit innermost stride)
    (`chimera-linearize-kernel-buffers` then turns accesses into 1-D ones).
    The workgroup size is recorded both as `known_block_size` (NVVM) and as
    `spirv.entry_point_abi` (SPIR-V). Constant tables the host passes
    (`memref.get_global`) are copied into a fresh buffer per launch: the
    device cannot read the host binary. With `max-buffer-bytes`, an operand
    of static shape larger than that is an error at its definition.
  }];
  let options = [
    Option<"workgroupSize", "workgroup-size", "int64_t", /*default=*/"64",
           "Invocations per workgroup">,
    Option<"maxBufferBytes", "max-buffer-bytes", "int64_t", /*default=*/"0",
           "Largest buffer one kernel operand may be (the target's "
           "maxStorageBufferRange; 0: no limit). Checked for static shapes">
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect", "::mlir::spirv::SPIRVDialect"];
}

def LinearizeKernelBuffers : Pass<"chimera-linearize-kernel-buffers"> {
  let summary = "Turn accesses through views of flat buffers into 1-D accesses";
  let description = [{
    After `chimera-kernels-to-gpu` and upstream's `expand-strided-metadata`,
    every memref a GPU kernel reads is a `memref.reinterpret_cast` of a flat
    buffer with a dynamic offset and strides (static where the operand's
    type fixes them), which the SPIR-V conversion
    cannot lower. Each `memref.load`/`memref.store` through such a view
    becomes an access of the flat buffer at
    `offset + sum(index_d * stride_d)`, and `memref.dim` of a view its size
    operand. An access of a view that is neither is an error.

    Flat bf16 buffers of GPU kernels then become i16 buffers whose loads and
    stores are bitcast (SPIR-V has no bf16; `arith-expand{include-bf16}`
    turns the f32 conversions into shifts). With `split-i64`, flat i64
    buffers become i32 buffers of (low, high) pairs, for devices without
    64-bit integers in shaders (`arith-emulate-wide-int` then carries the
    arithmetic).
  }];
  let options = [
    Option<"splitI64", "split-i64", "bool", /*default=*/"false",
           "Access i64 buffers as pairs of i32 words">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def KernelsToSpirv : Pass<"chimera-kernels-to-spirv", "::mlir::ModuleOp"> {
  let summary = "Convert the kernels' gpu.module to a spirv.module";
  let description = [{
    Upstream's `convert-gpu-to-spirv` with the math dialect added (exp,
    rsqrt, tanh, sin, cos, ... as GLSL.std.450 instructions): memrefs of the
    default memory space become storage buffers, function-local allocas
    stay in the Function storage class, and each `gpu.module` (with the
    `#spirv.target_env` that `spirv-attach-target` put in its targets)
    becomes a `spirv.module` with one entry point per kernel.
  }];
  let dependentDialects = ["::mlir::spirv::SPIRVDialect"];
}

def SynchronizeHostAccesses : Pass<"chimera-synchronize-host-accesses", "::mlir::ModuleOp"> {
  let summary = "Wait for the device before host code touches its buffers";
  let description = [{
    On GPU targets launches are asynchronous: the runtime records them and
    runs them when the host needs their results. This pass inserts a call
    to `chimera_gpu_sync()` before every host op that reads or writes a
    memref after a launch (a scalar read of a size, a host loop, a copy, a
    call), and none where no launch came since the last wait. A region op
    without launches is one host access; in one with launches each block
    starts unsynchronised. The runtime waits once more when the forward
    call returns.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def EmbedGpuBinary : Pass<"chimera-embed-gpu-binary", "::mlir::ModuleOp"> {
  let summary = "Replace the lowered kernels by an LLVM global holding them";
  let description = [{
    Takes the kernels after their target's conversion, either one
    `spirv.module` (Vulkan: serialised to SPIR-V words) or a `gpu.binary`
    (CUDA: the PTX text of its object), and replaces them and the
    `gpu.module` with LLVM globals the runtime reads:
    `chimera_gpu_binary` (the bytes), `chimera_gpu_binary_size` (i64),
    `chimera_gpu_target` ("vulkan" or "cuda") and
    `chimera_gpu_workgroup_size` (i64, from the module's
    `chimera.workgroup_size` that chimera-kernels-to-gpu set). The host code is then lowered
    like x86's.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def ReassociateReductions : Pass<"chimera-reassociate-reductions"> {
  let summary = "Let the backend reorder the sums of reductions";
  let description = [{
    Sets `fastmath<reassoc, contract>` on the float arithmetic inside every
    `linalg.generic` with a reduction iterator (matmuls, norms, softmax
    denominators, attention scores). Without reassociation LLVM must keep a
    dot product's additions in order and cannot vectorise it; with it, the
    K loop becomes AVX2/AVX-512 FMAs on the target CPU. The reordering
    changes sums by a few ulps (the fixtures' tolerance is 1e-4).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def FuseElementwise : Pass<"chimera-fuse-elementwise"> {
  let summary = "Fuse elementwise producers into consumers that do not "
                "recompute them";
  let description = [{
    Upstream's elementwise fusion, restricted: a producer is fused only into
    a consumer without reduction loops. Fusing `silu(gate) * up` into the
    down projection (a reduction over the intermediate dim) would recompute
    the activation once per output column — 768 times per element for
    llama-125m, which made `expf` 30% of a decode step.

    A producer with other users is fused only if it reads at most one
    tensor: it stays materialised for those users, so fusing moves its reads
    into the consumer. Fusing the residual adds `r' = r + f(r)` made each
    layer's add re-read every earlier layer's output (24 inputs by
    llama-125m's last layer), 17% of an int4a8 prefill.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

#endif // CHIMERA_PASSES_TD
