"""The docs say what the code and the committed results say: pages that exist, numbers that are
their tables', no citation of a file the repository does not hold."""

from __future__ import annotations

import ast
import copy
import fnmatch
import functools
import itertools
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, run

SOURCES = [*ROOT.glob("src/ricecnn/**/*.py"), *ROOT.glob("tests/*.py"), *ROOT.glob("bench/*"), *ROOT.glob("tools/*"),
           *ROOT.glob("docs/*.md"), ROOT / "README.md", ROOT / "params.yaml", ROOT / "dvc.yaml", ROOT / "Makefile",
           *ROOT.glob("profiles/*")]


def table(page: str, after: str) -> pd.DataFrame:
    """The first markdown table after the line that starts with ``after``, cells as strings."""
    lines = page[page.index(after):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip().strip("*") for c in line.strip("|").split("|")])
    return pd.DataFrame(rows[2:], columns=rows[0])


def test_no_file_cites_a_spec_the_repository_does_not_hold():
    me = "SPEC"  # the study's specification lives in docs/paper.md
    cited = [str(p.relative_to(ROOT)) for p in SOURCES if p.is_file() and p.name != "test_docs.py"
             and re.search(rf"\b{me}\b", p.read_text(errors="replace"))]
    assert cited == []


def test_every_page_a_file_names_exists():
    named = set()
    for p in SOURCES:
        if p.is_file():
            text = p.read_text(errors="replace")
            named |= set(re.findall(r"\bdocs/[\w-]+\.md\b", text))
            if p.parent.name == "docs":  # relative links between pages
                named |= {f"docs/{m}" for m in re.findall(r"\]\(([\w-]+\.md)\)", text)}
    assert named and sorted(n for n in named if not (ROOT / n).is_file()) == []


def points(df: pd.DataFrame, shifted: str) -> list[float]:
    clean = df[df.iloc[:, 0] == "clean"].iloc[0, 1:].astype(float)
    moved = df[df.iloc[:, 0].str.startswith(shifted)].iloc[0, 1:].astype(float)
    return list(100 * (clean - moved))


def test_the_standin_page_s_ranges_are_its_tables():
    page = (ROOT / "docs/standin.md").read_text()
    before = points(table(page, "`tools/translation_check.py` scores"), "every image 3 px")
    after = points(table(page, "The same check on the models then committed"), "every image 3 px")
    stated = re.search(r"A fixed 3-pixel shift now costs (\d+)–(\d+) points instead of (\d+)–(\d+)", page)
    assert stated, "the sentence is gone"
    assert [int(g) for g in stated.groups()] == [round(min(after)), round(max(after)), round(min(before)),
                                                  round(max(before))]


def test_the_margin_is_fixed_before_the_runs_and_said_where_it_is_set():
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    margin = params["compare"]["margin"]
    assert margin <= 0.03  # fixed from what matters, at most 3 points at the quick default
    page = (ROOT / "docs/statistics.md").read_text()
    assert f"**The quick default: {100 * margin:g} points.**" in page
    profile = dict(item.split("=", 1) for item in yaml.safe_load((ROOT / "profiles/paper.yaml").read_text()))
    assert float(profile["compare.margin"]) == 0.005 and "**The full-size study: half a point**" in page
    assert f"{100 * params['compare']['failed_run']:g} points below its model's best run failed to train" in page


def plan_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("power_plan", ROOT / "tools" / "power_plan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_full_size_replicates_are_its_own_families_power_calculation():
    import json

    import yaml

    profile = dict(item.split("=", 1) for item in yaml.safe_load((ROOT / "profiles/paper.yaml").read_text()))
    replicates = yaml.safe_load(profile["replicates"])
    paper = plan_tool().paper_replicates()  # its families at its margin and test set, under the stated assumptions
    assert paper["families"]["data_found"]["claims"] == 6 and paper["margin"] == 0.005 and paper["images"] == 7500
    assert "thesis" not in paper["families"]  # the channel criteria's thesis is criteria_report@'s own family
    assert paper["replicates"] == len(replicates) == json.loads((ROOT / "bench/power-plan.json").read_text())["paper"]["replicates"]
    assert not set(replicates) & set(yaml.safe_load((ROOT / "params.yaml").read_text())["pilot"]["replicates"])
    page = " ".join((ROOT / "docs/statistics.md").read_text().split())
    assert f"the profile takes the most at the middle assumptions, **{len(replicates)} replicates**" in page


def test_the_confirmation_runs_the_plan_of_a_pilot_it_shares_no_randomness_with():
    import json

    import yaml

    from ricecnn.study import power

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    plan = json.loads((ROOT / "bench/power-plan.json").read_text())
    pilot = yaml.safe_load((ROOT / "results/pilot/params.yaml").read_text())
    # the pilot's replicates are the plan's and params.yaml's; a confirmation replicate shares neither its data
    # draw nor its training seed with them (both are its number: params.yaml's check refuses one that does)
    assert plan["pilot_replicates"] == params["pilot"]["replicates"] == pilot["replicates"] and pilot["pilot"]["running"]
    assert not set(params["replicates"]) & set(pilot["replicates"])
    k = len(params["replicates"])
    n = round(params["data"]["synthetic"]["per_class"] * 5 * params["split"]["test"])
    assert (k, n) == (plan["design"]["replicates"], plan["design"]["images"])
    for name, family in plan["families"].items():  # the claims the plan withholds are the ones params.yaml names
        assert sorted(params["compare"]["families"][name].get("undecidable", [])) == family["withheld"], name
        for c in family["claims"]:
            if c["planned_effect"] is None:  # withheld: its pilot interval holds the margin
                assert c["lo"] <= -family["margin"] <= c["hi"]
                continue
            # sized at the pilot interval's end nearest the margin; the power recomputed at the design
            assert c["planned_effect"] == (c["lo"] if c["lo"] > -family["margin"] else c["hi"])
            achieved = power.power(tuple(c["parts"]), c["planned_effect"], family["margin"], k, n, family["level"])
            assert achieved == pytest.approx(c["power"][f"{k},{n}"]), (c["variant"], achieved)
    page = " ".join((ROOT / "docs/statistics.md").read_text().split())
    assert f"The confirmation takes **{k} replicates of {n:,} test images**" in page


def test_the_plan_was_committed_before_the_confirmation_s_results():
    def git(*args: str) -> str:
        return run(["git", *args], ROOT).stdout.strip()

    if git("rev-parse", "--is-shallow-repository") == "true":
        pytest.skip("a shallow clone has no history to read the order from")

    import json

    kept = set(json.loads((ROOT / "bench/power-plan.json").read_text())["families"])

    def confirmation_plan(commit: str) -> dict:
        """The plan the confirmation ran by: less the full-size profile's sizing (not run here) and any
        family since dropped from compare.families (its removal changes no claim that is left)."""
        plan = json.loads(git("show", f"{commit}:bench/power-plan.json"))
        return {**{k: v for k, v in plan.items() if k != "paper"},
                "families": {k: v for k, v in plan.get("families", {}).items() if k in kept}}

    # the last commits that changed the pilot, and the confirmation's plan made from it
    pilot = git("log", "-1", "--format=%H", "--", "results/pilot")
    plans = git("log", "--format=%H", "--", "bench/power-plan.json").split()
    planned = next(c for c, before in zip(plans, plans[1:] + [None])
                   if before is None or confirmation_plan(c) != confirmation_plan(before))
    results = git("log", "-1", "--format=%H", "--", "reports/study/comparisons.csv")
    assert pilot and planned and results and results not in (pilot, planned)
    for first in (pilot, planned):
        assert run(["git", "merge-base", "--is-ancestor", first, results], ROOT, check=False).returncode == 0


def test_the_full_size_page_lists_every_override_of_the_paper_profile():
    import yaml

    page = (ROOT / "docs/full-size-study.md").read_text()
    shown = table(page, "<!-- profile:begin")
    profile = yaml.safe_load((ROOT / "profiles/paper.yaml").read_text())
    stated = {}
    for key, value in zip(shown["setting"], shown["value"]):
        stated[key.strip("`")] = value.strip("`")
    profile = dict(item.split("=", 1) for item in profile)
    assert list(stated) == list(profile)
    for key, value in profile.items():
        if key == "replicates":  # shown as a range
            seeds = yaml.safe_load(value)
            assert seeds == list(range(seeds[0], seeds[-1] + 1))
            assert stated[key] == f"[{seeds[0]},{seeds[1]},...,{seeds[-1]}]" and f"{len(seeds)} seeds" in page
        else:
            assert stated[key] == value, key
    # what the profile leaves to params.yaml
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert not {"train.learning_rate", "featuremaps.samples", "prune.apoz_threshold"} & set(profile)
    assert (f"Adam at {params['train']['learning_rate']:g}, `featuremaps.samples` {params['featuremaps']['samples']} "
            f"validation images, the APoZ threshold {params['prune']['apoz_threshold']}") in " ".join(page.split())
    # the paper's facts (docs/paper.md): its split and its test set's size
    assert float(profile["split.val"]) == float(profile["split.test"]) == 0.1
    assert "7,500" in (ROOT / "docs/paper.md").read_text() and "80/10/10" in page


def test_the_full_size_page_shows_the_committed_rehearsal():
    import json

    page = (ROOT / "docs/full-size-study.md").read_text()
    r = json.loads((ROOT / "bench/rehearsal-224px.json").read_text())
    assert r["tables"]["stages"] in page and r["tables"]["projection"] in page
    assert f"about {r['projection']['cpu_hours']:,} CPU hours" in page
    assert {s["stage"].split("@")[0] for s in r["stages"]} == {
        "fetch", "split", "train", "flops", "featuremaps", "prune", "trim", "trim_scratch", "evaluate", "summarize"}
    assert "data.img_size=224" in r["overrides"] and "split.val=0.1" in r["overrides"]


@pytest.mark.parametrize("study", ["reports/study"])
def test_every_committed_verdict_is_the_one_its_printed_interval_gives(study):
    import yaml

    from ricecnn.study import stats

    params = yaml.safe_load((ROOT / "params.yaml").read_text())["compare"]
    comps = pd.read_csv(ROOT / study / "comparisons.csv", keep_default_na=False, na_values=[""])
    family = comps[comps.claim_family != stats.EXPLORATORY]
    sizes = family.groupby("claim_family").size()
    for r in family.itertuples():  # every row: the verdict, the adjusted p and the level agree with the interval shown
        margin = params["families"][r.claim_family].get("margin", params["margin"])  # the thesis's: 0, superiority
        assert r.margin_pp == pytest.approx(100 * margin)
        assert r.verdict == stats.verdict(r.lo_pp / 100, r.hi_pp / 100, margin), (r.variant, r.against, r.condition)
        assert (r.p_adjusted < 0.05) == (r.verdict != stats.INCONCLUSIVE)
        assert r.level == pytest.approx(stats.family_level(sizes[r.claim_family]))
    assert set(comps[comps.claim_family == stats.EXPLORATORY].verdict) <= {stats.EXPLORATORY, stats.IDENTICAL}
    if study != "reports/study":
        return
    findings = (ROOT / "reports/study/findings.md").read_text()
    import json

    withheld = comps[comps.named_undecidable]
    plan = json.loads((ROOT / "bench/power-plan.json").read_text())
    assert sorted(set(withheld.variant)) == sorted({v for f in plan["families"].values() for v in f["withheld"]})
    for r in withheld.itertuples():  # said with its interval, under "withheld by the plan", never "cannot decide"
        said = f"{r.variant} vs {r.against} ({r.condition}), {r.diff_pp:+.1f} pts [{r.lo_pp:+.1f}, {r.hi_pp:+.1f}]"
        assert said in findings[findings.index("**Withheld by the plan**"):]


def test_the_statistics_page_s_numbers_from_the_recipe_pilot():
    import json

    import numpy as np

    page = " ".join((ROOT / "docs/statistics.md").read_text().split())
    runs = [json.loads(line) for line in (ROOT / "bench/recipe-pilot.jsonl").read_text().splitlines()]

    def of(model: str, recipe: str, key: str) -> np.ndarray:
        return np.array([r[key] for r in runs if r["model"] == model and r["recipe"] == recipe])

    def sd(model: str, recipe: str, key: str = "clean") -> str:
        return f"{100 * of(model, recipe, key).std(ddof=1):.1f}"

    def gain(model: str, short: str, long: str) -> str:
        return f"{100 * (of(model, long, 'clean').mean() - of(model, short, 'clean').mean()):+.1f}".replace("-", "−")

    early = "constant rate, early stopping (patience 3)"
    assert (f"googlenet_light's seed SD fell from {sd('googlenet_light', early)} to {sd('googlenet_light', 'cosine, 30 epochs')} "
            f"points, cnn_light's from {sd('cnn_light', early)} to {sd('cnn_light', 'cosine, 240 epochs, 3x rate')}") in page
    assert (f"googlenet_light {sd('googlenet_light', early, 'augmented')} → {sd('googlenet_light', 'cosine, 30 epochs', 'augmented')} "
            f"at 30 epochs, {sd('googlenet_light', 'cosine, 60 epochs', 'augmented')} at 60; googlenet "
            f"{sd('googlenet', 'cosine, 30 epochs', 'augmented')}–{sd('googlenet', 'cosine, 15 epochs', 'augmented')}") in page
    doubled = {("cnn", "cosine, 15 epochs", "cosine, 30 epochs"): "cnn 15 → 30 epochs",
               ("googlenet", "cosine, 15 epochs", "cosine, 30 epochs"): "googlenet 15 → 30",
               ("googlenet_light", "cosine, 30 epochs", "cosine, 60 epochs"): "googlenet_light 30 → 60",
               ("vgg16", "cosine, 15 epochs", "cosine, 30 epochs"): "vgg16 15 → 30",
               ("vgg16_light", "cosine, 120 epochs, 3x rate", "cosine, 240 epochs, 3x rate"): "vgg16_light 120 → 240 at 3x",
               ("cnn_light", "cosine, 120 epochs, 3x rate", "cosine, 240 epochs, 3x rate"): "120 → 240 at 3x,"}
    for (model, short, long), words in doubled.items():
        assert f"{words} {gain(model, short, long)}" in page, words
    most = max(abs(of(m, long_, "clean").mean() - of(m, short, "clean").mean()) for m, short, long_ in doubled)
    assert f"moves its mean clean accuracy by at most {100 * most:.1f} points" in page


def test_the_paper_page_s_module_counts_are_the_builders():
    from ricecnn.networks.build import build_model

    counts = {m: sum(type(layer).__name__ == "Concatenate" for layer in build_model(m, 32, 5).layers)
              for m in ("googlenet", "googlenet_light")}
    words = {8: "eight", 9: "nine"}
    page = " ".join((ROOT / "docs/paper.md").read_text().split())
    assert f"then {words[counts['googlenet']]} inception modules" in page
    assert f"and {words[counts['googlenet_light']]} inception modules instead of {words[counts['googlenet']]}" in page


# --- Every repository path and relative link of the docs resolves after `make repro` ---------------------------
# A path resolves if git tracks it (or a file under it), or a stage of dvc.yaml writes it (or the folder it lies
# in): dvc.yaml's outs, metrics and plots, expanded here over params.yaml's models and replicates as DVC expands
# them (test_the_outputs_expanded_here_are_dvc_lock_s checks the expansion against the committed dvc.lock); a
# stage the default runs none of (criteria@, criteria_report@: criteria.models is empty) under the committed
# profiles that run it (profiles/criteria.yaml, `make criteria`).

PAGES = [ROOT / "README.md", *sorted(ROOT.glob("docs/*.md"))]
# Local files the docs name that no commit holds and no stage writes, each one git ignores: where it comes from
LOCAL = {".dvc/cache": "DVC's cache", ".dvc/config.local": "`dvc remote modify --local`'s settings",
         "data/rehearsal": "make rehearse-paper's drawn zip", "dvc_plots/index.html": "`dvc plots show`'s page"}
# Paths the docs cite as they were at an earlier commit (the commit is named beside them)
AT_COMMIT = {"metrics/trim/<m>.json": "5012fd7"}
# A placeholder that names a replicate stands for a number; any other one (<m>, <model>, <line>, ...) for a name
REPLICATE = re.compile(r"<(?:s|seed|r|replicate|first s)>")


@functools.lru_cache(maxsize=None)
def git_files(commit: str | None = None) -> tuple[str, ...]:
    """The files git tracks (at ``commit``)."""
    args = ["ls-tree", "-r", "--name-only", commit] if commit else ["ls-files"]
    return tuple(run(["git", *args], ROOT).stdout.split())


def lookup(node, dotted: str):
    for key in dotted.split("."):
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def stage_instances(name: str, stage: dict, params: dict):
    """(instance name, interpolation context, body) of every stage a dvc.yaml entry stands for."""
    if "foreach" in stage:
        items = lookup(params, stage["foreach"].strip("${}"))
        pairs = items.items() if isinstance(items, dict) else [(item, item) for item in items]
        for key, item in pairs:
            yield f"{name}@{key}", {**params, "key": key, "item": item}, stage["do"]
    elif "matrix" in stage:
        axes = {k: lookup(params, v.strip("${}")) if isinstance(v, str) else v for k, v in stage["matrix"].items()}
        for combo in itertools.product(*map(list, axes.values())):
            yield f"{name}@" + "-".join(map(str, combo)), {**params, "item": dict(zip(axes, combo))}, stage
    else:
        yield name, params, stage


@dataclass(frozen=True)
class Out:
    stage: str  # dvc.yaml's name, e.g. train
    instance: str  # e.g. train@cnn-201
    template: str  # as dvc.yaml writes it
    path: str  # for these settings
    cached: bool  # False: committed to git (cache: false)


def interpolate(template: str, ctx: dict) -> str:
    """``models/${item.seed}/...`` with the stage instance's values, as DVC fills it in."""
    return re.sub(r"\$\{([^}]+)\}", lambda m: str(lookup(ctx, m.group(1).strip())), template)


def stages_run(params: dict) -> list[tuple[str, str, dict, dict]]:
    """(stage, instance, context, body) of every stage instance dvc.yaml holds under ``params``."""
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    return [(name, instance, ctx, body) for name, stage in dvc["stages"].items()
            for instance, ctx, body in stage_instances(name, stage, params)]


def outputs(params: dict) -> list[Out]:
    """Every out, metric and plot of dvc.yaml's stages under ``params``."""
    return [out for run_ in stages_run(params) for out in outputs_of(*run_)]


def outputs_of(name: str, instance: str, ctx: dict, body: dict) -> list[Out]:
    found = []
    for entry in (e for kind in ("outs", "metrics", "plots") for e in body.get(kind) or []):
        template, options = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
        found.append(Out(name, instance, template, interpolate(template, ctx), (options or {}).get("cache", True)))
    return found


def overridden(params: dict, profile: Path) -> dict:
    """params.yaml under a profile's ``key=value`` overrides (what ``dvc exp run -S`` does)."""
    params = copy.deepcopy(params)
    for item in yaml.safe_load(profile.read_text()):
        key, value = item.split("=", 1)
        *parents, last = key.split(".")
        node = params
        for parent in parents:
            node = node[parent]
        node[last] = yaml.safe_load(value)
    return params


@functools.lru_cache(maxsize=1)
def pipeline_stages() -> tuple[tuple[str, str, dict, dict], ...]:
    """The stage instances of the default pipeline; then, of each stage the default runs none of (criteria@
    with its empty criteria.models), its instances under each committed profile that runs it (`make criteria`)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    default = stages_run(params)
    ran = {name for name, *_ in default}
    return tuple(default + [run_ for p in sorted(ROOT.glob("profiles/*.yaml")) for run_ in stages_run(overridden(params, p))
                            if run_[0] not in ran])


@functools.lru_cache(maxsize=1)
def pipeline_outputs() -> tuple[Out, ...]:
    """Every output of ``pipeline_stages``."""
    return tuple(dict.fromkeys(out for run_ in pipeline_stages() for out in outputs_of(*run_)))


def ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


@functools.lru_cache(maxsize=1)
def existing() -> tuple[frozenset, tuple]:
    """Every path that exists after make repro (tracked files, the stages' outs, their folders), and the
    cached outs (their files are in DVC's cache, not git: anything under them may be named)."""
    paths = frozenset(a for p in [*git_files(), *(o.path for o in pipeline_outputs())] for a in ancestors(p))
    return paths, tuple(o.path for o in pipeline_outputs() if o.cached)


@functools.lru_cache(maxsize=1)
def package_folders() -> frozenset:
    """The package's folders (core, data, networks, ...): the docs name its files from there too (``core/cli.py``)."""
    return frozenset(p.split("/")[2] for p in git_files() if re.match(r"src/ricecnn/\w+/", p))


@functools.lru_cache(maxsize=1)
def path_regex() -> re.Pattern:
    """A path as the docs write it: a top-level folder of the repository (or a folder of the package) and a
    slash, then names (``reports/study/summary.{md,csv}``, ``models/<s>/<m>/``), or a top-level file
    (``params.yaml``)."""
    top = {p.split("/")[0]: "/" in p for p in git_files() if p not in (".gitignore", ".dvcignore")}
    folders = "|".join(re.escape(t) for t in sorted({t for t, folder in top.items() if folder} | package_folders()))
    files = "|".join(re.escape(t) for t, folder in top.items() if not folder)
    name = r"(?:[\w.*-]|<[^<>\n/`]+>|\{[^{}\n/ `]+\})+"
    return re.compile(rf"(?<![\w./<>{{}}-])(?:(?:{folders})/(?:{name}(?:/{name})*/?)?|(?:{files})(?![\w.-]))")


def repository_paths(text: str) -> list[str]:
    """The repository paths ``text`` names, as written (a sentence's full stop left out)."""
    return [p.rstrip(".") for p in path_regex().findall(text)]


def alternatives(path: str) -> list[str]:
    """``summary.{md,csv}``: each alternative of every brace, one path each."""
    m = re.search(r"\{([^{}]*)\}", path)
    return [q for alt in m.group(1).split(",") for q in alternatives(path[:m.start()] + alt + path[m.end():])] if m else [path]


def part_pattern(part: str) -> str:
    """One folder or file name of a docs path as a regex: a placeholder matches a name (a replicate's: a number),
    ``*`` any run of characters."""
    out = []
    for piece in re.findall(r"<[^<>]+>|\*|[^<*]+", part):
        out.append(r"\d+" if REPLICATE.fullmatch(piece) else "[^/]+" if piece.startswith("<")
                   else "[^/]*" if piece == "*" else re.escape(piece))
    return "".join(out)


def matches(path: str, candidates) -> bool:
    """Whether a docs path (placeholders and ``*`` its wildcards, no braces) is one of ``candidates``."""
    pattern = re.compile("/".join(part_pattern(p) for p in path.rstrip("/").split("/")))
    return any(pattern.fullmatch(c) for c in candidates)


def under(path: str, folders) -> bool:
    """Whether a docs path lies inside one of ``folders`` (placeholders as in ``matches``)."""
    parts = [part_pattern(p) for p in path.rstrip("/").split("/")]
    return any(len(f.split("/")) < len(parts) and all(re.fullmatch(p, q) for p, q in zip(parts, f.split("/")))
               for f in folders)


def resolves(path: str) -> bool:
    """Whether a repository path (one alternative, placeholders allowed) exists after make repro."""
    paths, cached = existing()
    if path.split("/")[0] in package_folders() and matches(f"src/ricecnn/{path}", paths):
        return True  # a file of the package, named from its folder (the repository's data/ holds no code)
    return matches(path, paths) or under(path, cached) or path.rstrip("/") in LOCAL or under(path, LOCAL)


def relative_links(page: Path, text: str) -> list[str]:
    """The repository paths ``page``'s relative links point to (``[x](file.md#part)``: file.md), as written."""
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    files = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    return [os.path.normpath(os.path.relpath(page.parent / f, ROOT)) for f in files]


def unresolved(page: Path, text: str) -> list[str]:
    """What ``text`` (the text of ``page``) names that does not exist after make repro, one line each."""
    wrong = []
    for n, line in enumerate(text.splitlines(), 1):
        for path in repository_paths(line):
            if path in AT_COMMIT:
                continue  # test_the_paths_the_docs_cite_at_a_commit_were_there
            wrong += [f"{page.relative_to(ROOT)}:{n}: {q}" for q in alternatives(path) if not resolves(q)]
        wrong += [f"{page.relative_to(ROOT)}:{n}: link to {t}" for t in relative_links(page, line)
                  if t.startswith("..") or not resolves(t)]
    return wrong


def missing_sections(page: Path, text: str) -> list[str]:
    """The sections ``text`` (of ``page``) cites by title that their page has no heading for. A citation:
    ``[statistics](statistics.md), "Minutes"``, ``docs/statistics.md, "Minutes"``, or on the same page
    ``(above, "Minutes")``; a heading: one that starts with the title."""
    cited = [(page.parent / f, title) for f, title in re.findall(r'\]\(([\w./-]+\.md)\)\)?,? "([^"]+)"', text)]
    cited += [(ROOT / f, title) for f, title in re.findall(r'(?<![\w/.(])((?:docs|reports)/[\w/-]+\.md),? "([^"]+)"', text)]
    cited += [(page, title) for title in re.findall(r'(?<![\w.])\((?:above, |below, )?"([A-Z][^"]+)"\)', text)]
    return [f'{page.relative_to(ROOT)}: {target.resolve().relative_to(ROOT)}, "{title}"' for target, title in cited
            if not re.search(rf"^#+ {re.escape(title)}", target.read_text(), re.M)]


def test_every_section_the_docs_cite_by_title_exists():
    assert sum(page.read_text().count('.md), "') for page in PAGES) > 5
    wrong = [w for page in PAGES for w in missing_sections(page, page.read_text())]
    assert wrong == [], "sections the docs cite that their page lacks:\n" + "\n".join(wrong)
    page = ROOT / "docs/settings.md"  # a planted mistake of each form is caught
    for planted in ['([statistics](statistics.md), "Sizing the study")', 'docs/statistics.md, "Sizing the study"',
                    '(below, "Sizing the study")', 'reports/study/summary.md, "Powers"']:
        assert len(missing_sections(page, planted)) == 1, planted


def test_the_outputs_expanded_here_are_dvc_lock_s():
    """The expansion the path checks rely on is DVC's: each default stage's outs are the committed dvc.lock's."""
    lock = yaml.load((ROOT / "dvc.lock").read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["stages"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    expanded: dict[str, set] = {}
    for o in outputs(params):
        expanded.setdefault(o.instance, set()).add(o.path)
    assert len(expanded) > 80
    # dvc.lock names only stages that exist: an entry left by a renamed or removed stage is stale
    assert sorted(set(lock) - set(expanded)) == [] and sorted(set(expanded) - set(lock)) == []
    for instance, paths in expanded.items():
        assert paths == {o["path"] for o in lock[instance]["outs"]}, instance


def test_every_path_and_link_in_the_docs_resolves_after_make_repro():
    named = [p for page in PAGES for p in repository_paths(page.read_text())]
    assert len(named) > 300 and any("<" in p for p in named) and any("{" in p for p in named)
    wrong = [w for page in PAGES for w in unresolved(page, page.read_text())]
    # and the comments of the settings: params.yaml's and the profiles' (a line's comment, in its place)
    for settings in [ROOT / "params.yaml", *ROOT.glob("profiles/*.yaml")]:
        comments = "\n".join(line.partition("#")[2] for line in settings.read_text().splitlines())
        wrong += unresolved(settings, comments)
    assert wrong == [], "paths and links the repository does not hold after make repro:\n" + "\n".join(wrong)


def test_the_local_paths_the_docs_name_are_ones_git_ignores():
    def ignored(path: str) -> bool:  # the path, or a file in it (a folder's pattern ends in a slash)
        return any(run(["git", "check-ignore", "-q", "--no-index", p], ROOT, check=False).returncode == 0
                   for p in (path, f"{path}/x"))

    assert [p for p in LOCAL if not ignored(p)] == []


def test_the_paths_the_docs_cite_at_a_commit_were_there():
    if run(["git", "rev-parse", "--is-shallow-repository"], ROOT).stdout.strip() == "true":
        pytest.skip("a shallow clone has no history to read them from")
    for path, commit in AT_COMMIT.items():
        assert matches(path, git_files(commit)), f"{path} is not in {commit}"
        assert any(path in p.read_text() and f"commit {commit}" in p.read_text() for p in PAGES), path


def test_a_wrong_path_or_link_in_the_docs_is_caught():
    page = ROOT / "docs" / "pruning.md"
    good = ("`models/<s>/<m>/<m>_pruned.keras`, `data/split/<s>/{train,val,test}_{x,y}.npy`, `reports/study/summary.{md,csv}`, "
            "[findings](../reports/study/findings.md), [trimming](trimming.md#method), `metrics/criteria_report/<m>.json`, "
            "[a site](https://dvc.org), [here](#sweeping-the-threshold), `.dvc/config.local`, `data/settings.py`, "
            "`core/cli.py`, `stages/<stage>.py`, `deploy/`")
    assert unresolved(page, good) == []
    for wrong in ["`models/<s>/<m>_pruned.keras`", "`reports/evaluate/*.png`", "`reports/study/summary.{md,txt}`",
                  "`models/<seed>/<m>_trim.keras`", "[trimming](trimming2.md#method)", "[top](../READ_ME.md)",
                  "`metrics/trim/<s>.json`", "reports/export/predictions/<model>.csv", "`src/ricecnn/study/Study.py`",
                  "`data/setting.py`", "`study/study.py`", "`networks/resnet.py`"]:
        assert len(unresolved(page, wrong)) == 1, wrong


# --- docs/settings.md's table is params.yaml ---------------------------------------------------------------------
# A row's key names one key, several (`split.val`, `split.test`: one value each, in order), or one per model or
# family (`models.<m>.epochs`, `models.vgg16*.weights`, `compare.families.<name>.kinds`): then its default is one
# value for all of them, or a value per group, "15 (`cnn`, `vgg16`), 10 (`googlenet`)", naming every one. A
# value that is another key (`train.learning_rate`) says the key is left out and that one applies.

GROUP = re.compile(r"(`[^`]+`|[^\s(),`]+) \(((?:`\w+`(?:, )?)+)\)")


def settings_rows() -> list[tuple[str, str]]:
    """(key cell, default cell) of every row of docs/settings.md's table of params.yaml's keys."""
    page = (ROOT / "docs/settings.md").read_text()
    shown = table(page, "## Settings (`params.yaml`)")
    return list(zip(shown["key"], shown["default"]))


def row_keys(cell: str) -> list[str]:
    """"`split.val`, `split.test`" -> both; "`a.b.c`, `.d`": a.b.c and a.b.d."""
    keys = re.findall(r"`([^`]+)`", cell)
    return [keys[0].rsplit(".", 1)[0] + k if k.startswith(".") else k for k in keys]


def expand(key: str, params: dict) -> dict[str | None, str]:
    """{model or family: the key it has} for ``<m>``, ``<name>`` or ``vgg16*`` in a key; else {None: key}."""
    parts = key.split(".")
    for i, part in enumerate(parts):
        if part.startswith("<") or "*" in part:
            names = lookup(params, ".".join(parts[:i]))
            if "*" in part:
                names = fnmatch.filter(names, part)
            return {n: ".".join([*parts[:i], n, *parts[i + 1:]]) for n in names}
    return {None: key}


def stated_values(cell: str, names) -> dict:
    """The default cell's value for each of ``names``: one value for all, or a value per group."""
    groups = GROUP.findall(cell)
    if not groups:
        return {n: cell for n in names}
    assert GROUP.sub("", cell).replace(",", "").strip() == "", f"docs/settings.md: {cell!r} is not a value per group"
    return {m: value for value, group in groups for m in re.findall(r"`(\w+)`", group)}


def schema_default(key: str):
    """The value ``models.<m>.<option>`` or ``compare.families.<name>.<key>`` takes where params.yaml leaves it
    out, from the schema that reads it (KeyError for any other key)."""
    from ricecnn.networks.settings import ModelEntry
    from ricecnn.study.settings import Family

    entry, _, field = key.rpartition(".")
    schema = {"models": ModelEntry, "compare.families": Family}[entry.rpartition(".")[0]]
    return schema.model_fields[field].get_default()


def check_setting(params: dict, key: str, text: str) -> str | None:
    """What is wrong with the statement "``key`` defaults to ``text``" (None: it is params.yaml's)."""
    text = text.strip().strip("`")
    try:
        value = lookup(params, key)
    except KeyError:
        value = KeyError
    if re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", text):  # another key: this one left out, that one applies
        try:
            lookup(params, text)
        except KeyError:
            return f"{key} falls back to {text}, which params.yaml lacks"
        return None if value is KeyError else f"{key} is set ({value!r}), not left to {text}"
    try:
        shown = yaml.safe_load(text if text.startswith("[") else text.replace(",", ""))  # 1,000 is a thousand
    except yaml.YAMLError:
        return f"{key}: {text!r} is no value"
    if value is KeyError:
        try:
            value = schema_default(key)
        except KeyError:
            return f"params.yaml has no {key}"
    if isinstance(shown, str) and isinstance(value, float) and re.fullmatch(r"\d+e-?\d+", shown):
        shown = float(shown)  # 1e-5: YAML 1.1 wants a dot in a float
    return None if shown == value else f"{key} is {value!r}, not {text}"


def default_rows(page: Path) -> list[tuple[str, str]]:
    """(key cell, default cell) of every row of a page's tables of settings (a header "| x | default | y |")."""
    rows, header = [], None
    for line in page.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        header = None if cells is None else header or cells
        if cells and header[1:2] == ["default"] and cells is not header and not set(cells[0]) <= set("-:"):
            rows.append((cells[0], cells[1]))
    return rows


def settings_mistakes(params: dict, page: Path = ROOT / "docs/settings.md") -> list[str]:
    """What a page's tables of settings say that params.yaml does not, one line each."""
    wrong = []
    for key_cell, default in default_rows(page):
        keys = row_keys(key_cell)
        values = [v.strip() for v in default.split(", ")] if len(keys) > 1 else [default]
        if len(values) != len(keys):
            wrong.append(f"{key_cell}: {len(keys)} keys, {len(values)} values ({default})")
            continue
        for key, value in zip(keys, values):
            names = expand(key, params)
            stated = stated_values(value, names)
            if set(stated) != set(names):
                wrong.append(f"{key_cell}: {default} names {sorted(stated)}, params.yaml has {sorted(names)}")
                continue
            wrong += [f"{key_cell}: {m}" for n, k in names.items() if (m := check_setting(params, k, stated[n]))]
    return [f"{page.relative_to(ROOT)}: {w}" for w in wrong]


def test_the_settings_page_s_defaults_are_params_yaml_s():
    """docs/settings.md's table, and every other page's table of settings (docs/deployment.md's)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert default_rows(ROOT / "docs/settings.md") == settings_rows() and len(settings_rows()) >= 70
    assert [p.name for p in PAGES if default_rows(p)] == ["deployment.md", "settings.md"]
    assert [w for p in PAGES for w in settings_mistakes(params, p)] == []


def test_the_settings_page_names_every_key_of_params_yaml():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())

    def leaves(node, prefix=""):
        for k, v in node.items():
            yield from leaves(v, f"{prefix}{k}.") if isinstance(v, dict) and v else [f"{prefix}{k}"]

    named = {k for cell, _ in settings_rows() for key in row_keys(cell) for k in expand(key, params).values()}
    assert sorted(set(leaves(params)) - named) == []


def schema_readers(page: str) -> list[tuple[list[str], str, set]]:
    """(sections, schema file, the stages named) of docs/settings.md's list of where each section's schema
    lives: "- `data` and `split`: `data/settings.py`; fetch, split and summarize (...)"."""
    listed = re.findall(r"^- ((?:`\w+`(?:, | and )?)+): `([\w/]+\.py)`; ([\w, ]+)", page, re.M)
    return [(re.findall(r"`(\w+)`", sections), file, set(re.split(r", | and ", stages.strip())))
            for sections, file, stages in listed]


def stages_reading(sections: list[str], file: str) -> set:
    """The stages of dvc.yaml that run ``src/ricecnn/<file>`` and whose params name a key of ``sections``
    (train.backend aside: every stage that loads Keras reads it)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    path = f"src/ricecnn/{file}"
    found = set()
    for name, stage in stages.items():
        body = stage.get("do", stage)
        params = [p if isinstance(p, str) else next(iter(p)) for p in body.get("params", [])]
        runs = any(path == d or path.startswith(f"{d}/") for d in body.get("deps", []))
        if runs and any(p.split(".")[0] in sections for p in params if p != "train.backend"):
            found.add(name)
    return found


def test_the_settings_page_says_which_stages_read_each_schema():
    page = (ROOT / "docs/settings.md").read_text()
    stages = set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    listed = [(s, f, n) for s, f, n in schema_readers(page) if n <= stages]
    # the one said in words: every stage runs core/ ("every stage that draws or trains, and the plan")
    assert [f for _, f, n in schema_readers(page) if not n <= stages] == ["core/settings.py"] and len(listed) >= 4
    for sections, file, named in listed:
        assert named == stages_reading(sections, file), f"docs/settings.md: {sections}, {file}: {sorted(named)}"
    planted = page.replace("; train, prune, trim,", "; train, flops, prune, trim,")
    assert planted != page and any(n != stages_reading(s, f) for s, f, n in schema_readers(planted))


def test_a_wrong_default_on_the_settings_page_is_caught():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for key, value in [("trim.budget", 0.03), ("split.test", 0.5), ("models.googlenet.epochs", 11),
                       ("models.cnn.learning_rate", 0.001), ("models.vgg16_light.weights", "none"),
                       ("compare.families.data_found.undecidable", ["cnn_trim"]), ("criteria.rules", ["apoz", "l1"]),
                       ("compare.families.confirmatory.margin", 0.01), ("compare.families.data_found.kinds", ["trim"])]:
        changed = copy.deepcopy(params)
        *parents, last = key.split(".")
        lookup(changed, ".".join(parents))[last] = value
        assert len(settings_mistakes(changed)) == 1, key
    changed = copy.deepcopy(params)
    changed["models"]["resnet"] = {"epochs": 15}  # a model the per-model rows do not name
    assert settings_mistakes(changed)


# --- Every setting and every piece of code the docs and docstrings name by a dotted name exists --------------
PACKAGE = ROOT / "src" / "ricecnn"
FILE_NAME = re.compile(r"\.(py|csv|png|json|jsonl|txt|ya?ml|md|lock|npy|keras|onnx|tflite|h5|sh|html|zip)$")


@functools.lru_cache(maxsize=None)
def defined(module: Path) -> frozenset:
    """The names a module binds at its top level, and its classes' members as ``Class.member``."""
    names = set()
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.ClassDef):
            members = [n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
            members += [n.target.id for n in node.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
            names |= {node.name, *(f"{node.name}.{m}" for m in members)}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
    return frozenset(names)


def code_exists(ref: str) -> bool | None:
    """Whether a dotted name of the package's code exists: ``ricecnn.study.stats.verdict``, ``channels.criteria.Cost``,
    or from a module's own name, ``stats.verdict`` (any module of that name). None: ``ref`` names no module of
    the package (``tf.data``)."""
    parts, folder, i = ref.removeprefix("ricecnn.").split("."), PACKAGE, 0
    while i < len(parts) and (folder / parts[i]).is_dir():
        folder, i = folder / parts[i], i + 1
    if i < len(parts) and (folder / f"{parts[i]}.py").is_file():
        modules, i = [folder / f"{parts[i]}.py"], i + 1
    elif i == 0:
        modules, i = sorted(PACKAGE.rglob(f"{parts[0]}.py")), 1
        if not modules:
            return None
    else:
        return i == len(parts)  # a folder, and nothing after it
    rest = ".".join(parts[i:])
    return not rest or any(rest in defined(m) for m in modules)


def wrong_reference(ref: str, params: dict) -> str | None:
    """What is wrong with a dotted name: a setting (``trim.budget``) params.yaml lacks, or code that does not
    exist (``ricecnn.networks.check_options``); file names (``summary.md``) aside."""
    if FILE_NAME.search(ref):
        return None
    if not ref.startswith("ricecnn."):
        try:
            lookup(params, ref)
            return None
        except (KeyError, TypeError, ValueError, IndexError):
            pass
    found = code_exists(ref)
    if found is None and ref.split(".")[0] in params:
        return f"{ref}: params.yaml has no such key"
    return f"{ref}: the package defines no such thing" if found is False else None


def dotted_names(path: Path) -> list[str]:
    """The dotted names a page (`x.y`) or a source file's docstrings and comments (``x.y``) cite."""
    quote = "`" if path.suffix == ".md" else "``"
    return re.findall(rf"(?<!`){quote}((?:ricecnn\.)?[a-z_]+(?:\.[A-Za-z_]+)+)(?:\(\))?{quote}(?!`)", path.read_text())


def test_every_setting_and_piece_of_code_the_docs_and_docstrings_name_exists():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    files = [*PAGES, *PACKAGE.rglob("*.py"), *ROOT.glob("bench/*.py"), *ROOT.glob("tools/*.py"), *ROOT.glob("tests/*.py")]
    cited = [(f, ref) for f in files if f.name != "test_docs.py" for ref in dotted_names(f)]  # this file plants mistakes
    assert len(cited) > 300 and sum(ref.startswith("ricecnn.") for _, ref in cited) > 50
    wrong = [f"{f.relative_to(ROOT)}: {w}" for f, ref in cited if (w := wrong_reference(ref, params))]
    assert wrong == [], "\n".join(wrong)
    for planted in ["ricecnn.networks.check_options", "ricecnn.study.Study", "ricecnn.core.settings.Prune",
                    "training.CACHE_BYTES", "stats.no_such_function", "trim.budgets", "channels.criteria.Costs"]:
        assert wrong_reference(planted, params), planted
    for right in ["ricecnn.networks.registry.check_options", "ricecnn.stages.prune.Prune", "training.fit.CACHE_BYTES",
                  "criteria.scores", "trim.budget", "tf.distribute.MirroredStrategy", "ricecnn.data.parallel"]:
        assert wrong_reference(right, params) is None, right
    # and every test the docs name by its name (`test_three_machines_share_one_s3_remote`), settings' names aside
    tests = {n for p in ROOT.glob("tests/*.py") for n in re.findall(r"^def (test_\w+)", p.read_text(), re.M)}
    settings = {k for section in params.values() if isinstance(section, dict) for k in section}
    named = {n for page in PAGES for n in re.findall(r"`(test_\w+)`", page.read_text())} - settings
    assert len(named) >= 2 and sorted(named - tests) == []


def layout(page: str) -> dict[str, str]:
    """The layout block of a page (```` ``` ```` then ``src/ricecnn/``): {entry (``core/``, ``pictures.py``,
    ``tools/``): its words}."""
    start = page.index("```\nsrc/ricecnn/")
    entries, entry = {}, None
    for line in page[start + 4:page.index("```", start + 4)].splitlines()[1:]:
        if not line.startswith("   "):
            entry, line = line.split()[0], line.strip()[len(line.split()[0]):]
        entries[entry] = entries.get(entry, "") + " " + line.strip()
    return entries


def test_the_development_page_s_layout_names_every_module_tool_and_profile():
    entries = layout((ROOT / "docs/development.md").read_text())
    package = ROOT / "src/ricecnn"
    # stages/: one module per stage of dvc.yaml
    assert {p.stem for p in (package / "stages").glob("*.py")} == set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    unnamed = [f"src/ricecnn/{p.parent.name}/{p.name}" for folder in package.iterdir() if folder.is_dir()
               and folder.name not in ("stages", "__pycache__") for p in folder.glob("*.py")
               if p.name != "__init__.py" and not re.search(rf"\b{re.escape(p.name)}", entries.get(f"{folder.name}/", ""))]
    unnamed += [f"src/ricecnn/{p.name}" for p in package.glob("*.py") if p.name != "__main__.py" and p.name not in entries]
    unnamed += [f"tools/{p.name}" for p in (ROOT / "tools").iterdir() if p.is_file() and p.name not in entries["tools/"]]
    unnamed += [f"profiles/{p.name}" for p in (ROOT / "profiles").glob("*.yaml")
                if not re.search(rf"(?<![\w-]){re.escape(p.name)}", entries["profiles/"])]
    assert unnamed == [], "docs/development.md's layout does not name these files"
    assert "no table" in entries["commands/"] and "table" not in entries["core/"]  # cli.py finds a command by its file
    # every folder but deploy/ a namespace package
    assert sorted(str(p.relative_to(ROOT)) for p in package.rglob("__init__.py")) == ["src/ricecnn/deploy/__init__.py"]
    assert "Every folder but `deploy/` is a namespace package (no `__init__.py`)" in (ROOT / "docs/development.md").read_text()


def test_the_criteria_page_names_every_setting_and_commits_no_results_it_does_not_have():
    """docs/criteria.md against the code: every setting of params.yaml's criteria section named, the
    page's statement that none of the new design is committed true until a run is."""
    page = (ROOT / "docs/criteria.md").read_text()
    import yaml

    for key in yaml.safe_load((ROOT / "params.yaml").read_text())["criteria"]:
        assert f"`{key}`" in page or f"`criteria.{key}`" in page, key
    # none committed until make criteria's run is (then the Results block is generated from it: test_readme)
    assert ("**None committed.**" in page) == (not (ROOT / "results/criteria").exists())
    if (ROOT / "results/criteria").exists():  # the README's pointer to the page says what the committed run is
        ran = yaml.safe_load((ROOT / "results/criteria/params.yaml").read_text())
        replicates, tuned = ran["replicates"], ran["criteria"]["finetune_epochs"]
        said = (f"`make criteria`; its run on replicates {replicates[0]}-{replicates[-1]}, each cut scored right after "
                f"the cut{'' if tuned == 0 else ' and fine-tuned'}, committed in `results/criteria/`)")
        assert said in (ROOT / "README.md").read_text() and replicates == list(range(replicates[0], replicates[-1] + 1))
    assert "- criteria.models=[googlenet,vgg16,cnn]" in (ROOT / "profiles/criteria.yaml").read_text()


def test_what_params_yaml_and_the_settings_page_say_make_criteria_runs_is_its_profile():
    profile = dict(item.split("=", 1) for item in yaml.safe_load((ROOT / "profiles/criteria.yaml").read_text()))
    models, replicates = yaml.safe_load(profile["criteria.models"]), yaml.safe_load(profile["replicates"])
    comments = " ".join(line.split("#", 1)[1].strip() for line in (ROOT / "params.yaml").read_text().splitlines() if "#" in line)
    said = f"`make criteria` runs {', '.join(models[:-1])} and {models[-1]} on replicates {replicates[0]}-{replicates[-1]}"
    assert said in comments and replicates == list(range(replicates[0], replicates[-1] + 1))
    assert yaml.safe_load(profile["criteria.finetune_epochs"]) == 0 and "each cut scored before any fine-tuning" in comments
    assert f"(`make criteria`: {', '.join(models)})" in (ROOT / "docs/settings.md").read_text()


def test_what_the_docs_say_dvc_compares_and_the_records_hold_is_so():
    import json

    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    page = " ".join((ROOT / "docs/comparing.md").read_text().split())
    assert f"the study's numbers as `metrics` (`{dvc['metrics'][0]}`" in page and len(dvc["metrics"]) == 1
    pictures = page[page.index("the study's pictures as `plots`"):page.index("The stages' own JSON files")]
    shown = {next(iter(p)) if isinstance(p, dict) else p for p in dvc["plots"]}
    assert set(re.findall(r"`([\w]+\.png)`", pictures)) == {Path(p).name for p in shown if p.endswith(".png")}
    # "They hold no timings": no committed stage record has a key for seconds or latency
    def keys(node):
        if isinstance(node, dict):
            yield from node
            for v in node.values():
                yield from keys(v)
        elif isinstance(node, list):
            for v in node:
                yield from keys(v)

    timed = {str(p.relative_to(ROOT)) for p in ROOT.glob("metrics/**/*.json")
             if any(re.search(r"second|latency|timing|per_s\b", k) for k in keys(json.loads(p.read_text())))}
    assert timed == set() and "They hold no timings" in page
    # docs/trimming.md: what one round's row of metrics/trim/<s>/<m>.json holds
    row = json.loads(next(ROOT.glob("metrics/trim/*/cnn.json")).read_text())["rounds"][0]
    assert {"channels", "params", "flops", "flops_224", "val_accuracy", "finetune_epochs", "within_budget"} <= set(row)
    assert "fine-tuning epochs, whether it is within the budget) and the kept round" in " ".join(
        (ROOT / "docs/trimming.md").read_text().split())


def test_how_the_deployment_page_says_latency_is_timed_is_the_bench_s():
    import json

    bench = (ROOT / "bench/latency.py").read_text()
    default = {k: int(v) for k, v in re.findall(r'add_argument\("--(\w+)", type=int, default=(\d+)', bench)}
    committed = json.loads((ROOT / "bench/latency.json").read_text())
    assert {k: committed["settings"][k] for k in ("rounds", "warmup", "repeats")} == {k: default[k] for k in ("rounds", "warmup", "repeats")}
    page = " ".join((ROOT / "docs/deployment.md").read_text().split())
    assert (f"timed in rounds ({default['rounds']} by default)" in page and f"A round gives each {default['warmup']} untimed "
            f"and {default['repeats']} timed calls" in page and f"(`--runs {default['runs']}`)" in page)
    from ricecnn.deploy.latency import WIDE

    assert f"more than {100 * WIDE:g} % of it apart" in page and f"more than {100 * committed['agree_within']:g} %" in page


def test_what_the_docs_say_the_default_vgg16s_start_from_is_params_yaml_s():
    models = yaml.safe_load((ROOT / "params.yaml").read_text())["models"]
    weights = {m: e["weights"] for m, e in models.items() if "weights" in e}
    assert set(weights) == {"vgg16", "vgg16_light"} and set(weights.values()) == {"standin"}
    # the scratch control of a model whose base learned (standin, imagenet, a file) trains every layer
    assert "| `standin` (the offline default), `imagenet` or a weights file |" in (ROOT / "docs/trimming.md").read_text()
    assert "frozen base pretrained on the stand-in's other grains, `weights: standin`" in " ".join(
        (ROOT / "docs/pruning.md").read_text().split())


def test_the_augmented_set_s_spread_is_the_pilot_s():
    comps = pd.read_csv(ROOT / "results/pilot/reports/study/comparisons.csv")
    light = comps[comps.claim_kind == "light"].groupby("condition").seed_sd_pp
    page = " ".join((ROOT / "docs/statistics.md").read_text().split())
    said = (f"vary {light.min()['augmented']:.1f} to {light.max()['augmented']:.1f} points from replicate to replicate on "
            f"augmented images, against {light.min()['clean']:.1f} to {light.max()['clean']:.1f} on clean ones")
    assert said in page


def test_what_the_statistics_page_says_of_vgg16_s_training_is_the_committed_runs():
    import json

    import yaml

    replicates = yaml.safe_load((ROOT / "params.yaml").read_text())["replicates"]
    acc = {m: [json.loads((ROOT / f"metrics/train/{r}/{m}.json").read_text())["train_accuracy"] for r in replicates]
           for m in ("vgg16", "vgg16_light")}
    page = " ".join((ROOT / "docs/statistics.md").read_text().split())
    assert (f"vgg16's 15 epochs end at a training accuracy of {min(acc['vgg16']):.2f} to {max(acc['vgg16']):.2f} in the "
            f"confirmation's three replicates") in page and len(replicates) == 3
    assert f"vgg16_light's 120 end at {min(acc['vgg16_light']):.2f} to {max(acc['vgg16_light']):.2f}" in page


def test_where_the_statistics_page_says_make_repro_s_minutes_go_is_the_timed_clone():
    import json

    after = json.loads((ROOT / "bench/repro-stage-times.json").read_text())["after"]["stages"]

    def seconds(*kinds: str) -> str:
        return f"{sum(s for stage, s in after.items() if stage.split('@')[0] in kinds):.0f} s"

    page = " ".join((ROOT / "docs/statistics.md").read_text().split())
    said = (f"the 18 trainings ({seconds('train')}), the six export stages ({seconds('export')}: five formats of 11 models "
            f"converted, one stage per trained model's line; their scoring skipped), pruning, trimming and the scratch "
            f"control ({seconds('prune', 'trim', 'trim_scratch')}), `pretrain` ({seconds('pretrain')}) and the data "
            f"({seconds('fetch', 'split')})")
    assert said in page and sum(stage.startswith("train@") for stage in after) == 18 and not [s for s in after if s.startswith("score_exports")]


def test_what_the_makefile_says_byte_compiling_saves_is_the_bench_s_record():
    record = (ROOT / "bench/venv-setup.md").read_text()
    rows = [line.strip("|").split("|") for line in record.splitlines() if re.match(r"\| \d+ \|", line)]
    seconds = {how: sorted(float(r[2]) for r in rows if r[1].strip() == how) for how in ("pip", "parallel")}
    median = {how: (s[(len(s) - 1) // 2] + s[len(s) // 2]) / 2 for how, s in seconds.items()}
    ratio = float(re.search(r"parallel / pip, median seconds: ([\d.]+)", record).group(1))
    assert ratio == round(median["parallel"] / median["pip"], 2)
    makefile = " ".join(line.lstrip("# ") for line in (ROOT / "Makefile").read_text().splitlines())
    assert (f"{ratio:.2f} of pip's time here (bench/venv_setup.sh, its record bench/venv-setup.md: "
            f"{median['parallel']:.0f} s against {median['pip']:.0f} s, the medians of two rounds)") in makefile


def test_the_criteria_page_says_what_its_pilot_and_profile_hold():
    import json

    import yaml

    page = " ".join((ROOT / "docs/criteria.md").read_text().split())
    claims = [(r["model"], t) for p in sorted((ROOT / "results/criteria-pilot/metrics/criteria_report").glob("*.json"))
              for r in [json.loads(p.read_text())] for t in r["thesis"]]
    assert len(claims) == 6 and {len(t["per_seed"].split()) for _, t in claims} == {3}
    ahead = {m for m, t in claims if all(float(v) > 0 for v in t["per_seed"].split())}
    assert ahead == {"googlenet", "vgg16"} and "on googlenet and vgg16 APoZ's cut kept more than L1's and random's on every pilot replicate; on cnn it did not" in page
    sized = [t for _, t in claims if t["replicates_needed_at_estimate"] == t["replicates_needed_at_estimate"]
             and t["replicates_needed_at_estimate"] is not None]
    assert {m for m, t in claims if t in sized} == {"googlenet", "vgg16"}  # cnn: no advantage to size for
    at_estimate = {int(t["replicates_needed_at_estimate"]) for t in sized}
    ends = sorted(int(t["replicates_needed"]) for t in sized if t["replicates_needed"] == t["replicates_needed"]
                  and t["replicates_needed"] is not None)
    assert at_estimate == {4} and f"80 % power takes {at_estimate.pop()} replicates for every claim" in page
    assert f"at the conservative ends of its intervals, {ends[0]} to {ends[-1]}" in page
    profile = dict(item.split("=", 1) for item in yaml.safe_load((ROOT / "profiles/criteria.yaml").read_text()))
    replicates = yaml.safe_load(profile["replicates"])
    pilot = yaml.safe_load((ROOT / "params.yaml").read_text())["pilot"]["replicates"]
    assert len(replicates) == 4 and not set(replicates) & set(pilot) and "runs **4 replicates**, 201-204" in page
    assert replicates == list(range(201, 205)) and yaml.safe_load(profile["criteria.finetune_epochs"]) == 0


def test_the_criteria_results_are_what_their_run_measured():
    import yaml

    page = " ".join((ROOT / "docs/criteria.md").read_text().split())
    ran = yaml.safe_load((ROOT / "results/criteria/params.yaml").read_text())
    replicates, c = ran["replicates"], ran["criteria"]
    assert (f"at {ran['data']['img_size']} px, {len(replicates)} replicates ({replicates[0]}-{replicates[-1]}, each its own "
            f"data draw and training seed), each cut scored on {c['test_images']} of its replicate's test images right "
            "after the cut; no cut was fine-tuned and no scratch control ran") in page
    assert c["finetune_epochs"] == 0 and replicates == list(range(replicates[0], replicates[-1] + 1))
    assert c["models"] == ["googlenet", "vgg16", "cnn"] and set(c["rankings"]) == {"layer", "global"} and len(c["targets"]) >= 5
    # the run's settings are the committed profile's over params.yaml's
    profile = dict(item.split("=", 1) for item in yaml.safe_load((ROOT / "profiles/criteria.yaml").read_text()))
    assert all(yaml.safe_load(v) == (ran if k == "replicates" else ran["criteria"])[k.split(".")[-1]] for k, v in profile.items())


def test_the_seconds_per_test_file_are_summed_from_pytest_s_report(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    from test_times import per_file

    report = tmp_path / "report.xml"
    report.write_text('<testsuites><testsuite name="pytest">'
                      '<testcase classname="tests.test_a" name="one" time="1.5"/>'
                      '<testcase classname="tests.test_a" name="two[x]" time="2"/>'
                      '<testcase classname="tests.test_b.TestK" name="three" time="10"/>'
                      '</testsuite></testsuites>')
    assert per_file(report) == [("test_b.py", 1, 10.0), ("test_a.py", 2, 3.5)]

