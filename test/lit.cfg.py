# -*- Python -*-
import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "CHIMERA"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.chimera_obj_root, "test")
config.excludes = ["CMakeLists.txt", "README.md", "lit.cfg.py", "lit.site.cfg.py", "Inputs", "Install", "fixtures"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%chimera_src_root", config.chimera_src_root))
config.substitutions.append(("%chimera_obj_root", config.chimera_obj_root))
config.substitutions.append(
    ("%fixtures", os.path.join(config.chimera_src_root, "test", "fixtures")))
config.substitutions.append(("%python", "/usr/bin/python3"))
config.substitutions.append(("%cc", "/usr/bin/clang-22"))
config.substitutions.append(
    ("%chimera_plugin", os.path.join(config.chimera_obj_root, "lib", "ChimeraPlugin.so")))
runner_libs = " ".join(
    "-shared-libs=" + os.path.join(config.llvm_lib_dir, lib)
    for lib in ["libmlir_runner_utils.so", "libmlir_c_runner_utils.so"])
config.substitutions.append(("%runner_libs", runner_libs))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

tool_dirs = [os.path.join(config.chimera_obj_root, "bin"), config.llvm_tools_dir]
tools = [
    "chimera-opt",
    "chimera-compile",
    "chimera-run",
    "chimera-bench",
    ToolSubst("mlir-opt", command=os.path.join(config.llvm_tools_dir, "mlir-opt")),
    ToolSubst("mlir-runner", command=os.path.join(config.llvm_tools_dir, "mlir-runner")),
    ToolSubst("not", command=os.path.join(config.llvm_tools_dir, "not")),
    ToolSubst("split-file", command=os.path.join(config.llvm_tools_dir, "split-file")),
]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# CUDA's assembler validates the PTX of --target=cuda (not a Debian package:
# /usr/local/cuda, or PATH).
import shutil
ptxas = shutil.which("ptxas") or (
    "/usr/local/cuda/bin/ptxas" if os.path.exists("/usr/local/cuda/bin/ptxas") else None)
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))

# Kernels that need AVX512-VNNI (--quant-activations=int8) or AVX-512F
# (vscalefps) on the machine that runs them.
try:
    with open("/proc/cpuinfo") as f:
        cpu_flags = f.read().split()
        if "avx512_vnni" in cpu_flags:
            config.available_features.add("avx512vnni")
        if "avx512f" in cpu_flags:
            config.available_features.add("avx512f")
except OSError:
    pass
