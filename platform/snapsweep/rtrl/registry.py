"""The one registry of gradient methods: their names, the grammar users type, the labels reports print.

Every surface derives from here: the spec's allowed values, the CLI's choices and help, bench
variants, MLflow tags and params, report labels and `make_method`. Pure Python (no JAX), so the
spec layer and the CLI can validate names where JAX is not installed.

The grammar (one everywhere: specs, `train --method`, `bench --methods`, tags, params):

    <family>[<n>][-<form>][-<mode>]

    family  bptt | rtrl | snap | uoro | snap-numeric     (snap takes its order n: snap1, snap2, ...)
    form    traces | cut                                  (offline SnAp-1 only; cut is the default)
    mode    offline | online

The canonical name always names the mode (`bptt-offline`, `snap2-online`, `snap1-traces-offline`);
where a default mode applies (the spec's `method.mode`) the mode may be left out (`snap2`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from snapsweep.errors import ConfigError

MODES = ("offline", "online")
FORMS = ("cut", "traces")
# Highest SnAp order the grammar accepts. Past the network's diameter SnAp-n is RTRL; the memory
# budget refuses what cannot fit long before this, but a bound keeps n from overflowing arithmetic.
MAX_ORDER = 64


@dataclass(frozen=True)
class Family:
    name: str  # what users type
    title: str  # what reports print (with n for snap)
    takes_order: bool  # snap1, snap2, ...
    modes: tuple[str, ...]
    summary: str  # one line for help texts

    def label(self, n: int) -> str:
        return f"{self.title}-{n}" if self.takes_order else self.title


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("bptt", "BPTT", False, ("offline",), "exact gradient over the window (truncated at its start)"),
        Family("rtrl", "RTRL", False, MODES, "exact real-time recurrent learning (dense influence matrix)"),
        Family("snap", "SnAp", True, MODES, "SnAp-n: the influence matrix kept on its n-step sparsity pattern"),
        Family("uoro", "UORO", False, MODES, "unbiased rank-one online estimate"),
        Family("snap-numeric", "Appendix-D", False, MODES,
               "the paper's Appendix-D snippet (dense J masked by |I_t| > 0 at run time): a reference, not SnAp"),
    )
}

# Longest family names first, so "snap-numeric" is not read as "snap" followed by junk.
_FAMILY_ALT = "|".join(sorted(map(re.escape, FAMILIES), key=len, reverse=True))
_GRAMMAR = re.compile(
    rf"^(?P<family>{_FAMILY_ALT})(?P<n>\d+)?(?:-(?P<form>{'|'.join(FORMS)}))?(?:-(?P<mode>{'|'.join(MODES)}))?$"
)
GRAMMAR = "<family>[<n>][-<form>][-<mode>]"


@dataclass(frozen=True)
class MethodId:
    """A fully resolved method: family, SnAp order n (1 for the others), mode, form (offline SnAp-1 only)."""

    family: str
    n: int
    mode: str
    form: Optional[str] = None  # None: the default form ("cut" for offline SnAp-1)

    @property
    def name(self) -> str:
        """The canonical name, e.g. `snap2-online`, `bptt-offline`, `snap1-traces-offline`."""
        fam = FAMILIES[self.family]
        head = f"{self.family}{self.n}" if fam.takes_order else self.family
        form = f"-{self.form}" if self.form is not None and self.form != self.default_form else ""
        return f"{head}{form}-{self.mode}"

    @property
    def label(self) -> str:
        """What reports print, e.g. `SnAp-2 (online)`, `SnAp-1 traces (offline)`."""
        base = FAMILIES[self.family].label(self.n)
        form = f" {self.form}" if self.form is not None and self.form != self.default_form else ""
        return f"{base}{form} ({self.mode})"

    @property
    def default_form(self) -> Optional[str]:
        return "cut" if self.has_forms else None

    @property
    def has_forms(self) -> bool:
        return self.family == "snap" and self.n == 1 and self.mode == "offline"

    @property
    def resolved_form(self) -> Optional[str]:
        return self.form if self.form is not None else self.default_form

    @property
    def online(self) -> bool:
        return self.mode == "online"

    def __str__(self) -> str:
        return self.name


def _error(text: str, problem: str, where: str) -> ConfigError:
    return ConfigError(f"{problem} in method {text!r}", where=where,
                       fix=f"write {GRAMMAR}, e.g. {', '.join(EXAMPLES)}")


def parse(text: str, default_mode: Optional[str] = None, *, where: str = "method") -> MethodId:
    """`"snap2-online"` -> MethodId("snap", 2, "online"). A name without a mode takes `default_mode`."""
    if not isinstance(text, str):
        raise ConfigError(f"a method is a name such as snap2-online, got {text!r}", where=where,
                          fix=f"write {GRAMMAR}, e.g. {', '.join(EXAMPLES)}")
    match = _GRAMMAR.match(text.strip())
    if not match:
        raise _error(text, "unknown name", where)
    family = FAMILIES[match.group("family")]
    order = match.group("n")
    if family.takes_order and order is None:
        raise _error(text, f"{family.name} needs its order n (snap1, snap2, ...)", where)
    if not family.takes_order and order is not None:
        raise _error(text, f"{family.name} takes no order", where)
    n = int(order) if order is not None else 1
    mode = match.group("mode") or default_mode
    if mode is None:
        raise _error(text, "no update mode", where)
    return make_id(family.name, n, mode, match.group("form"), where=where, text=text)


def make_id(family: str, n: int = 1, mode: str = "offline", form: Optional[str] = None, *,
            where: str = "method", text: Optional[str] = None) -> MethodId:
    """Check a (family, n, mode, form) combination and return its MethodId."""
    text = text if text is not None else f"{family}{n if family == 'snap' else ''}-{mode}"
    if family not in FAMILIES:
        raise _error(text, "unknown family", where)
    fam = FAMILIES[family]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise _error(text, f"order n must be an integer >= 1 (got {n!r})", where)
    if n > MAX_ORDER:
        raise ConfigError(f"SnAp order {n} in method {text!r} is above {MAX_ORDER}", where=where,
                          fix="past the network's diameter SnAp-n is exact RTRL: use rtrl, or n: 1, 2 or 3")
    if not fam.takes_order and n != 1:
        raise _error(text, f"{family} takes no order", where)
    if mode not in MODES:
        raise _error(text, f"unknown mode {mode!r}", where)
    if mode not in fam.modes:
        raise ConfigError(f"{fam.title} updates once per window, so {text!r} cannot be online", where=where,
                          fix=f"use {family}-offline, or an online method ({', '.join(online_examples())})")
    ident = MethodId(family, n, mode, None)
    if form is not None:
        if not ident.has_forms:
            raise ConfigError(f"form {form!r} in method {text!r} applies to offline SnAp-1 only", where=where,
                              fix="drop the form, or use snap1-traces-offline / snap1-cut-offline")
        ident = MethodId(family, n, mode, None if form == ident.default_form else form)
    return ident


def online_examples() -> list[str]:
    return [MethodId(f.name, 1, "online").name for f in FAMILIES.values() if "online" in f.modes][:3]


# The names a help text lists and a CLI offers as examples; every other order n is valid too.
STANDARD = tuple(
    MethodId(fam, n, mode, form)
    for fam, n, mode, form in (
        ("bptt", 1, "offline", None),
        ("snap", 1, "offline", None),
        ("snap", 1, "offline", "traces"),
        ("snap", 1, "online", None),
        ("snap", 2, "offline", None),
        ("snap", 2, "online", None),
        ("snap", 3, "offline", None),
        ("snap", 3, "online", None),
        ("rtrl", 1, "offline", None),
        ("rtrl", 1, "online", None),
        ("uoro", 1, "offline", None),
        ("uoro", 1, "online", None),
        ("snap-numeric", 1, "offline", None),
        ("snap-numeric", 1, "online", None),
    )
)
STANDARD_NAMES = tuple(m.name for m in STANDARD)
EXAMPLES = ("bptt-offline", "snap1-online", "snap2-online", "uoro-online")


def help_text() -> str:
    """One paragraph for `--help`: the grammar, the families, the standard names."""
    families = "; ".join(f"{f.name}: {f.summary}" for f in FAMILIES.values())
    return (f"method names: {GRAMMAR} ({families}). Standard names: {', '.join(STANDARD_NAMES)}; "
            f"any SnAp order n works (snap4-online, ...).")


__all__ = ["EXAMPLES", "FAMILIES", "FORMS", "GRAMMAR", "MAX_ORDER", "MODES", "STANDARD", "STANDARD_NAMES",
           "Family", "MethodId", "help_text", "make_id", "parse"]
