"""`relay`: the one command-line entry point (a console script of this project).

Every verb is a thin door into the module that owns it; `relay VERB --help` shows that verb's own
options. The command starts fast: a verb's module (and the AWS bindings behind it) is imported only
when that verb runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass

from config.paths import PROJECT_ROOT


@dataclass(frozen=True)
class Verb:
    """One `relay` verb: what it does and the `main(argv, *, prog) -> int` it hands its arguments to."""

    name: str
    summary: str
    target: str
    """`package.module` (imported), or a path under the repository ending in `.py` (loaded by path)."""
    leading: tuple[str, ...] = ()
    """Arguments put before the user's (`relay destroy` is the deploy module's `destroy`)."""

    def main(self) -> Callable[[list[str]], int]:
        if self.target.endswith(".py"):
            path = PROJECT_ROOT / self.target
            spec = importlib.util.spec_from_file_location(f"relay_cli_{self.name}", path)
            if spec is None or spec.loader is None:
                raise SystemExit(f"relay: cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(self.target)
        return module.main


VERBS = (
    Verb(
        "demo", "deploy every stack to the emulator, git push a release and follow it into every region", "tools.demo"
    ),
    Verb(
        "emulator",
        "the local emulator: start, stop, status, logs, wait, clean, repo, region, faults",
        "localstack/emulator.py",
    ),
    Verb("synth", "validate the configuration and synthesize every stack into cdktf.out/", "main.py"),
    Verb(
        "deploy",
        "deploy stacks with the cdktf CLI (every stack but the edge by default, replication last)",
        "tools.deploy",
        ("deploy",),
    ),
    Verb(
        "destroy",
        "destroy stacks with the cdktf CLI (every stack by default: the edge, then the rest, replication first)",
        "tools.deploy",
        ("destroy",),
    ),
    Verb(
        "plan",
        "plan every stack and write the review report (exit 0 no changes, 2 changes, 1 error)",
        "tools.plan_report",
    ),
    Verb(
        "push-bench",
        "time git push -> release object -> each strategy's regions on the emulator (p50/p95)",
        "tools.push_bench",
    ),
    Verb(
        "platform-bench",
        "time secret, image and item replication between the platform's regions on the emulator (p50/p95)",
        "tools.platform_bench",
    ),
    Verb(
        "app-bench",
        "time a release reaching every application region, and DNS failover to the standby region (p50/p95)",
        "tools.app_bench",
    ),
    Verb(
        "drill",
        "disaster drills on the emulator: a region down, a home promoted and failed back, releases in order, restarts",
        "tools.drill",
    ),
    Verb(
        "secrets",
        "give the platform's secrets a first random value where they have none (never printed)",
        "tools.secrets",
    ),
    Verb(
        "release",
        "publish app/sample by hand as the build does (re-releasing while the source is unavailable)",
        "tools.release",
    ),
    Verb("terraform", "run Terraform on the synthesized stacks with relay's CLI configuration", "tools.terraform"),
    Verb("config", "regenerate or check the configuration reference and its JSON schema", "tools.configref"),
    Verb("delivery", "show per environment and region the delivery strategy, trigger mode and why", "tools.delivery"),
    Verb(
        "status",
        "show per region the latest release, its replication, execution and deployed stack (exit 1 if one lags)",
        "tools.status",
    ),
)


def usage() -> str:
    """The top-level help: every verb with its one-line summary."""
    width = max(len(v.name) for v in VERBS)
    lines = [
        "usage: relay VERB [options]",
        "",
        "Ship one application to several AWS regions through a cross-region release pipeline.",
        "",
        "verbs:",
        *(f"  {v.name:<{width}}  {v.summary}" for v in VERBS),
        "",
        "Run `relay VERB --help` for the options of one verb.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(usage(), file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    verbs = {v.name: v for v in VERBS}
    verb = verbs.get(argv[0])
    if verb is None:
        print(f"relay: unknown verb {argv[0]!r}; allowed: {', '.join(verbs)}\n\n{usage()}", file=sys.stderr)
        return 2
    # each verb parses its own options, with `relay VERB` as the program name in its messages
    return int(verb.main()([*verb.leading, *argv[1:]], prog=f"relay {verb.name}") or 0)


if __name__ == "__main__":
    sys.exit(main())
