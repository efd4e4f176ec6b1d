"""Package analysis: parse every file once, tier it by reachability, collect findings.

Returns an `Analysis` (findings plus model tokens); scoring lives in `scan.py`.
"""

from __future__ import annotations

import ast
import gc
import math
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from detector.code import reach as reach_mod
from detector.code.archive import is_wheel_script
from detector.code.budget import Budget, BudgetExceeded
from detector.code.findings import SEVERITIES, Finding, clip_evidence
from detector.code.limits import Limits
from detector.code.prefix import PARSE_ERRORS, Prefix, cut_off, parse_prefix, source_lines
from detector.code.pyast import FileScan, flatten
from detector.code.rules import catalogue, rule
from detector.code.sourcecoding import recode
from detector.code.textscan import scan_raw, scan_strings
from detector.policy import Policy, resolve
from detector.vocab import Tier

PY_SUFFIXES = (".py", ".pyw", ".pyi")
MAX_FINDINGS_PER_RULE_FILE = 5
# Characters counted by `operator_density`: brackets and operators, not commas or
# digits (a table of numbers is data, not obfuscation).
OPERATOR_CHARS = "()[]{}+-*/%<>=^|&~"
PARSE_UNIT_CHARS = "\n;,=()[]{}+-*/.:"


@dataclass
class Analysis:
    findings: list[Finding] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    tiers: dict[str, str] = field(default_factory=dict)
    n_files: int = 0
    n_unparsable: int = 0
    # Code that runs uncalled, per entry point (``entry_view``): (its files, its tokens).
    # Scored apart by the model, so a library shipped as a package of its own, imported
    # at first import, cannot dilute an install hook or another package's payload.
    views: list[tuple[frozenset[str], list[str]]] = field(default_factory=list)


def is_python(name: str, text: str) -> bool:
    """A Python file: by suffix, or a wheel script whose first line names Python."""
    if name.lower().endswith(PY_SUFFIXES):
        return True
    return is_wheel_script(name) and text.startswith("#!") and \
        "python" in text[:200].split("\n", 1)[0]


def count_chars(text: str, others: bytes) -> int:
    """How many characters of `text` are among a set of ASCII characters, given as the
    bytes *outside* the set (`_others`): one C pass that deletes them, 6x cheaper than
    one `str.count` per character (non-ASCII characters encode to bytes >= 0x80)."""
    return len(text.encode("utf-8", "surrogatepass").translate(None, others))


def _others(chars: str) -> bytes:
    return bytes(b for b in range(256) if chr(b) not in chars)


OPERATOR_OTHERS = _others(OPERATOR_CHARS)
PARSE_UNIT_OTHERS = _others(PARSE_UNIT_CHARS)


# A line this long in a file that does not parse is packed code (a payload squeezed
# onto one line, minified or encoded), not a module cut short or written for Python 2.
PACKED_LINE_CHARS = 1000
PACKED_SCAN_CHARS = 1 << 20


def unparsed_shape(text: str) -> str:
    """Model token for a Python file that does not parse: `u:packed` when it holds a line
    of PACKED_LINE_CHARS or more, else `u:lines` (ordinary code that fails to parse: cut
    short, Python 2). What the text looks like, not where the file sits."""
    longest = max(map(len, text[:PACKED_SCAN_CHARS].split("\n")), default=0)
    return "u:packed" if longest >= PACKED_LINE_CHARS else "u:lines"


def operator_density(text: str) -> float:
    """Share of brackets and operators among a text's characters."""
    if not text:
        return 0.0
    return count_chars(text, OPERATOR_OTHERS) / len(text)


@dataclass(frozen=True, slots=True)
class DenseCode:
    """Where `dense-code` starts: `[code] dense_code_ratio` and `dense_code_min_bytes`."""

    ratio: float
    min_bytes: int

    @classmethod
    def from_policy(cls, policy: Policy) -> DenseCode:
        return cls(policy.code.dense_code_ratio, policy.code.dense_code_min_bytes)

    def density(self, text: str) -> float | None:
        """The operator density when the text is dense code, else None."""
        if len(text) < self.min_bytes:
            return None
        value = operator_density(text)
        return value if value >= self.ratio else None


def parse_units(text: str) -> int:
    """What `ast.parse` will cost, in punctuation and line breaks (about 2-10 us each;
    counted in one C pass). The largest file of ~10,000 in this project's own
    virtualenv (pandas' frame.py) has 73,000; 1 MB of `x=1;` has 500,000 and takes the
    parser 2 s that nothing can interrupt."""
    return count_chars(text, PARSE_UNIT_OTHERS)


def parse(text: str, limits: Limits) -> list[ast.AST] | None:
    """The flattened AST, or None when the file does not parse (or is too large, too deep,
    or too costly to parse: the parse guard)."""
    return parse_or_error(text, limits)[0]


def parse_or_error(text: str, limits: Limits
                   ) -> tuple[list[ast.AST] | None, int | None, bool]:
    """``parse``, plus the line of the syntax error when the file failed on one and
    whether that error only says the file was cut off (`prefix.cut_off`)."""
    if len(text) > limits.max_parse_bytes or parse_units(text) > limits.max_parse_units:
        return None, None, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return flatten(ast.parse(text)), None, False
    except SyntaxError as exc:
        return None, exc.lineno or 1, cut_off(exc, text)
    except PARSE_ERRORS:
        return None, None, False


class _Analyzer:
    def __init__(self, limits: Limits, policy: Policy, budget: Budget) -> None:
        self.limits = limits
        self.budget = budget
        self.max_hits = policy.code.max_hits_per_rule_file

    def python(self, name: str, text: str, tier: str, tree: list[ast.AST] | None, depth: int,
               at_line: int | None = None) -> tuple[list[Finding], list[str], bool]:
        """Findings and tokens of Python source (a file or a decoded payload)."""
        def rescan(payload: str, line: int) -> list[Finding]:
            if depth >= self.limits.max_decode_depth:
                return []
            self.budget.check()  # re-parsing decoded payloads counts against the package
            inner_tree = parse(payload, self.limits)
            found, _, _ = self.python(name, payload, tier, inner_tree, depth + 1, line)
            return found

        if tree is None:
            found = scan_raw(name, tier, text, self.limits.max_text_scan_bytes, self.max_hits)
            tokens = [f"r:{f.rule}" for f in found] + [unparsed_shape(text)]
            parsed = False
        else:
            try:
                scan = FileScan(name, tree, tier, rescan, self.budget)
                ev = scan.run()
                extra = scan_strings(name, tier, ev.strings, self.limits.max_text_scan_bytes,
                                     self.max_hits)
                scan.finish(extra)
                found, tokens = ev.findings + extra, ev.tokens
                parsed = True
            except (RecursionError, MemoryError):
                found = scan_raw(name, tier, text, self.limits.max_text_scan_bytes,
                                 self.max_hits)
                tokens, parsed = [], False
        if at_line is not None:
            for f in found:
                f.line = at_line
        return found, tokens, parsed


def _pth_code(text: str) -> list[tuple[int, str]]:
    """Lines of a .pth file that Python executes (those starting with `import`)."""
    out = []
    for number, line in enumerate(text.splitlines()[:10_000], 1):
        stripped = line.strip()
        if stripped.startswith(("import ", "import\t")):
            out.append((number, stripped))
    return out


class _Trees(Mapping[str, "list[ast.AST] | None"]):
    """Python files parsed on first use (reachability asks for the files it reaches;
    the scan for the rest), each at most once, each parse checked against the budget."""

    def __init__(self, files: dict[str, str], limits: Limits, dense_code: DenseCode,
                 budget: Budget, result: Analysis) -> None:
        self.files, self.limits, self.dense_code = files, limits, dense_code
        self.budget, self.result = budget, result
        self.parsed: dict[str, list[ast.AST] | None] = {}
        self.defined: set[str] = set()  # analyze.defined_names of every file parsed
        self.dense: dict[str, float] = {}
        self.capped: set[str] = set()  # dense files past the parse cap
        self.also_python: set[str] = set()  # other files run as code (Reach.executed)
        self.partial: dict[str, Prefix] = {}  # files parsed only up to a syntax error
        self.cut: set[str] = set()  # files whose only syntax error is being cut off
        self.prefix_units_left = limits.max_prefix_units

    def __getitem__(self, name: str) -> list[ast.AST] | None:
        if name in self.parsed:
            return self.parsed[name]
        text = self.files.get(name)
        if text is None or not (is_python(name, text) or name in self.also_python):
            raise KeyError(name)
        self.budget.current = name
        self.budget.check()
        density = self.dense_code.density(text)
        if density is not None:
            self.dense[name] = density
            # dense code costs the parser 5-10x more per byte and its AST tells
            # little: past the cap it gets text rules only
            if len(text) > self.limits.dense_parse_bytes:
                self.capped.add(name)
        tree, error, cut = (None, None, False) if name in self.capped else \
            parse_or_error(text, self.limits)
        if cut:
            self.cut.add(name)
        if tree is None and name not in self.capped:
            self.result.n_unparsable += 1
        if error is not None and self.prefix_units_left > 0:
            # what parses before the syntax error is scanned as code (files reached first,
            # install and import time, come first; a library full of cut-off files
            # spends the package's allowance, then gets text rules as before)
            def cost(source: str) -> int:
                units = parse_units(source)
                self.prefix_units_left -= units
                return units

            prefix = parse_prefix(text, error, self.budget.check,
                                  min(self.limits.max_parse_units, self.prefix_units_left), cost)
            if prefix is not None:
                self.partial[name] = prefix
                tree = flatten(prefix.tree)
        self.parsed[name] = tree
        if tree:
            self.defined.update(defined_names(tree))
        return tree

    def release(self, name: str) -> None:
        """Drop a scanned file's tree (its defined names are kept): a package's trees
        are never all held at once."""
        if self.parsed.get(name):
            self.parsed[name] = []

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


# Substrings without which a file can hold no finding worth ordering first: call-only
# files that have them are scanned before those that do not (the budget order only).
RISKY = ("exec", "eval", "compile", "system", "popen", "subprocess", "socket", "urlopen",
         "request", "b64", "base64", "decode", "marshal", "ctypes", "getattr", "import",
         "http", "open(", "chr(", "\\x")


def _risk(text: str) -> int:
    head = text[:8192]
    return sum(token in head for token in RISKY)


def scan_order(files: dict[str, str], reach: reach_mod.Reach) -> tuple[list[str], list[str]]:
    """(what runs uncalled: install and import tiers, sorted; call-only code, riskiest
    and then smallest first). The budget is spent in this order, so padding a package
    with call-only code cannot starve the code that runs without being called."""
    hot = sorted(n for n in files if reach.tier(n) in HOT_TIERS)
    cold = [n for n in files if reach.tier(n) not in HOT_TIERS]
    if sum(len(files[n]) for n in cold) < RISK_ORDER_BYTES:
        return hot, sorted(cold)  # small: the order cannot matter, skip the risk count
    return hot, sorted(cold, key=lambda n: (-_risk(files[n]), len(files[n]), n))


RISK_ORDER_BYTES = 1 << 20


def analyze(files: dict[str, str], limits: Limits | None = None,
            policy: Policy | None = None, budget: Budget | None = None) -> Analysis:
    with gc_paused():
        return _analyze(files, limits, policy, budget)


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for one package's analysis. Parsing allocates
    millions of AST nodes and the package's trees are kept until its end, so the
    collector would rescan them again and again: over half of `ast.parse`'s time on
    a large library. AST nodes hold no reference cycles (reference counting frees
    them), so nothing piles up; the collector's previous state is restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _analyze(files: dict[str, str], limits: Limits | None,
             policy: Policy | None, budget: Budget | None) -> Analysis:
    """Findings for a package given as {relative path: text}; `budget` (default: a fresh
    one from `limits`) may already hold what reading the package spent.

    The budget is spent on what runs without being called first (reachability parses
    only the files it reaches), then on call-only code. Running out in the first part
    is a decisive `scan-budget-exceeded` finding; in call-only code it is a finding of
    that file's tier naming what was left unscanned, which alone does not flag
    (`scan.is_decisive`)."""
    policy = resolve(policy)
    limits = limits or policy.code.limits
    budget = budget or Budget.from_limits(limits)
    worker = _Analyzer(limits, policy, budget)
    result = Analysis(n_files=len(files))
    # what Python runs: a coding cookie that rewrites ASCII is honoured (sourcecoding.py)
    files, recoded = recode(files, limits.max_file_bytes, is_python)
    trees = _Trees(files, limits, DenseCode.from_policy(policy), budget, result)
    try:
        budget.check()  # reading may have spent it: nothing was scanned, so it flags
        reach = reach_mod.compute(files, trees)
    except BudgetExceeded as exc:
        result.findings.append(_budget_finding(exc, "install", ""))
        return result
    except (RecursionError, MemoryError):
        reach = reach_mod.Reach()
    result.tiers = dict(reach.tiers)
    trees.also_python = reach.executed  # data files the package runs are its code too
    result.findings += [Finding("source-encoding", name, 1, rule("source-encoding").severity,
                                f"# coding: {codec} (Python decodes the file with it; "
                                "scanned as decoded)", reach.tier(name))
                        for name, codec in recoded.items()]
    hot, cold = scan_order(files, reach)
    names = [*hot, *cold]
    done = 0
    pending: list[tuple[str, str, list[str]]] = []
    try:
        for done, name in enumerate(names):  # noqa: B007 (read after the loop)
            _scan_file(name, files, trees, reach, worker, limits, result, pending)
        done = len(names)
    except BudgetExceeded as exc:
        left = names[done:]
        size = sum(len(files[n]) for n in left)
        tier = reach.tier(exc.file) if exc.file in files else reach.tier(names[done])
        result.findings.append(_budget_finding(
            exc, tier, f"; {len(left)} files ({size} bytes) left unscanned"
            + ("" if tier in HOT_TIERS else ", all of them call-only code")))
    # Names the package defines, from every file parsed (all of them unless the budget
    # ran out): a method call named like one is the package's own code (`c:_`).
    local, defined = local_names(files), frozenset(trees.defined)
    views: dict[str, tuple[set[str], list[str]]] = {}
    for name, group, tokens in pending:
        normalised = [f"{group}|{t}" for t in behaviour_tokens(tokens, local, defined)]
        result.tokens += normalised
        if group == "hot":
            files_of, tokens_of = views.setdefault(entry_view(name, reach.tier(name)),
                                                   (set(), []))
            files_of.add(name)
            tokens_of += normalised
    for name in {f.file for f in result.findings if f.tier in HOT_TIERS}:
        views.setdefault(entry_view(name, reach.tier(name)), (set(), []))[0].add(name)
    result.views = [(frozenset(files), tokens) for files, tokens in views.values()]
    return result


HOT_TIERS = (Tier.INSTALL, Tier.IMPORT)


def entry_view(name: str, tier: str) -> str:
    """Which entry point's view a file of code that runs uncalled belongs to. At install
    time, the top-level files (`setup.py`, build hooks, `.pth` files) are one view and
    each top-level package they import (`pkg/...`, `src/pkg/...`) another, so a library
    copy `setup.py` imports cannot dilute `setup.py`'s own code; at import, each
    top-level package or top-level module is its own."""
    parts = name.split("/")
    top = "/".join(parts[:2]) if parts[0] == "src" and len(parts) > 2 else parts[0]
    if tier == Tier.INSTALL:
        return "install" if len(parts) == 1 else f"install:{top}"
    return top


def _budget_finding(exc: BudgetExceeded, tier: str, left: str) -> Finding:
    return Finding("scan-budget-exceeded", exc.file or "<package>", None,
                   rule("scan-budget-exceeded").severity,
                   clip_evidence(f"{exc} (in {exc.file}; scan stopped, findings so far "
                                 f"kept{left})"), tier)


def _scan_file(name: str, files: dict[str, str], trees: _Trees, reach: reach_mod.Reach,
               worker: _Analyzer, limits: Limits, result: Analysis,
               pending: list[tuple[str, str, list[str]]]) -> None:
    """Scan one file: its findings go to ``result``, its raw model tokens (with their
    hot/cold group) to ``pending``, normalised once every scanned file is parsed."""
    worker.budget.current = name
    worker.budget.check()
    text = files[name]
    tier = reach.tier(name)
    lower = name.lower()
    found: list[Finding] = []
    tokens: list[str] = []
    if is_python(name, text) or name in reach.executed:
        tree = trees.get(name)
        dense, capped = trees.dense, trees.capped
        found, tokens, parsed = worker.python(name, text, tier, tree, 0)
        trees.release(name)
        prefix = trees.partial.get(name)
        if prefix is not None:  # the rest of the file, after the prefix, by text rules
            found, tokens = _with_rest(name, text, tier, prefix, limits, worker, found,
                                       tokens)
            parsed = False
        if name in dense:
            skipped = "; not parsed: text rules only" if name in capped else ""
            found.append(Finding("dense-code", name, None, rule("dense-code").severity,
                                 f"{len(text) / 1024:.0f} KiB, {dense[name]:.0%} brackets "
                                 f"and operators{skipped}", tier))
        if not parsed and name not in capped and name not in trees.cut:
            why = ("too large to parse" if len(text) > limits.max_parse_bytes else
                   "too costly to parse" if parse_units(text) > limits.max_parse_units
                   else f"syntax error at line {prefix.error_line}; lines 1-{prefix.lines} "
                   "parsed, the rest" if prefix is not None else "syntax")
            found.append(Finding("unparsable-python", name, None,
                                 rule("unparsable-python").severity,
                                 f"{why}; text rules only", tier))
        reason = reach.reasons.get(name) or "setup.py"
        # an entry point of its own (a build hook, backend, .pth, cmdclass), not a
        # module setup.py imports: where code sits in the package is not evidence
        if tier == "install" and reason != "setup.py" and \
                not reason.startswith("imported by"):
            found.append(Finding("install-time-entry", name, None, "info",
                                 clip_evidence(reach.reasons[name]), tier))
    elif lower.endswith(".pth"):
        for number, code in _pth_code(text):
            found.append(Finding("pth-exec-line", name, number,
                                 rule("pth-exec-line").severity, clip_evidence(code), tier))
            inner, toks, _ = worker.python(name, code, tier, parse(code, limits), 0, number)
            found += inner
            tokens += toks
    else:
        pieces = list(enumerate(text[: limits.max_text_scan_bytes].splitlines()[:50_000], 1))
        found = scan_strings(name, tier, pieces, limits.max_text_scan_bytes, worker.max_hits)
    group = "hot" if tier in HOT_TIERS else "cold"
    pending.append((name, group, tokens))
    result.findings += _dedupe(found)


# Packaging boilerplate: what every setup.py says, so whether a package ships one (an
# sdist) or not (a wheel) is not evidence. Calls and imports only; findings stay.
PACKAGING_TOKENS = ("c:setuptools.", "c:distutils.", "i:setuptools", "i:distutils")
# How code is split into modules and how a module is imported (`import importlib` to
# call `import_module("os")`, which reads as `i:os`) say nothing about what it does.
PLUMBING_TOKENS = frozenset({"i:_", "i:importlib"})


def _with_rest(name: str, text: str, tier: str, prefix: Prefix, limits: Limits,
               worker: _Analyzer, found: list[Finding],
               tokens: list[str]) -> tuple[list[Finding], list[str]]:
    """Findings and tokens of a file parsed up to ``prefix``: the prefix's, plus text
    rules over the lines after it (line numbers of the whole file), plus the model token
    of an unparsed file (it is one)."""
    cut = sum(map(len, source_lines(text)[:prefix.lines]))
    rest = scan_raw(name, tier, text[cut:], limits.max_text_scan_bytes, worker.max_hits)
    for f in rest:
        f.line = None if f.line is None else f.line + prefix.lines
    return ([*found, *rest],
            [*tokens, *(f"r:{f.rule}" for f in rest), unparsed_shape(text)])


def local_names(files: dict[str, str]) -> frozenset[str]:
    """Module and package names the package defines itself (every folder and `.py`
    stem): imports and calls through them say nothing a rename could not change."""
    out: set[str] = set()
    for name in files:
        if not name.lower().endswith(PY_SUFFIXES):
            continue
        parts = PurePosixPath(name).parts
        out.update(parts[:-1])
        out.add(PurePosixPath(parts[-1]).stem)
    out.discard("__init__")
    return frozenset(out)


def defined_names(nodes: list[ast.AST]) -> frozenset[str]:
    """Functions and classes a file defines at module level: `mod.run()` on a local
    object calls the package's own code, and its name says nothing a rename could not
    change."""
    if nodes and isinstance(nodes[0], ast.Module):
        return frozenset(n.name for n in nodes[0].body
                         if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef))
    return frozenset()


def behaviour_tokens(tokens: list[str], local: frozenset[str],
                     defined: frozenset[str] = frozenset()) -> list[str]:
    """Model tokens that describe behaviour, not naming or layout: a call or import
    through the package's own modules, or a method of a local object named like one of the
    package's own functions or classes, becomes `c:_` / `i:_`; setup() boilerplate goes.

    ``tokens`` are one file's: its imports count once each, so `from x import a, b`,
    one import line per name and `a = __import__("x").a` read the same."""
    out = []
    imported: set[str] = set()
    for token in tokens:
        kind, _, dotted = token.partition(":")
        head, _, rest = dotted.partition(".")
        if kind in ("c", "i") and (head in local or (
                head == "_" and rest.split(".", 1)[0] in defined)):
            token = f"{kind}:_"
        if token.startswith(PACKAGING_TOKENS) or token in PLUMBING_TOKENS:
            continue
        if kind == "i":
            if token in imported:
                continue
            imported.add(token)
        out.append(token)
    return out


def _dedupe(found: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, int | None]] = set()
    per_rule: Counter[tuple[str, str]] = Counter()
    out = []
    for f in found:
        key = (f.rule, f.file, f.line)
        if key in seen or per_rule[(f.rule, f.file)] >= MAX_FINDINGS_PER_RULE_FILE:
            continue
        seen.add(key)
        per_rule[(f.rule, f.file)] += 1
        out.append(f)
    return out


def rule_score(findings: list[Finding], policy: Policy | None = None) -> float:
    """Additive evidence of the most suspicious file: 1 - exp(-max over files of
    sum(weight x tier weight) / scale).

    Repeats of one rule in one file add a quarter of the weight each (up to the
    per-file cap), so ten `cmdclass` entries do not outweigh one decode-exec. Files are
    not summed: a whole library (hundreds of files, each with an ordinary network call
    or subprocess) would otherwise score like a payload, and the score would measure
    package size. Measured on whole uploads (grouped CV): rules-only ROC-AUC 0.926
    summed, 0.979 per file.
    """
    table = resolve(policy).code
    tiers: dict[str, float] = {Tier.INSTALL: table.tiers.install, Tier.IMPORT: table.tiers.import_,
             Tier.OTHER: table.tiers.other, Tier.TEST: table.tiers.test}
    cap = table.max_hits_per_rule_file
    rules = catalogue()
    used: Counter[tuple[str, str]] = Counter()
    per_file: dict[str, float] = {}
    for f in findings:
        key = (f.rule, f.file)
        if used[key] >= cap:
            continue
        repeat = used[key] > 0
        used[key] += 1
        spec = rules.get(f.rule)
        if spec is not None:
            factor = 0.25 if repeat else 1.0
            per_file[f.file] = per_file.get(f.file, 0.0) + factor * spec.weight * tiers.get(
                f.tier, tiers[Tier.OTHER])
    total = max(per_file.values(), default=0.0)
    return 1.0 - math.exp(-total / table.rule_score_scale)


def blend_score(rules: float, model_p: float | None, policy: Policy | None = None,
                blend: float | None = None) -> float:
    """Shipped score: the model's probability moved to the assumed prior, blended with rules.

    The model is trained with both classes weighted equally (a 50% prior); a registry
    sees far fewer malicious uploads, so its odds are scaled by prior/(1-prior). The
    transform is monotonic: the model's ranking is unchanged, a clean package scores low.
    """
    if model_p is None:
        return rules
    table = resolve(policy).code
    prior = table.model_prior
    p = min(max(model_p, 1e-9), 1 - 1e-9)
    odds = p / (1 - p) * prior / (1 - prior)
    shifted = odds / (1 + odds)
    blend = table.rule_blend if blend is None else blend
    return min(1.0, max(0.0, blend * rules + (1 - blend) * shifted))


def order(findings: list[Finding]) -> list[Finding]:
    """Most serious first, install-time before tests; stable for equal keys."""
    sev = {s: i for i, s in enumerate(SEVERITIES)}
    tier = {t: i for i, t in enumerate(reach_mod.TIER_ORDER)}
    return sorted(findings, key=lambda f: (-sev.get(f.severity, 0), tier.get(f.tier, 9),
                                           f.file, f.line or 0, f.rule))
