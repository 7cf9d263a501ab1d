"""The zoo's printed lines, summary, markdown table and the parsing of `kiln build`'s FP32-promotion lines."""
import re

KEPT_PREFIX = "[kiln] kept in FP32:"
_KEPT = re.compile(r"^\[kiln\] kept in FP32: (?P<layer>.*?) \((?P<op>[^()]*)\): (?P<reason>.*)$")


def kept_in_fp32(build_log):
    """Every '[kiln] kept in FP32: <layer> (<op>): <reason>' line of a build's stderr, as dicts (a line that does not
    follow the form is kept whole as its reason)."""
    kept = []
    for line in build_log.splitlines():
        line = line.strip()
        if not line.startswith(KEPT_PREFIX):
            continue
        m = _KEPT.match(line)
        kept.append(m.groupdict() if m else {"layer": "?", "op": "?", "reason": line[len(KEPT_PREFIX):].strip()})
    return kept


def _num(v, fmt):
    return "-" if v is None else format(v, fmt)


def status_text(r):
    """'ok 12.3s' or the stage that failed with its reason."""
    if r["status"] == "ok":
        return f"ok {r['build_s']:.1f}s"
    return r["status"]


def line(r):
    """One line per model x exporter x precision."""
    kept = r.get("kept_fp32") or []
    first = f" ({kept[0]['layer']}: {kept[0]['reason']})" if kept else ""
    head = f"{r['model']:<28} {r['exporter']:<6} {r['precision']:<4}"
    if r["status"] != "ok" and not r.get("batches"):
        return f"{head} {r['status'][:150]}"
    w = r["worst"]
    note = f"  [{w['note']}]" if w.get("note") else ""
    return (f"{head} build {status_text(r):<10} rel {_num(w['rel'], '.2e'):>8}  cos {_num(w['cosine'], '.7f'):>9}  "
            f"{w['verdict']:<10} fp32-kept {len(kept)}{first[:110]}{note[:160]}")


def counts(results):
    c = {"PASS": 0, "FAIL": 0, "DEGENERATE": 0, "export failed": 0, "build failed": 0, "run failed": 0,
         "not run": 0}
    for r in results:
        if r["status"] == "ok" or r.get("batches"):
            c[r["worst"]["verdict"]] += 1
        else:
            c[next((k for k in c if r["status"].startswith(k)), "not run")] += 1
    return c


def summary(results, seconds):
    c = counts(results)
    rest = ", ".join(f"{v} {k}" for k, v in c.items() if v and k != "PASS")
    return f"zoo: {c['PASS']} pass / {len(results)} total{' (' + rest + ')' if rest else ''} in {seconds:.0f} s"


def markdown(results, meta):
    md = [f"# kiln model zoo, {meta['date']}", "", f"- command: `{meta['command']}`",
          f"- GPU: {meta.get('gpu', '?')}; torch {meta.get('torch', '?')}; kiln {meta.get('kiln_commit', '?')}; "
          f"builder options: {meta.get('build_flags', '')}; total {meta.get('seconds', 0):.0f} s",
          "- references: PyTorch FP32 with TF32 off, random weights with realistic scales (BatchNorm statistics "
          "recomputed, zero-initialised heads, gammas and layer scales re-initialised, residual branches quieted); "
          "noise gain: output change / 2^-11 relative input noise, a property of the weights (trained nets: < 10)",
          "- pass: FP32 max abs err <= 1e-3 x max|ref| and cosine >= 0.9999; FP16/BF16 cosine >= 0.999 and max abs "
          "err <= 2e-2 x max|ref|; a degenerate reference (zero, constant, non-finite, input-independent) is no pass",
          f"- {summary(results, meta.get('seconds', 0))}", "",
          "| model | exporter | precision | build | batches | max err / max\\|ref\\| | cosine | noise gain | PyTorch in this "
          "precision: err / cosine | onnxruntime FP32 err, batch 1 | verdict | kept in FP32 | first reason / note |",
          "|---|---|---|---|---|---:|---:|---:|---:|---:|---|---:|---|"]
    for r in results:
        w = r.get("worst") or {}
        kept = r.get("kept_fp32") or []
        t = r.get("torch_same_precision") or {}
        torch_text = f"{_num(t.get('rel'), '.2e')} / {_num(t.get('cosine'), '.6f')}" if t else "-"
        reason = f"{kept[0]['layer']} ({kept[0]['op']}): {kept[0]['reason']}" if kept else ""
        ort = r.get("onnxruntime") or {}
        ort_text = f"{_num(ort.get('rel'), '.1e')} {ort.get('verdict', '')}".strip() if ort else "-"
        note = "; ".join(x for x in (reason, w.get("note", ""), "" if r["status"] == "ok" else r["status"]) if x)
        md.append(f"| {r['model']} | {r['exporter']} | {r['precision']} | "
                  f"{status_text(r) if r['status'] == 'ok' else r['status'].split(':')[0]} | "
                  f"{','.join(r.get('batches', {}))} | {_num(w.get('rel'), '.2e')} | {_num(w.get('cosine'), '.7f')} | "
                  f"{_num(r.get('noise_gain'), '.2g')} | {torch_text} | {ort_text} | {w.get('verdict', '-')} | {len(kept)} | "
                  f"{note.replace('|', '/')[:300]} |")
    return "\n".join(md) + "\n"
