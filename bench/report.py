"""The benchmark's tables (markdown) and the console summary; no torch needed."""

# Display order of the peers within one model and batch; the kiln row of each precision closes its group.
PEERS_FP32 = ["torch eager fp32 (TF32)", "torch.compile reduce-overhead fp32 (TF32)", "kiln fp32 (TF32)"]
PEERS_FP16 = ["torch eager fp16", "torch eager fp16 + CUDA graph", "torch.compile reduce-overhead fp16",
              "torch.compile max-autotune fp16", "kiln fp16"]
PEER_ORDER = {p: i for i, p in enumerate(PEERS_FP32 + PEERS_FP16)}
KILN_OF = {"fp16": "kiln fp16", "fp32": "kiln fp32 (TF32)"}  # what each precision's peers are compared with
BUILD_BOUNDS = {"cold": 60.0, "warm": 10.0}  # issue 4: FP16 engine build time, seconds


def sorted_rows(rows):
    models = list(dict.fromkeys(r["model"] for r in rows))
    return sorted(rows, key=lambda r: (models.index(r["model"]), r["batch"], PEER_ORDER.get(r["peer"], 99)))


def ratio(rows, r):
    """peer ms / kiln ms of the same precision, model and batch (above 1: kiln is faster); None for kiln rows."""
    kiln = KILN_OF.get(r.get("precision"))
    if not r["ms"] or not kiln or r["peer"] == kiln:
        return None
    k = next((x["ms"] for x in rows if (x["model"], x["batch"], x["peer"]) == (r["model"], r["batch"], kiln)), None)
    return r["ms"] / k if k else None


def speed_table(rows):
    """One row per peer, model and batch; 'kiln fp16 ×' is filled for FP16 peers, 'kiln fp32 ×' for FP32 ones."""
    lines = ["| model | batch | peer | ms/batch (median) | images/s | kiln fp16 × | kiln fp32 × | note |",
             "|---|---:|---|---:|---:|---:|---:|---|"]
    for r in sorted_rows(rows):
        x = ratio(rows, r)
        cells = [f"{x:.2f}" if x and r["precision"] == p else "" for p in ("fp16", "fp32")]
        ms = f"{r['ms']:.3f}" if r["ms"] else "—"
        ips = f"{r['images_per_s']:.0f}" if r["images_per_s"] else "—"
        lines.append(f"| {r['model']} | {r['batch']} | {r['peer']} | {ms} | {ips} | {cells[0]} | {cells[1]} "
                     f"| {r['note']} |")
    return "\n".join(lines)


def summary_table(rows):
    """One row per model and batch: kiln's ms and how many times faster it is than each peer (peer ms / kiln ms)."""
    cols = [("kiln fp16 ms", "kiln fp16", False), ("× eager+graph", "torch eager fp16 + CUDA graph", True),
            ("× compile RO", "torch.compile reduce-overhead fp16", True),
            ("× max-autotune", "torch.compile max-autotune fp16", True), ("kiln fp32 ms", "kiln fp32 (TF32)", False),
            ("× eager fp32", "torch eager fp32 (TF32)", True),
            ("× compile fp32", "torch.compile reduce-overhead fp32 (TF32)", True)]
    by_key = {(r["model"], r["batch"], r["peer"]): r for r in rows}
    lines = ["| model | batch | " + " | ".join(c[0] for c in cols) + " |", "|---|---:|" + "---:|" * len(cols)]
    seen = []
    for r in sorted_rows(rows):
        if (r["model"], r["batch"]) in seen:
            continue
        seen.append((r["model"], r["batch"]))
        cells = []
        for _, peer, is_ratio in cols:
            p = by_key.get((r["model"], r["batch"], peer))
            if p is None:
                cells.append("")
            elif is_ratio:
                x = ratio(rows, p)
                cells.append(f"{x:.2f}" if x else "—")
            else:
                cells.append(f"{p['ms']:.3f}" if p["ms"] else "—")
        lines.append(f"| {r['model']} | {r['batch']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_lines(builds):
    """One line per engine build, with issue 4's bound for the FP16 builds with a timing cache."""
    out = []
    for b in builds:
        bound = BUILD_BOUNDS.get(b["cache"]) if b["precision"] == "fp16" else None
        verdict = ""
        if bound is not None:
            verdict = f"; issue 4 bound <= {bound:.0f} s: {'ok' if b['seconds'] <= bound else 'EXCEEDED'}"
        cache = {"none": "no timing cache", "cold": "timing cache cold (empty)", "warm": "timing cache warm"}[b["cache"]]
        tactics = f", tactics {b['tactics']}" if b.get("tactics") else ""
        out.append(f"build {b['model']} {b['precision']}: {b['seconds']:.1f} s ({cache}{tactics}){verdict}")
    return out


def accuracy_table(rows):
    lines = ["| model | batch | kiln | max abs err | max rel err (÷max\\|ref\\|) | max rel err (elementwise) "
             "| cosine | check | note |", "|---|---:|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        nums = ([f"{r['max_abs']:.3e}", f"{r['rel_max']:.3e}", f"{r['rel_elem']:.3e}", f"{r['cosine']:.7f}"]
                if "cosine" in r else ["—"] * 4)
        lines.append(f"| {r['model']} | {r['batch']} | {r['precision']} | " + " | ".join(nums) +
                     f" | {'PASS' if r['pass'] else 'FAIL'} | {r.get('note', '')} |")
    return "\n".join(lines)


def format_accuracy_row(r):
    if "cosine" not in r:
        return f"{r['model']:<9} {r['batch']:>5} {r['precision']:<5} FAIL  {r.get('note', '')}"
    return (f"{r['model']:<9} {r['batch']:>5} {r['precision']:<5} {'PASS' if r['pass'] else 'FAIL'}  "
            f"max abs {r['max_abs']:.3e}  rel(max) {r['rel_max']:.3e}  rel(elem) {r['rel_elem']:.3e}  "
            f"cosine {r['cosine']:.7f} {r.get('note', '')}").rstrip()


def accuracy_summary(rows):
    failed = [r for r in rows if not r["pass"]]
    worst32 = max((r["rel_max"] for r in rows if r["precision"] == "fp32" and "rel_max" in r), default=None)
    worst16 = min((r["cosine"] for r in rows if r["precision"] == "fp16" and "cosine" in r), default=None)
    worst_tf32 = min((r["cosine"] for r in rows if r["precision"] == "tf32" and "cosine" in r), default=None)
    text = (f"accuracy: {len(rows) - len(failed)} PASS, {len(failed)} FAIL or not run; worst FP32 max rel err "
            f"{'—' if worst32 is None else f'{worst32:.2e}'}, worst FP16 cosine "
            f"{'—' if worst16 is None else f'{worst16:.6f}'}, worst TF32 cosine "
            f"{'—' if worst_tf32 is None else f'{worst_tf32:.6f}'}")
    for r in failed[:4]:  # the full list is in the accuracy table
        text += f"\n  FAIL {r['model']} batch {r['batch']} {r['precision']}: {r.get('note') or 'beyond tolerance'}"
    return text + (f"\n  ... and {len(failed) - 4} more (see the accuracy table)" if len(failed) > 4 else "")


def markdown(args, results):
    md = [f"# kiln benchmark, {results['date']}", "",
          f"- command: `{results['command']}`", f"- GPU: {results.get('gpu', '?')}; torch {results.get('torch', '?')}"
          f"; kiln {results.get('kiln_commit', '?')}; total {results.get('total_s', 0):.0f} s",
          f"- engine profile (batch) min/opt/max: {'/'.join(map(str, args.profile))}"]
    md += [f"- {line}" for line in build_lines(results["builds"])]
    md += [f"- {note}" for note in results.get("notes", [])]
    md += ["", "## Accuracy against PyTorch FP32 (TF32 off) on the GPU", "",
           "FP32 passes at max rel err (÷max|ref|) <= 1e-3 and cosine >= 0.9999; FP16 and TF32 at cosine >= 0.999 "
           "and max rel err (÷max|ref|) <= 2e-2. A degenerate reference (all zero, constant, NaN/Inf) is no pass.", "",
           accuracy_table(results["accuracy"]), "",
           "## Speed summary (kiln ms; × = peer ms / kiln ms, above 1: kiln is faster)", "",
           summary_table(results["speed"]), "",
           "## Speed (data on the device; median of synchronized single calls)", "", speed_table(results["speed"])]
    if results["problems"]:
        md += ["", "## Problems", ""] + [f"- {s}: {m}" for s, m in results["problems"]]
    return "\n".join(md) + "\n"


def print_console(results):
    """The full tables first; the part gpu-check.sh shows (from '=== bench summary' on) last and short."""
    print("\n" + accuracy_table(results["accuracy"]) + "\n")
    print(speed_table(results["speed"]) + "\n")
    print("=== bench summary ===")
    for label, message in results["problems"]:
        print(f"FAILED step: {label}: {message[:200]}")
    print(f"GPU {results.get('gpu', '?')}, torch {results.get('torch', '?')}, kiln {results.get('kiln_commit', '?')}")
    for line in build_lines(results["builds"]) + results.get("notes", []):
        print(line)
    print(summary_table(results["speed"]) + "\n")
    print(accuracy_summary(results["accuracy"]), flush=True)
