"""kiln's errors reach Python as exceptions with kiln's message: the place (input, dimension, node) and what was
expected."""
import numpy as np
import pytest

import kiln
import models
from helpers import random_input


def test_shape_outside_profile_names_input_and_dimension(small_cnn_cpu, rng):
    context = small_cnn_cpu.create_execution_context()
    with pytest.raises(kiln.InvalidArgumentError) as info:
        context.set_input_shape("input", (17, 3, 9, 7))
    assert str(info.value) == "input 'input' dimension 0 ('N') is 17, outside profile 0's range [1, 16]"
    assert isinstance(info.value, ValueError) and isinstance(info.value, kiln.KilnError)
    assert info.value.code == "InvalidArgument"
    with pytest.raises(ValueError, match=r"input 'input' dimension 2 is 10, outside profile 0's range \[9, 9\]"):
        context.infer(random_input(rng, (2, 3, 10, 7)))
    with pytest.raises(ValueError, match="input 'input' has rank 4, got shape 2x3x9 of rank 3"):
        context.set_input_shape("input", (2, 3, 9))


def test_unknown_tensor_names(small_cnn_cpu, rng):
    context = small_cnn_cpu.create_execution_context()
    with pytest.raises(kiln.InvalidArgumentError, match=r"'image' is not an input of this engine \(inputs: 'input'\)"):
        context.set_input_shape("image", (1, 3, 9, 7))
    with pytest.raises(kiln.InvalidArgumentError, match="'nope' is not an input or output of this engine"):
        context.set_tensor_address("nope", 1234)
    with pytest.raises(kiln.InvalidArgumentError, match=r"'image' is not an input of this engine \(inputs: input\)"):
        context.infer({"image": random_input(rng, (1, 3, 9, 7))})
    with pytest.raises(kiln.InvalidArgumentError, match="'nope' is not an input or output"):
        small_cnn_cpu.get_tensor_dtype("nope")


def test_wrong_dtype(small_cnn_cpu, two_input_path, rng):
    context = small_cnn_cpu.create_execution_context()
    with pytest.raises(kiln.InvalidArgumentError, match="input 'input' must be float32, got float64"):
        context.infer(random_input(rng, (2, 3, 9, 7), np.float64))
    with pytest.raises(kiln.InvalidArgumentError, match="input 'input' must be float32, got int32"):
        context.infer(np.ones((2, 3, 9, 7), dtype=np.int32))
    with pytest.raises(kiln.InvalidArgumentError, match="output 'logits' must be float32, got float16"):
        context.infer(random_input(rng, (2, 3, 9, 7)), outputs={"logits": np.empty((2, 5), np.float16)})
    with pytest.raises(kiln.InvalidArgumentError, match=r"output 'logits' has shape \[3, 5\]; these inputs give it"):
        context.infer(random_input(rng, (2, 3, 9, 7)), outputs={"logits": np.empty((3, 5), np.float32)})


def test_missing_and_extra_inputs(two_input_path, rng):
    engine = kiln.build(two_input_path, shapes={"a": ((1, 8), (2, 8), (4, 8)), "c": ((1, 6), (2, 6), (4, 6))},
                        device="cpu")
    context = engine.create_execution_context()
    with pytest.raises(kiln.InvalidArgumentError, match="input 'c' was not given"):
        context.infer({"a": random_input(rng, (2, 8))})
    with pytest.raises(kiln.InvalidArgumentError, match=r"the engine has 2 input\(s\) \(a, c\), got a list of 1"):
        context.infer([random_input(rng, (2, 8))])
    with pytest.raises(kiln.InvalidArgumentError, match="the engine has 2 inputs"):
        context.infer(random_input(rng, (2, 8)))


def test_bad_onnx_bytes():
    parser = kiln.OnnxParser(kiln.Builder().create_network())
    assert not parser.parse(b"this is not a protobuf")
    assert parser.num_errors == 1
    assert "not a valid ONNX ModelProto" in parser.get_error(0).desc()
    with pytest.raises(kiln.InvalidModelError, match="not a valid ONNX ModelProto"):
        kiln.build(b"this is not a protobuf")
    with pytest.raises(kiln.IoError, match="'/no/such/model.onnx' is not a readable file"):
        kiln.build("/no/such/model.onnx")


def test_unsupported_nodes_are_all_listed_with_name_and_op_type():
    data = models.unsupported_ops().SerializeToString()
    parser = kiln.OnnxParser(kiln.Builder().create_network())
    assert not parser.parse(data)
    assert parser.num_errors == 2
    errors = [parser.get_error(i) for i in range(parser.num_errors)]
    assert [(e.node_name(), e.node_operator()) for e in errors] == [("first_unknown", "kiln.test::FooBar"),
                                                                    ("second_unknown", "kiln.test::Frobnicate")]
    assert all("domain 'kiln.test'" in e.desc() and e.code() == "Unsupported" for e in errors)
    with pytest.raises(kiln.UnsupportedError) as info:
        kiln.build(data)
    message = str(info.value)
    assert "(2 problems)" in message and "node 'first_unknown'" in message and "node 'second_unknown'" in message


def test_truncated_and_tampered_engine_bytes(small_cnn_cpu, tmp_path):
    data = bytearray(small_cnn_cpu.serialize())
    runtime = kiln.Runtime()
    with pytest.raises(kiln.InvalidEngineError, match=f"the engine file is truncated: its header says {len(data)} bytes"):
        runtime.deserialize_cuda_engine(bytes(data[: len(data) // 2]))
    with pytest.raises(kiln.InvalidEngineError):
        runtime.deserialize_cuda_engine(b"KILN")
    tampered = bytearray(data)
    tampered[len(data) - 100] ^= 0x5A  # inside the weights: a checksum must catch it
    with pytest.raises(kiln.InvalidEngineError, match="checksum"):
        runtime.deserialize_cuda_engine(bytes(tampered))
    path = tmp_path / "truncated.kiln"
    path.write_bytes(bytes(data[:1000]))
    with pytest.raises(kiln.InvalidEngineError, match=f"^'{path}': the engine file is truncated"):
        kiln.load(path)


def test_dynamic_inputs_need_a_profile(small_cnn_path):
    with pytest.raises(kiln.InvalidArgumentError, match="input.s. 'input' have dynamic dimensions: give an optimiz"):
        kiln.build(small_cnn_path, device="cpu")


def test_profile_shapes_are_checked():
    profile = kiln.Builder().create_optimization_profile()
    with pytest.raises(kiln.InvalidArgumentError, match=r"input 'x' dimension 0: need min <= opt <= max, got 4, 2, 8"):
        profile.set_shape("x", (4, 3), (2, 3), (8, 3))
    with pytest.raises(kiln.InvalidArgumentError, match="differ in rank"):
        profile.set_shape("x", (1, 3), (2, 3), (8,))


def test_network_flags():
    with pytest.raises(kiln.UnsupportedError, match="always explicit-batch"):
        kiln.Builder().create_network(1 << int(kiln.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
