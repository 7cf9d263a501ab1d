"""Data-movement ops: layout (Reshape ... Transpose), Concat/Split, Slice, Gather*, Scatter*, Expand, Tile, Pad,
Resize, DepthToSpace/SpaceToDepth, Trilu. Integer and bool variants check that copies go by element size."""
import numpy as np

from op_case import Case, absent, const, inp

CASES = []
I64_MAX = np.iinfo(np.int64).max
I64_MIN = np.iinfo(np.int64).min


def i64(values):
    return np.asarray(values, dtype=np.int64)


def add(name, op, inputs, attrs=None, outputs=1, opset=17, note=""):
    CASES.append(Case(f"dm_{name}", op, inputs, attrs=dict(attrs or {}), outputs=outputs, opset=opset, note=note))


def data(shape, dtype="float32"):
    low, high = (-50, 50) if dtype.startswith("int") else (-2.0, 2.0)
    return inp("data", shape, dtype, low, high)


DTYPES = ["float32", "int64", "int32", "bool"]

# --- Reshape / Flatten / Squeeze / Unsqueeze
for dt in DTYPES:
    add(f"reshape_{dt}", "Reshape", [data((2, 3, 7), dt), const("shape", i64([7, -1]))])
add("reshape_zero_copy", "Reshape", [data((2, 3, 5, 7)), const("shape", i64([0, 0, -1]))])
add("reshape_allowzero_empty", "Reshape", [data((0, 3)), const("shape", i64([3, 0]))], {"allowzero": 1}, opset=14)
add("reshape_to_scalar_shape", "Reshape", [data((1, 1)), const("shape", i64([]))])
for axis in [0, 1, 2, -1, 3]:
    add(f"flatten_axis{axis}".replace("-", "m"), "Flatten", [data((2, 3, 5))], {"axis": axis})
add("flatten_int64", "Flatten", [data((2, 3, 5), "int64")], {"axis": 2})
add("squeeze_all", "Squeeze", [data((1, 3, 1, 7))], opset=13)
add("squeeze_axes_neg", "Squeeze", [data((1, 3, 1, 7)), const("axes", i64([-2]))], opset=13)
add("squeeze_bool", "Squeeze", [data((1, 5, 1), "bool"), const("axes", i64([0, 2]))], opset=13)
add("unsqueeze_axes", "Unsqueeze", [data((3, 7)), const("axes", i64([0, 3]))], opset=13)
add("unsqueeze_neg", "Unsqueeze", [data((3, 7), "int64"), const("axes", i64([-1, 1]))], opset=13)
add("unsqueeze_scalar", "Unsqueeze", [data(()), const("axes", i64([0]))], opset=13)

# --- Transpose
for dt in DTYPES:
    add(f"transpose_default_{dt}", "Transpose", [data((3, 5, 7), dt)])
for i, (shape, perm) in enumerate([((2, 3, 5, 7), [0, 2, 3, 1]), ((2, 3, 5, 7), [0, 3, 1, 2]),
                                   ((13, 17), [1, 0]), ((2, 1, 5, 3), [3, 1, 0, 2]),
                                   ((4, 65, 33), [2, 0, 1])]):
    add(f"transpose_perm{i}", "Transpose", [data(shape)], {"perm": perm})

# --- Concat / Split
for dt in DTYPES:
    add(f"concat_{dt}", "Concat", [inp("a", (2, 3, 5), dt), inp("b", (2, 4, 5), dt), inp("c", (2, 1, 5), dt)],
        {"axis": 1})
add("concat_neg_axis", "Concat", [inp("a", (3, 7)), inp("b", (3, 2))], {"axis": -1})
add("concat_axis0_one", "Concat", [inp("a", (3, 7))], {"axis": 0})
add("concat_empty_piece", "Concat", [inp("a", (3, 7)), inp("b", (0, 7))], {"axis": 0})
add("split_equal", "Split", [data((2, 9, 5))], {"axis": 1}, outputs=3)
add("split_sizes", "Split", [data((2, 9, 5)), const("split", i64([2, 3, 4]))], {"axis": 1}, outputs=3, opset=13)
add("split_sizes_neg_axis", "Split", [data((7, 6), "int64"), const("split", i64([1, 5]))], {"axis": -1},
    outputs=2, opset=13)
add("split_num_outputs_uneven", "Split", [data((2, 11))], {"axis": 1, "num_outputs": 3}, outputs=3, opset=18)
add("split_num_outputs_bool", "Split", [data((8, 3), "bool")], {"axis": 0, "num_outputs": 4}, outputs=4, opset=18)

# --- Slice (opset 13 input form)
def slice_case(name, shape, starts, ends, axes=None, steps=None, dt="float32"):
    ins = [data(shape, dt), const("starts", i64(starts)), const("ends", i64(ends))]
    ins.append(const("axes", i64(axes)) if axes is not None else absent())
    ins.append(const("steps", i64(steps)) if steps is not None else absent())
    add(f"slice_{name}", "Slice", ins, opset=13)


slice_case("basic", (5, 7, 9), [1, 2], [4, 6], [0, 2])
slice_case("all_axes", (5, 7, 9), [0, 1, 2], [5, 6, 8])
slice_case("neg_start_end", (5, 7, 9), [-3, -5], [-1, 100], [1, 2])
slice_case("int64max_end", (5, 7, 9), [2], [I64_MAX], [-1])
slice_case("int64min_start", (5, 7, 9), [I64_MIN], [3], [1])
slice_case("step2", (5, 7, 9), [0, 1], [I64_MAX, 9], [1, 2], [2, 3])
slice_case("neg_step_reverse", (5, 7, 9), [-1], [I64_MIN], [2], [-1])
slice_case("neg_step3", (5, 7, 9), [6, 4], [0, -100], [1, 0], [-3, -2])
slice_case("empty_result", (5, 7, 9), [4], [2], [0])
slice_case("int64_data", (6, 11), [1], [-1], [1], [2], dt="int64")
slice_case("bool_data", (6, 11), [-4], [I64_MAX], [0], dt="bool")
slice_case("int32_data", (6, 11), [10], [0], [1], [-4], dt="int32")
add("slice_int32_params", "Slice", [data((5, 7)), const("starts", np.array([1], np.int32)),
                                    const("ends", np.array([-1], np.int32)), const("axes", np.array([1], np.int32))],
    opset=13)

# --- Gather family
for dt in DTYPES:
    add(f"gather_axis0_{dt}", "Gather", [data((7, 5), dt), const("indices", i64([[0, -1], [3, 6], [-7, 2]]))])
add("gather_axis1_int32_idx", "Gather", [data((3, 7, 5)), const("indices", np.array([6, -2, 0, 0], np.int32))],
    {"axis": 1})
add("gather_axis_neg_scalar_idx", "Gather", [data((3, 7, 5)), const("indices", i64(-3))], {"axis": -1})
add("gather_int64_shape_like", "Gather", [data((4,), "int64"), const("indices", i64([0, 2]))])
add("gather_runtime_indices", "Gather", [data((9, 13)), inp("indices", (4, 3), "int64", -9, 8)], {"axis": 0})
add("gather_elements_axis0", "GatherElements", [data((5, 7)), inp("indices", (3, 7), "int64", -5, 4)])
add("gather_elements_axis1", "GatherElements", [data((4, 6, 3), "int64"), inp("indices", (4, 2, 3), "int64", -6, 5)],
    {"axis": 1})
add("gather_elements_neg_axis", "GatherElements", [data((4, 6, 3)), inp("indices", (2, 6, 5), "int32", -3, 2)],
    {"axis": -1})
add("gather_nd_k2", "GatherND", [data((5, 7, 3)), const("indices", i64([[0, 1], [4, -1], [2, 3]]))])
add("gather_nd_k1_int64", "GatherND", [data((5, 7), "int64"), const("indices", i64([[[1], [-2]], [[0], [4]]]))])
add("gather_nd_batch1", "GatherND", [data((3, 5, 7)), const("indices", i64([[[1, 2]], [[4, 6]], [[0, 0]]]))],
    {"batch_dims": 1}, opset=13)
add("gather_nd_batch1_full", "GatherND", [data((2, 3, 4)), const("indices", i64([[1, 0], [2, 3]]))],
    {"batch_dims": 1}, opset=13)

# --- Scatter family
nd_idx = i64([[1, 2], [4, 0], [0, 6]])
for red in ["none", "add", "mul"]:
    add(f"scatter_nd_{red}", "ScatterND", [data((5, 7, 3)), const("indices", nd_idx), inp("updates", (3, 3))],
        {"reduction": red} if red != "none" else {}, opset=16)
add("scatter_nd_dup_add", "ScatterND", [data((6, 4)), const("indices", i64([[1], [3], [1]])),
                                        inp("updates", (3, 4))], {"reduction": "add"}, opset=16)
for red in ["max", "min"]:
    add(f"scatter_nd_{red}", "ScatterND", [data((6, 4)), const("indices", i64([[1], [3], [1]])),
                                           inp("updates", (3, 4))], {"reduction": red}, opset=18)
add("scatter_nd_int64", "ScatterND", [data((4, 5), "int64"), const("indices", i64([[0, 1], [3, 4]])),
                                      inp("updates", (2,), "int64", -9, 9)], opset=13)
se_idx = i64([[1, 0, 3], [0, 2, 1]])
for red in ["none", "add", "mul", "max", "min"]:
    add(f"scatter_elements_{red}", "ScatterElements", [data((3, 4)), const("indices", se_idx),
                                                       inp("updates", (2, 3))],
        {"axis": 1} if red == "none" else {"axis": 1, "reduction": red}, opset=18)
add("scatter_elements_axis0_neg_idx", "ScatterElements",
    [data((5, 3), "int64"), const("indices", i64([[-1, 0, 2], [1, -3, 3]])), inp("updates", (2, 3), "int64", -9, 9)],
    {"axis": 0}, opset=13)

# --- Expand / Tile
for dt in DTYPES:
    add(f"expand_{dt}", "Expand", [data((3, 1, 5), dt), const("shape", i64([2, 3, 7, 5]))])
add("expand_bidirectional", "Expand", [data((3, 1)), const("shape", i64([2, 1, 6]))])
add("expand_smaller_shape", "Expand", [data((2, 3, 5)), const("shape", i64([3, 1]))])
for dt in DTYPES:
    add(f"tile_{dt}", "Tile", [data((2, 3, 5), dt), const("repeats", i64([2, 1, 3]))])
add("tile_ones", "Tile", [data((7, 13)), const("repeats", i64([1, 1]))])

# --- Pad
for mode in ["constant", "reflect", "edge", "wrap"]:
    add(f"pad_{mode}_4d", "Pad", [data((2, 3, 5, 7)), const("pads", i64([0, 0, 1, 2, 0, 0, 2, 3]))],
        {"mode": mode}, opset=19)
add("pad_constant_value", "Pad", [data((3, 5)), const("pads", i64([1, 2, 2, 1])),
                                  const("constant_value", np.array(1.5, np.float32))], opset=13)
add("pad_negative_crop", "Pad", [data((4, 7)), const("pads", i64([-1, 2, 0, -3]))], opset=13)
add("pad_axes", "Pad", [data((2, 5, 7)), const("pads", i64([1, 3, 2, 0])), absent(), const("axes", i64([-1, 1]))],
    {"mode": "reflect"}, opset=18)
add("pad_int64_value", "Pad", [data((3, 4), "int64"), const("pads", i64([1, 1, 1, 1])),
                               const("constant_value", i64(-7))], opset=13)
add("pad_edge_int32", "Pad", [data((3, 4), "int32"), const("pads", i64([2, 0, 0, 3]))], {"mode": "edge"}, opset=13)
add("pad_bool", "Pad", [data((3, 4), "bool"), const("pads", i64([0, 1, 1, 0]))], opset=13)
add("pad_reflect_big", "Pad", [data((2, 3, 4)), const("pads", i64([0, 0, 3, 0, 0, 3]))], {"mode": "reflect"},
    opset=13)

# --- Resize (opset 13 inputs X, roi, scales, sizes)
def resize_case(name, shape, attrs, scales=None, sizes=None, roi=None, dt="float32", opset=13):
    ins = [data(shape, dt), const("roi", np.asarray(roi, np.float32)) if roi is not None else absent(),
           const("scales", np.asarray(scales, np.float32)) if scales is not None else absent(),
           const("sizes", i64(sizes)) if sizes is not None else absent()]
    add(f"resize_{name}", "Resize", ins, attrs, opset=opset)


# What torch exports: bilinear align_corners=False and upsample nearest (asymmetric, floor).
resize_case("linear_half_pixel_up", (1, 3, 5, 7), {"mode": "linear"}, scales=[1, 1, 2, 2])
resize_case("linear_half_pixel_sizes", (2, 3, 7, 9), {"mode": "linear"}, sizes=[2, 3, 33, 17])
resize_case("linear_half_pixel_down", (1, 2, 13, 11), {"mode": "linear"}, scales=[1, 1, 0.5, 0.6])
resize_case("nearest_asym_floor", (1, 3, 5, 7), {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                                                 "nearest_mode": "floor"}, scales=[1, 1, 2, 3])
resize_case("nearest_asym_floor_int32", (2, 2, 3, 5), {"mode": "nearest",
                                                       "coordinate_transformation_mode": "asymmetric",
                                                       "nearest_mode": "floor"}, scales=[1, 1, 2, 2], dt="int32")
for nm in ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]:
    resize_case(f"nearest_half_pixel_{nm}", (1, 2, 7, 5), {"mode": "nearest", "nearest_mode": nm},
                sizes=[1, 2, 11, 13])
    resize_case(f"nearest_down_{nm}", (1, 2, 9, 10), {"mode": "nearest", "nearest_mode": nm}, sizes=[1, 2, 4, 3])
for ctm in ["align_corners", "asymmetric", "pytorch_half_pixel"]:
    resize_case(f"linear_{ctm}", (1, 3, 5, 7), {"mode": "linear", "coordinate_transformation_mode": ctm},
                sizes=[1, 3, 9, 1])
    resize_case(f"cubic_{ctm}", (1, 2, 6, 7), {"mode": "cubic", "coordinate_transformation_mode": ctm},
                scales=[1, 1, 1.5, 2])
resize_case("cubic_half_pixel", (1, 2, 6, 7), {"mode": "cubic"}, scales=[1, 1, 2, 0.75])
resize_case("cubic_exclude_outside", (1, 2, 6, 7), {"mode": "cubic", "exclude_outside": 1, "cubic_coeff_a": -0.5},
            scales=[1, 1, 2, 1.5])
resize_case("linear_tf_crop", (1, 2, 8, 9), {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize",
                                             "extrapolation_value": 2.5},
            sizes=[1, 2, 5, 6], roi=[0, 0, 0.2, -0.1, 1, 1, 0.9, 1.3])
resize_case("nearest_tf_crop", (1, 2, 8, 9), {"mode": "nearest",
                                              "coordinate_transformation_mode": "tf_crop_and_resize"},
            sizes=[1, 2, 5, 6], roi=[0, 0, 0.1, 0.2, 1, 1, 0.8, 0.7])
resize_case("linear_3d", (2, 5, 7), {"mode": "linear"}, scales=[1, 1.4, 2])
resize_case("linear_axes_opset18", (1, 3, 5, 7), {"mode": "linear", "axes": [2, 3]}, scales=[2, 1.5], opset=18)
resize_case("nearest_not_larger", (1, 3, 6, 8), {"mode": "nearest", "axes": [2, 3],
                                                 "keep_aspect_ratio_policy": "not_larger"}, sizes=[9, 9], opset=18)
resize_case("linear_not_smaller", (1, 3, 6, 8), {"mode": "linear", "axes": [2, 3],
                                                 "keep_aspect_ratio_policy": "not_smaller"}, sizes=[9, 9], opset=18)

# --- DepthToSpace / SpaceToDepth
for mode in ["DCR", "CRD"]:
    add(f"depth_to_space_{mode.lower()}", "DepthToSpace", [data((2, 12, 3, 5))], {"blocksize": 2, "mode": mode})
# onnxruntime has no integer DepthToSpace/SpaceToDepth; the unit test covers int64 and bool.
add("depth_to_space_b3", "DepthToSpace", [data((1, 18, 2, 3))], {"blocksize": 3})
add("space_to_depth", "SpaceToDepth", [data((2, 3, 6, 4))], {"blocksize": 2})
add("space_to_depth_b3", "SpaceToDepth", [data((1, 2, 6, 9))], {"blocksize": 3})

# --- Trilu
for upper in [0, 1]:
    add(f"trilu_upper{upper}", "Trilu", [data((3, 5, 7))], {"upper": upper}, opset=14)
    for k in [-2, 1, 9]:
        add(f"trilu_upper{upper}_k{k}".replace("-", "m"), "Trilu", [data((2, 6, 4)), const("k", i64(k))],
            {"upper": upper}, opset=14)
add("trilu_int64", "Trilu", [data((5, 5), "int64"), const("k", i64(-1))], {"upper": 0}, opset=14)
add("trilu_bool", "Trilu", [data((4, 7), "bool")], opset=14)

# OneHot (constant depth), ReverseSequence, Compress (constant condition).
for i, (ishape, axis, idt) in enumerate([((5,), -1, "int64"), ((3, 4), 0, "int64"), ((2, 3), 1, "int64")]):
    CASES.append(Case(f"dm_onehot_{i}", "OneHot",
                      [inp("indices", ishape, idt, -6, 9), const("depth", np.asarray(7, dtype=np.int64)),
                       const("values", np.asarray([-1.5, 2.5], dtype=np.float32))], attrs={"axis": axis}, opset=13))
CASES += [
    Case("dm_reversesequence_time", "ReverseSequence",
         [inp("x", (5, 4, 3)), const("lens", np.asarray([5, 1, 3, 0], dtype=np.int64))],
         attrs={"time_axis": 0, "batch_axis": 1}, opset=13),
    Case("dm_reversesequence_batch", "ReverseSequence",
         [inp("x", (3, 6), "int64", -9, 9), const("lens", np.asarray([6, 2, 4], dtype=np.int64))],
         attrs={"time_axis": 1, "batch_axis": 0}, opset=13),
    Case("dm_compress_axis", "Compress", [inp("x", (4, 5, 3)), const("c", np.asarray([1, 0, 1, 1], dtype=bool))],
         attrs={"axis": 1}, opset=13),
    Case("dm_compress_flat", "Compress", [inp("x", (3, 5)), const("c", np.asarray([0, 1, 1, 0, 0, 1, 1], dtype=bool))],
         opset=13),
]
