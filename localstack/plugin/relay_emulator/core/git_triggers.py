"""Which git pushes start which pipelines: repository ids, refs, CodePipeline's glob patterns,
push filters of V2 triggers and the default change detection of a connection source action.

Standard library only and Python 3.9 compatible: the emulator's launcher (any Python >= 3.9)
uses the repository id check too.

AWS's rules, as its documentation states them:

* A trigger (``triggers[].gitConfiguration``) belongs to one source action
  (``sourceActionName``); its push filters are ORed. A push filter names ``tags`` (tag pushes)
  or ``branches`` (branch pushes), optionally with ``filePaths`` (the files the push changed).
  In each criteria ``excludes`` take priority over ``includes``; without ``includes`` anything
  not excluded matches.
* A source action without a trigger uses default change detection: a push to its
  ``BranchName`` starts the pipeline unless ``DetectChanges`` is ``false``.
* Glob patterns: ``*`` any characters within one path component, ``**`` any characters across
  components, ``?`` one character, ``[...]`` one character of a set (``[!...]`` not of it),
  ``{a,b}`` one of the comma-separated patterns, ``\\`` escapes the next character.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

CONNECTION_SOURCE = ("Source", "AWS", "CodeStarSourceConnection")
ZERO_COMMIT = "0" * 40
# AWS's trigger types (botocore's TriggerType): a V2 trigger configuration, and the default
# change detection of a connection source action.
TRIGGER_V2 = "WebhookV2"
TRIGGER_DEFAULT = "Webhook"

_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
REPOSITORY_RULE = (
    "a repository is owner/name: owner of 1-39 letters, digits and single hyphens (not first or last), "
    "name of 1-100 letters, digits, '.', '_' and '-' (not '.' or '..', not ending in '.git')"
)


class RepositoryIdError(ValueError):
    """A ``FullRepositoryId`` the emulator's git host cannot hold; the message says what is allowed."""


def check_repository_id(repository: str) -> tuple:
    """(owner, name) of ``owner/name``; RepositoryIdError naming what is allowed otherwise."""
    parts = (repository or "").split("/")
    if len(parts) == 2:
        owner, name = parts
        if _OWNER.match(owner) and _NAME.match(name) and name not in (".", "..") and not name.lower().endswith(".git"):
            return owner, name
    raise RepositoryIdError(f"{REPOSITORY_RULE}; got {repository!r}")


@dataclass(frozen=True)
class RefUpdate:
    """One ref a push changed: ``refs/heads/x`` or ``refs/tags/x``, from ``old`` to ``new``."""

    ref: str
    old: str
    new: str

    @property
    def kind(self) -> str | None:
        """``branch``, ``tag``, or None for any other ref (notes, pull heads, ...)."""
        return parse_ref(self.ref)[0]

    @property
    def name(self) -> str:
        return parse_ref(self.ref)[1]

    @property
    def deleted(self) -> bool:
        return self.new == ZERO_COMMIT

    @property
    def created(self) -> bool:
        return self.old == ZERO_COMMIT


def parse_ref(ref: str) -> tuple:
    """(``branch`` | ``tag`` | None, short name) of a full ref name."""
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix) and len(ref) > len(prefix):
            return kind, ref[len(prefix) :]
    return None, ref


def parse_post_receive(text: str) -> list:
    """The ``<old> <new> <ref>`` lines git hands a post-receive hook, as RefUpdates."""
    updates = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3:
            updates.append(RefUpdate(ref=fields[2], old=fields[0], new=fields[1]))
    return updates


# --------------------------------------------------------------------------- globs


def glob_regex(pattern: str) -> str:
    """The regular expression (anchored by the caller) of one CodePipeline glob pattern."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif c == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
            else:
                out.append("[^/]*")
                i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                out.append(re.escape(c))
                i += 1
                continue
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\").replace("^", "\\^") + "]")
            i = end + 1
        elif c == "{":
            end, depth = i + 1, 1
            while end < n and depth:
                depth += {"{": 1, "}": -1}.get(pattern[end], 0)
                end += 1
            if depth:
                out.append(re.escape(c))
                i += 1
                continue
            out.append("(?:" + "|".join(glob_regex(p) for p in _split_top(pattern[i + 1 : end - 1])) + ")")
            i = end
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _split_top(body: str) -> list:
    """The comma-separated alternatives of a ``{...}`` group (commas of nested groups stay)."""
    parts, depth, current = [], 0, []
    for c in body:
        if c == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        depth += {"{": 1, "}": -1}.get(c, 0)
        current.append(c)
    parts.append("".join(current))
    return parts


def glob_match(pattern: str, text: str) -> bool:
    """Whether ``text`` (a branch, tag or file path) matches the whole glob ``pattern``."""
    return re.fullmatch(glob_regex(pattern), text, flags=re.DOTALL) is not None


def criteria_match(criteria: dict | None, value: str) -> bool:
    """``{includes, excludes}``: excludes take priority; without includes, anything not excluded."""
    criteria = criteria or {}
    if any(glob_match(p, value) for p in criteria.get("excludes") or []):
        return False
    includes = criteria.get("includes")
    return not includes or any(glob_match(p, value) for p in includes)


def push_filter_matches(push_filter: dict, update: RefUpdate, changed_files: list | None) -> bool:
    """Whether one push filter of a trigger matches a ref update.

    Tag filters match tag pushes, branch filters branch pushes; ``filePaths``, when declared,
    needs at least one changed file that matches (``changed_files`` None: not known, no match).
    """
    if update.deleted or update.kind is None:
        return False
    key = "tags" if update.kind == "tag" else "branches"
    if key not in push_filter or not criteria_match(push_filter[key], update.name):
        return False
    if "filePaths" in push_filter:
        return any(criteria_match(push_filter["filePaths"], f) for f in changed_files or [])
    return True


def needs_changed_files(declaration: dict) -> bool:
    """Whether any trigger of the pipeline filters on file paths (the push's files must be read)."""
    return any("filePaths" in f for t in declaration.get("triggers") or [] for f in _push_filters(t))


def _push_filters(trigger: dict) -> list:
    return (trigger.get("gitConfiguration") or {}).get("push") or []


# --------------------------------------------------------------------------- pipelines


def connection_sources(declaration: dict, repository: str) -> list:
    """The first stage's connection source actions reading ``repository`` (``FullRepositoryId``)."""
    stages = declaration.get("stages") or []
    actions = stages[0].get("actions") or [] if stages else []
    return [
        a
        for a in actions
        if _kind(a) == CONNECTION_SOURCE and (a.get("configuration") or {}).get("FullRepositoryId") == repository
    ]


def _kind(action: dict) -> tuple:
    type_id = action.get("actionTypeId") or {}
    return type_id.get("category"), type_id.get("owner"), type_id.get("provider")


def trigger_of(declaration: dict, action_name: str) -> dict | None:
    """The CodeStarSourceConnection trigger configured for a source action, if any."""
    for trigger in declaration.get("triggers") or []:
        git = trigger.get("gitConfiguration") or {}
        if trigger.get("providerType") == "CodeStarSourceConnection" and git.get("sourceActionName") == action_name:
            return trigger
    return None


@dataclass
class Start:
    """A pipeline execution a push starts: its trigger type and the source actions it pins."""

    trigger_type: str
    actions: list = field(default_factory=list)  # source actions of the pushed repository it pins


def decide(declaration: dict, repository: str, update: RefUpdate, changed_files: list | None) -> Start | None:
    """Whether a ref update of ``repository`` starts the pipeline, and how (None: it does not).

    An action with a trigger starts it when one of the trigger's push filters matches
    (``WebhookV2``); one without uses default change detection: a push to its ``BranchName``
    unless ``DetectChanges`` is ``false`` (``Webhook``). One push starts one execution, however
    many of the pipeline's source actions read the repository.
    """
    if update.deleted or update.kind is None:
        return None
    start = None
    for action in connection_sources(declaration, repository):
        trigger = trigger_of(declaration, action["name"])
        if trigger is not None:
            matched = any(push_filter_matches(f, update, changed_files) for f in _push_filters(trigger))
            kind = TRIGGER_V2
        else:
            cfg = action.get("configuration") or {}
            detect = str(cfg.get("DetectChanges", "true")).lower() != "false"
            matched = detect and update.kind == "branch" and update.name == cfg.get("BranchName")
            kind = TRIGGER_DEFAULT
        if matched:
            if start is None:
                start = Start(trigger_type=kind)
            elif kind == TRIGGER_V2:
                start.trigger_type = TRIGGER_V2
            start.actions.append(action["name"])
    return start


def trigger_detail(connection_arn: str, repository: str, update: RefUpdate) -> str:
    """``triggerDetail`` of a push: the connection ARN, repository, ref and commit, as JSON text
    (AWS documents the field as free text "such as the webhook ARN")."""
    return json.dumps(
        {
            "ConnectionArn": connection_arn,
            "FullRepositoryId": repository,
            "Ref": update.ref,
            "CommitId": update.new,
        },
        separators=(",", ":"),
    )


def revision_summary(provider_type: str, message: str) -> str:
    """The revision summary AWS records for a connection source: ``{"ProviderType", "CommitMessage"}``."""
    return json.dumps({"ProviderType": provider_type, "CommitMessage": message}, separators=(",", ":"))


def revision_url(region: str, connection_arn: str, repository: str, commit: str) -> str:
    """The console link AWS records as a connection source's ``revisionUrl``."""
    return (
        f"https://{region}.console.aws.amazon.com/codesuite/settings/connections/redirect?"
        f"connectionArn={connection_arn}&referenceType=COMMIT&FullRepositoryId={repository}&Commit={commit}"
    )
