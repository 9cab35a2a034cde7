#!/usr/bin/python3
"""Convert an ONNX model's float32 computation to float16, keeping its inputs and outputs float32.

  convert-float16.py IN.onnx OUT.onnx

What changes (onnx + numpy only, both from Debian):
- every float32 initializer and Constant tensor becomes float16 (values rounded to nearest, as
  numpy's astype does), except the operands the ONNX spec requires in float32 (Resize's roi and
  scales, Upsample's scales);
- Cast nodes that cast to float32, and ConstantOfShape's float32 value, cast / fill float16 instead;
- each float32 graph input X gets a Cast X -> X__fp16 feeding the nodes that read X, and each
  float32 graph output Y is produced as Y__fp16 and cast back to float32 under the name Y, so the
  model's I/O (and every intermediate tensor's name) is that of the original: `netlens inspect
  --diff` aligns the two models' tensors by name;
- declared value_info types of intermediate tensors are dropped (the loader infers them again).
The result is a real float16 model that runs on netlens's CPU engine and onnxruntime.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# (op_type, input index) pairs that stay float32 by the ONNX spec.
KEEP_FLOAT = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}


def to_fp16(t):
    a = numpy_helper.to_array(t)
    return numpy_helper.from_array(a.astype(np.float16), t.name)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: convert-float16.py IN.onnx OUT.onnx")
    m = onnx.load(sys.argv[1])
    g = m.graph
    keep = {n.input[i] for n in g.node for i in range(len(n.input)) if (n.op_type, i) in KEEP_FLOAT}
    for i, t in enumerate(g.initializer):
        if t.data_type == TensorProto.FLOAT and t.name not in keep:
            g.initializer[i].CopyFrom(to_fp16(t))
    constants = 0
    for n in g.node:
        for a in n.attribute:
            if n.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
            if n.op_type in ("Constant", "ConstantOfShape") and a.type == onnx.AttributeProto.TENSOR \
                    and a.t.data_type == TensorProto.FLOAT and not any(o in keep for o in n.output):
                a.t.CopyFrom(to_fp16(a.t))
                constants += 1
    del g.value_info[:]
    casts_in, casts_out = [], []
    inits = {t.name for t in g.initializer}
    for x in g.input:
        if x.name in inits or x.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        h = x.name + "__fp16"
        for n in g.node:
            for i, name in enumerate(n.input):
                if name == x.name and (n.op_type, i) not in KEEP_FLOAT:
                    n.input[i] = h
        casts_in.append(helper.make_node("Cast", [x.name], [h], name=x.name + "__to_fp16", to=TensorProto.FLOAT16))
    for y in g.output:
        if y.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        h = y.name + "__fp16"
        for n in g.node:
            for i, name in enumerate(n.output):
                if name == y.name:
                    n.output[i] = h
            for i, name in enumerate(n.input):  # an output also read inside the graph
                if name == y.name:
                    n.input[i] = h
        casts_out.append(helper.make_node("Cast", [h], [y.name], name=y.name + "__to_fp32", to=TensorProto.FLOAT))
    nodes = casts_in + list(g.node) + casts_out
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, sys.argv[2])
    n16 = sum(1 for t in g.initializer if t.data_type == TensorProto.FLOAT16)
    print(f"{sys.argv[2]}: {n16} float16 initializers, {constants} float16 Constant values, {len(casts_in)} input casts, "
          f"{len(casts_out)} output casts")


if __name__ == "__main__":
    main()
