"""Micro-benchmark for :func:`ublexport.rules.check` (a developer tool, not imported by the package).

Why: the product budget for render + XSD + rules is 1.0 ms per 10-line invoice, so the rules have to stay near
0.5 ms under the "peppol" profile. Run ``python -m ublexport.rules._bench`` before and after touching the rules.

It times ``check()`` on the official Peppol base-example.xml and on a generated 10-line invoice (the sample
``samples/01-invoice-be-be.json`` with its lines repeated to ten), for each profile.

``python -m ublexport.rules._bench --corpus [PROFILE ...]`` measures what the pipeline sees instead: each of the 500
documents of ``benchmarks.corpus`` rendered, parsed afresh and checked once (its parse time subtracted), the median
over the documents. ``own`` (the default) checks each document against its own profile (``profile_for``). A fresh
tree costs more than the same tree checked again: every element's lxml proxy and tag are then built for the first
time, by the rules.
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import time
import timeit
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
BASE_EXAMPLE = ROOT / "tests" / "fixtures" / "ubl-examples" / "peppol-3.0.21" / "base-example.xml"
SAMPLE = ROOT / "samples" / "01-invoice-be-be.json"


def ten_line_invoice(lines: int = 10) -> etree._Element:
    """Render the Belgian sample with its lines repeated up to ``lines`` lines."""
    from ublexport.loader import load_document
    from ublexport.render import render

    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    base_lines = data["lines"]
    data["lines"] = [copy.deepcopy(base_lines[i % len(base_lines)]) for i in range(lines)]
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / SAMPLE.name
        target.write_text(json.dumps(data), encoding="utf-8")
        # the sample refers to company.json next to it
        for extra in SAMPLE.parent.glob("*.json"):
            if extra != SAMPLE:
                (Path(tmp) / extra.name).write_bytes(extra.read_bytes())
        rendered: bytes = render(load_document(target))
    return etree.fromstring(rendered)


def per_call_ms(root: etree._Element, profile: str, number: int = 300, repeat: int = 7) -> float:
    """Best-of-``repeat`` mean time of one check, in milliseconds."""
    from ublexport.rules import check

    # CPU time of this process: other jobs on a shared machine then skew the numbers less than wall time would.
    timer = timeit.Timer(lambda: check(root, profile), timer=time.process_time)
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1000


def slowest_rules(root: etree._Element, profile: str, top: int = 25, rounds: int = 200) -> list[tuple[str, float]]:
    """Mean microseconds per rule (skipped rules count as zero), slowest first: where to look next."""
    from ublexport.rules import _doc, rules_for

    spent: dict[str, float] = {}
    for _ in range(rounds):
        _doc.clear_caches(active=True)
        doc = _doc.Doc(root)
        for entry in rules_for(profile):
            start = time.process_time()
            if entry.needs and not any(doc.has(tag) for tag in entry.needs):
                continue
            if entry.when is None or entry.when(doc):
                list(entry.check(doc))
            spent[entry.id] = spent.get(entry.id, 0.0) + time.process_time() - start
        _doc.clear_caches()
    ranked = sorted(spent.items(), key=lambda kv: -kv[1])[:top]
    return [(rule_id, total / rounds * 1e6) for rule_id, total in ranked]


def corpus_ms(profiles: list[str], count: int = 500, repeat: int = 7) -> dict[str, float]:
    """Median over the benchmark corpus of the CPU time of ``check(xsd.parse(xml).getroot(), profile)`` minus that
    of the parse alone (best of ``repeat`` each), in milliseconds, per profile (``own``: the document's own)."""
    import statistics

    if str(ROOT) not in sys.path:  # benchmarks/ lives next to the package, not in it
        sys.path.insert(0, str(ROOT))
    from benchmarks.corpus import documents
    from ublexport import xsd
    from ublexport.render import render
    from ublexport.rules import check
    from ublexport.view import profile_for

    rendered = [(render(d, pdf=None), profile_for(d, "peppol")) for d in documents(count)]
    clock = time.process_time
    out = {}
    for profile in profiles:
        spent = []
        for xml, own in rendered:
            chosen = own if profile == "own" else profile
            parse_only = checked = 1.0
            for _ in range(repeat):
                start = clock()
                xsd.parse(xml, "x").getroot()
                parse_only = min(parse_only, clock() - start)
                start = clock()
                check(xsd.parse(xml, "x").getroot(), chosen)  # parse included, as the pipeline does both
                checked = min(checked, clock() - start)
            spent.append(checked - parse_only)
        out[profile] = statistics.median(spent) * 1000
    return out


def main(argv: list[str]) -> int:
    from ublexport.rules import check

    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        print("usage: python -m ublexport.rules._bench [PROFILE ...] | --corpus [PROFILE|own ...] | --rules [PROFILE]")
        return 0
    if argv[:1] == ["--corpus"]:
        for profile, ms in corpus_ms(argv[1:] or ["own"]).items():
            print(f"corpus, fresh trees   {profile:8} {ms:7.3f} ms (median)")
        return 0

    if argv[:1] == ["--rules"]:
        profile = argv[1] if len(argv) > 1 else "peppol"
        for rule_id, micros in slowest_rules(ten_line_invoice(), profile):
            print(f"{rule_id:28} {micros:8.1f} us")
        return 0

    docs = {
        "base-example.xml": etree.parse(str(BASE_EXAMPLE)).getroot(),
        "10-line generated": ten_line_invoice(),
    }
    profiles = argv or ["peppol", "en16931", "nlcius"]
    for name, root in docs.items():
        for profile in profiles:
            found = check(root, profile)
            fatal = sum(v.flag == "fatal" for v in found)
            ms = per_call_ms(root, profile)
            print(f"{name:20} {profile:8} {ms:7.3f} ms  ({fatal} fatal, {len(found) - fatal} warn)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
