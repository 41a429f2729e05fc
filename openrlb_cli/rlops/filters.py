"""Open RL Benchmark's filter syntax, as `python -m openrlbenchmark.rlops --filters ...` takes it.

A group is one `--filters` option: a header `?we=ENTITY&wpn=PROJECT&ceik=env_id&cen=exp_name&
metric=charts/episodic_return&xaxis=global_step`, then one value per experiment,
`EXP_NAME?tag=T&tag=U&user=NAME&cl=LEGEND&<config key>=V`. Every `tag` is required; repeated
`user` or config values mean any of them; `cl` is the legend label (a literal `\\n` is a line
break, as in rlops). Each group pairs with one `--env-ids` list, or a single list serves all.

This module turns groups into W&B queries (one per experiment, environments as `$in`), and keeps
what plotting needs (labels, metric, x-axis) on the parsed objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from openrlb_cli.errors import InputError
from openrlb_cli.fetch.wandb import WandbQuery
from openrlb_cli.fetch.wandb_filters import combine, config_path, match, tag_clauses

HEADER_KEYS = {"we", "wpn", "ceik", "cen", "metric", "xaxis"}
DEFAULT_METRIC = "charts/episodic_return"
DEFAULT_XAXIS = "global_step"


@dataclass
class OrlbExperiment:
    exp_name: str
    tags: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    label: str = ""
    config: dict[str, list[str]] = field(default_factory=dict)
    raw: str = ""
    query_text: str = "{}"  # rlops' default legend shows its filter as Python prints parse_qs' dict


@dataclass
class OrlbGroup:
    entity: str
    project: str
    env_key: str = "env_id"
    exp_key: str = "exp_name"
    metric: str = DEFAULT_METRIC
    xaxis: str = DEFAULT_XAXIS
    xaxis_given: bool = False  # `xaxis=` in the header; else global_step where a run logs it, else _step
    experiments: list[OrlbExperiment] = field(default_factory=list)
    env_ids: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}"

    def queries(self) -> list[WandbQuery]:
        """One query per experiment; points are stored against the group's x axis (see `choose_x_axis`)."""
        metrics = list(dict.fromkeys([self.metric, *([self.xaxis] if self.xaxis != "_step" else []), "_runtime"]))
        x_axis = self.xaxis if self.xaxis_given else None
        return [WandbQuery(self.entity, self.project, experiment_filter(self, e), metrics, self.env_key,
                           self.exp_key, x_axis) for e in self.experiments]


def _query(text: str, where: str) -> dict[str, list[str]]:
    try:
        return parse_qs(text, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:
        raise InputError(f"cannot read {where} {text!r}: {exc}") from None


def parse_header(text: str) -> dict[str, str]:
    """The group header's keys; `wpn` may be left to `--wandb-project-name`, as in rlops."""
    if not text.startswith("?"):
        raise InputError(
            f"the first value of --filters must be the project header '?we=ENTITY&wpn=PROJECT&...', got {text!r}")
    query = _query(urlsplit(text).query, "--filters header")
    unknown = sorted(set(query) - HEADER_KEYS)
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(unknown)} in --filters header {text!r} "
                         f"(known: {', '.join(sorted(HEADER_KEYS))})")
    if not query.get("we", [""])[0]:
        raise InputError(f"--filters header {text!r} must give we (the W&B entity)")
    return {k: v[0] for k, v in query.items()}  # rlops reads the first of repeated values


def parse_experiment(text: str) -> OrlbExperiment:
    parts = urlsplit(text)
    name = parts.path
    if not name or "?" in name:
        raise InputError(f"experiment filter {text!r} must start with the experiment name, e.g. 'ppo?tag=v1'")
    query = _query(parts.query, f"experiment filter for {name!r}")
    exp = OrlbExperiment(exp_name=name, raw=text, query_text=str(parse_qs(parts.query)))
    for key, values in query.items():
        if key == "tag":
            exp.tags += values
        elif key == "user":
            exp.users += values
        elif key == "cl":
            exp.label = values[0].replace("\\n", "\n")
        else:
            exp.config[key] = values
    return exp


def parse_groups(filters: list[list[str]], env_ids: list[list[str]],
                 project: str = "cleanrl") -> list[OrlbGroup]:
    """`--filters` groups (header + experiments) paired with `--env-ids` lists; `project` is the
    W&B project of headers without `wpn` (rlops' `--wandb-project-name`)."""
    if not filters:
        raise InputError("give at least one --filters group: '?we=ENTITY&wpn=PROJECT' 'EXP_NAME?tag=...'")
    if not env_ids or not any(env_ids):
        raise InputError("give the environments to compare with --env-ids ENV [ENV ...]")
    if len(env_ids) == 1 and len(filters) > 1:
        env_ids = env_ids * len(filters)
    if len(env_ids) != len(filters):
        raise InputError(f"{len(filters)} --filters groups but {len(env_ids)} --env-ids lists: give one list per "
                         "group, or one list for all")
    groups = []
    for tokens, envs in zip(filters, env_ids, strict=True):
        header = parse_header(tokens[0] if tokens else "")
        if len(tokens) < 2:
            raise InputError(f"--filters {' '.join(tokens)!r} names no experiment after the header")
        group = OrlbGroup(
            entity=header["we"], project=header.get("wpn") or project, env_key=header.get("ceik") or "env_id",
            exp_key=header.get("cen") or "exp_name", metric=header.get("metric") or DEFAULT_METRIC,
            xaxis=header.get("xaxis") or DEFAULT_XAXIS, xaxis_given=bool(header.get("xaxis")),
            experiments=[parse_experiment(t) for t in tokens[1:]],
            env_ids=list(dict.fromkeys(envs)),
        )
        for exp in group.experiments:
            exp.label = exp.label or f"{group.path}/{exp.exp_name} ({exp.query_text})"  # rlops' default
        groups.append(group)
    return groups


def experiment_filter(group: OrlbGroup, exp: OrlbExperiment) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = [{config_path(group.exp_key): exp.exp_name}]
    if group.env_ids:
        clauses.append(match(config_path(group.env_key), group.env_ids) if len(group.env_ids) == 1
                       else {config_path(group.env_key): {"$in": group.env_ids}})
    clauses += tag_clauses(exp.tags)
    if exp.users:
        clauses.append(match("username", exp.users))
    for key, values in exp.config.items():
        clauses.append(match(config_path(key), values))
    result = combine(clauses)
    assert result is not None
    return result


def split_option_groups(tokens: list[str], options: tuple[str, ...]) -> tuple[list[str], dict[str, list[list[str]]]]:
    """Split raw argv into plain tokens and, per option, the lists of values that followed each use.

    `--filters A B --env-ids X Y --filters C D` -> ({"--filters": [[A, B], [C, D]], "--env-ids": [[X, Y]]}).
    Click cannot take a variable number of values per option, hence this pre-pass.
    """
    plain: list[str] = []
    groups: dict[str, list[list[str]]] = {o: [] for o in options}
    current: list[str] | None = None
    for token in tokens:
        name, eq, value = token.partition("=")
        canonical = name.replace("_", "-")
        if canonical in groups:
            current = []
            groups[canonical].append(current)
            if eq:
                current.append(value)
        elif token.startswith("--"):
            current = None
            plain.append(token)
        elif current is not None:
            current.append(token)
        else:
            plain.append(token)
    return plain, groups
