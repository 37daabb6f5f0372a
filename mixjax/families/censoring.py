"""Censored, interval-censored and survival responses written in a GLMM formula, read on the host.

* ``cens(y, lower=ll, upper=ul)`` (Stata's ``metobit``, ``ll()`` / ``ul()``): each bound a column name or a number,
  either may be left out. A row with ``y <= ll`` is left-censored at ``ll``, one with ``y >= ul`` right-censored at
  ``ul``, the others are observed exactly; a missing bound in a row means no censoring limit there.
* ``interval(lo, hi)`` (``meintreg depvar_lower depvar_upper``): ``lo == hi`` an exact value, a missing ``lo``
  left-censored at ``hi`` (``y <= hi``), a missing ``hi`` right-censored at ``lo`` (``y >= lo``), otherwise
  ``lo < y <= hi``; a row with both missing carries no information and is dropped (with the usual warning).
* ``Surv(time, event)`` and ``Surv(entry, time, event)`` (Stata's ``stset time, failure(event) enter(entry)``):
  positive times, events 0/1 (or booleans), ``0 <= entry < time`` (delayed entry: the likelihood conditions on
  survival to ``entry``).

``columns(response, data)`` gives three finite columns per row (the design's ``y``, (n, 3)), so that missing bounds
never drop a row: ``(lower, upper, kind)`` with ``kind`` one of ``EXACT``, ``LEFT``, ``RIGHT``, ``INTERVAL`` (an
absent bound repeats the other), or ``(entry, time, event)`` for ``Surv``. Bad input raises ValueError naming the
column and the first offending rows (by the data's index labels).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["EXACT", "LEFT", "RIGHT", "INTERVAL", "HIDDEN", "kind", "columns"]

EXACT, LEFT, RIGHT, INTERVAL = 0.0, 1.0, 2.0, 3.0
HIDDEN = {"cens": ("_lower_", "_upper_", "_kind_"), "interval": ("_lower_", "_upper_", "_kind_"),
          "Surv": ("_entry_", "_time_", "_event_")}
_PATTERN = re.compile(r"^\s*(cens|interval|Surv)\s*\((.*)\)\s*$", re.DOTALL)


def kind(response: str) -> str | None:
    """``"cens"``, ``"interval"`` or ``"Surv"`` when the formula's response is one of these, else None."""
    m = _PATTERN.match(response or "")
    return m.group(1) if m else None


def _split(text: str) -> list[str]:
    from ..formula.bars import _top_level_split

    return [a.strip() for a in _top_level_split(text, ",")] if text.strip() else []


def _values(arg: str, data: pd.DataFrame, what: str) -> np.ndarray:
    """A column (numbers or booleans) or a number, as floats per row; +-inf count as missing."""
    if arg in data.columns:
        col = data[arg]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise ValueError(f"{what}: column {arg!r} must be numeric, but it has dtype {col.dtype}.")
        values = col.to_numpy(dtype=float, na_value=np.nan)
    else:
        try:
            values = np.full(len(data), float(arg))
        except ValueError:
            raise ValueError(f"{what}: {arg!r} is neither a column of the data nor a number.") from None
    return np.where(np.isinf(values), np.nan, values)


def _rows(bad: np.ndarray, data: pd.DataFrame) -> str:
    labels = [repr(x) for x in data.index[np.flatnonzero(bad)[:5]]]
    return f"{int(bad.sum())} row(s) (index {', '.join(labels)}{', ...' if bad.sum() > 5 else ''})"


def _check(bad: np.ndarray, data: pd.DataFrame, message: str) -> None:
    if bad.any():
        raise ValueError(f"{message} {_rows(bad, data)}.")


def _censored(args: list[str], response: str, data: pd.DataFrame) -> np.ndarray:
    named = dict(a.split("=", 1) for a in args[1:] if "=" in a)
    named = {k.strip(): v.strip() for k, v in named.items()}
    if len(args) < 1 or "=" in args[0] or any("=" not in a for a in args[1:]) or set(named) - {"lower", "upper"}:
        raise ValueError(f"response {response!r}: write cens(y, lower=ll, upper=ul), each bound a column or a "
                         "number (Stata's ll() and ul()); at least one of them.")
    if not named:
        raise ValueError(f"response {response!r} gives no censoring limit: add lower= and/or upper=.")
    y = _values(args[0], data, response)
    lo = _values(named.get("lower", "nan"), data, response)
    hi = _values(named.get("upper", "nan"), data, response)
    _check(lo >= hi, data, f"response {response!r}: the lower limit {named.get('lower')!r} is not below the upper "
           f"limit {named.get('upper')!r} in")
    left, right = y <= lo, y >= hi
    value = np.where(left, lo, np.where(right, hi, y))
    code = np.where(left, LEFT, np.where(right, RIGHT, EXACT))
    return np.column_stack([value, value, np.where(np.isnan(y), np.nan, code)])


def _interval(args: list[str], response: str, data: pd.DataFrame) -> np.ndarray:
    if len(args) != 2 or any("=" in a for a in args):
        raise ValueError(f"response {response!r}: write interval(lower, upper), two columns (Stata's meintreg "
                         "depvar_lower depvar_upper); a missing lower means left-censored, a missing upper "
                         "right-censored.")
    lo, hi = (_values(a, data, response) for a in args)
    _check(lo > hi, data, f"response {response!r}: the lower bound {args[0]!r} exceeds the upper bound {args[1]!r} in")
    code = np.select([np.isnan(lo) & np.isnan(hi), np.isnan(lo), np.isnan(hi), lo == hi],
                     [np.nan, LEFT, RIGHT, EXACT], INTERVAL)
    return np.column_stack([np.where(np.isnan(lo), hi, lo), np.where(np.isnan(hi), lo, hi), code])


def _surv(args: list[str], response: str, data: pd.DataFrame) -> np.ndarray:
    if len(args) not in (2, 3) or any("=" in a for a in args):
        raise ValueError(f"response {response!r}: write Surv(time, event) or Surv(entry, time, event) (columns; "
                         "event 1 for a failure, 0 for censoring).")
    names = dict(zip(("entry", "time", "event")[3 - len(args):], args))
    time = _values(names["time"], data, response)
    event = _values(names["event"], data, response)
    entry = _values(names["entry"], data, response) if "entry" in names else np.zeros(len(data))
    _check(time <= 0, data, f"response {response!r}: survival times {names['time']!r} must be positive, but "
           "they are zero or negative in")
    _check(~np.isnan(event) & ~np.isin(event, (0.0, 1.0)), data,
           f"response {response!r}: the event column {names['event']!r} must be 0 (censored) or 1 (failure), but "
           "it is not in")
    if "entry" in names:
        _check(entry < 0, data, f"response {response!r}: entry times {names['entry']!r} must not be negative, but "
               "they are in")
        _check(entry >= time, data, f"response {response!r}: entry {names['entry']!r} is not before the time "
               f"{names['time']!r} in")
    return np.column_stack([entry, time, event])


def columns(response: str, data: pd.DataFrame) -> dict[str, np.ndarray] | None:
    """The response's three encoded columns by their hidden names (``HIDDEN``), or None for other responses.
    Rows with no information (a missing value, both interval bounds missing) hold NaN and are dropped later."""
    which = kind(response)
    if which is None:
        return None
    args = _split(_PATTERN.match(response).group(2))
    values = {"cens": _censored, "interval": _interval, "Surv": _surv}[which](args, response, data)
    values[np.isnan(values).any(axis=1)] = np.nan
    return dict(zip(HIDDEN[which], values.T))
