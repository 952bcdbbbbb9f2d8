"""Plan every stack and render one Markdown report for review in a pull request.

    python -m tools.plan_report [--out-dir DIR] [--no-synth] [--max-chars N] [--jobs N] [STACK ...]

Synthesizes (`python main.py`) unless `--no-synth`, then for each stack of the chosen environment runs
`terraform init` and `terraform plan -detailed-exitcode`, keeps `<stack>.tfplan` and its
`terraform show -json` output `<stack>.json` in the output directory (default
`config.paths.plans_dir(<env>)`, `.relay/plans/<env>`), and writes `report.md` (complete) and
`comment.md` (the same report cut to fit one GitHub comment).

Exit code, like `terraform plan -detailed-exitcode`: 0 no changes in any stack, 2 changes in at least one
stack, 1 an error (the report names the stack that failed and Terraform's message).

Modules, each depending only on those before it:

- `model`: the analysed plan (`StackPlan`, `Change`, `Finding`) read from `terraform show -json`;
- `rules`: the needs-attention rules, a registry (`RULES`, `@rule`), and `analyse`, which reads a plan
  and applies every rule;
- `render`: the Markdown report and the comment cut to fit, from analysed stacks;
- `cli`: the command (`main`), which runs Terraform through `tools.terraform`.

Everything but `cli` is pure, so it is tested on recorded plans without Terraform; see
docs/plan-review.md.
"""

from tools.plan_report.cli import EXIT_CHANGES, EXIT_ERROR, EXIT_NO_CHANGES, PlanRun, exit_code, main, plan_stacks
from tools.plan_report.model import SENSITIVE, UNKNOWN, Change, Finding, StackPlan
from tools.plan_report.render import COMMENT_LIMIT, MARKER
from tools.plan_report.rules import GROUPS, RULES, Rule, analyse

__all__ = [
    "COMMENT_LIMIT",
    "EXIT_CHANGES",
    "EXIT_ERROR",
    "EXIT_NO_CHANGES",
    "GROUPS",
    "MARKER",
    "RULES",
    "SENSITIVE",
    "UNKNOWN",
    "Change",
    "Finding",
    "PlanRun",
    "Rule",
    "StackPlan",
    "analyse",
    "exit_code",
    "main",
    "plan_stacks",
]
