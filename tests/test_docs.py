"""The docs say what the code and the committed results say: pages that exist, numbers that are
their tables', no citation of a file the repository does not hold."""

from __future__ import annotations

import re

import pandas as pd
import pytest
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


def test_the_settings_page_s_defaults_are_params_yaml_s():
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    page = (ROOT / "docs/settings.md").read_text()
    checked = 0
    for line in page.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")] if line.startswith("| `") else []
        if len(cells) >= 3 and cells[0].startswith("`models.<m>.") and "(`" in cells[1]:
            # a value per group of models: "15 (`cnn`, `vgg16`), 10 (`googlenet`), ...": every model, its own value
            key, stated = cells[0].strip("`").split(".")[-1], {}
            for value, names in re.findall(r"([\d.]+) \(([^)]*)\)", cells[1]):
                stated.update({m: yaml.safe_load(value) for m in re.findall(r"`(\w+)`", names)})
            assert stated == {m: e[key] for m, e in params["models"].items()}, f"docs/settings.md: {cells[0]} says {stated}"
            checked += 1
            continue
        if len(cells) < 3 or any(ch in cells[0] for ch in "<*,"):
            continue  # one key per row; rows about several keys are prose
        node = params
        for key in cells[0].strip("`").split("."):
            assert isinstance(node, dict) and key in node, f"docs/settings.md names {cells[0]}, which params.yaml lacks"
            node = node[key]
        text = cells[1].strip("`")
        shown = yaml.safe_load(text if text.startswith("[") else text.replace(",", ""))  # 1,000 is a thousand
        if isinstance(shown, str) and isinstance(node, float):
            shown = float(shown)  # 1e-5: YAML 1.1 wants a dot in a float
        assert shown == node, f"docs/settings.md: {cells[0]} defaults to {cells[1]}, params.yaml says {node!r}"
        checked += 1
    assert checked >= 30


def test_the_paper_page_s_module_counts_are_the_builders():
    from ricecnn.networks.build import build_model

    counts = {m: sum(type(layer).__name__ == "Concatenate" for layer in build_model(m, 32, 5).layers)
              for m in ("googlenet", "googlenet_light")}
    words = {8: "eight", 9: "nine"}
    page = " ".join((ROOT / "docs/paper.md").read_text().split())
    assert f"then {words[counts['googlenet']]} inception modules" in page
    assert f"and {words[counts['googlenet_light']]} inception modules instead of {words[counts['googlenet']]}" in page


def test_every_source_file_the_docs_name_exists():
    pages = [ROOT / "README.md", *ROOT.glob("docs/*.md")]
    named = {m for p in pages for m in re.findall(r"\b((?:src|tools|bench|tests)/[\w/.-]+\.(?:py|sh|json|jsonl))\b", p.read_text())}
    assert len(named) > 10 and sorted(n for n in named if not (ROOT / n).is_file()) == []


def test_the_criteria_page_names_every_setting_and_commits_no_results_it_does_not_have():
    """docs/criteria.md against the code: every setting of params.yaml's criteria section named, the
    page's statement that none of the new design is committed true until a run is."""
    page = (ROOT / "docs/criteria.md").read_text()
    import yaml

    for key in yaml.safe_load((ROOT / "params.yaml").read_text())["criteria"]:
        assert f"`{key}`" in page or f"`criteria.{key}`" in page, key
    # none committed until make criteria's run is (then the Results block is generated from it: test_readme)
    assert ("**None committed.**" in page) == (not (ROOT / "results/criteria").exists())
    assert "- criteria.models=[googlenet,vgg16,cnn]" in (ROOT / "profiles/criteria.yaml").read_text()


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
