"""Printing benchmark figures as they come, and the summary table at the end."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Figure:
    section: str
    name: str
    value: float
    unit: str
    note: str = ""


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)

    def add(self, section: str, name: str, value: float, unit: str, note: str = "") -> float:
        figure = Figure(section, name, value, unit, note)
        self.figures.append(figure)
        print(f"  {_line(figure)}", flush=True)
        return value

    def ratio(self, section: str, name: str, numerator: float, denominator: float, target: float) -> float:
        value = numerator / denominator if denominator else 0.0
        verdict = "meets" if value >= target else "BELOW"
        return self.add(section, name, value, "x", f"target >= {target:g} ({verdict})")

    def table(self) -> str:
        lines = ["", "surge bench summary", "-" * 110]
        lines += [_line(f) for f in self.figures]
        return "\n".join(lines)


def _line(f: Figure) -> str:
    return f"{f.section:10} {f.name:62} {_fmt(f.value):>12} {f.unit:10} {f.note}"


def _fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}"
