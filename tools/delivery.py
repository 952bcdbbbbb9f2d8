"""`relay delivery`: how each environment delivers a release to each region, and why.

    relay delivery                 # every environment of cdktf.json
    relay delivery --env prod      # one environment (repeatable)
    relay delivery --json          # the same, as JSON for scripts

Per environment: the home region (the source, the build and the release bucket) and one row per target
region with its delivery strategy, what the configuration asked (`auto` or an explicit strategy), the
trigger mode (bespoke regions only) and the reason. Each environment is loaded as `load_config` loads it
with `RELAY_ENV` set to its name (so `RELAY_OVERRIDES` applies to each). An environment whose
configuration is invalid prints its errors, the others still print, and the exit status is 2; else 0.

The plan report (`tools.plan_report`) carries the same rows (`rows`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from config.loader import ConfigError, environment_names, load_config
from config.paths import PROJECT_ROOT
from config.schema import RelayConfig, SourceProvider
from regions import catalog
from regions.delivery import decisions

EXIT_OK, EXIT_INVALID = 0, 2
PROG = "python -m tools.delivery"
NONE = "-"
"""How the text table shows a value a row does not have."""


@dataclass(frozen=True)
class Row:
    """One region of one environment: the home region, or a target region and its delivery decision."""

    region: str
    role: str
    """`home` (source, build and release bucket) or `target`."""
    strategy: str | None
    """`native`, `bespoke` or `remote`; None for the home region."""
    requested: str | None
    """What the configuration asked: `auto` or an explicit strategy; None for the home region."""
    trigger: str | None
    """Trigger mode of a bespoke region; None otherwise."""
    reason: str

    def cells(self) -> tuple[str, ...]:
        """The row as the tables show it, in COLUMNS order."""
        return tuple(NONE if value is None else value for value in asdict(self).values())


COLUMNS = tuple(column.name for column in fields(Row))
"""The columns of the tables, as JSON names them."""


def rows(config: RelayConfig) -> list[Row]:
    """The home region, then every target region in `target_regions` order."""
    source = catalog.SERVICE_TITLES[
        "codecommit" if config.source.provider is SourceProvider.CODECOMMIT else "connection"
    ]
    home = Row(
        region=config.home_region,
        role="home",
        strategy=None,
        requested=None,
        trigger=None,
        reason=f"the home pipeline: source ({source}), build (CodeBuild) and the release bucket",
    )
    targets = [
        Row(
            region=d.region,
            role="target",
            strategy=d.strategy.value,
            requested=d.requested.value,
            trigger=d.trigger_mode.value if d.trigger_mode else None,
            reason=d.reason,
        )
        for d in decisions(config)
    ]
    return [home, *targets]


@dataclass(frozen=True)
class EnvironmentReport:
    """The rows of one environment, or the problems of its configuration."""

    name: str
    config: RelayConfig | None = None
    rows: list[Row] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        document: dict = {"environment": self.name, "valid": not self.errors}
        if self.config:
            document |= {"app": self.config.app, "home_region": self.config.home_region}
            document["emulator"] = self.config.emulator.enabled
        document["regions"] = [asdict(row) for row in self.rows]
        document["errors"] = self.errors
        return document


def report(name: str, cdktf_json: Path, environ: Mapping[str, str]) -> EnvironmentReport:
    """Load one environment as `load_config` does with RELAY_ENV set to `name`, and decide every region."""
    try:
        config = load_config(cdktf_json, environ={**environ, "RELAY_ENV": name})
    except ConfigError as error:
        return EnvironmentReport(name, errors=str(error).splitlines())
    return EnvironmentReport(name, config=config, rows=rows(config))


def table(report_rows: Sequence[Row]) -> list[str]:
    """Plain aligned text: a header line and one line per row (the reason, last, is not padded)."""
    lines = [tuple(c.upper() for c in COLUMNS), *(row.cells() for row in report_rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(line, widths, strict=False)), line[-1]]) for line in lines]


def text(reports: Sequence[EnvironmentReport]) -> tuple[str, str]:
    """The terminal output: (standard output, standard error)."""
    blocks: list[str] = []
    err: list[str] = []
    for entry in reports:
        if entry.errors or entry.config is None:
            err += [f"relay: configuration error in environment {entry.name!r}", *entry.errors]
            continue
        config = entry.config
        mode = ", emulator" if config.emulator.enabled else ""
        header = f"{entry.name} (app {config.app}, home {config.home_region}{mode})"
        blocks.append("\n".join([header, *table(entry.rows)]))
    return "\n\n".join(blocks), "\n".join(err)


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Show, per environment and region, the delivery strategy, the trigger mode and the reason.",
        epilog="Exit status: 0 every chosen environment is valid, 2 at least one is not (its errors are printed, "
        "the other environments still are).",
    )
    parser.add_argument(
        "--env",
        action="append",
        metavar="NAME",
        help="an environment of cdktf.json's context.relay.environments (repeatable; default: every one)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")
    return parser


def main(
    argv: list[str] | None = None,
    *,
    prog: str = PROG,
    cdktf_json: Path = PROJECT_ROOT / "cdktf.json",
    environ: Mapping[str, str] | None = None,
) -> int:
    """Print the decisions of the chosen environments; 0 when all are valid, 2 when one is not."""
    options = _parser(prog).parse_args(argv)
    environ = os.environ if environ is None else environ
    try:
        names = options.env or environment_names(cdktf_json)
    except ConfigError as error:
        print(f"relay: configuration error\n{error}", file=sys.stderr)
        return EXIT_INVALID
    reports = [report(name, cdktf_json, environ) for name in dict.fromkeys(names)]
    if options.json:
        print(json.dumps({"environments": [r.as_json() for r in reports]}, indent=2))
    else:
        out, err = text(reports)
        if out:
            print(out)
        if err:
            print(err, file=sys.stderr)
    return EXIT_INVALID if any(r.errors for r in reports) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
