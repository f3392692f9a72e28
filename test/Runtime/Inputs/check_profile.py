"""Checks chimera-bench --profile --json output against the model it ran:
every linear layer is one matmul-kernel launch per forward (prefill, or
decode step), every attention layer one attention launch, every kernel
has its compiled name, and the kernels' time lies within the test's.

usage: check_profile.py BENCH_JSON MODEL_DIR DECODE_TOKENS"""
import json
import os
import struct
import sys

out, model, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = json.load(open(os.path.join(model, "config.json")))
linear = 0
for name in os.listdir(model):
    if name.endswith(".safetensors") and name != "golden.safetensors":
        with open(os.path.join(model, name), "rb") as f:
            header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
        linear += sum(1 for t, info in header.items() if t != "__metadata__"
                      and len(info["shape"]) == 2 and "embed" not in t)
layers = config["num_hidden_layers"]
errors = []
for line in open(out):
    test = json.loads(line)
    # Kernel counts are summed over the timed repetitions.
    forwards = (1 if test["test"].startswith("pp") else tokens) * len(test["reps"])
    kernels = test["kernels"]
    launches = lambda tag: sum(k["launches"] for k in kernels if k["name"].endswith(tag))
    if launches("_matmul") != linear * forwards:
        errors.append("%s: %d matmul launches, expected %d linear layers x %d"
                      % (test["test"], launches("_matmul"), linear, forwards))
    if launches("_attention") != layers * forwards:
        errors.append("%s: %d attention launches, expected %d layers x %d"
                      % (test["test"], launches("_attention"), layers, forwards))
    unnamed = [k for k in kernels if not k["name"].startswith("forward_kernel_")]
    if unnamed:
        errors.append("%s: kernels without a compiled name: %s" % (test["test"], unnamed))
    total = sum(k["seconds"] for k in kernels)
    if not 0 < total <= test["seconds"]:
        errors.append("%s: kernels took %g s of the test's %g s"
                      % (test["test"], total, test["seconds"]))
    print("%s: %d kernels, %d matmul launches per repetition, %.0f%% of the time in kernels"
          % (test["test"], len(kernels), launches("_matmul") // len(test["reps"]),
             100 * total / test["seconds"]))
sys.exit("\n".join(errors) if errors else 0)
