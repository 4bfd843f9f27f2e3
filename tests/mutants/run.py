"""Mutation testing of the invariant code: `make mutants` runs this, and it writes docs/mutants.md.

    .venv/bin/python tests/mutants/run.py                  # every target, in priority order
    .venv/bin/python tests/mutants/run.py --only cart      # one target (names below)
    .venv/bin/python tests/mutants/run.py --retest         # the survivors again, and the timeouts one by one
    .venv/bin/python tests/mutants/run.py --report         # rewrite the report from the recorded results

mutmut 3 (pyproject.toml's [tool.mutmut]: which files, which test files, what is not mutated) copies
the shop into mutants/ with every mutant behind a trampoline; this script picks the invariant
functions in those files, target by target in the order below, and runs each target's mutants
against the tests that reach them. The report lists every surviving mutant with its diff, and for
each either the test that now kills it or why it is equivalent: tests/mutants/equivalent.toml,
keyed by mutant name, holds both, so a re-run keeps them. A `killed_by` test is checked against its
mutant (it must fail under it); an explanation whose mutated line no longer matches is reported stale.
Exits 1 when a survivor is unexplained or a `killed_by` test does not kill its mutant.

mutmut's results live in mutants/, which a new checkout does not have, so each target's outcome is
also recorded in tests/mutants/results.json (committed): when it last ran, how long it took, its
mutants counted by status and its survivors with their diffs. The report is written from that file:
a target that mutmut has results for in mutants/ is recorded afresh, the others keep what was
recorded when they last ran, so `--only orders` leaves the cart's figures and survivors as they were.

It lives beside the tests because it measures them, not the shop (bench/ measures the shop).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXPLAINED = ROOT / "tests" / "mutants" / "equivalent.toml"
REPORT = ROOT / "docs" / "mutants.md"
RESULTS = ROOT / "tests" / "mutants" / "results.json"
STATUS = re.compile(r"^\s+(\S+): (.+)$")


@dataclass(frozen=True)
class Target:
    name: str
    what: str
    # mutmut's mutant names, as globs: <module>.x_<function>__mutmut_<n>, methods as xǁ<Class>ǁ<method>.
    functions: tuple[str, ...]

    def covers(self, mutant: str) -> bool:
        return any(fnmatch.fnmatchcase(mutant, pattern) for pattern in self.functions)


TARGETS = (
    Target(
        "cart",
        "the cart's add (its ON CONFLICT sum clamped to stock and limit), the read that clamps stale lines, "
        "quantity edits, and the service that picks the owner's cart",
        (
            "web.cart.store.x_add*",  # add() and add_to_line()
            "web.cart.store.x_cart_view*",
            "web.cart.store.x_read_cart*",
            "web.cart.store.x_clamp_cart*",
            "web.cart.store.x_set_quantity*",
            "web.cart.service.x_add_to_cart*",
            "web.cart.service.x_cart_for_writing*",
            "web.cart.service.x_user_cart*",
            "web.cart.service.x_load_cart*",
            "web.cart.service.x_settle*",
            "web.cart.service.x_set_quantity*",
        ),
    ),
    Target(
        "orders",
        "order placement: the stock decrement guarded by `stock >= quantity` and its row count, "
        "the idempotency key and its scope, the order row",
        (
            "web.orders.service.x_place_order*",
            "web.orders.service.x_take_stock*",
            "web.orders.service.x_lock_variants*",
            "web.orders.service.x_per_variant*",
            "web.orders.service.x_insert_order*",
            "web.orders.service.x_find_by_key*",
            "web.orders.service.x_scoped_key*",
        ),
    ),
    Target(
        "throttle",
        "the login throttle: its counters, keys, lock-out and slow-down, and the SQL store's counting",
        (
            "web.accounts.service.x_take_attempt*",
            "web.accounts.service.x_attempt_succeeded*",
            "web.accounts.service.x_attempt_of*",
            "web.accounts.service.x_address_key*",
            "web.sessions.xǁSessionStoreǁthrottle_take*",
            "web.sessions.xǁSqlSessionStoreǁthrottle_count*",
            "web.sessions.xǁSqlSessionStoreǁthrottle_release*",
        ),
    ),
    Target(
        "csrf",
        "the CSRF and origin checks: check_origin(), the token a request carries, the session's token "
        "(derived from its ID) and its comparison",
        (
            "web.visit.x_check_origin*",
            "web.visit.x_form_token*",
            "web.sessions.xǁSessionǁ_token*",
            "web.sessions.xǁSessionǁcsrf_matches*",
        ),
    ),
    Target(
        "sessions",
        "the session store: load (no adoption of unknown IDs), minted IDs and their MAC, save, rotation, expiry",
        (
            "web.sessions.xǁSessionStoreǁload*",
            "web.sessions.xǁSessionStoreǁmint*",  # mint() and minted_by_us()
            "web.sessions.xǁSessionStoreǁ_mask*",
            "web.sessions.xǁSessionStoreǁ_expiry*",
            "web.sessions.xǁSessionStoreǁsave*",
            "web.sessions.xǁSessionǁrotate*",
            "web.sessions.xǁSessionǁset*",
            "web.sessions.xǁSessionǁpop*",
            "web.sessions.x_mac*",
            "web.sessions.x_session_key*",
            "web.sessions.x_new_session_id*",
            "web.sessions.xǁSqlSessionStoreǁ_read*",
            "web.sessions.xǁSqlSessionStoreǁ_write*",
            "web.sessions.xǁSqlSessionStoreǁ_touch*",
            "web.sessions.xǁSqlSessionStoreǁ_delete*",
        ),
    ),
    Target(
        "visit",
        "visit(): the request's unit of work, which runs the CSRF check before any work and saves the session",
        ("web.visit.x_visit*",),
    ),
    Target(
        "merge",
        "the login merge of a guest cart into the user's, clamped like an add",
        ("web.cart.store.x_merge*", "web.cart.service.x_merge_at_login*"),
    ),
)
# Each mutant's outcome in the report: mutmut's status, except that a survivor of the original suite is
# "killed by a named test" (its killed_by test fails under it), "equivalent" (explained) or "unexplained".
COLUMNS = (
    "killed",
    "timeout",
    "killed by a named test",
    "equivalent",
    "unexplained",
    "no tests",
    "skipped",
    "not checked",
    "other",
)
TRIED = ("killed", "timeout", "killed by a named test", "equivalent", "unexplained")


def mutmut(*args: str, log: Path | None = None) -> subprocess.CompletedProcess[str]:
    if log is None:
        return subprocess.run([str(BIN / "mutmut"), *args], cwd=ROOT, capture_output=True, text=True, check=False)
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as out:
        return subprocess.run([str(BIN / "mutmut"), *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)


def statuses() -> dict[str, str]:
    """Every mutant mutmut made, with its status (mutmut results --all)."""
    answer = mutmut("results", "--all", "true")
    if answer.returncode:
        sys.exit(f"mutmut results failed:\n{answer.stderr}")
    return {found[1]: found[2] for line in answer.stdout.splitlines() if (found := STATUS.match(line))}


def diff_of(mutant: str) -> str:
    shown = mutmut("show", mutant).stdout
    return "\n".join(line for line in shown.splitlines() if not line.startswith("# "))


def mutated_line(diff: str) -> str:
    """The first line the mutant adds, stripped: what an explanation is checked against."""
    added = (line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
    return next(added, "")


def passes(test: str, under: str) -> bool:
    """Whether `test` passes under the mutant `under` ("": none), run in mutants/ as mutmut runs it."""
    env = {**os.environ, "MUTANT_UNDER_TEST": under}
    run = subprocess.run(
        [str(BIN / "python"), "-m", "pytest", "-q", "-x", "--rootdir=.", test],
        cwd=ROOT / "mutants",
        env=env,
        capture_output=True,
        check=False,
    )
    return run.returncode == 0


@cache
def passes_as_is(test: str) -> bool:
    """A test named for several mutants is run on the unmutated code once."""
    return passes(test, "")


def kills(mutant: str, test: str) -> bool:
    """Whether `test` fails under `mutant` (and passes without it)."""
    return passes_as_is(test) and not passes(test, mutant)


def written_for(note: dict[str, str], survivor: dict[str, str]) -> bool:
    """Whether an explanation was written for the line this mutant puts in (else it is stale)."""
    line = mutated_line(survivor["diff"])
    return note.get("line", line) == line


@dataclass
class Tally:
    """A target's mutants by outcome; the survivors of the original suite are split three ways."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMNS, 0))

    def add(self, outcome: str) -> None:
        self.counts[outcome if outcome in self.counts else "other"] += 1

    def merge(self, other: Tally) -> None:
        for column, count in other.counts.items():
            self.counts[column] += count

    @property
    def tried(self) -> int:
        return sum(self.counts[column] for column in TRIED)

    def rate(self, *columns: str, without: str = "") -> str:
        tried = self.tried - (self.counts[without] if without else 0)
        return f"{100 * sum(self.counts[column] for column in columns) / tried:.1f}%" if tried else "-"


def run_targets(targets: list[Target], max_children: int, budget: float) -> None:
    """Run each target's mutants; a target that would start past the budget (minutes) is left for later."""
    results = read_results()
    started = time.monotonic()
    for target in targets:
        if (time.monotonic() - started) / 60 > budget:
            print(f"{target.name}: not run, past the {budget:.0f}-minute budget")
            continue
        print(f"{target.name}: mutmut run over {len(target.functions)} functions", flush=True)
        begun = time.monotonic()
        log = ROOT / "mutants" / f"run-{target.name}.log"
        answer = mutmut("run", "--max-children", str(max_children), *target.functions, log=log)
        seconds = time.monotonic() - begun
        results[target.name] = {**results.get(target.name, {}), "last_run": today(), "seconds": round(seconds)}
        print(f"{target.name}: done in {seconds / 60:.1f} min (exit {answer.returncode}, log {log})")
        write_results(results)


def retest(max_children: int) -> None:
    """Run again only the mutants that survived (after new tests were written)."""
    survivors = [name for name, status in statuses().items() if status == "survived"]
    if not survivors:
        print("no survivors to retest")
        return
    log = ROOT / "mutants" / "run-retest.log"
    begun = time.monotonic()
    answer = mutmut("run", "--max-children", str(max_children), *survivors, log=log)
    print(f"retest of {len(survivors)} survivors: {(time.monotonic() - begun) / 60:.1f} min (exit {answer.returncode})")


def recheck_timeouts() -> None:
    """Run each mutant mutmut timed out in a fresh pytest process and record what really happens.

    mutmut forks its workers from the process that ran the suite for its stats, and a test that
    starts threads (the placement races, say) can hang in such a fork although it passes in a fresh
    process; mutmut then reports a timeout, which it counts as killed. Here each one runs the tests
    mutmut would run it against, alone, with a wall-clock limit: its outcome is "killed" (a test
    fails), "survived" (all pass) or "timeout" (still over the limit), kept in results.json.
    """
    stats = json.loads((ROOT / "mutants" / "mutmut-stats.json").read_text())
    results = read_results()
    for mutant, status in sorted(statuses().items()):
        target = owner(mutant)
        if status != "timeout" or target is None or mutant in results.get(target.name, {}).get("rechecked", {}):
            continue
        tests = sorted(stats["tests_by_mangled_function_name"].get(mutant.rsplit("__mutmut_", 1)[0], []))
        limit = 60 + 10 * sum(stats["duration_by_test"].get(test, 1) for test in tests)
        outcome = run_alone(mutant, tests, limit)
        print(f"{mutant}: mutmut said timeout; alone, in {limit:.0f} s at most: {outcome}", flush=True)
        rechecked = results.setdefault(target.name, {}).setdefault("rechecked", {})
        rechecked[mutant] = outcome
        write_results(results)


def run_alone(mutant: str, tests: list[str], limit: float) -> str:
    command = [str(BIN / "python"), "-m", "pytest", "-q", "-x", "--rootdir=.", *tests]
    env = {**os.environ, "MUTANT_UNDER_TEST": mutant}
    try:
        run = subprocess.run(command, cwd=ROOT / "mutants", env=env, capture_output=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return "timeout"
    return "survived" if run.returncode == 0 else "killed"


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def read_results() -> dict[str, dict[str, Any]]:
    """Each target's recorded outcome: last_run, seconds, counts (by mutmut status) and survivors."""
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def write_results(results: dict[str, dict[str, Any]]) -> None:
    ordered = {target.name: results[target.name] for target in TARGETS if target.name in results}
    RESULTS.write_text(json.dumps(ordered, indent=1, ensure_ascii=False, sort_keys=True) + "\n")


def needs_a_note(status: str, note: dict[str, str] | None) -> bool:
    """A survivor of the original suite: one mutmut saw survive, or one it killed only with a named test."""
    return status == "survived" or (status == "killed" and note is not None and "killed_by" in note)


def record(found: dict[str, str], explained: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """Record afresh each target mutmut has results for in mutants/; keep the others as recorded."""
    results = read_results()
    for target in TARGETS:
        mine = {mutant: status for mutant, status in found.items() if owner(mutant) is target}
        if all(status == "not checked" for status in mine.values()):
            continue
        counts: dict[str, int] = {}
        survivors: dict[str, dict[str, str]] = {}
        before = results.get(target.name, {}).get("survivors", {})
        rechecked = results.get(target.name, {}).get("rechecked", {})
        for mutant, status in sorted(mine.items()):
            if status == "timeout" and mutant in rechecked:
                status = rechecked[mutant]
                if status == "survived":
                    survivors[mutant] = {"status": "timeout, but survived alone", "diff": diff_of(mutant)}
                    continue
            if needs_a_note(status, explained.get(mutant)):
                survivors[mutant] = {"status": status, "diff": diff_of(mutant)}
            else:
                counts[status] = counts.get(status, 0) + 1
        for mutant, survivor in survivors.items():
            # A check of its killed_by test stands while the mutant is the same.
            if "checked" in before.get(mutant, {}) and before[mutant]["diff"] == survivor["diff"]:
                survivor["checked"] = before[mutant]["checked"]
        results[target.name] = {**results.get(target.name, {}), "counts": counts, "survivors": survivors}
    write_results(results)
    return results


def owner(mutant: str) -> Target | None:
    return next((target for target in TARGETS if target.covers(mutant)), None)


def report(verify: bool) -> int:
    """Write docs/mutants.md from mutmut's results and the explanations; 1 if anything is unexplained."""
    found = statuses()
    explained = tomllib.loads(EXPLAINED.read_text()).get("mutants", {}) if EXPLAINED.exists() else {}
    results = record(found, explained)
    tallies = {target.name: Tally() for target in TARGETS}
    problems: list[str] = []
    sections: list[str] = []
    # A killed_by test can be checked only against a mutant that mutants/ holds results for; the
    # checks (two pytest runs each) go two at a time.
    to_check = [
        (mutant, explained[mutant]["killed_by"])
        for recorded in results.values()
        for mutant, survivor in recorded.get("survivors", {}).items()
        if verify
        and found.get(mutant, "not checked") != "not checked"
        and "killed_by" in explained.get(mutant, {})
        and written_for(explained[mutant], survivor)
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        killed = dict(zip(to_check, pool.map(lambda pair: kills(*pair), to_check), strict=True))
    for target in TARGETS:
        recorded = results.get(target.name, {})
        if not recorded:
            for mutant, status in found.items():
                if owner(mutant) is target:
                    tallies[target.name].add(status)
        for status, count in recorded.get("counts", {}).items():
            for _ in range(count):
                tallies[target.name].add(status)
        for mutant, survivor in sorted(recorded.get("survivors", {}).items()):
            note = explained.get(mutant)
            check = killed.get((mutant, note["killed_by"])) if note and "killed_by" in note else None
            outcome, verdict = judge(mutant, survivor, note, check)
            tallies[target.name].add(outcome)
            if outcome == "unexplained":
                problems.append(f"{mutant}: {verdict}")
            sections.append(section(mutant, target, survivor["status"], survivor["diff"], verdict))
    write_results(results)
    total = Tally()
    for tally in tallies.values():
        total.merge(tally)
    REPORT.write_text(render(tallies, total, results, sections, problems))
    print(
        f"wrote {REPORT.relative_to(ROOT)}: {total.tried} mutants tried, kill rate {total.rate('killed', 'timeout')} "
        f"by the original suite, {total.rate('killed', 'timeout', 'killed by a named test')} now"
    )
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


def judge(mutant: str, survivor: dict[str, str], note: dict[str, str] | None, killed: bool | None) -> tuple[str, str]:
    """A survivor of the original suite: its outcome and what the report says of it. `killed`: what
    checking its killed_by test found just now (None: not checked this time).

    A check of its killed_by test is recorded in the survivor (`checked`: when), so the report of a
    target that did not run this time still says whether, and when, its tests were checked.
    """
    if note is None:
        return "unexplained", "**Unexplained**: kill it with a test, or explain it in tests/mutants/equivalent.toml."
    if not written_for(note, survivor):
        line = mutated_line(survivor["diff"])
        return "unexplained", f"**Stale explanation**, written for `{note['line']}`; the mutant is now `{line}`."
    if "killed_by" not in note:
        return "equivalent", f"Equivalent: {note['equivalent']}"
    test = note["killed_by"]
    why = f" {note['why']}" if "why" in note else ""
    if killed is not None:
        if not killed:
            survivor.pop("checked", None)
            return "unexplained", f"**Not killed** by `{test}`: it must pass as the code is and fail under the mutant."
        survivor["checked"] = f"{today()} by {test}"
    if survivor.get("checked", "").endswith(f" by {test}"):
        when = survivor["checked"].split(" by ")[0]
        return (
            "killed by a named test",
            f"Killed by `{test}` (checked {when}: fails under the mutant, passes without).{why}",
        )
    if survivor["status"] != "killed":
        return "unexplained", f"**Not killed** by `{test}` when last run (run with --retest)."
    return "killed by a named test", f"Killed by `{test}` (mutmut killed it on --retest; not checked alone).{why}"


def section(mutant: str, target: Target, status: str, diff: str, verdict: str) -> str:
    function_name = mutant.rsplit("__mutmut_", 1)[0]
    module, function = function_name.rsplit(".", 1)
    function = function.removeprefix("x_").replace("ǁ", ".").strip(".")
    where = f"{module.replace('.', '/')}.py, `{function}()`, target {target.name}, mutmut status: {status}"
    return f"### `{mutant}`\n\n{where}.\n\n```diff\n{diff.strip()}\n```\n\n{verdict}\n"


def render(
    tallies: dict[str, Tally],
    total: Tally,
    results: dict[str, dict[str, Any]],
    sections: list[str],
    problems: list[str],
) -> str:
    header = (
        "| target | " + " | ".join(COLUMNS) + " | kill rate, original suite | kill rate now | wall time | last run |"
    )
    rule = "|" + " --- |" * (len(COLUMNS) + 5)
    rows = []
    for target in TARGETS:
        tally = tallies[target.name]
        recorded = results.get(target.name, {})
        minutes = f"{recorded['seconds'] / 60:.0f} min" if "seconds" in recorded else "-"
        counts = " | ".join(str(tally.counts[column]) for column in COLUMNS)
        rates = f"{tally.rate('killed', 'timeout')} | {tally.rate('killed', 'timeout', 'killed by a named test')}"
        rows.append(f"| {target.name} | {counts} | {rates} | {minutes} | {recorded.get('last_run', 'not run')} |")
    counts = " | ".join(f"**{total.counts[column]}**" for column in COLUMNS)
    rates = f"**{total.rate('killed', 'timeout')}** | **{total.rate('killed', 'timeout', 'killed by a named test')}**"
    seconds = sum(recorded.get("seconds", 0) for recorded in results.values())
    rows.append(f"| **all** | {counts} | {rates} | {seconds / 60:.0f} min | |")
    targets = "\n".join(
        f"- **{target.name}**, {target.what}: " + ", ".join(f"`{pattern}`" for pattern in target.functions)
        for target in TARGETS
    )
    killed_now = total.counts["killed"] + total.counts["timeout"] + total.counts["killed by a named test"]
    original, now = total.rate("killed", "timeout"), total.rate("killed", "timeout", "killed by a named test")
    not_equivalent = total.rate("killed", "timeout", "killed by a named test", without="equivalent")
    verdict = (
        "Every survivor is killed or explained." if not problems else f"**{len(problems)} survivors unexplained.**"
    )
    return f"""# Mutation testing of the invariant code

Written by `make mutants` (tests/mutants/run.py); do not edit by hand. The explanations live in
tests/mutants/equivalent.toml, keyed by mutant name. Each target's figures and survivors are those
recorded in tests/mutants/results.json when it last ran ("last run" below), so a run of some targets
keeps the others' as they were.

**Kill rate: {original} by the original suite, {now} now** ({killed_now} of {total.tried} mutants
tried; {not_equivalent} of the {total.tried - total.counts["equivalent"]} that are not equivalent). {verdict}

A mutant is tried when a selected test reaches its function. "killed by a named test", "equivalent"
and "unexplained" are the mutants that survived the tests mutmut ran them against (the "original
suite": the selected test files as they were when that target ran); a named test is one of
tests/test_invariants_mutants.py, written to kill it, or an existing test outside the selection.
A kill rate is (killed + timeout [+ killed by a named test]) / tried. "no tests": no selected test
reaches the function (the Redis store's, say, without TEST_REDIS_URL); "not checked": not run (a
target left out, past the time budget, or a run stopped). A mutant mutmut timed out is run again
alone by `--retest`, in a fresh pytest process (a fork of mutmut's can hang where a fresh process
does not): "timeout" counts only those still over the limit there, and one that passes alone is a
survivor like any other ("mutmut status: timeout, but survived alone").

{header}
{rule}
{chr(10).join(rows)}

## What is mutated

mutmut 3.8.1, configured in pyproject.toml's `[tool.mutmut]`: the files of the invariant code, minus
the lines holding shoppers' wording, metrics counters and test-only fault hooks
(`do_not_mutate_patterns`), run against the test files listed there, each mutant against the tests
that reach its function. mutmut 3 mutates only the bodies of undecorated functions and methods:
module-level statements (the prepared statements such as `SESSION_READ`) and decorated functions
(the `@cache`d `add_upsert()` and `throttle_take_statement()`, every `@property`) are not mutated, so
the tests that guard them are not measured here. The targets, in the order they run:

{targets}

## The survivors of the original suite

Each with the test that now kills it or why no test can.

{chr(10).join(sections) if sections else "None."}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests/mutants/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated targets: " + ", ".join(target.name for target in TARGETS))
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--budget", type=float, default=60, help="start no target after this many minutes")
    parser.add_argument("--retest", action="store_true", help="run only the mutants that survived last time")
    parser.add_argument("--report", action="store_true", help="only rewrite the report from the last results")
    parser.add_argument("--no-verify", action="store_true", help="do not check each killed_by test against its mutant")
    args = parser.parse_args(argv)
    if args.retest:
        retest(args.max_children)
        recheck_timeouts()
    elif not args.report:
        chosen = [target for target in TARGETS if not args.only or target.name in args.only.split(",")]
        run_targets(chosen, args.max_children, args.budget)
    return report(verify=not args.no_verify)


if __name__ == "__main__":
    sys.exit(main())
