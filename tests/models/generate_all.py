#!/usr/bin/env python3
"""Writes every generated model and reference output the C++ tests read.

    generate_all.py --out DIR [--only ops|models|conformance] [--force]

DIR/ops/<case>/           one-node models from tests/ops/cases/*.py, onnxruntime references (op_cases_test)
DIR/models/               seed CNN and transformer block with reference sets (models_e2e_test)
DIR/conformance/node/<t>/ ONNX's backend node tests (conformance_test)

Each piece is regenerated only when its inputs changed: DIR/<piece>/.stamp holds a digest of the generator
sources, the case files and the onnx/onnxruntime/numpy versions. A piece is written into a temporary folder
and swapped in whole, under a lock, so a reader never sees half a piece and concurrent runs do not collide.
Problems (a broken case file, a case onnxruntime rejects) are listed in DIR/<piece>/generation_report.txt and
printed; they never fail the generation. Deterministic: every random draw has a fixed seed.
"""
import argparse
import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

PIECES = ("ops", "models", "conformance")
COMMON_SOURCES = ["tests/models/generate_all.py", "tests/models/test_data_io.py"]
PIECE_SOURCES = {
    "ops": ["tests/models/gen_op_cases.py", "tests/ops/op_case.py"],
    "models": ["tests/models/gen_models.py", "tests/models/make_seed_cnn.py",
               "tests/models/make_transformer_block.py"],
    "conformance": ["tests/models/gen_conformance.py"],
}
PIECE_PACKAGES = {"ops": ["onnx", "onnxruntime", "numpy"], "models": ["onnx", "onnxruntime", "numpy"],
                  "conformance": ["onnx", "numpy"]}


def source_files(piece):
    files = COMMON_SOURCES + PIECE_SOURCES[piece]
    if piece == "ops":
        from gen_op_cases import case_files
        files += [os.path.relpath(p, REPO) for p in case_files()]
    return files


def digest(piece):
    h = hashlib.sha256()
    for rel in source_files(piece):
        h.update(rel.encode() + b"\0")
        try:
            with open(os.path.join(REPO, rel), "rb") as f:
                h.update(f.read())
        except OSError:
            h.update(b"<missing>")
    for package in PIECE_PACKAGES[piece]:
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = "missing"
        h.update(f"{package}={version}\0".encode())
    return h.hexdigest()


def read_stamp(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def generate_piece(piece, out_root):
    if piece == "ops":
        from gen_op_cases import generate
    elif piece == "models":
        from gen_models import generate
    else:
        from gen_conformance import generate
    return generate(out_root)


def build(piece, out, force):
    """Regenerates DIR/<piece> if its stamp is stale; returns the problem lines (printed by the caller)."""
    final_dir = os.path.join(out, piece)
    stamp = digest(piece)
    if not force and read_stamp(os.path.join(final_dir, ".stamp")) == stamp:
        print(f"[generate_all] {piece}: up to date")
        return []
    start = time.time()
    tmp_dir = os.path.join(out, f".{piece}.tmp-{os.getpid()}")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    os.makedirs(tmp_dir)
    written, problems = generate_piece(piece, tmp_dir)
    with open(os.path.join(tmp_dir, "generation_report.txt"), "w") as f:
        f.write(f"{piece}: {written} written, {len(problems)} skipped\n")
        f.writelines(p + "\n" for p in problems)
    with open(os.path.join(tmp_dir, ".stamp"), "w") as f:
        f.write(stamp + "\n")
    old_dir = os.path.join(out, f".{piece}.old-{os.getpid()}")
    if os.path.exists(final_dir):
        os.rename(final_dir, old_dir)
    os.rename(tmp_dir, final_dir)
    shutil.rmtree(old_dir, ignore_errors=True)
    print(f"[generate_all] {piece}: {written} written, {len(problems)} skipped ({time.time() - start:.1f} s)")
    return problems


def main():
    parser = argparse.ArgumentParser(description="Generate kiln's test models and reference outputs.")
    parser.add_argument("--out", required=True, help="output folder (the build tree's test_data)")
    parser.add_argument("--only", choices=PIECES, action="append", help="generate only this piece (repeatable)")
    parser.add_argument("--force", action="store_true", help="regenerate even when the stamps match")
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, ".generate.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent runs (ctest -j, several build trees' tools) wait here
        for piece in args.only or PIECES:
            for line in build(piece, out, args.force):
                print(f"[generate_all] {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
