"""A model converted to each device format (``ricecnn.deploy.formats``).

- LiteRT (TensorFlow Lite) float32 and int8. The converter may use only LiteRT's built-in ops (no
  TensorFlow "flex" fallback, which the stand-alone LiteRT interpreter cannot run). int8 is full
  integer post-training quantization, weights and activations, calibrated on training images; the
  model's input and output stay float32, so every format takes the same images. An int8 file counts
  only when it is integer inside: no op between its input's quantisation and its output's
  dequantisation computes in float (``float_inside``); the converter otherwise leaves an op it cannot
  quantise in float32, wrapped in DEQUANTIZE and QUANTIZE, and says nothing.
- ONNX (float32), through Keras' own exporter (tf2onnx underneath), and int8 by ONNX Runtime's quantiser
  from that export. tf2onnx names the nodes and tensors it makes from a process-wide counter, and when
  its optimiser merges equal nodes the surviving name depends on Python's hash order; so both files'
  internal names are rewritten from the graph's structure (``canonical_names``) and the same model
  gives the same bytes in every run (DVC's hash of the export folder repeats).

A converter that meets an op its runtime lacks does not always stop: TensorFlow's LiteRT converter can
write a model whose output is empty, and tf2onnx writes the unknown node and logs it. So a conversion
counts only once its runtime loads the file and returns one probability per class; otherwise
``ConversionError`` says, in one line, which op was missing, read from what the converter or the
runtime printed. Only the tools' own failures count so (``_tools_failure``): an import error, or an
exception raised in this project's code, fails the stage. What the converter printed is kept beside
the failure, in ``<file>.log``.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import traceback
import weakref
from pathlib import Path

import numpy as np

from ..core.io import atomic_path
from .formats import INTEGER, Format


class ConversionError(Exception):
    """A model a runtime cannot take: one line, naming the op where the tools name it."""


# What the tools print about an op they lack (hand-written: neither tool raises an exception that
# names it). TensorFlow's MLIR converter: `loc(... fused["Lgamma:", ...]): error: ...` or
# `'tf.Lgamma' op is neither a custom op nor a flex op`; ONNX Runtime: `No Op registered for Lgamma`;
# tf2onnx: `Tensorflow op [name: Lgamma] is not supported`.
_OP_PATTERNS = (re.compile(r"'tf\.(\w+)' op is neither"), re.compile(r'fused\["(\w+):.*\berror:'),
                re.compile(r"No Op registered for (\w+)"), re.compile(r"Tensorflow op \[[^\]]*: (\w+)\] is not supported"))


def missing_op(text: str) -> str | None:
    """The first op a converter's or runtime's message says it lacks, or None."""
    for line in text.splitlines():
        for pattern in _OP_PATTERNS:
            if m := pattern.search(line):
                return m.group(1)
    return None


@contextlib.contextmanager
def captured_stderr():
    """Everything written to file descriptor 2 while the block runs, native code's included (the
    converters print from C++ and through logging), kept in the list it yields (one string, at the
    end) instead of the terminal."""
    import logging
    import sys

    sys.stderr.flush()
    saved, out = os.dup(2), []
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        handler = logging.StreamHandler(os.fdopen(os.dup(held.fileno()), "w"))
        logging.getLogger().addHandler(handler)
        try:
            yield out
        finally:
            logging.getLogger().removeHandler(handler)
            handler.stream.close()
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            out.append(held.read().decode(errors="replace"))


def convert(model, fmt: Format, path: Path, calibration: np.ndarray, check: np.ndarray) -> None:
    """Write ``model`` in format ``fmt`` to ``path`` (atomically: nothing is left on failure), with int8
    calibrated on the ``calibration`` images (uint8, NHWC); then load it in its runtime and run it on
    ``check`` (one image) as the proof it converted. ConversionError when it did not."""
    from . import runtimes

    classes, problem = model.output_shape[-1], None
    model.predict_on_batch(np.asarray(check[:1], dtype=np.float32))  # Keras' ONNX export wants a model called once
    with captured_stderr() as printed:
        try:
            with atomic_path(path) as tmp:
                raw = tmp.with_name(tmp.name + fmt.suffix[fmt.suffix.rfind("."):])  # the exporters want the suffix
                try:
                    _export(model, fmt, raw, calibration)
                    probs = runtimes.load(fmt.runtime, raw, threads=1).predict(check[:1])
                    if probs.shape != (1, classes):
                        raise ConversionError(f"its output has shape {probs.shape}, not (1, {classes})")
                    if fmt.runtime == "litert" and fmt.precision in INTEGER and (floats := float_inside(raw)):
                        raise ConversionError(f"not integer inside: {', '.join(dict.fromkeys(floats))} "
                                              "would run in float32 between its quantised input and output")
                    os.replace(raw, tmp)
                finally:
                    raw.unlink(missing_ok=True)
        except Exception as e:  # noqa: BLE001  (narrowed at once: anything but the tools' own failure is raised)
            if not _tools_failure(e):
                raise
            problem = e
    if problem is not None:
        op = missing_op(printed[0] + "\n" + str(problem))
        first = str(problem).strip().splitlines()[0][:300] if str(problem).strip() else type(problem).__name__
        log = path.with_name(path.name + ".log")
        with atomic_path(log) as tmp:
            tmp.write_text(f"{type(problem).__name__}: {problem}\n\n{printed[0]}")
        raise ConversionError((f"the runtime lacks op {op}" if op else first) + f" (the converter's log: {log.name})") from None


_PACKAGE = str(Path(__file__).resolve().parent.parent)


def _tools_failure(e: Exception) -> bool:
    """Whether ``e`` is a converter's or a runtime's failure on this model, not a defect of this
    project or of the installation: a ``ConversionError``, or an exception raised inside the tools
    (TensorFlow's converter, tf2onnx, onnx, ONNX Runtime and its quantiser, LiteRT, Keras' exporters)
    or of their own types. An ImportError (a missing runtime) and anything raised by this project's own
    code are defects. Hand-written: the tools share no base class for "this model cannot be converted"."""
    if isinstance(e, ConversionError):
        return True
    if isinstance(e, ImportError):
        return False
    frames = traceback.extract_tb(e.__traceback__)
    where = frames[-1].filename if frames else ""
    if where.startswith(_PACKAGE):  # raised by this project's code
        return False
    if any(f"{os.sep}{tool}{os.sep}" in where for tool in _TOOLS):
        return True
    return f"{type(e).__module__}.".startswith(tuple(f"{tool}." for tool in _TOOLS))


_TOOLS = ("tensorflow", "tf2onnx", "onnx", "onnxruntime", "ai_edge_litert", "keras")


def float_inside(path: Path) -> list[str]:
    """The ops of the LiteRT file ``path`` that compute in float32 between the input's QUANTIZE and
    the output's DEQUANTIZE (in graph order), empty for a file that is integer inside."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    dtypes = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
    inputs = {d["index"] for d in interpreter.get_input_details()}
    outputs = {d["index"] for d in interpreter.get_output_details()}
    found = []
    for op in interpreter._get_ops_details():  # noqa: SLF001  (the interpreter's only listing of its ops)
        ins, outs = [i for i in op["inputs"] if i >= 0], list(op["outputs"])
        if op["op_name"] == "QUANTIZE" and set(ins) <= inputs or op["op_name"] == "DEQUANTIZE" and set(outs) <= outputs:
            continue
        if any(dtypes.get(i) == np.float32 for i in ins + outs):
            found.append(op["op_name"])
    return found


def drop_identity_reshapes(proto) -> None:
    """Remove every Reshape that leaves its input as it is (target ``[-1 or 0, d1, ..., dk]`` on an input
    of static shape ``[N, d1, ..., dk]``), its consumers reading its input instead.

    Why: at small inputs the late feature maps are 1x1 and tf2onnx leaves a run of such Reshapes, of
    which its optimiser removes one or not depending on state of the process (googlenet_light's file
    had 143 nodes in one clean-clone export and 142 in another, the same computation). Removing them
    all gives one graph whatever the optimiser did. Hand-written: neither onnx nor ONNX Runtime has a
    pass that writes a portable file without them (onnxoptimizer is not a dependency here)."""
    import onnx
    from onnx import numpy_helper

    graph = proto.graph
    inferred = onnx.shape_inference.infer_shapes(proto).graph
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
              for v in (*inferred.value_info, *inferred.input, *inferred.output) if v.type.tensor_type.HasField("shape")}
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    outputs = {v.name for v in graph.output}
    renamed: dict[str, str] = {}
    kept = []
    for node in graph.node:
        node.input[:] = [renamed.get(n, n) for n in node.input]
        source, target = shapes.get(node.input[0]) if node.input else None, constants.get(node.input[1]) if len(node.input) > 1 else None
        if (node.op_type == "Reshape" and source and target is not None and target.ndim == 1 and len(target) == len(source)
                and target[0] in (-1, 0) and all(d is not None and d == t for d, t in zip(source[1:], target[1:]))
                and node.output[0] not in outputs):
            renamed[node.output[0]] = node.input[0]
            continue
        kept.append(node)
    used = {n for node in kept for n in node.input}
    unused = [t for t in graph.initializer if t.name not in used]
    for tensor in unused:
        graph.initializer.remove(tensor)
    del graph.node[:]
    graph.node.extend(kept)
    del graph.value_info[:]  # shapes of the removed outputs: none are needed to run the file


def canonical_names(path: Path) -> None:
    """Rewrite the ONNX file ``path``'s internal names from its structure alone: node i is
    ``<op>_<i>``, its outputs ``<op>_<i>:<k>``, the weights ``w<j>`` in the order the nodes first read
    them, and symbolic dimensions ``batch`` then ``dim<k>``; the graph's input and output keep their
    names, and the graph's note naming the traced TensorFlow function (a counter too) is dropped. The computation is unchanged (the tensors are the same, renamed everywhere they are used).
    Hand-written: neither onnx nor tf2onnx has a call that names a graph canonically."""
    import onnx

    proto = onnx.load(str(path))
    graph = proto.graph
    graph.doc_string = ""  # "converted from b'__inference___call___<counter>'"
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in graph.node for a in n.attribute):
        raise ValueError(f"{path.name} has subgraphs (If, Loop), which canonical_names does not rename")
    drop_identity_reshapes(proto)
    keep = {v.name for v in (*graph.input, *graph.output)}
    weights = {t.name for t in graph.initializer}
    names: dict[str, str] = {}
    first_read: dict[str, int] = {}
    for i, node in enumerate(graph.node):
        for name in node.input:
            if name in weights and name not in names:
                names[name] = f"w{len(first_read)}"
                first_read[name] = len(first_read)
        node.name = f"{node.op_type}_{i}"
        names.update({out: f"{node.op_type}_{i}:{k}" for k, out in enumerate(node.output) if out and out not in keep})
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    dims: dict[str, str] = {}
    for value in (*graph.input, *graph.output, *graph.value_info):
        value.name = names.get(value.name, value.name)
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                dim.dim_param = dims.setdefault(dim.dim_param, "batch" if not dims else f"dim{len(dims)}")
    ordered = sorted(graph.initializer, key=lambda t: first_read.get(t.name, len(first_read)))
    for tensor in ordered:
        tensor.name = names.get(tensor.name, tensor.name)
    del graph.initializer[:]
    graph.initializer.extend(ordered)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


# model -> its canonical float32 ONNX bytes: a second tf2onnx export of the same model in one process
# need not give the first's graph (one export stage run left googlenet_light's int8 file with a
# Reshape and a Transpose that a fresh process's export does not have), so int8 quantises the graph
# the float32 file holds, converted once
_ONNX_FLOAT32: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _onnx_float32(model, path: Path) -> None:
    """The model's float32 ONNX export (Keras' exporter, ``canonical_names``) written to ``path``: made at
    the model's first ONNX conversion in this process, and the same bytes at every later one."""
    if model not in _ONNX_FLOAT32:
        model.export(str(path), format="onnx", verbose=False)
        canonical_names(path)
        _ONNX_FLOAT32[model] = path.read_bytes()
    else:
        path.write_bytes(_ONNX_FLOAT32[model])


def _onnx_int8(model, path: Path, calibration: np.ndarray) -> None:
    """ONNX Runtime's static int8 quantisation of the model's float32 ONNX export: weights and activations
    in int8 (QDQ: QuantizeLinear/DequantizeLinear around each quantised op), the activation ranges
    calibrated on ``calibration``, one image at a time; input and output stay float32."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "float32.onnx"
        _onnx_float32(model, source)  # the float32 file's graph, converted once a model
        import onnx

        name = onnx.load(str(source)).graph.input[0].name

        class Images(CalibrationDataReader):
            def __init__(self):
                self.images = iter(calibration)

            def get_next(self):
                image = next(self.images, None)
                return None if image is None else {name: np.asarray(image[None], dtype=np.float32)}

        quantize_static(str(source), str(path), Images(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    canonical_names(path)


def _export(model, fmt: Format, path: Path, calibration: np.ndarray) -> None:
    import tensorflow as tf

    if fmt.runtime == "onnx" and fmt.precision == "float32":
        _onnx_float32(model, path)
        return
    if fmt.runtime == "onnx":
        _onnx_int8(model, path, calibration)
        return
    options = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if fmt.precision in INTEGER:
        def representative():  # one image at a time, as the calibration sees a deployed model's inputs
            for image in calibration:
                yield [np.asarray(image[None], dtype=np.float32)]

        options = {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative,
                   "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]}}
        if fmt.precision == "uint8":  # integer in and out: the pixels as they are, the probabilities quantised
            options.update(inference_input_type=tf.uint8, inference_output_type=tf.uint8)
    model.export(str(path), format="litert", verbose=False, **options)
